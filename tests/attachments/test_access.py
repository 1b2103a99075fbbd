"""Who may attach, read and remove files: as a task write and a task read, plus removal by the
uploader, the project's Leads and the org's Owners and Admins only. A file of a task the caller
may not see is 404 exactly like a missing one, on every attachment route."""

from __future__ import annotations

from typing import Any

from tests.attachments.conftest import attach, upload
from tests.attachments.test_files import picture
from tests.harness import Person, assert_error, quick_team
from tests.projects.factories import add_member, make_project, make_task


async def status_of(person: Person | None, method: str, path: str, server: Any = None) -> int:
    client = person.http() if person is not None else server.client()
    async with client as http:
        return (await http.request(method, path)).status_code


async def test_who_may_attach_read_and_remove(files_server):
    org_id, people = await quick_team(
        files_server, ["Owner", "Admin", "Member", "Member", "Member", "Member", "Guest", "Guest"]
    )
    owner, admin, uploader, other, lead, viewer, guest_in, guest_out = people
    _other_org, (stranger,) = await quick_team(files_server, ["Owner"], org_name="Other")
    project = await make_project(owner, org_id)
    for person, role in ((lead, "Lead"), (viewer, "Viewer"), (guest_in, "Contributor")):
        await add_member(owner, project["id"], person.id, role)
    task = await make_task(owner, project["id"])
    tid = task["id"]

    # Attach: editors of the project; a Viewer is refused, the unseen are told there is no task.
    assert_error(await upload(viewer, tid, b"x"), 403, "forbidden")
    for person in (stranger, guest_out):
        assert_error(await upload(person, tid, b"x"), 404, "not_found")
    async with files_server.client() as anonymous:
        r = await anonymous.post(f"/api/tasks/{tid}/attachments", files={"file": ("a", b"x")})
        assert_error(r, 401)
    assert (await attach(guest_in, tid, b"guest's"))["uploadedBy"] == guest_in.id

    image = await attach(uploader, tid, picture("PNG"), filename="p.png", content_type="image/png")
    paths = (image["url"], image["thumbnailUrl"])
    # Read: whoever sees the task, Viewers and project Guests included; nobody else.
    for person in (owner, admin, other, lead, viewer, guest_in):
        for path in paths:
            assert await status_of(person, "GET", path) == 200, (person.name, path)
    for person in (stranger, guest_out):
        for path in (
            *paths,
            "/api/attachments/att_missing",
            "/api/attachments/att_missing/thumbnail",
        ):
            r = await _get(person, path)
            assert_error(r, 404, "not_found")
            assert r.json()["error"]["message"] == "attachment not found"
    for path in paths:
        assert_error(await _get(None, path, files_server), 401)

    # Remove: not a Viewer, not another Contributor or Member, not the unseen.
    assert await status_of(viewer, "DELETE", image["url"]) == 403
    assert await status_of(other, "DELETE", image["url"]) == 403
    assert await status_of(guest_in, "DELETE", image["url"]) == 403
    assert await status_of(stranger, "DELETE", image["url"]) == 404
    assert await status_of(guest_out, "DELETE", image["url"]) == 404
    assert await status_of(None, "DELETE", image["url"], files_server) == 401
    assert await status_of(owner, "GET", image["url"]) == 200  # still there
    # The uploader, the project's Lead, the org's Admin and Owner may.
    for remover in (uploader, lead, admin, owner):
        att = await attach(uploader, tid, b"to remove")
        assert await status_of(remover, "DELETE", att["url"]) == 204, remover.name
        assert await status_of(owner, "GET", att["url"]) == 404


async def test_a_demoted_uploader_may_no_longer_remove(files_server):
    org_id, (owner, member) = await quick_team(files_server, ["Owner", "Member"])
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"])
    att = await attach(member, task["id"], b"mine")
    await add_member(owner, project["id"], member.id, "Viewer")
    assert_error(await _delete(member, att["url"]), 403, "forbidden")
    assert await status_of(member, "GET", att["url"]) == 200


async def _get(person: Person | None, path: str, server: Any = None) -> Any:
    client = person.http() if person is not None else server.client()
    async with client as http:
        return await http.get(path)


async def _delete(person: Person, path: str) -> Any:
    async with person.http() as http:
        return await http.delete(path)
