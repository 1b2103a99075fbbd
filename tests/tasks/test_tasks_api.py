"""Tasks over REST: create, read, change (rev and conflicts), move (ranks: one row a move), delete."""

from __future__ import annotations

from typing import Any

from tandem.kit.ids import new_id
from tests.harness import Person, assert_error, quick_team
from tests.projects.factories import board, column_titles, make_project, make_task, move
from tests.tasks.test_kanban_writes import ranks_unique


def by_id(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for c in snapshot["columns"] for t in c["tasks"]}


async def patch(person: Person, task_id: str, body: dict[str, Any]) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.patch(f"/api/tasks/{task_id}", json=body)
        assert r.status_code == 200, r.text
        return r.json()


async def test_create_read_change_and_delete_a_task(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    project = await make_project(owner, org_id)
    task = await make_task(
        member,
        project["id"],
        title="Write docs",
        priority="High",
        assigneeId=owner.id,
        dueDate="2030-05-01",
        description="all of them",
    )
    assert task["id"].startswith("t_")
    assert (task["status"], task["rev"], task["createdBy"], task["completedAt"]) == (
        "To Do",
        1,
        member.id,
        None,
    )
    async with member.http() as http:
        page = (await http.get(f"/api/tasks/{task['id']}")).json()
        assert page["task"] == task
        assert {k: page[k] for k in ("subtasks", "comments", "attachments")} == {
            "subtasks": [],
            "comments": [],
            "attachments": [],
        }
        assert [(a["verb"], a["actorId"], a["detail"]) for a in page["activity"]] == [
            ("created", member.id, "Write docs")
        ]
        assert (task["subtaskCount"], task["attachmentCount"]) == ({"done": 0, "total": 0}, 0)
        assert isinstance(page["cursor"], int)
    answer = await patch(
        member, task["id"], {"changes": {"title": "Write the docs", "assigneeId": None}}
    )
    assert answer["conflict"] is None
    changed = answer["task"]
    assert (changed["title"], changed["assigneeId"], changed["rev"]) == ("Write the docs", None, 2)
    # Status from the task page: to the end of that column, complete in the last one.
    changed = (await patch(member, task["id"], {"changes": {"status": "Done"}}))["task"]
    assert (changed["status"], changed["rev"]) == ("Done", 3) and changed["completedAt"]
    changed = (await patch(member, task["id"], {"changes": {"status": "Review"}}))["task"]
    assert changed["completedAt"] is None and changed["rev"] == 4
    same = (await patch(member, task["id"], {"changes": {"title": "Write the docs"}}))["task"]
    assert same["rev"] == 4  # nothing changed, nothing written
    async with member.http() as http:
        assert (await http.delete(f"/api/tasks/{task['id']}")).status_code == 204
        missing = assert_error(await http.get(f"/api/tasks/{new_id('t')}"), 404)
        assert assert_error(await http.get(f"/api/tasks/{task['id']}"), 404) == missing


async def test_bad_task_inputs(sqlite_server):
    org_id, (owner,) = await quick_team(sqlite_server, ["Owner"])
    _other_org, (stranger,) = await quick_team(sqlite_server, ["Owner"], org_name="Other")
    project = await make_project(owner, org_id)
    pid = project["id"]
    task = await make_task(owner, pid)
    async with owner.http() as http:
        for body in (
            {},
            {"title": ""},
            {"title": "x", "priority": "Meh"},
            {"title": "x", "dueDate": "soon"},
        ):
            assert_error(await http.post(f"/api/projects/{pid}/tasks", json=body), 422)
        assert_error(
            await http.post(f"/api/projects/{pid}/tasks", json={"title": "x", "status": "Nope"}),
            409,
        )
        r = await http.post(
            f"/api/projects/{pid}/tasks", json={"title": "x", "assigneeId": stranger.id}
        )
        assert_error(r, 409)
        assert_error(await http.patch(f"/api/tasks/{task['id']}", json={"title": "x"}), 422)
        assert_error(
            await http.patch(f"/api/tasks/{task['id']}", json={"changes": {"status": "Nope"}}), 409
        )
        assert_error(await http.post(f"/api/tasks/{task['id']}/move", json={}), 422)
        assert_error(
            await http.post(f"/api/tasks/{task['id']}/move", json={"toColumn": "Nope"}), 409
        )
        r = await http.post(
            f"/api/tasks/{task['id']}/move",
            json={"toColumn": "To Do", "beforeTaskId": task["id"]},
        )
        assert_error(r, 409)


async def test_moves_order_the_column_and_write_one_row(server):
    org_id, (owner,) = await quick_team(server, ["Owner"])
    pid = (await make_project(owner, org_id))["id"]
    tasks = {t: await make_task(owner, pid, title=t) for t in "abcd"}
    ids = {t: tasks[t]["id"] for t in tasks}
    assert column_titles(await board(owner, pid))["To Do"] == ["a", "b", "c", "d"]

    async def moved(task: str, expected: dict[str, list[str]], **body: Any) -> None:
        before = by_id(await board(owner, pid))
        result = await move(owner, ids[task], **body)
        snapshot = await board(owner, pid)
        titles = column_titles(snapshot)
        assert {k: titles[k] for k in expected} == expected
        ranks_unique(snapshot)
        after = by_id(snapshot)
        changed = [i for i in after if after[i] != before[i]]
        assert changed == [ids[task]], "a move writes one row"
        assert after[ids[task]] == result
        assert result["rev"] == before[ids[task]]["rev"] + 1

    await moved("d", {"To Do": ["d", "a", "b", "c"]}, toColumn="To Do", beforeTaskId=ids["a"])
    await moved("a", {"To Do": ["d", "b", "c", "a"]}, toColumn="To Do")
    await moved("b", {"To Do": ["d", "c", "a", "b"]}, toColumn="To Do", afterTaskId=ids["a"])
    await moved("c", {"To Do": ["d", "a", "b"], "Review": ["c"]}, toColumn="Review")  # empty column
    await moved(
        "d", {"To Do": ["a", "b"], "Review": ["c", "d"]}, toColumn="Review", afterTaskId=ids["c"]
    )
    await moved(
        "a", {"To Do": ["b"], "Review": ["c", "a", "d"]}, toColumn="Review", beforeTaskId=ids["d"]
    )
    done = await move(owner, ids["b"], toColumn="Done")
    assert done["completedAt"] is not None
    back = await move(owner, ids["b"], toColumn="To Do")
    assert back["completedAt"] is None


async def test_many_moves_to_one_spot_rebalance_the_column_but_keep_its_order(sqlite_server):
    org_id, (owner,) = await quick_team(sqlite_server, ["Owner"])
    pid = (await make_project(owner, org_id))["id"]
    first = await make_task(owner, pid, title="first")
    last = await make_task(owner, pid, title="last")
    expected = ["first", "last"]
    for i in range(130):  # always just after "first": keys there grow until a rebalance
        task = await make_task(owner, pid, title=f"t{i}", status="Review")
        await move(owner, task["id"], toColumn="To Do", afterTaskId=first["id"])
        expected.insert(1, f"t{i}")
    snapshot = await board(owner, pid)
    assert column_titles(snapshot)["To Do"] == expected
    ranks_unique(snapshot)
    ranks = {t["title"]: t["rank"] for t in snapshot["columns"][0]["tasks"]}
    assert max(map(len, ranks.values())) <= 24
    assert ranks["last"] != last["rank"], "the column was never rebalanced"
