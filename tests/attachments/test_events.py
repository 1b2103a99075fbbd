"""Snapshot + events = state for a task's files (STYLE item 8, SPEC §5.4): the task page's room
(`task.attachment.added/removed`, the card's count in `task.updated`, the history) and the
project's room (`project.files.updated`, `kanban.task.updated` with `attachmentCount`), each
applied with the client's rules to a snapshot taken before, equal to a snapshot taken after.
Nobody who may not see the task receives any of it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tandem.attachments.service import attachments_of
from tandem.realtime.envelope import REGISTRY
from tests.attachments.conftest import attach
from tests.harness import Person, assert_envelope, listening, quick_team, quiesce
from tests.projects.factories import add_member, make_project, make_task

State = dict[str, Any]


def apply_task_event(state: State, envelope: dict[str, Any]) -> None:
    event, data = envelope["event"], envelope["data"]
    if event == "task.attachment.added":
        state["attachments"].insert(0, data["attachment"])
    elif event == "task.attachment.removed":
        state["attachments"] = [a for a in state["attachments"] if a["id"] != data["attachmentId"]]
    elif event == "task.updated":
        state["task"].update(data["changes"], rev=data["rev"], updatedAt=data["updatedAt"])
    elif event == "task.activity.created":
        state["activity"].insert(0, data["activity"])
    else:
        raise AssertionError(f"no task page rule for {event}")


def apply_project_event(state: State, envelope: dict[str, Any]) -> None:
    event, data = envelope["event"], envelope["data"]
    if event == "project.files.updated":
        removed = set(data.get("removedIds") or ())
        state["files"] = (data.get("added") or []) + [
            f for f in state["files"] if f["id"] not in removed
        ]
    elif event == "kanban.task.updated":
        task = state["tasks"][data["taskId"]]
        task.update(data["changes"], rev=data["rev"], updatedAt=data["updatedAt"])
    else:
        raise AssertionError(f"no project rule for {event}")


async def task_snapshot(person: Person, task_id: str) -> State:
    async with person.http() as http:
        page = (await http.get(f"/api/tasks/{task_id}")).json()
    async with person.server.runtime.db.read() as session:
        assert page["attachments"] == await attachments_of(session, task_id)
    return {
        "cursor": page["cursor"],
        "task": page["task"],
        "activity": page["activity"][:5],
        "attachments": page["attachments"],
    }


async def project_snapshot(person: Person, project_id: str) -> State:
    async with person.http() as http:
        board = (await http.get(f"/api/projects/{project_id}/board")).json()
        files = (await http.get(f"/api/projects/{project_id}")).json()["files"]
    tasks = {t["id"]: t for c in board["columns"] for t in c["tasks"]}
    return {"cursor": board["cursor"], "tasks": tasks, "files": files}


async def verify(
    person: Person,
    actor: Person,
    room: str,
    snapshot: Callable[[], Awaitable[State]],
    reducer: Callable[[State, dict[str, Any]], None],
    action: Callable[[], Awaitable[Any]],
) -> list[str]:
    await person.server.settle()
    state = await snapshot()
    async with listening(person) as listener:
        ack = await listener.subscribe(room, after=state["cursor"])
        assert ack["ok"] is True, ack
        await action()
        await quiesce(person.server, listener)
    # The project's counters go out on the dashboard's beat, a second or more after the write that
    # changed them (here the task's creation): they are no attachment's event (tests/projects).
    events = [
        e
        for e in listener.events
        if e["room"] == room and "seq" in e and e["event"] != "project.metrics.updated"
    ]
    assert events, "the action emitted nothing"
    for envelope in events:
        # The SPEC's envelope, by the writer, its data exactly as the event's contract declares.
        assert_envelope(envelope, envelope["event"], room, envelope["data"], actor_id=actor.id)
        contract = REGISTRY[envelope["event"]]
        assert contract.model_validate(envelope["data"]).wire() == envelope["data"]
        reducer(state, envelope)
    after = await snapshot()
    state.pop("cursor"), after.pop("cursor")
    if "activity" in state:
        state["activity"] = state["activity"][:5]
    assert state == after
    return [e["event"] for e in events]


async def test_files_on_the_task_page_and_the_project(files_server):
    org_id, (owner, member) = await quick_team(files_server, ["Owner", "Member"])
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    tid, pid = task["id"], project["id"]
    on_task = lambda action: verify(  # noqa: E731
        member, owner, f"task:{tid}", lambda: task_snapshot(member, tid), apply_task_event, action
    )
    on_project = lambda action: verify(  # noqa: E731
        member,
        owner,
        f"project:{pid}",
        lambda: project_snapshot(member, pid),
        apply_project_event,
        action,
    )
    added: list[dict[str, Any]] = []

    async def add(name: str) -> None:
        added.append(await attach(owner, tid, b"data of " + name.encode(), filename=name))

    async def remove() -> None:
        async with owner.http() as http:
            assert (await http.delete(added[0]["url"])).status_code == 204

    assert await on_task(lambda: add("a.txt")) == [
        "task.attachment.added",
        "task.updated",
        "task.activity.created",
    ]
    assert await on_project(lambda: add("b.txt")) == [
        "project.files.updated",
        "kanban.task.updated",
    ]
    assert await on_task(remove) == [
        "task.attachment.removed",
        "task.updated",
        "task.activity.created",
    ]
    assert (await task_snapshot(member, tid))["task"]["attachmentCount"] == 1
    added.pop(0)
    assert await on_project(remove) == ["project.files.updated", "kanban.task.updated"]


async def test_nobody_who_may_not_see_the_task_receives_its_file_events(files_server):
    org_id, (owner, guest) = await quick_team(files_server, ["Owner", "Guest"])
    _other, (stranger,) = await quick_team(files_server, ["Owner"], org_name="Other")
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    hidden = await make_project(owner, org_id, name="Hidden")
    await add_member(owner, project["id"], guest.id, "Viewer")  # sees this project, not Hidden
    hidden_task = await make_task(owner, hidden["id"])
    async with listening(stranger) as outsider, listening(guest) as viewer:
        for room in (f"task:{hidden_task['id']}", f"project:{hidden['id']}"):
            assert (await viewer.subscribe(room))["ok"] is False
        for room in (f"task:{task['id']}", f"project:{project['id']}"):
            assert (await outsider.subscribe(room))["ok"] is False
            assert (await viewer.subscribe(room))["ok"] is True
        att = await attach(owner, task["id"], b"seen by the viewer")
        secret = await attach(owner, hidden_task["id"], b"seen by nobody else")
        async with owner.http() as http:
            assert (await http.delete(secret["url"])).status_code == 204
        await quiesce(files_server, outsider, viewer)
    assert not [e for e in outsider.events if "attachment" in str(e) or "files" in str(e)]
    seen = str(viewer.events)
    assert att["id"] in seen and secret["id"] not in seen and hidden_task["id"] not in seen
    assert {e["event"] for e in viewer.events if "seq" in e} >= {
        "task.attachment.added",
        "project.files.updated",
    }
