"""Snapshot + events = state (STYLE item 8, SPEC §5.4) for `dashboard.metrics.updated` and
`dashboard.activity.created`: take the snapshot with its cursor, subscribe after it, act, apply
what arrived to the old snapshot (a metrics update's series points by day, activity prepended),
fetch a new snapshot and require the two to be equal. An action that emits nothing fails."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tandem.realtime.rooms import dashboard_room, user_room
from tests.dashboard.live import sent, snapshot
from tests.dashboard.plain import apply_metrics
from tests.dashboard.writer import World, apply, new_world
from tests.harness import Person, Server, listening, quick_team

PAGE = 20


def apply_event(state: dict[str, Any], envelope: dict[str, Any]) -> None:
    """The web client's dashboard reducer."""
    data = envelope["data"]
    if envelope["event"] == "dashboard.metrics.updated":
        state["metrics"] = apply_metrics(state["metrics"], data["metrics"])
    elif envelope["event"] == "dashboard.activity.created":
        # The snapshot may already hold a line whose event was still on its way to the log
        # (its seq comes after the snapshot's cursor): a line is added once, by its id.
        if all(a["id"] != data["activity"]["id"] for a in state["activity"]):
            state["activity"] = [data["activity"], *state["activity"]][:PAGE]
    else:
        raise AssertionError(f"no reducer rule for {envelope['event']}")


async def verify_action(
    server: Server,
    person: Person,
    world: World,
    room: str,
    action: Callable[[], Awaitable[Any]],
    *,
    between: Callable[[], Awaitable[Any]] | None = None,
) -> list[dict[str, Any]]:
    """Snapshot, subscribe after its cursor, act, apply the events, compare with a new snapshot.

    `between` runs before the snapshot is taken, after the previous update went out: its change
    is in the snapshot, and the next update must still bring the snapshot to the new state."""
    await asyncio.sleep(1.1)  # past the throttle of whatever came before
    await sent(server, world.org_id)
    if between is not None:
        # An update goes out just now, so the throttle holds the next one for a second: `between`
        # and the snapshot surely come before it.
        await apply(server, world, ("due", 0, 1))
        await sent(server, world.org_id)
        await between()
    before = await snapshot(person, world.org_id, limit=PAGE)
    state = {"metrics": before["metrics"], "activity": before["activity"]}
    async with listening(person) as listener:
        ack = await listener.subscribe(room, after=before["cursor"])
        assert ack["ok"] is True, ack
        await action()
        await asyncio.sleep(1.1)
        await sent(server, world.org_id, listener)
    events = [e for e in listener.events if e["room"] == room and "seq" in e]
    assert events, "the action emitted nothing"
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)) and seqs[0] > before["cursor"], seqs
    for envelope in events:
        assert envelope["data"]["organizationId"] == world.org_id, envelope
        apply_event(state, envelope)
    after = await snapshot(person, world.org_id, limit=PAGE)
    assert state == {"metrics": after["metrics"], "activity": after["activity"]}
    assert after["cursor"] >= seqs[-1]
    return events


def writes(server: Server, world: World, *ops: tuple) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        for op in ops:
            await apply(server, world, op)

    return run


async def setup(server: Server) -> tuple[list[Person], World]:
    _, people = await quick_team(server, ["Owner", "Member", "Guest"])
    world = await new_world(server, [p.id for p in people])
    history = [("create", i % 2, i % 3, i % 4, (i % 7) - 3, i * 4) for i in range(30)]
    await apply(server, world, *history)
    return people, world


def names(events: list[dict[str, Any]]) -> set[str]:
    return {e["event"] for e in events}


async def test_metrics_and_activity_of_task_writes(server: Server) -> None:
    people, world = await setup(server)
    room = dashboard_room(world.org_id)
    actions = [
        ("create", 0, 0, 1, -2, 0),
        ("create", 1, 2, 3, None, 3),  # created three days ago, in the last column
        ("move", 4, 2, 10),  # completed ten days ago: past points of the burndown change
        ("move", 5, 0, 0),  # reopened
        ("due", 6, -5),
        ("assign", 7, 2),
        ("delete", 8),
    ]
    events = await verify_action(server, people[0], world, room, writes(server, world, *actions))
    assert names(events) == {"dashboard.metrics.updated", "dashboard.activity.created"}


async def test_metrics_only_a_series_point_that_changed_and_changed_back(server: Server) -> None:
    """A snapshot taken between a write and its update holds a point the next write puts back:
    the update must name that point although it equals what was sent before."""
    people, world = await setup(server)
    room = dashboard_room(world.org_id)
    # A task created 20 days ago and deleted again: day -20's point goes up by one, then back.
    plant = writes(server, world, ("create", 0, 0, 3, None, 20))
    pull = writes(server, world, ("delete", len(world.tasks)))
    events = await verify_action(server, people[0], world, room, pull, between=plant)
    assert "dashboard.metrics.updated" in names(events)


async def test_a_guests_metrics_and_activity(server: Server) -> None:
    people, world = await setup(server)
    guest = people[2]
    actions = [("create", 0, 1, 0, -1, 2), ("move", 0, 2, 1), ("create", 1, 0, 1, -1, 0)]
    events = await verify_action(
        server, guest, world, user_room(guest.id), writes(server, world, *actions)
    )
    assert names(events) == {"dashboard.metrics.updated", "dashboard.activity.created"}


async def test_activity_alone(server: Server) -> None:
    people, world = await setup(server)
    room = dashboard_room(world.org_id)
    events = await verify_action(
        server, people[1], world, room, writes(server, world, ("assign", 3, 1))
    )
    assert "dashboard.activity.created" in names(events)
