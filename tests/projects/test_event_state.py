"""Snapshot + events = state (STYLE item 8, SPEC §5.4) for the board, the project page, the task
page and the list of projects: snapshot with its cursor, subscribe after it, act, apply the events
that arrived with the client's reducer rules, fetch a new snapshot, require the two be equal. An
action that emits nothing fails."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.dashboard.live import sent
from tests.harness import Person, listening, quick_team, quiesce, set_role
from tests.projects.factories import add_member, make_project, make_task, move

Reducer = Callable[[dict[str, Any], dict[str, Any]], None]


# -- the client's reducers, rule for rule ---------------------------------------------------


def _tasks_of(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for c in board["columns"] for t in c["tasks"]}


def board_state(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {"project": snapshot["project"], "tasks": _tasks_of(snapshot)}


def board_view(state: dict[str, Any]) -> dict[str, Any]:
    """The board as the snapshot shows it: columns in order, tasks by rank."""
    columns = []
    for name in state["project"]["columns"]:
        tasks = sorted(
            (t for t in state["tasks"].values() if t["status"] == name),
            key=lambda t: (t["rank"], t["id"]),
        )
        columns.append({"name": name, "count": len(tasks), "tasks": tasks})
    return {"project": state["project"], "columns": columns}


def apply_board_event(state: dict[str, Any], envelope: dict[str, Any]) -> None:
    event, data = envelope["event"], envelope["data"]
    tasks = state["tasks"]
    if event == "kanban.task.created":
        tasks[data["task"]["id"]] = data["task"]
    elif event == "kanban.task.updated":
        tasks[data["taskId"]].update(data["changes"], rev=data["rev"], updatedAt=data["updatedAt"])
    elif event == "kanban.task.moved":
        tasks[data["taskId"]].update(
            status=data["toColumn"],
            rank=data["rank"],
            rev=data["rev"],
            updatedAt=data["updatedAt"],
            completedAt=data["completedAt"],
        )
    elif event == "kanban.task.deleted":
        tasks.pop(data["taskId"], None)
    elif event == "project.updated":
        state["project"] = data["project"]
        for task in data["tasks"]:
            tasks[task["id"]] = task
    elif event.startswith("project.member.") or event in PAGE_ONLY:
        return
    else:
        raise AssertionError(f"no board rule for {event}")
    for task_id, rank in data.get("rebalanced", {}).items():
        tasks[task_id]["rank"] = rank


# The project page's, on the board's room too: the board ignores them.
PAGE_ONLY = ("project.metrics.updated", "project.activity.created")
ACTIVITY_PAGE = 20


def page_state(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {
        "project": snapshot["project"],
        "members": {m["userId"]: m for m in snapshot["members"]},
        "metrics": snapshot["metrics"],
        "due": snapshot["due"],
        "activity": snapshot["activity"],
    }


def apply_page_event(state: dict[str, Any], envelope: dict[str, Any]) -> None:
    event, data = envelope["event"], envelope["data"]
    if event == "project.updated":
        state["project"] = data["project"]
    elif event == "project.member.added":
        state["members"][data["member"]["userId"]] = data["member"]
    elif event == "project.member.removed":
        state["members"].pop(data["userId"], None)
    elif event == "project.metrics.updated":
        state["metrics"] = data["metrics"]
        state["due"] = data["due"]
    elif event == "project.activity.created":
        state["activity"] = [data["activity"], *state["activity"]][:ACTIVITY_PAGE]
    elif not event.startswith("kanban.task."):
        raise AssertionError(f"no project page rule for {event}")


def task_state(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {"task": snapshot["task"]}


def apply_task_event(state: dict[str, Any], envelope: dict[str, Any]) -> None:
    event, data = envelope["event"], envelope["data"]
    if event == "task.updated":
        state["task"] = {
            **state["task"],
            **data["changes"],
            "rev": data["rev"],
            "updatedAt": data["updatedAt"],
        }
    elif event == "kanban.task.deleted":
        state["task"] = None
    elif event != "task.activity.created":  # the history: tests/tasks/test_page_events.py
        raise AssertionError(f"no task page rule for {event}")


def list_state(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {"projects": {p["id"]: p for p in snapshot["projects"]}}


def list_reducer(me: str, guest: bool) -> Reducer:
    def apply(state: dict[str, Any], envelope: dict[str, Any]) -> None:
        event, data = envelope["event"], envelope["data"]
        projects = state["projects"]
        if event in ("project.created", "project.updated"):
            projects[data["project"]["id"]] = data["project"]
        elif event == "project.member.added":
            projects[data["projectId"]] = data["project"]
        elif event == "project.member.removed":
            if guest and data["userId"] == me:
                projects.pop(data["projectId"], None)
        elif not event.startswith(("org.member.", "dashboard.")):  # a Guest's dashboard: its own
            raise AssertionError(f"no project list rule for {event}")

    return apply


# -- the check ---------------------------------------------------------------------------------


async def fetch(person: Person, path: str) -> dict[str, Any] | None:
    async with person.http() as http:
        r = await http.get(path)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        return r.json()


async def verify_action(
    person: Person,
    room: str,
    path: str,
    state_of: Callable[[dict[str, Any]], dict[str, Any]],
    reducer: Reducer,
    action: Callable[[], Awaitable[Any]],
    view: Callable[[dict[str, Any]], dict[str, Any]] = lambda s: s,
) -> list[str]:
    server = person.server
    await sent(server, None)  # earlier changes' throttled counters too, before the snapshot
    before = await fetch(person, path)
    assert before is not None
    state = state_of(before)
    async with listening(person) as listener:
        ack = await listener.subscribe(room, after=before["cursor"])
        assert ack["ok"] is True, ack
        await action()
        await sent(server, None, listener)  # the throttled counters too
    events = [e for e in listener.events if e["room"] == room and "seq" in e]
    assert events, "the action emitted nothing"
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)) and seqs[0] > before["cursor"], seqs
    for envelope in events:
        reducer(state, envelope)
    after = await fetch(person, path)
    if after is None:
        assert state.get("task", 0) is None, "gone from the server, not from the client's state"
    else:
        assert view(state) == view(state_of(after))
        assert after["cursor"] >= seqs[-1]
    return [e["event"] for e in events]


async def on_board(
    person: Person, project_id: str, action: Callable[[], Awaitable[Any]]
) -> list[str]:
    """The board's events (the project page's, on the same room, are checked by on_page)."""
    names = await verify_action(
        person,
        f"project:{project_id}",
        f"/api/projects/{project_id}/board",
        board_state,
        apply_board_event,
        action,
        board_view,
    )
    return [n for n in names if n not in PAGE_ONLY]


def on_page(person: Person, project_id: str, action: Callable[[], Awaitable[Any]]):
    return verify_action(
        person,
        f"project:{project_id}",
        f"/api/projects/{project_id}",
        page_state,
        apply_page_event,
        action,
    )


def on_task(person: Person, task_id: str, action: Callable[[], Awaitable[Any]]):
    return verify_action(
        person, f"task:{task_id}", f"/api/tasks/{task_id}", task_state, apply_task_event, action
    )


async def on_list(
    person: Person, org_id: str, guest: bool, action: Callable[[], Awaitable[Any]]
) -> list[str]:
    names = await verify_action(
        person,
        f"user:{person.id}",
        f"/api/orgs/{org_id}/projects",
        list_state,
        list_reducer(person.id, guest),
        action,
    )
    # A Guest's dashboard updates share their user room, on the dashboard's own schedule.
    return [n for n in names if not n.startswith("dashboard.")]


def request(person: Person, method: str, path: str, body: Any = None, status: int = 200):
    async def run() -> None:
        async with person.http() as http:
            r = await http.request(method, path, json=body)
            assert r.status_code == status, r.text

    return run


@pytest.fixture
async def board_with_tasks(server):
    org_id, people = await quick_team(server, ["Owner", "Member", "Guest"])
    owner = people[0]
    project = await make_project(owner, org_id)
    tasks = [
        await make_task(owner, project["id"], title=f"task {i}", status=status)
        for i, status in enumerate(["To Do", "To Do", "In Progress", "Done"])
    ]
    return org_id, people, project["id"], tasks


async def test_board_events(board_with_tasks):
    _org_id, (owner, member, _guest), pid, tasks = board_with_tasks
    a, b, c, d = (t["id"] for t in tasks)
    assert await on_board(
        member,
        pid,
        request(
            owner, "POST", f"/api/projects/{pid}/tasks", {"title": "new", "status": "Review"}, 201
        ),
    ) == ["kanban.task.created"]
    assert await on_board(
        member,
        pid,
        request(
            owner,
            "PATCH",
            f"/api/tasks/{a}",
            {"changes": {"title": "renamed", "dueDate": "2031-01-01"}},
        ),
    ) == ["kanban.task.updated"]
    assert "kanban.task.updated" in await on_board(
        member, pid, request(owner, "PATCH", f"/api/tasks/{b}", {"changes": {"status": "Done"}})
    )
    assert await on_board(
        member, pid, lambda: move(owner, a, toColumn="In Progress", beforeTaskId=c)
    ) == ["kanban.task.moved"]
    assert await on_board(member, pid, lambda: move(owner, d, toColumn="Done", beforeTaskId=b)) == [
        "kanban.task.moved"
    ]
    assert await on_board(member, pid, request(owner, "DELETE", f"/api/tasks/{c}", status=204)) == [
        "kanban.task.deleted"
    ]
    assert "project.updated" in await on_board(
        member,
        pid,
        request(
            owner,
            "PUT",
            f"/api/projects/{pid}/columns",
            {
                "columns": ["Backlog", "Doing", "Shipped"],
                "renames": {"To Do": "Backlog", "Done": "Shipped"},
                "moveTasks": {"In Progress": "Doing", "Review": "Doing"},
            },
        ),
    )
    assert await on_board(
        member,
        pid,
        request(owner, "PATCH", f"/api/projects/{pid}", {"description": "now described"}),
    ) == ["project.updated"]


async def test_board_events_with_placement_client_ids_and_conflicts(board_with_tasks):
    """The board's writes with what clients add (clientId, a place, a stale baseRev): the events
    carry it, and the board they make is still the server's."""
    _org_id, (owner, member, _guest), pid, tasks = board_with_tasks
    a, b, _c, _d = (t["id"] for t in tasks)
    sent: dict[str, Any] = {}

    def keep(name: str, method: str, path: str, body: Any, status: int = 200, by: Person = owner):
        async def run() -> None:
            async with by.http() as http:
                r = await http.request(method, path, json=body)
                assert r.status_code == status, r.text
                sent[name] = r.json()

        return run

    create = {"title": "placed", "beforeTaskId": b, "clientId": "k-1"}
    assert await on_board(
        member, pid, keep("create", "POST", f"/api/projects/{pid}/tasks", create, 201)
    ) == ["kanban.task.created"]
    base = tasks[0]["rev"]
    await move(member, a, toColumn="Review")  # someone else, after the owner's baseRev
    patch = {"changes": {"title": "mine", "status": "Done"}, "baseRev": base, "clientId": "k-2"}
    names = await on_board(member, pid, keep("patch", "PATCH", f"/api/tasks/{a}", patch))
    assert names[0] == "kanban.task.updated"
    assert sent["patch"]["conflict"]["with"] == [{"field": "status", "userId": member.id}]
    mover = {"toColumn": "To Do", "afterTaskId": b, "baseRev": base, "clientId": "k-3"}
    moving = keep("move", "POST", f"/api/tasks/{a}/move", mover, by=member)
    assert (await on_board(owner, pid, moving))[0] == "kanban.task.moved"
    assert sent["move"]["conflict"]["with"] == [{"field": "status", "userId": owner.id}]
    async with listening(member) as listener:
        assert (await listener.subscribe(f"project:{pid}", after=0))["ok"]
        await quiesce(owner.server, listener)
    by_client = {
        e["data"]["clientId"]: e["data"] for e in listener.events if e["data"].get("clientId")
    }
    assert set(by_client) == {"k-1", "k-2", "k-3"}
    assert by_client["k-1"]["task"]["id"] == sent["create"]["task"]["id"]
    assert by_client["k-2"]["conflict"] == sent["patch"]["conflict"]
    assert by_client["k-3"]["conflict"] == sent["move"]["conflict"]


