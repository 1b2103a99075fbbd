"""POST /api/orgs/{org}/realtime/drift: a soaking client's report that its live state differed from
a fresh snapshot (docs/rollout.md)."""

from __future__ import annotations

import logging

from tests.flags.rollout import drift_report, metric, operator_view, report_drift
from tests.harness import assert_error, join, make_org, quick_team, start_server
from tests.projects.factories import make_project


async def test_a_drift_report_is_counted_logged_and_shown(server, caplog):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    caplog.set_level(logging.WARNING, logger="tandem.flags")

    r = await report_drift(
        member,
        org_id,
        drift_report(
            "members",
            f"org:{org_id}",
            traceIds=["trace-a", "trace-b"],
            fields=["members.u_1.role", "members.u_1.name"],
        ),
    )
    assert r.status_code == 204, r.text
    project = await make_project(owner, org_id)
    minimal = {"phase": "kanban", "room": f"project:{project['id']}"}
    assert (await report_drift(member, org_id, minimal)).status_code == 204

    assert metric(server, "tandem_client_drift_total", phase="members") == 1
    assert metric(server, "tandem_client_drift_total", phase="kanban") == 1
    lines = [r for r in caplog.records if r.getMessage() == "client drift"]
    assert len(lines) == 2
    line = lines[0]
    assert line.levelno == logging.WARNING
    assert (line.org_id, line.phase, line.room) == (org_id, "members", f"org:{org_id}")
    assert line.trace_ids == ["trace-a", "trace-b"]
    assert line.fields == ["members.u_1.role", "members.u_1.name"]
    assert line.event_types == ["org.member.updated"]
    assert line.user_id == member.id

    phases = {p["phase"]: p for p in (await operator_view(owner, org_id)).json()["phases"]}
    assert phases["members"]["figures"]["drift"] == 1
    assert phases["kanban"]["figures"]["drift"] == 1
    assert phases["chat"]["figures"]["drift"] == 0


async def test_a_room_of_another_org_or_none_is_forbidden_alike(server):
    org_a, (owner_a, member_a) = await quick_team(server, ["Owner", "Member"])
    org_b, (owner_b,) = await quick_team(server, ["Owner"])
    project_b = await make_project(owner_b, org_b)
    both = await make_org(owner_b, "Both")  # owner_a also belongs to a second org
    await join(both, owner_b, owner_a, "Member")
    project_a = await make_project(owner_a, org_a)

    answers = []
    for person, room in (
        (member_a, f"org:{org_b}"),  # a foreign org's room
        (member_a, f"project:{project_b['id']}"),
        (member_a, "project:p_nowhere"),  # a room that does not exist
        (member_a, f"user:{owner_a.id}"),  # someone else's own room
        (member_a, f"user:{member_a.id}"),  # one's own room belongs to no org
        (member_a, "nonsense"),
        (owner_a, f"org:{both}"),  # a room the reporter may read, of their other org
        (owner_a, f"project:{project_a['id']}".replace("project:", "task:")),
    ):
        r = await report_drift(person, org_a, drift_report("members", room))
        answers.append(assert_error(r, 403, "forbidden"))
    assert len({a["message"] for a in answers}) == 1

    # Through an org one does not belong to: the answer a missing org gets.
    foreign = assert_error(
        await report_drift(owner_b, org_a, drift_report("members", f"org:{org_a}")), 404
    )
    assert foreign == assert_error(
        await report_drift(owner_b, "org_nowhere", drift_report("members", f"org:{org_a}")), 404
    )
    assert metric(server, "tandem_client_drift_total", phase="members") == 0


async def test_malformed_drift_reports_are_refused(server):
    org_id, (owner,) = await quick_team(server, ["Owner"])
    room = f"org:{org_id}"
    for body in (
        {},
        {"phase": "members"},
        {"room": room},
        drift_report("nope", room),
        drift_report("Members", room),
        drift_report("members", ""),
        drift_report("members", "x" * 81),
        drift_report("members", room, fields=["x"] * 51),
        drift_report("members", room, fields=[""]),
        drift_report("members", room, fields=["x" * 81]),
        drift_report("members", room, eventTypes=["e"] * 21),
        drift_report("members", room, traceIds=["t"] * 21),
        drift_report("members", room, traceIds=["t" * 65]),
        drift_report("members", room, traceIds="t"),
        drift_report("members", room, seq=-1),
        drift_report("members", room, seq="twelve"),
        drift_report("members", room, seq=12.5),
        drift_report("members", room, extra=True),
        [drift_report("members", room)],
    ):
        assert_error(await report_drift(owner, org_id, body), 422, "validation")
    async with owner.http() as http:
        r = await http.post(
            f"/api/orgs/{org_id}/realtime/drift",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert_error(r, 400, "invalid")
    assert metric(server, "tandem_client_drift_total", phase="members") == 0


async def test_drift_reports_past_a_persons_limit_get_429(database_url, tmp_path):
    async with start_server(database_url, tmp_path, drift_reports_per_minute=3) as server:
        org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
        body = drift_report("members", f"org:{org_id}")
        for _ in range(3):
            assert (await report_drift(member, org_id, body)).status_code == 204
        r = await report_drift(member, org_id, body)
        assert_error(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1
        # Per person: another member still reports.
        assert (await report_drift(owner, org_id, body)).status_code == 204
        assert metric(server, "tandem_client_drift_total", phase="members") == 4
        assert metric(server, "tandem_rate_limited_total", what="drift") == 1
