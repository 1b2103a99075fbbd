"""The `project:` and `task:` rooms: who may enter, who is taken out (within a second, on losing
access), and that no one of another organization ever receives a project or task event."""

from __future__ import annotations

import asyncio
import time

import orjson

from tandem.kit.ids import new_id
from tests.dashboard.live import sent
from tests.harness import Listener, Person, listening, quick_team, quiesce, set_role
from tests.projects.factories import add_member, make_project, make_task, move


async def test_who_may_enter_project_and_task_rooms(server):
    org_id, (owner, member, guest, outsider_guest) = await quick_team(
        server, ["Owner", "Member", "Guest", "Guest"]
    )
    _other, (stranger,) = await quick_team(server, ["Owner"], org_name="Elsewhere")
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    await add_member(owner, project["id"], guest.id, "Viewer")
    rooms = [f"project:{project['id']}", f"task:{task['id']}"]
    for person, allowed in (
        (member, True),
        (guest, True),
        (outsider_guest, False),
        (stranger, False),
    ):
        async with listening(person) as listener:
            for room in rooms:
                ack = await listener.subscribe(room)
                assert ack["ok"] is allowed, (person.name, room, ack)
            if not allowed:  # the same refusal as for rooms that do not exist
                missing = await listener.subscribe(f"project:{new_id('p')}")
                refused = await listener.subscribe(rooms[0])
                assert refused == missing


async def evicted_within_a_second(
    server, person: Person, rooms: list[str], take_away, still_there
) -> None:
    """`person` holds sockets in `rooms`; after `take_away()` they leave them all within a second,
    and the rooms' next events (`still_there()`) reach none of them."""
    token = await person.socket_token()
    sockets = [await Listener(server, token).connect() for _ in range(3)]
    try:
        for listener in sockets:
            for room in rooms:
                assert (await listener.subscribe(room))["ok"]
        started = time.monotonic()
        await take_away()
        await server.settle()
        took = time.monotonic() - started
        assert took < 1, took
        for listener in sockets:  # each socket is told, so its page can say so
            for room in rooms:
                await listener.wait_event("room.evicted", timeout=1, room=room)
        seen = {id(listener): len(listener.events) for listener in sockets}
        await still_there()
        await quiesce(server, *sockets)
        leaked = [
            e
            for listener in sockets
            for e in listener.events[seen[id(listener)] :]
            if e.get("room") in rooms
        ]
        assert leaked == []
    finally:
        for listener in sockets:
            await listener.close()


async def test_losing_access_takes_sockets_out_of_project_and_task_rooms(server):
    org_id, (owner, member, guest, demoted, removed) = await quick_team(
        server, ["Owner", "Member", "Guest", "Member", "Member"]
    )
    project = await make_project(owner, org_id)
    pid = project["id"]
    task = await make_task(owner, pid)
    rooms = [f"project:{pid}", f"task:{task['id']}"]
    await add_member(owner, pid, guest.id, "Contributor")

    async def touch() -> None:
        await move(owner, task["id"], toColumn="Review")
        await move(owner, task["id"], toColumn="To Do")

    async def remove_from_project() -> None:
        async with owner.http() as http:
            r = await http.delete(f"/api/projects/{pid}/members/{guest.id}")
            assert r.status_code == 204, r.text

    await evicted_within_a_second(server, guest, rooms, remove_from_project, touch)
    await evicted_within_a_second(
        server, demoted, rooms, lambda: set_role(owner, org_id, demoted.id, "Guest"), touch
    )

    async def remove_from_org() -> None:
        async with owner.http() as http:
            r = await http.delete(f"/api/orgs/{org_id}/members/{removed.id}")
            assert r.status_code == 204, r.text

    await evicted_within_a_second(server, removed, rooms, remove_from_org, touch)
    # The one who kept access still hears the board.
    async with listening(member, *rooms) as listener:
        await touch()
        await listener.wait_event("kanban.task.moved", timeout=2)


async def test_another_orgs_people_never_receive_a_project_or_task_event(server):
    org_id, (owner, member, guest) = await quick_team(server, ["Owner", "Member", "Guest"])
    other_org, (stranger, stranger_member) = await quick_team(
        server, ["Owner", "Member"], org_name="Elsewhere"
    )
    async with (
        listening(stranger, f"org:{other_org}") as spy,
        listening(stranger_member, f"org:{other_org}") as second_spy,
        listening(member, f"org:{org_id}") as witness,
    ):
        project = await make_project(owner, org_id, name="Secret plan")
        pid = project["id"]
        assert (await witness.subscribe(f"project:{pid}"))["ok"]
        task = await make_task(owner, pid, title="Secret task")
        assert (await witness.subscribe(f"task:{task['id']}"))["ok"]
        async with owner.http() as http:
            for method, path, body in (
                ("PATCH", f"/api/projects/{pid}", {"description": "classified"}),
                ("PATCH", f"/api/tasks/{task['id']}", {"changes": {"title": "Still secret"}}),
                (
                    "PUT",
                    f"/api/projects/{pid}/columns",
                    {
                        "columns": ["To Do", "Doing", "Done"],
                        "moveTasks": {"In Progress": "Doing", "Review": "Doing"},
                    },
                ),
                ("POST", f"/api/projects/{pid}/members", {"userId": guest.id, "role": "Viewer"}),
                ("PATCH", f"/api/projects/{pid}/members/{guest.id}", {"role": "Contributor"}),
                ("POST", f"/api/tasks/{task['id']}/move", {"toColumn": "Done"}),
                ("DELETE", f"/api/projects/{pid}/members/{guest.id}", None),
                ("DELETE", f"/api/tasks/{task['id']}", None),
            ):
                r = await http.request(method, path, json=body)
                assert r.status_code < 300, r.text
        await sent(server, None, spy, second_spy, witness)
        heard = {e["event"] for e in witness.events}
        assert {
            "project.created",
            "project.activity.created",
            "project.updated",
            "project.member.added",
            "project.member.removed",
            "project.metrics.updated",
            "kanban.task.created",
            "kanban.task.updated",
            "kanban.task.moved",
            "kanban.task.deleted",
            "task.updated",
        } <= heard, heard
        for listener in (spy, second_spy):
            text = orjson.dumps(listener.events).decode()
            assert pid not in text and "Secret" not in text and task["id"] not in text
            assert not [
                e
                for e in listener.events
                if e.get("event", "").startswith(("project.", "kanban.", "task."))
            ]
    await asyncio.sleep(0)
