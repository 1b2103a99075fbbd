"""Per-org phase states (off / soak / on), their audit trail, and the Owner's operator view
(docs/rollout.md)."""

from __future__ import annotations

from tandem.flags import service as flags
from tandem.flags.service import PHASES
from tests.flags.rollout import operator_view, put_state, report_latency, states
from tests.harness import Listener, assert_error, eventually, quick_team
from tests.projects.factories import make_project


async def test_states_round_trip_and_soak_counts_as_on(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    assert await states(member, org_id) == {p: "on" for p in PHASES}

    r = await put_state(owner, org_id, "kanban", {"state": "soak"})
    assert r.status_code == 200, r.text
    assert r.json()["states"]["kanban"] == "soak"
    assert r.json()["flags"]["kanban"] is True  # soak delivers events like on
    r = await put_state(owner, org_id, "chat", {"state": "off"})
    assert r.json()["flags"]["chat"] is False
    assert await states(member, org_id) == {
        **{p: "on" for p in PHASES},
        "kanban": "soak",
        "chat": "off",
    }

    # From soak to on, back to the rule with "default" or with the older enabled: null.
    r = await put_state(owner, org_id, "kanban", {"state": "on"})
    assert r.json()["states"]["kanban"] == "on"
    r = await put_state(owner, org_id, "kanban", {"state": "default"})
    assert r.json()["states"]["kanban"] == "on"
    r = await put_state(owner, org_id, "chat", {"enabled": None})
    assert r.json()["states"]["chat"] == "on"
    r = await put_state(owner, org_id, "chat", {"enabled": False})
    assert r.json()["states"]["chat"] == "off"

    # Only Owners set states.
    assert_error(await put_state(member, org_id, "task", {"state": "soak"}), 403, "forbidden")

    for body in (
        {},
        {"state": "soak", "enabled": True},
        {"state": "default", "enabled": None},
        {"state": None},
        {"state": "Soak"},
        {"state": "paused"},
        {"state": 1},
        {"enabled": "on"},
        {"state": "on", "extra": 1},
    ):
        error = assert_error(await put_state(owner, org_id, "task", body), 422, "validation")
        assert error["message"], body
    error = assert_error(
        await put_state(owner, org_id, "task", {"state": "on", "enabled": True}), 422
    )
    assert "either `enabled` or `state`" in error["message"]
    assert (await states(owner, org_id))["task"] == "on"


async def test_every_change_writes_one_audit_row_with_its_actor(server):
    org_id, (owner, _member) = await quick_team(server, ["Owner", "Member"])
    for body in ({"state": "soak"}, {"state": "soak"}, {"state": "off"}, {"state": "default"}):
        r = await put_state(owner, org_id, "project", body)
        assert r.status_code == 200, r.text

    r = await operator_view(owner, org_id)
    assert r.status_code == 200, r.text
    audit = r.json()["audit"]
    # Newest first; setting the same state twice is no change and writes no row.
    assert [(a["phase"], a["before"], a["after"]) for a in audit] == [
        ("project", "off", "default"),
        ("project", "soak", "off"),
        ("project", "default", "soak"),
    ]
    for row in audit:
        assert row["actor"] == {"id": owner.id, "name": owner.name}
        assert row["automatic"] is False
        assert row["scope"] == "org"
        assert row["at"].endswith("Z")
        assert row["reason"] == "set by an Owner"

    # A change of the global rule (the terminal's) shows in every org's trail, with no actor.
    async with server.runtime.db.unit_of_work() as session:
        await flags.set_rule(session, "chat", rollout_percent=50, reason="half the orgs")
    audit = (await operator_view(owner, org_id)).json()["audit"]
    assert audit[0] == {
        "at": audit[0]["at"],
        "phase": "chat",
        "before": "on, 100%, allow: -",
        "after": "on, 50%, allow: -",
        "reason": "half the orgs",
        "automatic": False,
        "actor": None,
        "scope": "global",
    }


async def test_the_operator_view_is_for_owners_and_shows_only_their_org(server):
    org_a, (owner_a, admin_a, member_a) = await quick_team(server, ["Owner", "Admin", "Member"])
    org_b, (owner_b, _member_b) = await quick_team(server, ["Owner", "Member"])
    assert (await put_state(owner_a, org_a, "kanban", {"state": "soak"})).status_code == 200
    assert (await put_state(owner_b, org_b, "chat", {"state": "off"})).status_code == 200
    await report_latency(member_a, org_a, "kanban.task.moved", 120, 40)
    await report_latency(member_a, org_a, "kanban.task.moved", 1800, 2)
    await report_latency(member_a, None, "chat.message.created", 5000, 3)  # no org: not counted

    for person in (admin_a, member_a):
        assert_error(await operator_view(person, org_a), 403, "forbidden")
    # Not a member: the same answer as an org that does not exist.
    missing = assert_error(await operator_view(owner_b, org_a), 404, "not_found")
    assert missing == assert_error(await operator_view(owner_b, "org_nowhere"), 404)

    r = await operator_view(owner_a, org_a)
    assert r.status_code == 200, r.text
    view = r.json()
    assert set(view) == {"autoRollback", "phases", "audit"}
    assert view["autoRollback"] == {
        "enabled": True,
        "windowSeconds": 300,
        "p99Ms": 1000.0,
        "maxDrift": 5,
        "maxErrorRate": 0.05,
        "maxLagSeconds": 5.0,
        "minSamples": 50,
    }
    phases = {p["phase"]: p for p in view["phases"]}
    assert list(phases) == list(PHASES)
    kanban = phases["kanban"]
    assert (kanban["state"], kanban["source"]) == ("soak", "override")
    assert kanban["rule"] == {
        "enabled": True,
        "rolloutPercent": 100,
        "allowListed": False,
        "inRollout": True,
    }
    figures = kanban["figures"]
    assert (figures["samples"], figures["overP99"], figures["drift"]) == (42, 2, 0)
    assert 1000 < figures["clientP99Ms"] <= 2500  # 2 of 42 in the 1,000-2,500 ms bucket
    assert figures["connections"] == 0 and figures["drops"] == 0
    assert phases["chat"]["state"] == "on" and phases["chat"]["figures"]["clientP99Ms"] is None
    assert phases["members"]["source"] == "rule"
    # Org B's off switch and its owner appear nowhere in A's view.
    assert [a["phase"] for a in view["audit"]] == ["kanban"]
    assert org_b not in r.text and owner_b.id not in r.text

    # A global rule's allow-list names other orgs: each org learns only whether it is on it.
    async with server.runtime.db.unit_of_work() as session:
        await flags.set_rule(session, "task", allow_orgs=[org_a, org_b])
        await flags.set_rule(session, "task", allow_orgs=[org_b])
    audit = (await operator_view(owner_a, org_a)).json()["audit"]
    assert [(a["before"], a["after"]) for a in audit[:2]] == [
        ("on, 100%, allow: this organization and others", "on, 100%, allow: other organizations"),
        ("on, 100%, allow: -", "on, 100%, allow: this organization and others"),
    ]

    view_b = (await operator_view(owner_b, org_b)).json()
    assert [a["phase"] for a in view_b["audit"]] == ["task", "task", "chat"]
    assert org_a not in str(view_b) and owner_a.id not in str(view_b)
    assert {p["phase"]: p["figures"]["samples"] for p in view_b["phases"]} == {p: 0 for p in PHASES}


async def test_the_operator_view_counts_the_orgs_people_online_and_its_events(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    outsider_org, (outsider,) = await quick_team(server, ["Owner"])
    await make_project(owner, org_id)
    await make_project(outsider, outsider_org)  # another org's events: not counted
    await server.settle()

    async def figures() -> dict[str, dict]:
        view = (await operator_view(owner, org_id)).json()
        return {p["phase"]: p["figures"] for p in view["phases"]}

    assert (await figures())["members"]["connections"] == 0
    listeners = [
        await Listener(server, await person.socket_token()).connect()
        for person in (member, member, outsider)
    ]
    try:
        # People online, not sockets: the member's two sockets count once, the outsider not at all.
        await eventually(lambda: _connections_are(figures, 1))
        counted = await figures()
        assert {f["connections"] for f in counted.values()} == {1}
        assert counted["project"]["eventsPerMinute"] >= 1  # project.created in this org's rooms
        assert counted["chat"]["eventsPerMinute"] == 0
    finally:
        for listener in listeners:
            await listener.close()


async def _connections_are(figures, count: int) -> bool:
    return (await figures())["members"]["connections"] == count
