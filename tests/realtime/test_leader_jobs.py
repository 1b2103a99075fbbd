"""The leader's jobs (realtime/leader.py): a busy dispatcher runs them at most every JOB_SECONDS,
and a job that came due while it was busy still runs, without another wake-up."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from tests.harness import Server, eventually

from tandem.realtime import leader


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When the leader's jobs ran (time.monotonic()), with one job standing for them all."""
    ran: list[float] = []

    async def job(_db: object) -> None:
        ran.append(time.monotonic())

    monkeypatch.setattr(leader, "_jobs", [job])
    return ran


async def test_a_busy_dispatcher_runs_the_jobs_at_most_every_job_seconds(
    slow_poll: Server, runs: list[float]
) -> None:
    dispatcher = slow_poll.runtime.dispatcher
    await eventually(lambda: dispatcher.is_leader)
    passes = dispatcher._passes
    started = time.monotonic()
    while time.monotonic() - started < 0.5:
        dispatcher.wake()
        await asyncio.sleep(0.002)
    await asyncio.sleep(leader.JOB_SECONDS * 2)
    assert dispatcher._passes - passes > 50  # woken for every turn: a pass each time
    during = [at for at in runs if at >= started]
    gaps = [b - a for a, b in itertools.pairwise(during)]
    assert 5 <= len(during) <= 0.5 / leader.JOB_SECONDS + 3, len(during)
    assert min(gaps) >= leader.JOB_SECONDS * 0.99, gaps


async def test_jobs_due_while_the_dispatcher_was_busy_run_without_a_wake_up(
    slow_poll: Server, runs: list[float]
) -> None:
    dispatcher = slow_poll.runtime.dispatcher
    await eventually(lambda: dispatcher.is_leader)
    dispatcher.wake()
    await eventually(lambda: len(runs) > 0)
    before = len(runs)
    dispatcher.wake()  # a pass right after the jobs ran: too soon for them
    await asyncio.sleep(0)
    last_wake = time.monotonic()
    await asyncio.sleep(leader.JOB_SECONDS * 4)
    # The next poll is a minute away: only the dispatcher's own deadline brings the jobs back.
    assert len(runs) == before + 1, runs
    assert runs[-1] - last_wake < leader.JOB_SECONDS * 3
