"""The board's writes (docs/kanban.md): placement and clientId on create, last write wins per
field with `conflict` naming who was overridden, moves against an older rev, vanished neighbours."""

from __future__ import annotations

from typing import Any

from tandem.kit.ids import new_id
from tests.harness import Person, assert_error, listening, quick_team, quiesce
from tests.projects.factories import board, column_titles, make_project, make_task


async def post(person: Person, path: str, body: dict[str, Any], status: int) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.post(path, json=body)
        assert r.status_code == status, r.text
        return r.json()


async def patch(person: Person, task_id: str, body: dict[str, Any]) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.patch(f"/api/tasks/{task_id}", json=body)
        assert r.status_code == 200, r.text
        return r.json()


def ranks_unique(snapshot: dict[str, Any]) -> None:
    for column in snapshot["columns"]:
        ranks = [t["rank"] for t in column["tasks"]]
        assert ranks == sorted(set(ranks)), column


async def test_create_at_a_place_in_the_column(server):
    org_id, (owner,) = await quick_team(server, ["Owner"])
    pid = (await make_project(owner, org_id))["id"]
    a = await make_task(owner, pid, title="a")
    c = await make_task(owner, pid, title="c")
    await make_task(owner, pid, title="b", beforeTaskId=c["id"])
    await make_task(owner, pid, title="first", beforeTaskId=a["id"])
    await make_task(owner, pid, title="last", afterTaskId=c["id"])
    await make_task(owner, pid, title="r", status="Review", afterTaskId=None)
    snapshot = await board(owner, pid)
    assert column_titles(snapshot)["To Do"] == ["first", "a", "b", "c", "last"]
    assert column_titles(snapshot)["Review"] == ["r"]
    ranks_unique(snapshot)
    path = f"/api/projects/{pid}/tasks"
    # A neighbour in another column, in no column, or both neighbours: refused, nothing made.
    for body in (
        {"title": "x", "status": "Review", "beforeTaskId": a["id"]},
        {"title": "x", "afterTaskId": new_id("t")},
        {"title": "x", "beforeTaskId": a["id"], "afterTaskId": c["id"]},
    ):
        async with owner.http() as http:
            error = assert_error(await http.post(path, json=body), 409, "conflict")
            assert error["message"]
    assert (await board(owner, pid))["columns"] == snapshot["columns"]