async def test_a_burst_of_moves_and_edits_at_once(board_with_tasks):
    _org_id, (owner, member, _guest), pid, tasks = board_with_tasks
    ids = [t["id"] for t in tasks]

    async def burst() -> None:
        await asyncio.gather(
            move(owner, ids[0], toColumn="Review"),
            move(member, ids[1], toColumn="Review"),
            move(owner, ids[2], toColumn="Done", beforeTaskId=ids[3]),
            request(member, "PATCH", f"/api/tasks/{ids[3]}", {"changes": {"priority": "Urgent"}})(),
            make_task(member, pid, title="burst", status="Review"),
        )

    await on_board(owner, pid, burst)


async def test_project_page_events(board_with_tasks):
    _org_id, (owner, member, guest), pid, tasks = board_with_tasks
    # Who may see a project changes a Guest's dashboard: the emitter counts the org's projects
    # again, and sends their counters with it (unchanged, whole: harmless).
    assert await on_page(member, pid, lambda: add_member(owner, pid, guest.id, "Contributor")) == [
        "project.member.added",
        "project.metrics.updated",
    ]
    assert await on_page(
        member,
        pid,
        request(owner, "PATCH", f"/api/projects/{pid}/members/{guest.id}", {"role": "Viewer"}),
    ) == ["project.member.added"]
    assert await on_page(
        member, pid, request(owner, "DELETE", f"/api/projects/{pid}/members/{guest.id}", status=204)
    ) == ["project.member.removed", "project.metrics.updated"]
    assert await on_page(
        member,
        pid,
        request(owner, "PATCH", f"/api/projects/{pid}", {"startDate": "2030-01-01"}),
    ) == ["project.updated"]
    assert await on_page(
        member, pid, request(owner, "PATCH", f"/api/projects/{pid}", {"status": "on_hold"})
    ) == ["project.updated", "project.activity.created", "project.metrics.updated"]
    assert await on_page(member, pid, lambda: move(owner, tasks[0]["id"], toColumn="Done")) == [
        "project.activity.created",
        "kanban.task.moved",
        "project.metrics.updated",
    ]
    assert await on_page(
        member,
        pid,
        request(
            owner,
            "PATCH",
            f"/api/tasks/{tasks[1]['id']}",
            {"changes": {"dueDate": "2001-01-01", "title": "late"}},
        ),
    ) == ["project.activity.created", "kanban.task.updated", "project.metrics.updated"]
    assert "project.metrics.updated" in await on_page(
        member,
        pid,
        request(
            owner,
            "PUT",
            f"/api/projects/{pid}/columns",
            {"columns": ["To Do", "In Progress", "Done", "Review"]},
        ),
    )


