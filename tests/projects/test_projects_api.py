"""Projects over REST: create, list, read, change; members; columns; the role rules of SPEC §2."""

from __future__ import annotations

from typing import Any

from tandem.kit.ids import new_id
from tests.harness import assert_error, quick_signup, quick_team
from tests.projects.factories import add_member, board, column_titles, make_project, make_task


async def test_create_list_read_and_change_a_project(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    project = await make_project(
        member, org_id, name="Apollo", description="to the moon", dueDate="2030-01-02"
    )
    assert project["id"].startswith("p_")
    assert project["columns"] == ["To Do", "In Progress", "Review", "Done"]
    assert (project["status"], project["dueDate"], project["startDate"]) == (
        "active",
        "2030-01-02",
        None,
    )
    async with owner.http() as http:
        listed = (await http.get(f"/api/orgs/{org_id}/projects")).json()
        assert [p["id"] for p in listed["projects"]] == [project["id"]]
        assert isinstance(listed["cursor"], int)
        page = (await http.get(f"/api/projects/{project['id']}")).json()
        assert set(page) == {"project", "members", "metrics", "due", "files", "activity", "cursor"}
        assert page["members"] == [
            {"userId": member.id, "role": "Lead", "name": member.name, "avatarUrl": None}
        ]
        assert page["files"] == []
        r = await http.patch(
            f"/api/projects/{project['id']}",
            json={"status": "on_hold", "startDate": "2029-12-01", "name": "Apollo 11"},
        )
        assert r.status_code == 200, r.text
        changed = r.json()["project"]
        assert (changed["status"], changed["startDate"], changed["name"]) == (
            "on_hold",
            "2029-12-01",
            "Apollo 11",
        )
        r = await http.patch(f"/api/projects/{project['id']}", json={"dueDate": None, "name": None})
        assert (r.json()["project"]["dueDate"], r.json()["project"]["name"]) == (None, "Apollo 11")


async def test_bad_inputs_answer_the_spec_error_shape(sqlite_server):
    org_id, (owner,) = await quick_team(sqlite_server, ["Owner"])
    project = await make_project(owner, org_id)
    pid = project["id"]
    async with owner.http() as http:
        for body in (
            {},
            {"name": ""},
            {"name": "x", "columns": []},
            {"name": "x", "columns": ["A", "A"]},
            {"name": "x", "columns": [" padded"]},
            {"name": "x", "dueDate": "tomorrow"},
            {"name": "x", "extra": 1},
        ):
            assert_error(await http.post(f"/api/orgs/{org_id}/projects", json=body), 422)
        assert_error(await http.patch(f"/api/projects/{pid}", json={"status": "done"}), 422)
        assert_error(
            await http.post(
                f"/api/orgs/{org_id}/projects",
                content=b"{",
                headers={"content-type": "application/json"},
            ),
            400,
        )
        assert_error(
            await http.post(f"/api/projects/{pid}/members", json={"userId": "u_x", "role": "Boss"}),
            422,
        )
    async with sqlite_server.client() as anonymous:
        assert_error(await anonymous.get(f"/api/projects/{pid}"), 401)


async def test_guests_see_only_their_projects_and_viewers_change_nothing(server):
    org_id, (owner, member, guest, viewer) = await quick_team(
        server, ["Owner", "Member", "Guest", "Member"]
    )
    shown = await make_project(owner, org_id, name="Shown")
    hidden = await make_project(owner, org_id, name="Hidden")
    await add_member(owner, shown["id"], guest.id, "Viewer")
    await add_member(owner, shown["id"], viewer.id, "Viewer")
    task = await make_task(owner, shown["id"])
    async with guest.http() as http:
        listed = (await http.get(f"/api/orgs/{org_id}/projects")).json()["projects"]
        assert [p["name"] for p in listed] == ["Shown"]
        assert (await http.get(f"/api/projects/{shown['id']}/board")).status_code == 200
        missing = assert_error(await http.get(f"/api/projects/{new_id('p')}"), 404)
        assert assert_error(await http.get(f"/api/projects/{hidden['id']}"), 404) == missing
        assert assert_error(await http.get(f"/api/projects/{hidden['id']}/board"), 404) == missing
        assert_error(await http.post(f"/api/orgs/{org_id}/projects", json={"name": "Mine"}), 403)
        assert_error(
            await http.post(f"/api/projects/{shown['id']}/tasks", json={"title": "x"}), 403
        )
    for person in (guest, viewer):
        async with person.http() as http:
            assert_error(
                await http.patch(f"/api/tasks/{task['id']}", json={"changes": {"title": "no"}}),
                403,
            )
            assert_error(
                await http.post(f"/api/tasks/{task['id']}/move", json={"toColumn": "Done"}), 403
            )
            assert_error(await http.delete(f"/api/tasks/{task['id']}"), 403)
            assert_error(await http.patch(f"/api/projects/{shown['id']}", json={"name": "x"}), 403)
    async with member.http() as http:  # a Member edits tasks but does not manage the project
        r = await http.patch(f"/api/tasks/{task['id']}", json={"changes": {"title": "yes"}})
        assert r.status_code == 200, r.text
        assert_error(await http.patch(f"/api/projects/{shown['id']}", json={"name": "x"}), 403)
        assert_error(
            await http.post(
                f"/api/projects/{shown['id']}/members", json={"userId": guest.id, "role": "Lead"}
            ),
            403,
        )
    await add_member(owner, shown["id"], member.id, "Lead")
    async with member.http() as http:  # a Lead does
        r = await http.patch(f"/api/projects/{shown['id']}", json={"name": "Led"})
        assert r.status_code == 200, r.text


async def test_another_orgs_project_answers_exactly_like_a_missing_one(server):
    org_id, (owner,) = await quick_team(server, ["Owner"])
    other_org, (stranger,) = await quick_team(server, ["Owner"], org_name="Elsewhere")
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    missing_pid, missing_tid = new_id("p"), new_id("t")
    attempts: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/api/projects/{p}", None),
        ("GET", "/api/projects/{p}/board", None),
        ("PATCH", "/api/projects/{p}", {"name": "x"}),
        ("PUT", "/api/projects/{p}/columns", {"columns": ["A"]}),
        ("POST", "/api/projects/{p}/members", {"userId": stranger.id, "role": "Lead"}),
        ("PATCH", "/api/projects/{p}/members/" + owner.id, {"role": "Viewer"}),
        ("DELETE", "/api/projects/{p}/members/" + owner.id, None),
        ("POST", "/api/projects/{p}/tasks", {"title": "x"}),
        ("GET", "/api/tasks/{t}", None),
        ("PATCH", "/api/tasks/{t}", {"changes": {"title": "x"}}),
        ("POST", "/api/tasks/{t}/move", {"toColumn": "Done"}),
        ("DELETE", "/api/tasks/{t}", None),
    ]
    async with stranger.http() as http:
        for method, path, body in attempts:
            foreign = await http.request(
                method, path.format(p=project["id"], t=task["id"]), json=body
            )
            missing = await http.request(
                method, path.format(p=missing_pid, t=missing_tid), json=body
            )
            assert assert_error(foreign, 404) == assert_error(missing, 404), (method, path)
        assert_error(await http.get(f"/api/orgs/{org_id}/projects"), 404)
    async with owner.http() as http:  # nor can a foreign person be added
        r = await http.post(
            f"/api/projects/{project['id']}/members", json={"userId": stranger.id, "role": "Lead"}
        )
        foreign = assert_error(r, 404)
        r = await http.post(
            f"/api/projects/{project['id']}/members", json={"userId": new_id("u"), "role": "Lead"}
        )
        assert assert_error(r, 404) == foreign
    assert other_org


