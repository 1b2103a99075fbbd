"""Faults, with nothing lost: two `tandem serve` processes behind PostgreSQL and a private Redis.

While writers change roles, rename people and bring new members in, socket clients on both
instances keep the organization's members the way the SDK does (a snapshot, then events applied
once by seq, resubscribing with `after` when their socket drops). Then something breaks: an
instance is SIGKILLed, Redis is restarted, or the dispatcher's leader dies between the log commit
and the publish. Afterwards every client's table must equal GET /members, every logged event must
have reached every client exactly once and in order, no client may hold an event the log does not
(a change that rolled back), and nobody is told to resync. The figures are printed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.battery import SCALE, SEED
from tests.battery.faults import (
    Figures,
    Instance,
    PrivatePostgres,
    PrivateRedis,
    Subscriber,
    Writes,
    cluster,
    judge,
    members_of,
    org_team,
    signup,
    write_until,
)
from tests.harness import migrate_database

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

MEMBERS = 4
SUBSCRIBERS = max(2, int(6 * SCALE))
WRITERS = 2
JOINERS = max(1, int(4 * SCALE))
BEFORE = 1.5 * SCALE  # seconds of writing before the fault
AFTER = 2.5 * SCALE  # and after it


async def run(
    scenario: str,
    a: Instance,
    b: Instance,
    fault: Callable[[], Awaitable[dict[str, Any]]],
    capsys: Any,
) -> Figures:
    started = time.monotonic()
    instances = [a, b]
    org_id, owner, members = await org_team(a, MEMBERS)
    joiners = [await signup(b, f"Joiner {i}") for i in range(JOINERS)]
    table, cursor = await members_of(a, owner, org_id)
    people = [owner, *members]
    subscribers = [
        Subscriber(people[i % len(people)], org_id, instances, i % 2, table, cursor)
        for i in range(SUBSCRIBERS)
    ]
    await asyncio.gather(*(s.start() for s in subscribers))
    writes = Writes()
    stop = asyncio.Event()
    writers = [
        asyncio.create_task(
            write_until(
                stop,
                instances,
                org_id,
                owner,
                members,
                joiners,
                writes,
                random.Random(f"{SEED}-{scenario}-{w}"),
            )
        )
        for w in range(WRITERS)
    ]
    try:
        await asyncio.sleep(BEFORE)
        facts = await fault()
        await asyncio.sleep(AFTER)
    finally:
        stop.set()
        await asyncio.gather(*writers)
    survivor = next(i for i in instances if i.alive)
    figures = Figures(scenario, extra=facts)
    try:
        await judge(figures, subscribers, survivor, owner, org_id, cursor, writes)
    finally:
        await asyncio.gather(*(s.close() for s in subscribers))
    figures.seconds = time.monotonic() - started
    with capsys.disabled():
        print(f"\nfault battery (seed {SEED}, scale {SCALE:g}):\n{figures.line()}")
    return figures


def assert_nothing_lost(figures: Figures) -> None:
    # A role set to the role a member already holds changes nothing and records no event.
    assert figures.changes > 0 and figures.logged > 0
    assert figures.delivered == figures.logged * figures.subscribers, figures
    assert figures.lost == 0, figures
    assert figures.duplicated_after_dedupe == 0, figures
    assert figures.out_of_order == 0, figures
    assert figures.phantom == 0, figures
    assert figures.resyncs == 0, figures
    assert figures.state_mismatches == 0, figures
    assert figures.extra["acked renames missing from the log"] == 0, figures
    assert figures.extra["acked joins missing from the log"] == 0, figures


@pytest.fixture
async def redis(tmp_path: Path):
    server = PrivateRedis(tmp_path / "redis")
    await server.start()
    try:
        yield server
    finally:
        server.kill()


async def test_sigkill_of_an_instance_loses_and_repeats_nothing(
    database_url: str, redis: PrivateRedis, tmp_path: Path, capsys
):
    async with cluster(database_url, redis.url, tmp_path) as (a, b):

        async def kill_b() -> dict[str, Any]:
            b.kill()
            return {"killed": "b (the second instance)"}

        figures = await run("SIGKILL of an instance", a, b, kill_b, capsys)
    assert_nothing_lost(figures)
    assert figures.reconnects >= SUBSCRIBERS // 2  # b's clients moved to a


async def test_a_redis_restart_under_two_instances_loses_nothing(
    database_url: str, redis: PrivateRedis, tmp_path: Path, capsys
):
    async with cluster(database_url, redis.url, tmp_path) as (a, b):

        async def restart_redis() -> dict[str, Any]:
            down = time.monotonic()
            redis.kill()
            await asyncio.sleep(1.0)
            await redis.start()
            return {"redis down": f"{time.monotonic() - down:.1f} s"}

        figures = await run("Redis restart", a, b, restart_redis, capsys)
    assert_nothing_lost(figures)


async def test_the_dispatcher_leader_killed_between_log_commit_and_publish_loses_nothing(
    database_url: str, redis: PrivateRedis, tmp_path: Path, capsys
):
    fault_dir = tmp_path / "fault"
    fault_dir.mkdir()
    async with cluster(database_url, redis.url, tmp_path, fault_dir) as (a, b):

        async def kill_the_stalled_leader() -> dict[str, Any]:
            (fault_dir / "arm").write_text("")
            stalled = fault_dir / "stalled"
            for _ in range(200):
                if stalled.exists():
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("no dispatcher moved a batch into the log after arming")
            instance_id, *seqs = stalled.read_text().split()
            leader = next(i for i in (a, b) if i.env["TANDEM_INSTANCE_ID"] == instance_id)
            await asyncio.sleep(0.3)  # the batch sits in the log, unpublished, while writes go on
            leader.kill()
            return {
                "killed leader": leader.name,
                "events logged but unpublished at the kill": len(seqs),
            }

        figures = await run(
            "dispatcher leader killed after commit", a, b, kill_the_stalled_leader, capsys
        )
    assert_nothing_lost(figures)
    assert figures.extra["events logged but unpublished at the kill"] > 0


@pytest.fixture
async def private_postgres(backend: str):
    """Its own cluster, so that stopping it disturbs no other test; migrated like any database."""
    server = PrivatePostgres()
    try:
        await asyncio.to_thread(server.init)
        await asyncio.to_thread(server.start)
        await migrate_database(server.url)
        yield server
    finally:
        await asyncio.to_thread(server.remove)


async def test_a_postgresql_restart_under_two_instances_loses_nothing(
    private_postgres: PrivatePostgres, redis: PrivateRedis, tmp_path: Path, capsys
):
    async with cluster(private_postgres.url, redis.url, tmp_path) as (a, b):

        async def restart_postgres() -> dict[str, Any]:
            down = time.monotonic()
            await asyncio.to_thread(private_postgres.crash)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(private_postgres.start)
            return {"postgresql down": f"{time.monotonic() - down:.1f} s"}

        figures = await run("PostgreSQL restart", a, b, restart_postgres, capsys)
    assert_nothing_lost(figures)
