"""The project page: its counters always agree with the board and with plain SQL, arrive at most
once a second with the last value always sent, its files and activity, an archived project's
read-only board, and access that follows membership as it changes."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tandem.kit.clock import utcnow
from tandem.tasks.models import Task
from tests.attachments.conftest import attach, upload
from tests.dashboard.live import sent
from tests.harness import Listener, Person, Server, listening, quick_team, two_instances
from tests.projects.factories import add_member, make_project, make_task, move

COLUMNS = ["To Do", "In Progress", "Review", "Done"]


async def get(person: Person, path: str, status: int = 200) -> Any:
    async with person.http() as http:
        r = await http.get(path)
        assert r.status_code == status, r.text
        return r.json()


async def send(person: Person, method: str, path: str, body: Any = None) -> Any:
    async with person.http() as http:
        return await http.request(method, path, json=body)


def board_counts(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": c["name"], "count": len(c["tasks"])} for c in board["columns"]]


async def plain_counters(server: Server, project_id: str) -> dict[str, Any]:
    """The counters and the timeline, counted task by task."""
    today = utcnow().date()
    async with server.runtime.db.read() as session:
        rows = (
            await session.execute(
                select(Task.status, Task.due_date).where(Task.project_id == project_id)
            )
        ).all()
    by_column = {name: 0 for name in COLUMNS}
    due: dict[date, dict[str, int]] = {}
    overdue = 0
    for status, due_date in rows:
        by_column[status] += 1
        done = status == COLUMNS[-1]
        if due_date is not None:
            day = due.setdefault(due_date, {"open": 0, "done": 0})
            day["done" if done else "open"] += 1
            overdue += int(not done and due_date < today)
    total = len(rows)
    done_count = by_column[COLUMNS[-1]]
    return {
        "metrics": {
            "columns": [{"name": n, "count": c} for n, c in by_column.items()],
            "total": total,
            "done": done_count,
            "open": total - done_count,
            "overdue": overdue,
            "completionPercent": round(done_count * 100 / total) if total else 0,
        },
        "due": [{"date": d.isoformat(), **counts} for d, counts in sorted(due.items())],
    }


# -- counters ------------------------------------------------------------------------------

create = st.tuples(
    st.just("create"),
    st.integers(0, len(COLUMNS) - 1),
    st.one_of(st.none(), st.integers(-5, 5)),  # due, days from today
)
move_op = st.tuples(st.just("move"), st.integers(0, 30), st.integers(0, len(COLUMNS) - 1))
due_op = st.tuples(st.just("due"), st.integers(0, 30), st.one_of(st.none(), st.integers(-5, 5)))
delete = st.tuples(st.just("delete"), st.integers(0, 30))
programs = st.lists(st.one_of(create, create, move_op, due_op, delete), min_size=1, max_size=14)


def _day(offset: int | None) -> str | None:
    return None if offset is None else (utcnow().date() + timedelta(days=offset)).isoformat()


async def run_program(owner: Person, pid: str, program: list[tuple[Any, ...]]) -> None:
    tasks: list[str] = []
    for op in program:
        if op[0] == "create":
            body = {"title": "t", "status": COLUMNS[op[1]], "dueDate": _day(op[2])}
            tasks.append((await make_task(owner, pid, **body))["id"])
            continue
        if not tasks:
            continue
        task_id = tasks[op[1] % len(tasks)]
        if op[0] == "move":
            await move(owner, task_id, toColumn=COLUMNS[op[2]])
        elif op[0] == "due":
            r = await send(
                owner, "PATCH", f"/api/tasks/{task_id}", {"changes": {"dueDate": _day(op[2])}}
            )
            assert r.status_code == 200, r.text
        else:
            assert (await send(owner, "DELETE", f"/api/tasks/{task_id}")).status_code == 204
            tasks.remove(task_id)


async def test_counters_equal_the_board_and_plain_sql_after_random_writes(server: Server) -> None:
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    loop = asyncio.get_running_loop()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(120)

    async def one_program(program: list[tuple[Any, ...]]) -> None:
        pid = (await make_project(owner, org_id))["id"]
        async with listening(member, f"project:{pid}") as listener:
            await run_program(owner, pid, program)
            await sent(server, org_id, listener)
        page = await get(member, f"/api/projects/{pid}")
        board = await get(member, f"/api/projects/{pid}/board")
        plain = await plain_counters(server, pid)
        assert page["metrics"] == plain["metrics"]
        assert page["due"] == plain["due"]
        assert page["metrics"]["columns"] == board_counts(board)
        updates = listener.named("project.metrics.updated")
        assert updates, "no counters were sent"
        assert updates[-1]["data"]["metrics"] == page["metrics"]
        assert updates[-1]["data"]["due"] == page["due"]

    @settings(
        max_examples=8,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(programs)
    def each(program: list[tuple[Any, ...]]) -> None:
        run(one_program(program))

    await asyncio.to_thread(each)


async def test_counters_go_out_at_most_once_a_second_and_the_last_always(server: Server) -> None:
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    pid = (await make_project(owner, org_id))["id"]
    other = (await make_project(owner, org_id, name="Other"))["id"]
    async with listening(member, f"project:{pid}", f"project:{other}") as listener:
        started = asyncio.get_running_loop().time()
        tasks = [(await make_task(owner, pid, title=f"t{i}"))["id"] for i in range(12)]
        for i, task_id in enumerate(tasks):
            await move(owner, task_id, toColumn=COLUMNS[i % len(COLUMNS)])
        await make_task(owner, other, title="elsewhere")
        elapsed = asyncio.get_running_loop().time() - started
        await sent(server, org_id, listener)
    mine = [e for e in listener.named("project.metrics.updated") if e["room"] == f"project:{pid}"]
    assert 1 <= len(mine) <= 2 + int(elapsed), (len(mine), elapsed)
    emitted = [datetime.fromisoformat(e["meta"]["emittedAt"]) for e in mine]
    assert all((b - a).total_seconds() >= 0.9 for a, b in pairwise(emitted)), emitted
    assert [e["seq"] for e in mine] == sorted(e["seq"] for e in mine)
    page = await get(member, f"/api/projects/{pid}")
    assert mine[-1]["data"]["metrics"] == page["metrics"]
    assert page["metrics"]["total"] == 12
    # Each project's counters go to its own room only.
    theirs = [e for e in listener.named("project.metrics.updated") if e["room"] != f"project:{pid}"]
    assert {e["data"]["projectId"] for e in theirs} == {other}


async def test_a_new_day_sends_counters_again(server: Server) -> None:
    """Overdue changes with the date, without any write: the emitter counts again."""
    from tandem.dashboard import repository as dashboard
    from tandem.dashboard.models import WHOLE_ORG

    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    pid = (await make_project(owner, org_id))["id"]
    await make_task(owner, pid, dueDate=_day(-1))
    await sent(server, org_id)
    async with listening(member, f"project:{pid}") as listener:
        async with server.runtime.db.unit_of_work() as session:
            await dashboard.mark(session, [(org_id, WHOLE_ORG, None)])  # as at midnight
        await sent(server, org_id, listener)
    [update] = listener.named("project.metrics.updated")
    assert update["data"]["metrics"]["overdue"] == 1


# -- the snapshot --------------------------------------------------------------------------


async def test_the_page_lists_files_with_their_task_and_uploader_and_recent_activity(
    server: Server,
) -> None:
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    pid = (await make_project(owner, org_id))["id"]
    task = await make_task(member, pid, title="Design review")
    async with listening(owner, f"project:{pid}") as listener:
        added = await attach(member, task["id"], b"hello", filename="notes.txt")
        await listener.wait_event("project.files.updated", timeout=2)
    [event] = listener.named("project.files.updated")
    page = await get(owner, f"/api/projects/{pid}")
    [listed] = page["files"]
    assert listed["id"] == added["id"]
    assert (listed["taskTitle"], listed["uploaderName"], listed["size"]) == (
        "Design review",
        member.name,
        5,
    )
    assert event["data"]["added"] == [listed]
    verbs = [(a["verb"], a["target"]["kind"]) for a in page["activity"]]
    assert ("created", "task") in verbs and ("created", "project") in verbs
    assert all(a["projectId"] == pid for a in page["activity"])


# -- archived ------------------------------------------------------------------------------


async def test_an_archived_projects_board_is_read_only_until_reopened(server: Server) -> None:
    org_id, (owner, member, guest) = await quick_team(server, ["Owner", "Member", "Guest"])
    pid = (await make_project(owner, org_id))["id"]
    task = await make_task(member, pid)
    await add_member(owner, pid, guest.id, "Viewer")
    async with listening(member, f"project:{pid}") as listener:
        r = await send(owner, "PATCH", f"/api/projects/{pid}", {"status": "archived"})
        assert r.status_code == 200, r.text
        changed = await listener.wait_event("project.updated", timeout=2)
        assert changed["data"]["changes"] == {"status": "archived"}
    tid = task["id"]
    writes = [
        ("POST", f"/api/projects/{pid}/tasks", {"title": "more"}),
        ("PATCH", f"/api/tasks/{tid}", {"changes": {"title": "renamed"}}),
        ("POST", f"/api/tasks/{tid}/move", {"toColumn": "Done"}),
        ("DELETE", f"/api/tasks/{tid}", None),
        ("POST", f"/api/tasks/{tid}/subtasks", {"title": "step"}),
        ("POST", f"/api/tasks/{tid}/comments", {"text": "hello"}),
    ]
    columns = {"columns": ["A", "B"], "moveTasks": {"To Do": "A"}}
    for person, (method, path, body) in [
        *((p, w) for w in writes for p in (owner, member)),
        (owner, ("PUT", f"/api/projects/{pid}/columns", columns)),
    ]:
        r = await send(person, method, path, body)
        assert r.status_code == 409, (method, path, r.status_code, r.text)
        assert "archived" in r.json()["error"]["message"]
    assert (await upload(member, tid, b"x")).status_code == 409
    # A Viewer is still told they are a Viewer.
    r = await send(guest, "PATCH", f"/api/tasks/{tid}", {"changes": {"title": "mine"}})
    assert r.status_code == 403
    # Drag hints are refused too.
    async with listening(member) as hinter:
        ack = await hinter.sio.call(
            "kanban.lock", {"projectId": pid, "taskId": tid, "locked": True}, timeout=5
        )
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
    board = await get(member, f"/api/projects/{pid}/board")
    assert [t["title"] for c in board["columns"] for t in c["tasks"]] == [task["title"]]
    # Reopened, it is a board again.
    assert (
        await send(owner, "PATCH", f"/api/projects/{pid}", {"status": "active"})
    ).status_code == 200
    await move(member, tid, toColumn="Done")


# -- access follows membership -------------------------------------------------------------


async def test_a_guest_added_sees_the_project_at_once_and_a_removed_one_is_told(
    server: Server,
) -> None:
    org_id, (owner, guest) = await quick_team(server, ["Owner", "Guest"])
    pid = (await make_project(owner, org_id, name="Private"))["id"]
    await get(guest, f"/api/projects/{pid}", status=404)
    async with listening(guest) as own_room:
        await add_member(owner, pid, guest.id, "Contributor")
        added = await own_room.wait_event("project.member.added", timeout=2)
        assert added["room"] == f"user:{guest.id}"
        assert added["data"]["project"]["name"] == "Private"
        page = await get(guest, f"/api/projects/{pid}")
        assert guest.id in [m["userId"] for m in page["members"]]
        listed = await get(guest, f"/api/orgs/{org_id}/projects")
        assert [p["id"] for p in listed["projects"]] == [pid]
        assert (await own_room.subscribe(f"project:{pid}"))["ok"]
        r = await send(owner, "DELETE", f"/api/projects/{pid}/members/{guest.id}")
        assert r.status_code == 204
        await own_room.wait_event("room.evicted", timeout=1, room=f"project:{pid}")
        removed = await own_room.wait_event("project.member.removed", timeout=2)
        assert removed["data"]["userId"] == guest.id
    await get(guest, f"/api/projects/{pid}", status=404)


async def test_removal_evicts_from_project_and_task_rooms_on_every_instance(
    backend: str, database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend != "postgresql":
        pytest.skip("several instances share a PostgreSQL database")
    redis_url = request.getfixturevalue("redis_url")
    async with two_instances(database_url, tmp_path, redis_url) as (a, b):
        org_id, (owner, guest) = await quick_team(a, ["Owner", "Guest"])
        pid = (await make_project(owner, org_id))["id"]
        task = await make_task(owner, pid)
        await add_member(owner, pid, guest.id, "Contributor")
        rooms = [f"project:{pid}", f"task:{task['id']}"]
        token = await guest.socket_token()
        on_b = [await Listener(b, token).connect() for _ in range(2)]
        try:
            for listener in on_b:
                for room in rooms:
                    assert (await listener.subscribe(room))["ok"]
            started = asyncio.get_running_loop().time()
            r = await send(owner, "DELETE", f"/api/projects/{pid}/members/{guest.id}")
            assert r.status_code == 204
            for listener in on_b:
                for room in rooms:
                    await listener.wait_event("room.evicted", timeout=1.5, room=room)
            took = asyncio.get_running_loop().time() - started
            assert took < 1.0, took
            before = [len(listener.events) for listener in on_b]
            await move(owner, task["id"], toColumn="Review")
            await asyncio.sleep(0.5)
            for listener, seen in zip(on_b, before, strict=True):
                assert [e for e in listener.events[seen:] if e.get("room") in rooms] == []
        finally:
            for listener in on_b:
                await listener.close()
