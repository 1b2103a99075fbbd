"""The automatic rollback (docs/rollout.md): figures injected the way clients send them, one check
run directly (the leader runs the same function every few seconds), and what each org then sees."""

from __future__ import annotations

import logging

import pytest

from tandem.config import Settings
from tandem.flags import health
from tandem.flags.rollback import Thresholds, judge
from tandem.flags.service import PHASES
from tests.flags.rollout import (
    check,
    drift_report,
    metric,
    operator_view,
    put_state,
    report_drift,
    report_latency,
    states,
)
from tests.harness import eventually, on, quick_team, start_server, two_instances


@pytest.fixture
async def server(database_url, tmp_path):
    """One instance whose own periodic check never comes during a test: the tests run it."""
    async with start_server(database_url, tmp_path, rollback_check_seconds=3600) as srv:
        yield srv


async def test_an_org_whose_clients_see_slow_events_loses_that_phase_alone(server, caplog):
    org_a, (owner_a, member_a) = await quick_team(server, ["Owner", "Member"])
    org_b, (owner_b, member_b) = await quick_team(server, ["Owner", "Member"])
    assert (await put_state(owner_a, org_a, "kanban", {"state": "soak"})).status_code == 200
    caplog.set_level(logging.WARNING, logger="tandem.flags")

    # A: 40 quick samples and 12 slow ones of the board (p99 well over 1 s); B: 60 quick ones.
    await report_latency(member_a, org_a, "kanban.task.moved", 80, 40)
    await report_latency(owner_a, org_a, "kanban.task.updated", 1400, 12)
    await report_latency(member_a, org_a, "chat.message.created", 50, 60)
    await report_latency(member_b, org_b, "kanban.task.moved", 900, 60)

    verdicts = await check(server)
    assert [(v.org_id, v.phase, v.reason) for v in verdicts] == [(org_a, "kanban", "latency")]

    assert await states(member_a, org_a) == {**{p: "on" for p in PHASES}, "kanban": "off"}
    assert await states(member_b, org_b) == {p: "on" for p in PHASES}
    assert metric(server, "tandem_flag_rollbacks_total", phase="kanban", reason="latency") == 1
    assert metric(server, "tandem_flag_changes_total", phase="kanban", automatic="true") == 1
    line = next(r for r in caplog.records if r.getMessage() == "phase rolled back")
    assert (line.org_id, line.phase, line.reason, line.was) == (org_a, "kanban", "latency", "soak")

    audit = (await operator_view(owner_a, org_a)).json()["audit"]
    rolled = audit[0]
    assert (rolled["phase"], rolled["before"], rolled["after"]) == ("kanban", "soak", "off")
    assert rolled["automatic"] is True and rolled["actor"] is None
    assert rolled["reason"].startswith("client p99 ")
    assert "> 1,000 ms over 300 s (52 samples, 12 over)" in rolled["reason"]
    assert (await operator_view(owner_b, org_b)).json()["audit"] == []

    # It stays off: the next check finds nothing on to turn off, until an Owner sets it again.
    assert await check(server) == []
    assert (await states(member_a, org_a))["kanban"] == "off"
    assert metric(server, "tandem_flag_rollbacks_total", phase="kanban", reason="latency") == 1
    assert (await put_state(owner_a, org_a, "kanban", {"state": "on"})).status_code == 200
    assert (await states(member_a, org_a))["kanban"] == "on"


async def test_too_few_samples_or_few_enough_slow_ones_change_nothing(server):
    org_id, (_owner, member) = await quick_team(server, ["Owner", "Member"])
    await report_latency(member, org_id, "task.updated", 3000, 49)  # all slow, under 50 samples
    await report_latency(member, org_id, "chat.message.created", 20, 199)  # 1 slow in 200: 0.5%
    await report_latency(member, org_id, "chat.message.read", 4000, 1)
    await report_latency(member, org_id, "presence.whatever", 9000, 100)  # no phase owns it
    assert await check(server) == []
    assert await states(member, org_id) == {p: "on" for p in PHASES}


