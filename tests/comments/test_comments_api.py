"""Comments over REST: post (once per clientId), edit (its author), delete (its author, an Owner
or an Admin); who may; the task page lists them oldest first; text is stored as sent."""

from __future__ import annotations

from typing import Any

from tests.harness import Person, assert_error, quick_team
from tests.projects.factories import add_member, make_project, make_task

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "  spaced \u202e reversed \u2028 line\t\r\n  ",
]


async def post(person: Person, task_id: str, text: str = "Looks good", **body: Any) -> Any:
    async with person.http() as http:
        r = await http.post(f"/api/tasks/{task_id}/comments", json={"text": text, **body})
        assert r.status_code == 201, r.text
        return r.json()["comment"]


async def page(person: Person, task_id: str) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.get(f"/api/tasks/{task_id}")
        assert r.status_code == 200, r.text
        return r.json()


async def test_post_edit_and_delete_a_comment(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    tid = task["id"]
    first = await post(member, tid, "First **word**")
    assert first["id"].startswith("cm_") and first["commentId"] == first["id"]
    assert (first["authorId"], first["taskId"], first["editedAt"]) == (member.id, tid, None)
    second = await post(owner, tid, "Second")
    third = await post(member, tid, "Third")
    assert [c["id"] for c in (await page(owner, tid))["comments"]] == [
        first["id"],
        second["id"],
        third["id"],
    ]
    async with member.http() as http:
        r = await http.patch(f"/api/comments/{first['id']}", json={"text": "First, edited"})
        assert r.status_code == 200, r.text
        edited = r.json()["comment"]
        assert edited["text"] == "First, edited" and edited["editedAt"] is not None
        assert edited["createdAt"] == first["createdAt"]
        assert (await http.delete(f"/api/comments/{third['id']}")).status_code == 204
        assert_error(await http.delete(f"/api/comments/{third['id']}"), 404, "not_found")
    snapshot = await page(owner, tid)
    assert [c["text"] for c in snapshot["comments"]] == ["First, edited", "Second"]
    assert [(a["verb"], a["actorId"]) for a in snapshot["activity"][:5]] == [
        ("comment_deleted", member.id),
        ("comment_edited", member.id),
        ("commented", member.id),
        ("commented", owner.id),
        ("commented", member.id),
    ]
    assert snapshot["task"]["rev"] == task["rev"]  # comments are not the task's fields


async def test_only_the_author_edits_and_managers_delete(server):
    org_id, (owner, admin, member, other) = await quick_team(
        server, ["Owner", "Admin", "Member", "Member"]
    )
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    mine = await post(member, task["id"], "mine")
    owners = await post(owner, task["id"], "the owner's")
    for person in (other, owner, admin):
        async with person.http() as http:
            r = await http.patch(f"/api/comments/{mine['id']}", json={"text": "hijacked"})
            assert_error(r, 403, "forbidden")
    async with member.http() as http:
        assert_error(await http.delete(f"/api/comments/{owners['id']}"), 403, "forbidden")
    async with other.http() as http:
        assert_error(await http.delete(f"/api/comments/{mine['id']}"), 403, "forbidden")
    assert [c["text"] for c in (await page(owner, task["id"]))["comments"]] == [
        "mine",
        "the owner's",
    ]
    async with admin.http() as http:
        assert (await http.delete(f"/api/comments/{mine['id']}")).status_code == 204
    another = await post(member, task["id"], "again")
    async with owner.http() as http:
        assert (await http.delete(f"/api/comments/{another['id']}")).status_code == 204
    assert [c["text"] for c in (await page(owner, task["id"]))["comments"]] == ["the owner's"]


async def test_who_may_see_and_post(server):
    org_id, (owner, viewer, guest) = await quick_team(server, ["Owner", "Member", "Guest"])
    _other, (stranger,) = await quick_team(server, ["Owner"], org_name="Other")
    project = await make_project(owner, org_id)
    await add_member(owner, project["id"], viewer.id, "Viewer")
    task = await make_task(owner, project["id"])
    said = await post(owner, task["id"])
    for person in (guest, stranger):
        async with person.http() as http:
            r = await http.post(f"/api/tasks/{task['id']}/comments", json={"text": "hi"})
            assert_error(r, 404, "not_found")
            r = await http.patch(f"/api/comments/{said['id']}", json={"text": "x"})
            assert_error(r, 404, "not_found")
            assert_error(await http.delete(f"/api/comments/{said['id']}"), 404, "not_found")
    async with viewer.http() as http:
        r = await http.post(f"/api/tasks/{task['id']}/comments", json={"text": "hi"})
        assert_error(r, 403, "forbidden")
    # A Viewer who wrote a comment while still a Contributor may no longer change it.
    await add_member(owner, project["id"], guest.id, "Contributor")
    theirs = await post(guest, task["id"], "while a member")
    async with owner.http() as http:
        r = await http.patch(
            f"/api/projects/{project['id']}/members/{guest.id}", json={"role": "Viewer"}
        )
        assert r.status_code == 200, r.text
    async with guest.http() as http:
        r = await http.patch(f"/api/comments/{theirs['id']}", json={"text": "x"})
        assert_error(r, 403, "forbidden")
    assert [c["text"] for c in (await page(owner, task["id"]))["comments"]] == [
        "Looks good",
        "while a member",
    ]


async def test_client_id_makes_one_comment(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    once = await post(member, task["id"], "once", clientId="k1")
    assert await post(member, task["id"], "once", clientId="k1") == once
    theirs = await post(owner, task["id"], "once", clientId="k1")  # another author's id space
    assert theirs["id"] != once["id"]
    async with member.http() as http:
        r = await http.post(
            f"/api/tasks/{task['id']}/comments", json={"text": "other", "clientId": "k1"}
        )
        assert_error(r, 422)
    assert len((await page(owner, task["id"]))["comments"]) == 2


async def test_bad_comment_bodies(server):
    org_id, (owner,) = await quick_team(server, ["Owner"])
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    said = await post(owner, task["id"])
    longest = await post(owner, task["id"], "x" * 10_000)
    assert len(longest["text"]) == 10_000
    async with owner.http() as http:
        for body in (
            {},
            {"text": ""},
            {"text": "   \n "},
            {"text": "x" * 10_001},
            {"text": 1},
            {"text": "a\x00b"},
        ):
            assert_error(await http.post(f"/api/tasks/{task['id']}/comments", json=body), 422)
            assert_error(await http.patch(f"/api/comments/{said['id']}", json=body), 422)
        r = await http.post(f"/api/tasks/{task['id']}/comments", json={"text": "a", "x": 1})
        assert_error(r, 422)
        assert_error(await http.post("/api/tasks/t_none/comments", json={"text": "a"}), 404)
        assert_error(await http.patch("/api/comments/cm_none", json={"text": "a"}), 404)
        assert_error(await http.delete("/api/comments/cm_none"), 404)
    assert [c["text"] for c in (await page(owner, task["id"]))["comments"]] == [
        "Looks good",
        "x" * 10_000,
    ]


async def test_markup_is_stored_as_sent(server):
    """Rendering safely is the page's job; the server keeps exactly what was written."""
    org_id, (owner,) = await quick_team(server, ["Owner"])
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    for text in HOSTILE:
        assert (await post(owner, task["id"], text))["text"] == text
    assert [c["text"] for c in (await page(owner, task["id"]))["comments"]] == HOSTILE