async def test_task_page_events(board_with_tasks):
    _org_id, (owner, member, _guest), pid, tasks = board_with_tasks
    tid = tasks[0]["id"]
    assert await on_task(
        member,
        tid,
        request(
            owner,
            "PATCH",
            f"/api/tasks/{tid}",
            {"changes": {"description": "more", "assigneeId": member.id}},
        ),
    ) == ["task.updated", "task.activity.created"]
    assert await on_task(member, tid, lambda: move(owner, tid, toColumn="Done")) == [
        "task.updated",
        "task.activity.created",
    ]
    assert await on_task(
        member, tid, lambda: move(owner, tid, toColumn="Done", beforeTaskId=tasks[3]["id"])
    ) == ["task.updated", "task.activity.created"]
    assert await on_task(
        member,
        tid,
        request(
            owner,
            "PUT",
            f"/api/projects/{pid}/columns",
            {
                "columns": ["To Do", "In Progress", "Review", "Finished"],
                "renames": {"Done": "Finished"},
            },
        ),
    ) == ["task.updated"]
    assert await on_task(
        member, tid, request(owner, "DELETE", f"/api/tasks/{tid}", status=204)
    ) == ["kanban.task.deleted"]


async def test_project_list_events(server):
    org_id, (owner, member, guest) = await quick_team(server, ["Owner", "Member", "Guest"])
    created: dict[str, Any] = {}

    async def create() -> None:
        created.update(await make_project(owner, org_id, name="Listed"))

    assert await on_list(member, org_id, False, create) == ["project.created"]
    pid = created["id"]
    assert await on_list(
        member, org_id, False, request(owner, "PATCH", f"/api/projects/{pid}", {"name": "Relisted"})
    ) == ["project.updated"]
    assert await on_list(
        guest, org_id, True, lambda: add_member(owner, pid, guest.id, "Viewer")
    ) == ["project.member.added"]
    assert await on_list(
        guest, org_id, True, request(owner, "PATCH", f"/api/projects/{pid}", {"name": "Seen"})
    ) == ["project.updated"]
    assert await on_list(
        guest,
        org_id,
        True,
        request(owner, "DELETE", f"/api/projects/{pid}/members/{guest.id}", status=204),
    ) == ["project.member.removed"]
    # A Guest hears of no other project. Their dashboard's trailing update for the removal may
    # still arrive meanwhile (on its own schedule): that one is allowed, nothing about the project.
    try:
        heard = await on_list(
            guest, org_id, True, lambda: make_project(owner, org_id, name="Unseen")
        )
    except AssertionError as nothing:
        assert "emitted nothing" in str(nothing)
        heard = []
    assert heard == []


async def test_an_action_that_emits_nothing_fails_the_check(sqlite_server):
    org_id, (owner,) = await quick_team(sqlite_server, ["Owner"])
    pid = (await make_project(owner, org_id))["id"]
    with pytest.raises(AssertionError, match="emitted nothing"):
        await on_board(
            owner, pid, request(owner, "PATCH", f"/api/projects/{pid}", {"name": "Launch"})
        )
    await set_role(owner, org_id, owner.id, "Owner")