async def test_drift_reports_at_the_limit_roll_the_phase_back(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    other, (other_owner,) = await quick_team(server, ["Owner"])
    body = drift_report("members", f"org:{org_id}")
    for _ in range(4):
        assert (await report_drift(member, org_id, body)).status_code == 204
    assert (
        await report_drift(other_owner, other, drift_report("members", f"org:{other}"))
    ).status_code == 204
    assert await check(server) == []  # 4 < 5

    assert (await report_drift(owner, org_id, body)).status_code == 204
    verdicts = await check(server)
    assert [(v.org_id, v.phase, v.reason) for v in verdicts] == [(org_id, "members", "drift")]
    assert (await states(member, org_id))["members"] == "off"
    assert (await states(other_owner, other))["members"] == "on"
    audit = (await operator_view(owner, org_id)).json()["audit"]
    assert audit[0]["reason"] == "5 drift reports >= 5 over 300 s"
    assert metric(server, "tandem_flag_rollbacks_total", phase="members", reason="drift") == 1


async def test_failed_calls_over_the_error_rate_roll_the_phase_back(server):
    org_id, (_owner, member) = await quick_team(server, ["Owner", "Member"])
    outcomes = [
        {"phase": "chat", "calls": 100, "failed": 6},
        {"phase": "task", "calls": 100, "failed": 5},  # 5% is not over 5%
        {"phase": "project", "calls": 10, "failed": 10},  # too few calls to judge
    ]
    await report_latency(member, org_id, "chat.message.created", 20, 1, outcomes=outcomes)
    verdicts = await check(server)
    assert [(v.phase, v.reason) for v in verdicts] == [("chat", "errors")]
    assert verdicts[0].detail == "error rate 6.0% > 5.0% over 300 s (6 of 100 calls)"
    assert (await states(member, org_id))["chat"] == "off"


async def test_with_automatic_rollback_off_the_figures_are_judged_and_nothing_changes(
    server, monkeypatch
):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    await report_latency(member, org_id, "dashboard.metrics.updated", 2000, 60)
    monkeypatch.setenv("TANDEM_AUTO_ROLLBACK", "false")
    assert Settings().auto_rollback is False

    verdicts = await check(server, enabled=False)
    assert [(v.phase, v.reason) for v in verdicts] == [("dashboard", "latency")]
    assert await states(member, org_id) == {p: "on" for p in PHASES}
    view = (await operator_view(owner, org_id)).json()
    assert view["audit"] == []
    assert {p["phase"]: p["figures"]["overP99"] for p in view["phases"]}["dashboard"] == 60
    assert metric(server, "tandem_flag_rollbacks_total", phase="dashboard", reason="latency") == 0


async def test_the_check_drops_figures_older_than_the_window(server):
    org_id, (_owner, member) = await quick_team(server, ["Owner", "Member"])
    await report_latency(member, org_id, "kanban.task.moved", 3000, 60)
    async with server.runtime.db.unit_of_work() as session:  # an hour ago, as if left behind
        await health.add(session, org_id, {"chat": _slow(60)}, at=_hour_ago())
    # The hour-old figures are outside the window: only the board's are judged.
    assert [v.phase for v in await check(server, enabled=False)] == ["kanban"]
    async with server.runtime.db.read() as session:
        rows = await health.window(session, 0)
    assert set(rows) == {(org_id, "kanban")}


def _slow(count: int) -> health.Tally:
    tally = health.Tally()
    for _ in range(count):
        tally.observe(5000, 1000)
    return tally


def _hour_ago() -> float:
    import time

    return time.time() - 3600


LIMITS = Thresholds(
    enabled=True,
    window_seconds=300,
    p99_ms=1000,
    min_samples=50,
    max_drift=5,
    max_error_rate=0.05,
    max_lag_seconds=2.0,
)


@pytest.mark.parametrize(
    ("state", "lag", "rolled_back"),
    [("soak", 3.0, True), ("on", 3.0, False), ("soak", 1.5, False), ("soak", None, False)],
)
def test_dispatch_lag_rolls_back_only_orgs_in_soak(state, lag, rolled_back):
    verdict = judge("org_1", "kanban", state, health.Figures(), LIMITS, lag)
    assert (verdict is not None) == rolled_back
    if verdict is not None:
        assert verdict.reason == "lag"
        assert verdict.detail == "dispatch lag p99 3.0 s > 2.0 s (soak)"


def test_the_p99_estimate_follows_the_histogram():
    assert health.quantile_ms(0.99, [0] * 8) is None
    assert health.quantile_ms(0.99, [100, 0, 0, 0, 0, 0, 0, 0]) == pytest.approx(49.5)
    # 98 quick, 2 between 1 and 2.5 s: the 99th is halfway through that bucket.
    assert health.quantile_ms(0.99, [98, 0, 0, 0, 0, 2, 0, 0]) == pytest.approx(1750)
    assert health.quantile_ms(0.99, [0, 0, 0, 0, 0, 0, 0, 10]) == 5000


def test_the_lag_watch_reads_the_dispatch_lag_since_its_last_reading():
    from tandem.flags.rollback import LagWatch
    from tandem.realtime.metrics import Metrics

    metrics = Metrics()
    metrics.dispatch_lag.labels("kanban.task.moved").observe(30)  # before the watch: not counted
    watch = LagWatch(metrics)
    assert watch.p99_seconds() is None  # nothing dispatched since
    for _ in range(97):
        metrics.dispatch_lag.labels("kanban.task.moved").observe(0.003)
    for _ in range(3):
        metrics.dispatch_lag.labels("chat.message.created").observe(3.0)
    assert 2 < watch.p99_seconds() <= 5  # 3 of 100 in the 2-5 s bucket
    for _ in range(100):
        metrics.dispatch_lag.labels("chat.message.created").observe(0.003)
    assert watch.p99_seconds() <= 0.005  # only what came since the previous reading


async def test_the_leader_runs_the_check_by_itself(database_url, tmp_path):
    async with start_server(database_url, tmp_path, rollback_check_seconds=0.2) as server:
        org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
        body = drift_report("kanban", f"org:{org_id}")
        for _ in range(5):
            assert (await report_drift(member, org_id, body)).status_code == 204

        async def kanban_off() -> bool:
            return (await states(member, org_id))["kanban"] == "off"

        await eventually(kanban_off, timeout=15)
        audit = (await operator_view(owner, org_id)).json()["audit"]
        assert [(a["phase"], a["after"], a["automatic"]) for a in audit] == [
            ("kanban", "off", True)
        ]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_figures_sent_to_any_instance_reach_the_check(database_url, tmp_path, redis_url):
    async with two_instances(database_url, tmp_path, redis_url) as (a, b):
        org_id, (owner, member) = await quick_team(a, ["Owner", "Member"])
        # Half the slow samples through each instance: neither half alone has the 50 needed.
        await report_latency(owner, org_id, "task.updated", 1500, 30)
        await report_latency(on(member, b), org_id, "task.updated", 1500, 30)
        await check(a if a.runtime.dispatcher.is_leader else b)
        audit = (await operator_view(on(owner, b), org_id)).json()["audit"]
        assert [(x["phase"], x["after"], x["automatic"]) for x in audit] == [("task", "off", True)]
        assert audit[0]["reason"].endswith("(60 samples, 60 over)")

        async def task_off_on_b() -> bool:
            return (await states(on(member, b), org_id))["task"] == "off"

        await eventually(task_off_on_b, timeout=5)
