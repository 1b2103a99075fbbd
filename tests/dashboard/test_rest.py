"""Through the real tasks and projects services (REST): random creates, moves, completions and
reopenings, field changes, deletions, a column rename and a project's status; the dashboard's
metrics still equal plain SQL, for the whole org and a Guest, and the feed says who did what."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.kit.clock import utcnow
from tests.dashboard.live import snapshot
from tests.dashboard.plain import plain_metrics
from tests.harness import Person, Server, quick_team
from tests.projects.factories import add_member, make_project

EXAMPLES = 5
COLUMNS = ["To Do", "In Progress", "Review", "Done"]

ops = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(0, 1), st.integers(0, 3), st.integers(0, 2)),
        st.tuples(st.just("move"), st.integers(0, 30), st.integers(0, 3)),
        st.tuples(st.just("status"), st.integers(0, 30), st.integers(0, 3)),
        st.tuples(st.just("due"), st.integers(0, 30), st.one_of(st.none(), st.integers(-9, 9))),
        st.tuples(st.just("assign"), st.integers(0, 30), st.integers(0, 2)),
        st.tuples(st.just("delete"), st.integers(0, 30)),
        st.tuples(st.just("rename"), st.integers(0, 1)),
        st.tuples(st.just("hold"), st.integers(0, 1)),
    ),
    min_size=1,
    max_size=14,
)


async def run_program(
    org_id: str, owner: Person, people: list[Person], program: list[tuple[Any, ...]]
) -> None:
    projects = [await make_project(owner, org_id, name=f"P{i}") for i in range(2)]
    await add_member(owner, projects[0]["id"], people[2].id, "Viewer")  # the Guest sees P0
    columns = {p["id"]: list(COLUMNS) for p in projects}
    tasks: list[tuple[str, str]] = []
    async with owner.http() as http:
        for op in program:
            if op[0] == "create":
                project = projects[op[1]]["id"]
                body = {
                    "title": "t",
                    "status": columns[project][op[2]],
                    "assigneeId": people[op[3]].id if op[3] < 2 else None,
                }
                r = await http.post(f"/api/projects/{project}/tasks", json=body)
                assert r.status_code == 201, r.text
                tasks.append((r.json()["task"]["id"], project))
            elif op[0] in ("rename", "hold"):
                project = projects[op[1]]["id"]
                if op[0] == "rename":
                    old = columns[project]
                    new = [*old[:-1], old[-1] + "!"]
                    r = await http.put(
                        f"/api/projects/{project}/columns",
                        json={"columns": new, "renames": {old[-1]: new[-1]}},
                    )
                    columns[project] = new
                else:
                    r = await http.patch(f"/api/projects/{project}", json={"status": "on_hold"})
                assert r.status_code == 200, r.text
            elif tasks:
                task_id, project = tasks[op[1] % len(tasks)]
                if op[0] == "move":
                    r = await http.post(
                        f"/api/tasks/{task_id}/move", json={"toColumn": columns[project][op[2]]}
                    )
                elif op[0] == "delete":
                    r = await http.delete(f"/api/tasks/{task_id}")
                    tasks.remove((task_id, project))
                else:
                    changes: dict[str, Any] = {}
                    if op[0] == "status":
                        changes["status"] = columns[project][op[2]]
                    elif op[0] == "due":
                        due = op[2]
                        changes["dueDate"] = (
                            (utcnow().date() + timedelta(days=due)).isoformat()
                            if due is not None
                            else None
                        )
                    else:
                        changes["assigneeId"] = people[op[2]].id if op[2] < 2 else None
                    r = await http.patch(f"/api/tasks/{task_id}", json={"changes": changes})
                assert r.status_code in (200, 204), r.text


async def compare(server: Server, org_id: str, owner: Person, guest: Person) -> None:
    today = utcnow().date()
    async with server.runtime.db.read() as session:
        whole = await plain_metrics(session, org_id, None, today)
        theirs = await plain_metrics(session, org_id, guest.id, today)
    assert (await snapshot(owner, org_id))["metrics"] == whole
    assert (await snapshot(guest, org_id))["metrics"] == theirs


async def test_metrics_equal_plain_sql_through_the_rest_api(server: Server) -> None:
    loop = asyncio.get_running_loop()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(120)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(ops)
    def one(program: list[tuple[Any, ...]]) -> None:
        org_id, people = run(quick_team(server, ["Owner", "Member", "Guest"]))
        run(run_program(org_id, people[0], people, program))
        run(compare(server, org_id, people[0], people[2]))

    await asyncio.to_thread(one)


async def test_the_feed_says_who_did_what(server: Server) -> None:
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    project = await make_project(owner, org_id, name="Launch")
    async with member.http() as http:
        r = await http.post(f"/api/projects/{project['id']}/tasks", json={"title": "Ship it"})
        task_id = r.json()["task"]["id"]
        await http.post(f"/api/tasks/{task_id}/move", json={"toColumn": "Review"})
        await http.post(f"/api/tasks/{task_id}/move", json={"toColumn": "Done"})
        await http.post(f"/api/tasks/{task_id}/move", json={"toColumn": "To Do"})
        await http.delete(f"/api/tasks/{task_id}")
    feed = (await snapshot(owner, org_id))["activity"]
    lines = [(a["actorId"], a["verb"], a["target"]["kind"], a["target"]["title"]) for a in feed]
    assert lines == [
        (member.id, "deleted", "task", "Ship it"),
        (member.id, "reopened", "task", "Ship it"),
        (member.id, "completed", "task", "Ship it"),
        (member.id, "moved", "task", "Ship it"),
        (member.id, "created", "task", "Ship it"),
        (owner.id, "created", "project", "Launch"),
    ]
    assert feed[3]["detail"] == {"fromColumn": "To Do", "toColumn": "Review"}
    older = (await snapshot(owner, org_id, before=feed[1]["id"], limit=2))["activity"]
    assert [a["id"] for a in older] == [feed[2]["id"], feed[3]["id"]]