async def test_members_added_changed_and_removed(server):
    org_id, (owner, member, guest) = await quick_team(server, ["Owner", "Member", "Guest"])
    project = await make_project(owner, org_id)
    pid = project["id"]
    added = await add_member(owner, pid, guest.id, "Contributor")
    assert added == {
        "userId": guest.id,
        "role": "Contributor",
        "name": guest.name,
        "avatarUrl": None,
    }
    async with owner.http() as http:
        r = await http.post(
            f"/api/projects/{pid}/members", json={"userId": guest.id, "role": "Lead"}
        )
        assert_error(r, 409)
        r = await http.patch(f"/api/projects/{pid}/members/{guest.id}", json={"role": "Viewer"})
        assert r.status_code == 200 and r.json()["member"]["role"] == "Viewer", r.text
        assert_error(
            await http.patch(f"/api/projects/{pid}/members/{member.id}", json={"role": "Lead"}), 404
        )
        assert (await http.delete(f"/api/projects/{pid}/members/{guest.id}")).status_code == 204
        assert_error(await http.delete(f"/api/projects/{pid}/members/{guest.id}"), 404)
    async with guest.http() as http:
        assert_error(await http.get(f"/api/projects/{pid}"), 404)


async def test_columns_added_renamed_reordered_and_removed(server):
    org_id, (owner,) = await quick_team(server, ["Owner"])
    project = await make_project(owner, org_id, columns=["Todo", "Doing", "Done"])
    pid = project["id"]
    first = await make_task(owner, pid, title="first", status="Doing")
    await make_task(owner, pid, title="second", status="Doing")
    await make_task(owner, pid, title="third", status="Todo")
    done = await make_task(owner, pid, title="shipped", status="Done")
    assert done["completedAt"] is not None and first["completedAt"] is None

    async def put(body: dict[str, Any]):
        async with owner.http() as http:
            return await http.put(f"/api/projects/{pid}/columns", json=body)

    # Removing a column that holds tasks must say where they go.
    assert_error(await put({"columns": ["Todo", "Done"]}), 409)
    assert_error(await put({"columns": ["Todo", "Done"], "moveTasks": {"Doing": "Nowhere"}}), 409)
    assert_error(await put({"columns": ["Todo", "Done"], "renames": {"Nope": "Done"}}), 409)
    r = await put(
        {
            "columns": ["Backlog", "Done", "Review"],
            "renames": {"Todo": "Backlog"},
            "moveTasks": {"Doing": "Backlog"},
        }
    )
    assert r.status_code == 200, r.text
    assert r.json()["project"]["columns"] == ["Backlog", "Done", "Review"]
    snapshot = await board(owner, pid)
    assert column_titles(snapshot) == {
        "Backlog": ["third", "first", "second"],
        "Done": ["shipped"],
        "Review": [],
    }
    # "Done" is no longer last: its task is no longer complete; an empty column goes freely.
    tasks = {t["title"]: t for c in snapshot["columns"] for t in c["tasks"]}
    assert tasks["shipped"]["completedAt"] is None
    assert tasks["first"]["rev"] == first["rev"] + 1
    r = await put({"columns": ["Backlog", "Done"]})
    assert r.status_code == 200, r.text
    tasks = {t["title"]: t for c in (await board(owner, pid))["columns"] for t in c["tasks"]}
    assert tasks["shipped"]["completedAt"] is not None


