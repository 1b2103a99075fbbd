"""Subtasks over REST: add, rename, tick, reorder, remove; who may; the task's done/total; the
task page's snapshot lists them by rank."""

from __future__ import annotations

from typing import Any

from tests.harness import Person, assert_error, quick_team
from tests.projects.factories import add_member, make_project, make_task


async def add(person: Person, task_id: str, **body: Any) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.post(f"/api/tasks/{task_id}/subtasks", json={"title": "Step", **body})
        assert r.status_code == 201, r.text
        return r.json()["subtask"]


async def change(person: Person, subtask_id: str, **body: Any) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.patch(f"/api/subtasks/{subtask_id}", json=body)
        assert r.status_code == 200, r.text
        return r.json()["subtask"]


async def page(person: Person, task_id: str) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.get(f"/api/tasks/{task_id}")
        assert r.status_code == 200, r.text
        return r.json()


def titles(snapshot: dict[str, Any]) -> list[str]:
    return [s["title"] for s in snapshot["subtasks"]]


async def test_add_tick_rename_reorder_and_remove(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    tid = task["id"]
    first = await add(member, tid, title="Write")
    assert first["id"].startswith("st_")
    assert (first["taskId"], first["done"], first["createdBy"]) == (tid, False, member.id)
    second = await add(member, tid, title="Review")
    third = await add(member, tid, title="Edit", afterSubtaskId=first["id"])
    assert titles(await page(owner, tid)) == ["Write", "Edit", "Review"]

    ticked = await change(owner, second["id"], done=True)
    assert ticked["done"] is True and ticked["title"] == "Review"
    snapshot = await page(owner, tid)
    assert snapshot["task"]["subtaskCount"] == {"done": 1, "total": 3}
    assert snapshot["task"]["rev"] == task["rev"] + 4  # three adds and a tick

    renamed = await change(member, third["id"], title="Proofread")
    assert renamed["title"] == "Proofread"
    await change(member, second["id"], beforeSubtaskId=first["id"])
    assert titles(await page(owner, tid)) == ["Review", "Write", "Proofread"]
    await change(member, second["id"], afterSubtaskId=third["id"])
    assert titles(await page(owner, tid)) == ["Write", "Proofread", "Review"]

    async with member.http() as http:
        assert (await http.delete(f"/api/subtasks/{second['id']}")).status_code == 204
        assert_error(await http.delete(f"/api/subtasks/{second['id']}"), 404, "not_found")
    snapshot = await page(owner, tid)
    assert titles(snapshot) == ["Write", "Proofread"]
    assert snapshot["task"]["subtaskCount"] == {"done": 0, "total": 2}
    verbs = [a["verb"] for a in snapshot["activity"]]
    assert verbs[:6] == [
        "subtask_removed",
        "subtask_moved",
        "subtask_moved",
        "subtask_renamed",
        "subtask_done",
        "subtask_added",
    ]
    assert snapshot["activity"][3]["detail"] == "Edit → Proofread"


async def test_the_card_shows_done_and_total(server):
    org_id, (owner,) = await quick_team(server, ["Owner"])
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    steps = [await add(owner, task["id"], title=f"Step {i}") for i in range(3)]
    await change(owner, steps[0]["id"], done=True)
    await change(owner, steps[2]["id"], done=True)
    await change(owner, steps[2]["id"], done=True)  # already done: no change
    async with owner.http() as http:
        board = (await http.get(f"/api/projects/{project['id']}/board")).json()
    card = board["columns"][0]["tasks"][0]
    assert card["subtaskCount"] == {"done": 2, "total": 3}


async def test_many_inserts_at_one_place_keep_the_order(server):
    """Every add lands just after the first: keys grow until the list is respaced."""
    org_id, (owner,) = await quick_team(server, ["Owner"])
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    head = await add(owner, task["id"], title="head")
    tail = await add(owner, task["id"], title="tail")
    expected = ["head", "tail"]
    for i in range(40):
        await add(owner, task["id"], title=f"n{i}", afterSubtaskId=head["id"])
        expected.insert(1, f"n{i}")
    snapshot = await page(owner, task["id"])
    assert titles(snapshot) == expected
    assert all(len(s["rank"]) <= 24 for s in snapshot["subtasks"])
    assert snapshot["subtasks"][-1]["id"] == tail["id"]


async def test_client_id_makes_one_subtask(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    once = await add(member, task["id"], title="Once", clientId="c-1")
    again = await add(member, task["id"], title="Once", clientId="c-1")
    other = await add(owner, task["id"], title="Once", clientId="c-1")  # someone else's id
    assert again == once and other["id"] != once["id"]
    async with member.http() as http:
        r = await http.post(
            f"/api/tasks/{task['id']}/subtasks", json={"title": "Another", "clientId": "c-1"}
        )
        assert_error(r, 422)
    assert len((await page(owner, task["id"]))["subtasks"]) == 2


async def test_who_may_change_subtasks(server):
    org_id, (owner, member, viewer, guest) = await quick_team(
        server, ["Owner", "Member", "Member", "Guest"]
    )
    _other_org, (stranger,) = await quick_team(server, ["Owner"], org_name="Other")
    project = await make_project(owner, org_id)
    await add_member(owner, project["id"], viewer.id, "Viewer")
    task = await make_task(owner, project["id"])
    step = await add(member, task["id"])
    for person in (guest, stranger):  # neither may see the task: as if it did not exist
        async with person.http() as http:
            r = await http.post(f"/api/tasks/{task['id']}/subtasks", json={"title": "x"})
            assert_error(r, 404, "not_found")
            assert_error(await http.patch(f"/api/subtasks/{step['id']}", json={"done": True}), 404)
            assert_error(await http.delete(f"/api/subtasks/{step['id']}"), 404)
            assert_error(await http.get(f"/api/tasks/{task['id']}"), 404)
    async with viewer.http() as http:
        assert (await http.get(f"/api/tasks/{task['id']}")).status_code == 200
        r = await http.post(f"/api/tasks/{task['id']}/subtasks", json={"title": "x"})
        assert_error(r, 403, "forbidden")
        assert_error(await http.patch(f"/api/subtasks/{step['id']}", json={"done": True}), 403)
        assert_error(await http.delete(f"/api/subtasks/{step['id']}"), 403)
    snapshot = await page(owner, task["id"])
    assert [(s["title"], s["done"]) for s in snapshot["subtasks"]] == [("Step", False)]


async def test_bad_subtask_bodies(server):
    org_id, (owner,) = await quick_team(server, ["Owner"])
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    other_task = await make_task(owner, project["id"])
    step = await add(owner, task["id"])
    elsewhere = await add(owner, other_task["id"])
    async with owner.http() as http:
        for body in ({}, {"title": ""}, {"title": "x" * 201}, {"title": 5}, {"title": "a", "x": 1}):
            assert_error(await http.post(f"/api/tasks/{task['id']}/subtasks", json=body), 422)
        for body in ({"done": "yes"}, {"title": ""}, {"rank": "a"}):
            assert_error(await http.patch(f"/api/subtasks/{step['id']}", json=body), 422)
        # A neighbour that is not another subtask of this task: 409, nothing moves.
        for body in (
            {"afterSubtaskId": elsewhere["id"]},
            {"beforeSubtaskId": step["id"]},
            {"afterSubtaskId": step["id"], "beforeSubtaskId": step["id"]},
        ):
            assert_error(await http.patch(f"/api/subtasks/{step['id']}", json=body), 409)
        r = await http.post(
            f"/api/tasks/{task['id']}/subtasks", json={"title": "a", "afterSubtaskId": "st_nope"}
        )
        assert_error(r, 409)
        assert_error(await http.post("/api/tasks/t_missing/subtasks", json={"title": "a"}), 404)
        assert_error(await http.patch("/api/subtasks/st_missing", json={"done": True}), 404)
        assert_error(await http.patch("/api/subtasks/" + "s" * 33, json={"done": True}), 422)
    assert titles(await page(owner, task["id"])) == ["Step"]


async def test_deleting_the_task_removes_its_subtasks(server):
    org_id, (owner,) = await quick_team(server, ["Owner"])
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    step = await add(owner, task["id"])
    async with owner.http() as http:
        assert (await http.delete(f"/api/tasks/{task['id']}")).status_code == 204
        assert_error(await http.patch(f"/api/subtasks/{step['id']}", json={"done": True}), 404)


async def test_markup_in_titles_is_stored_as_sent(server):
    """Rendering safely is the page's job; the server keeps the title's characters as written."""
    org_id, (owner,) = await quick_team(server, ["Owner"])
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    hostile = ["<script>alert(1)</script>", '<img src=x onerror="alert(1)">', "[x](javascript:1)"]
    for title in hostile:
        assert (await add(owner, task["id"], title=title))["title"] == title
    assert titles(await page(owner, task["id"])) == hostile
    async with owner.http() as http:  # a title that reorders text is refused, as a task's is
        r = await http.post(f"/api/tasks/{task['id']}/subtasks", json={"title": "a\u202eb"})
        assert_error(r, 422)