async def test_a_create_sent_twice_with_its_client_id_makes_one_task(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    pid = (await make_project(owner, org_id))["id"]
    path = f"/api/projects/{pid}/tasks"
    body = {"title": "Once", "priority": "High", "clientId": "c-1"}
    async with listening(owner, f"project:{pid}") as listener:
        first = (await post(owner, path, body, 201))["task"]
        again = (await post(owner, path, body, 201))["task"]
        # Another person's clientId is their own: the same string makes their own task.
        theirs = (await post(member, path, body, 201))["task"]
        await quiesce(server, listener)
    assert again == first and theirs["id"] != first["id"]
    created = listener.named("kanban.task.created")
    assert [(e["data"]["task"]["id"], e["data"]["clientId"]) for e in created] == [
        (first["id"], "c-1"),
        (theirs["id"], "c-1"),
    ]
    # The same clientId with another body: 422, nothing made.
    async with owner.http() as http:
        r = await http.post(path, json={**body, "priority": "Low"})
        assert_error(r, 422)
        r = await http.post(path, json={**body, "clientId": "x" * 65})
        assert_error(r, 422)
        r = await http.post(path, json={**body, "clientId": ""})
        assert_error(r, 422)
    assert column_titles(await board(owner, pid))["To Do"] == ["Once", "Once"]
    # A retry after the task changed still finds it (the body is what was sent, not the task).
    await patch(owner, first["id"], {"changes": {"title": "Renamed"}})
    again = (await post(owner, path, body, 201))["task"]
    assert (again["id"], again["title"]) == (first["id"], "Renamed")
    # Without a clientId every create is new.
    await post(owner, path, {"title": "Twice"}, 201)
    await post(owner, path, {"title": "Twice"}, 201)
    assert column_titles(await board(owner, pid))["To Do"].count("Twice") == 2


async def test_last_write_wins_and_names_whom_it_overrode(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    pid = (await make_project(owner, org_id))["id"]
    task = await make_task(owner, pid, title="Original")
    tid, base = task["id"], task["rev"]
    async with (
        listening(owner, f"project:{pid}", f"task:{tid}") as owners,
        listening(member, f"project:{pid}") as members,
    ):
        await patch(
            owner, tid, {"changes": {"title": "Owner's", "priority": "Low"}, "baseRev": base}
        )
        answer = await patch(
            member,
            tid,
            {
                "changes": {"title": "Member's", "priority": "Low", "dueDate": "2031-02-03"},
                "baseRev": base,
                "clientId": "m-1",
            },
        )
        await quiesce(server, owners, members)
    conflict = {
        "fields": ["title"],
        "baseRev": base,
        "rev": base + 1,
        "with": [{"field": "title", "userId": owner.id}],
    }
    # priority: the same value as the owner's, nothing overridden, no conflict on it.
    assert answer["conflict"] == conflict
    assert (answer["task"]["title"], answer["task"]["dueDate"]) == ("Member's", "2031-02-03")
    assert answer["task"]["rev"] == base + 2
    for listener in (owners, members):
        updated = listener.named("kanban.task.updated")[-1]["data"]
        assert (updated["updatedBy"], updated["clientId"], updated["conflict"]) == (
            member.id,
            "m-1",
            conflict,
        )
        assert updated["changes"] == {"title": "Member's", "dueDate": "2031-02-03"}
    page = owners.named("task.updated")[-1]["data"]
    assert (page["clientId"], page["conflict"]) == ("m-1", conflict)
    first = owners.named("kanban.task.updated")[0]["data"]
    assert (first["clientId"], first["conflict"]) == (None, None)
    # One's own earlier change is no conflict; nor is a write against the current rev.
    mine = await patch(member, tid, {"changes": {"title": "Again"}, "baseRev": base})
    assert mine["conflict"] is None and mine["task"]["title"] == "Again"
    current = mine["task"]["rev"]
    answer = await patch(owner, tid, {"changes": {"title": "Owner's again"}, "baseRev": current})
    assert answer["conflict"] is None
    # Without baseRev the last write wins, silently.
    answer = await patch(member, tid, {"changes": {"title": "Quiet"}})
    assert answer["conflict"] is None and answer["task"]["title"] == "Quiet"
    # A status change overrides whoever moved the task last.
    moved = await post(owner, f"/api/tasks/{tid}/move", {"toColumn": "Review"}, 200)
    answer = await patch(member, tid, {"changes": {"status": "Done"}, "baseRev": current})
    assert answer["conflict"]["with"] == [{"field": "status", "userId": owner.id}]
    assert answer["task"]["status"] == "Done" and moved["conflict"] is None


async def test_a_move_against_an_older_rev_applies_and_names_the_other_mover(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    pid = (await make_project(owner, org_id))["id"]
    task = await make_task(owner, pid, title="card")
    other = await make_task(owner, pid, title="other", status="Done")
    tid, base = task["id"], task["rev"]
    async with listening(owner, f"project:{pid}") as listener:
        await post(owner, f"/api/tasks/{tid}/move", {"toColumn": "Review", "baseRev": base}, 200)
        answer = await post(
            member,
            f"/api/tasks/{tid}/move",
            {"toColumn": "Done", "beforeTaskId": other["id"], "baseRev": base, "clientId": "mv"},
            200,
        )
        await quiesce(server, listener)
    conflict = {
        "fields": ["status"],
        "baseRev": base,
        "rev": base + 1,
        "with": [{"field": "status", "userId": owner.id}],
    }
    assert answer["conflict"] == conflict
    assert answer["task"]["status"] == "Done" and answer["task"]["rev"] == base + 2
    moved = listener.named("kanban.task.moved")
    assert [(m["data"]["clientId"], m["data"]["conflict"]) for m in moved] == [
        (None, None),
        ("mv", conflict),
    ]
    snapshot = await board(owner, pid)
    assert column_titles(snapshot) == {
        "To Do": [],
        "In Progress": [],
        "Review": [],
        "Done": ["card", "other"],
    }
    ranks_unique(snapshot)


async def test_a_neighbour_no_longer_in_the_column_is_refused_with_a_reason(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    pid = (await make_project(owner, org_id))["id"]
    card = await make_task(owner, pid, title="card")
    neighbour = await make_task(owner, pid, title="neighbour", status="Review")
    gone = await make_task(owner, pid, title="gone", status="Review")
    await post(owner, f"/api/tasks/{neighbour['id']}/move", {"toColumn": "Done"}, 200)
    async with owner.http() as http:
        assert (await http.delete(f"/api/tasks/{gone['id']}")).status_code == 204
    before = await board(owner, pid)
    async with member.http() as http:
        for body in (
            {"toColumn": "Review", "beforeTaskId": neighbour["id"]},
            {"toColumn": "Review", "afterTaskId": gone["id"]},
            {"toColumn": "Review", "afterTaskId": card["id"]},
        ):
            r = await http.post(f"/api/tasks/{card['id']}/move", json=body)
            error = assert_error(r, 409, "conflict")
            assert "column" in error["message"]
    assert (await board(owner, pid))["columns"] == before["columns"]
