"""POST /api/telemetry/latency: samples for /metrics and, with an orgId, for that org's rollout
figures by phase (docs/rollout.md)."""

from __future__ import annotations

from tandem.flags.service import PHASES
from tests.flags.rollout import metric, operator_view
from tests.harness import assert_error, quick_team


async def post(person, body):
    async with person.http() as http:
        return await http.post("/api/telemetry/latency", json=body)


async def figures(owner, org_id) -> dict[str, dict]:
    r = await operator_view(owner, org_id)
    assert r.status_code == 200, r.text
    return {p["phase"]: p["figures"] for p in r.json()["phases"]}


async def test_samples_count_toward_a_members_org_by_the_phase_of_their_event(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    outsider_org, (outsider,) = await quick_team(server, ["Owner"])
    samples = [
        {"event": "org.member.updated", "ms": 40},
        {"event": "dashboard.metrics.updated", "ms": 60},
        {"event": "kanban.task.moved", "ms": 1200},
        {"event": "task.comment.created", "ms": 10},
        {"event": "project.updated", "ms": 10},
        {"event": "chat.message.created", "ms": 300},
        {"event": "resync.required", "ms": 9000},  # no phase: not attributed
        {"event": "made.up", "ms": 9000},
    ]
    r = await post(
        member,
        {
            "orgId": org_id,
            "samples": samples,
            "outcomes": [
                {"phase": "chat", "calls": 10, "failed": 1},
                {"phase": "task", "calls": 3, "failed": 7},  # more failed than calls: all failed
            ],
        },
    )
    assert r.status_code == 204, r.text
    # Someone outside the org naming it: accepted alike (no org's existence leaks), not counted.
    assert (await post(outsider, {"orgId": org_id, "samples": samples})).status_code == 204
    assert (await post(outsider, {"orgId": "org_nowhere", "samples": samples})).status_code == 204
    assert (await post(member, {"samples": samples})).status_code == 204  # no org: /metrics only

    seen = await figures(owner, org_id)
    assert {p: f["samples"] for p, f in seen.items()} == {p: 1 for p in PHASES}
    assert {p: f["overP99"] for p, f in seen.items()} == {p: int(p == "kanban") for p in PHASES}
    assert (seen["chat"]["calls"], seen["chat"]["errors"]) == (10, 1)
    assert (seen["task"]["calls"], seen["task"]["errors"]) == (3, 3)
    assert 1000 < seen["kanban"]["clientP99Ms"] <= 2500
    assert all(f["samples"] == 0 for f in (await figures(outsider, outsider_org)).values())
    # Every sample still reaches the global histogram, unknown events as "other".
    count = "tandem_client_latency_seconds_count"
    assert metric(server, count, event="kanban.task.moved") == 4
    assert metric(server, count, event="resync.required") == 4
    assert metric(server, count, event="other") == 4


async def test_malformed_reports_are_refused(server):
    org_id, (owner,) = await quick_team(server, ["Owner"])
    sample = {"event": "kanban.task.moved", "ms": 10}
    for body in (
        {"orgId": org_id},
        {"samples": [sample], "orgId": "org x"},
        {"samples": [sample], "orgId": "o" * 33},
        {"samples": [sample], "orgId": 12},
        {
            "samples": [sample],
            "orgId": org_id,
            "outcomes": [{"phase": "nope", "calls": 1, "failed": 0}],
        },
        {"samples": [sample], "outcomes": [{"phase": "chat", "calls": -1, "failed": 0}]},
        {"samples": [sample], "outcomes": [{"phase": "chat", "calls": 1}]},
        {"samples": [sample], "outcomes": [{"phase": "chat", "calls": 1, "failed": 0}] * 7},
        {"samples": [{"event": "kanban.task.moved", "ms": -1}]},
        {"samples": [sample] * 501},
        {"samples": [sample], "extra": 1},
    ):
        assert_error(await post(owner, body), 422, "validation")
    assert all(f["samples"] == 0 for f in (await figures(owner, org_id)).values())