async def test_a_person_in_no_org_cannot_create_there(sqlite_server):
    org_id, _ = await quick_team(sqlite_server, ["Owner"])
    loner = await quick_signup(sqlite_server)
    async with loner.http() as http:
        assert_error(await http.post(f"/api/orgs/{org_id}/projects", json={"name": "x"}), 404)


async def test_the_list_carries_each_projects_task_counts_as_its_page_does(server):
    org_id, (owner,) = await quick_team(server, ["Owner"])
    busy = await make_project(owner, org_id, name="Busy")
    empty = await make_project(owner, org_id, name="Empty", columns=["Open", "Closed"])
    for status in ("To Do", "To Do", "Review", "Done"):
        await make_task(owner, busy["id"], status=status)
    async with owner.http() as http:
        listed = (await http.get(f"/api/orgs/{org_id}/projects")).json()
        assert set(listed["metrics"]) == {busy["id"], empty["id"]}
        for project in (busy, empty):
            page = (await http.get(f"/api/projects/{project['id']}")).json()
            assert listed["metrics"][project["id"]] == page["metrics"]
    assert listed["metrics"][busy["id"]]["total"] == 4
    assert listed["metrics"][busy["id"]]["done"] == 1
    assert listed["metrics"][empty["id"]]["columns"] == [
        {"name": "Open", "count": 0},
        {"name": "Closed", "count": 0},
    ]
