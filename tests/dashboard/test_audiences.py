"""Who sees which dashboard: Owners, Admins and Members the whole org in `dashboard:{orgId}`;
a Guest only the projects they belong to, on their own user room, and never that room; with the
phase's flag off nothing is sent, and the snapshot is still right."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from tandem.kit.clock import utcnow
from tandem.realtime.models import EventRecord
from tandem.realtime.rooms import dashboard_room, user_room
from tests.dashboard.live import metrics_updates, sent, snapshot
from tests.dashboard.plain import apply_metrics, plain_metrics
from tests.dashboard.writer import apply, new_world
from tests.harness import Server, listening, quick_team, set_role


async def test_only_owners_admins_and_members_enter_the_dashboard_room(server: Server) -> None:
    org_id, (owner, admin, member, guest) = await quick_team(
        server, ["Owner", "Admin", "Member", "Guest"]
    )
    room = dashboard_room(org_id)
    for person in (owner, admin, member):
        async with listening(person, room):
            pass
    async with listening(guest) as listener:
        refused = await listener.subscribe(room)
        missing = await listener.subscribe(dashboard_room("org_doesnotexist"))
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
    assert refused == missing  # the same answer as a room that does not exist
    async with guest.http() as http:
        r = await http.get(f"/api/events?room={room}")
        assert r.status_code == 404, r.text


async def test_snapshots_count_what_each_person_may_see(server: Server) -> None:
    _, people = await quick_team(server, ["Owner", "Member", "Guest"])
    owner, member, guest = people
    world = await new_world(server, [p.id for p in people])
    for i in range(24):
        await apply(server, world, ("create", i % 2, i % 3, i % 4, (i % 5) - 2, i * 3))
    for i in range(0, 24, 4):
        await apply(server, world, ("move", i, 2, i))
    today = utcnow().date()
    async with server.runtime.db.read() as session:
        whole = await plain_metrics(session, world.org_id, None, today)
        theirs = await plain_metrics(session, world.org_id, guest.id, today)
    assert (await snapshot(owner, world.org_id))["metrics"] == whole
    assert (await snapshot(member, world.org_id))["metrics"] == whole
    assert (await snapshot(guest, world.org_id))["metrics"] == theirs
    assert theirs != whole
    guest_feed = (await snapshot(guest, world.org_id, limit=100))["activity"]
    assert guest_feed and {a["projectId"] for a in guest_feed} == {world.projects[0]}
    whole_feed = (await snapshot(owner, world.org_id, limit=100))["activity"]
    assert {a["projectId"] for a in whole_feed} == set(world.projects)


async def test_a_guest_never_receives_a_count_over_a_hidden_project(server: Server) -> None:
    _, people = await quick_team(server, ["Owner", "Member", "Guest"])
    guest = people[2]
    world = await new_world(server, [p.id for p in people])  # the Guest belongs to project 0
    hidden_assignee = people[1].id
    before = await snapshot(guest, world.org_id)
    async with listening(guest) as listener:
        for i in range(20):  # the hidden project only
            await apply(server, world, ("create", 1, i % 3, 1, -1, i))
        await asyncio.sleep(1.2)
        await sent(server, world.org_id, listener)
        hidden_phase = list(listener.events)
        for i in range(12):  # now the Guest's own project too
            await apply(server, world, ("create", 0, i % 3, 0, -1, i))
            await apply(server, world, ("create", 1, i % 3, 1, -1, i))
        await asyncio.sleep(1.2)
        await sent(server, world.org_id, listener)
    room = user_room(guest.id)
    for event in hidden_phase:
        assert event["room"] == room
        assert event["event"] == "dashboard.metrics.updated", event  # no activity of project 1
        metrics = event["data"]["metrics"]
        assert (metrics["openTasks"], metrics["completedTasks"], metrics["overdueTasks"]) == (
            0,
            0,
            0,
        )
        assert all(p["v"] == 0 for p in metrics["burndownSeries"])
    updates = metrics_updates(listener, world.org_id, room)
    assert updates
    for update in updates:
        assigned = {a["assigneeId"] for a in update["data"]["metrics"]["tasksByAssignee"]}
        assert hidden_assignee not in assigned
    activity = [e for e in listener.events if e["event"] == "dashboard.activity.created"]
    assert len(activity) == 12
    assert {e["data"]["activity"]["projectId"] for e in activity} == {world.projects[0]}
    state = before["metrics"]
    for update in updates:
        state = apply_metrics(state, update["data"]["metrics"])
    async with server.runtime.db.read() as session:
        expected = await plain_metrics(session, world.org_id, guest.id, utcnow().date())
    assert state == expected == (await snapshot(guest, world.org_id))["metrics"]
    assert expected["openTasks"] + expected["completedTasks"] == 12


async def test_with_the_flag_off_nothing_is_sent_and_the_snapshot_is_right(server: Server) -> None:
    _, people = await quick_team(server, ["Owner", "Member", "Guest"])
    owner = people[0]
    world = await new_world(server, [p.id for p in people])
    async with owner.http() as http:
        r = await http.put(f"/api/orgs/{world.org_id}/flags/dashboard", json={"enabled": False})
        assert r.status_code == 200, r.text
    async with listening(owner, dashboard_room(world.org_id)) as listener:
        for i in range(15):
            await apply(server, world, ("create", i % 2, i % 3, 0, -1, i))
        await asyncio.sleep(1.2)
        await sent(server, world.org_id, listener)
    assert [e for e in listener.events if e["event"].startswith("dashboard.")] == []
    async with server.runtime.db.read() as session:
        logged = await session.scalars(
            select(EventRecord.event).where(EventRecord.event.like("dashboard.%"))
        )
        rooms_logged = list(logged)
        expected = await plain_metrics(session, world.org_id, None, utcnow().date())
    assert rooms_logged == []
    assert (await snapshot(owner, world.org_id))["metrics"] == expected
    assert len((await snapshot(owner, world.org_id))["activity"]) == 15


async def test_a_member_made_guest_leaves_the_dashboard_room(server: Server) -> None:
    _, people = await quick_team(server, ["Owner", "Member", "Guest"])
    owner, member = people[0], people[1]
    world = await new_world(server, [p.id for p in people])
    room = dashboard_room(world.org_id)
    async with listening(member, room) as listener:
        await set_role(owner, world.org_id, member.id, "Guest")
        await asyncio.sleep(1.0)  # SPEC §4: out of the room on every instance within a second
        await apply(server, world, ("create", 1, 0, 0, None, 0))
        await asyncio.sleep(1.2)
        await sent(server, world.org_id, listener)
    assert [e["event"] for e in listener.events if e.get("room") == room] == ["room.evicted"]
