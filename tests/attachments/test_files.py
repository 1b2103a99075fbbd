"""Attachments over REST on every store: the bytes come back as sent, as a download that no
browser renders; images get a small thumbnail, other files none; a removed file leaves the store;
a body that is not one `file` part is refused and leaves nothing."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import Image

from tandem.attachments import cleanup, storage
from tests.attachments.conftest import attach, stored, upload
from tests.harness import Person, assert_error, eventually, quick_team, start_server
from tests.projects.factories import board, make_project, make_task


def picture(fmt: str, size: tuple[int, int] = (1000, 500)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt)
    return out.getvalue()


def claimed_canvas(width: int, height: int) -> bytes:
    """A PNG of a few bytes whose header claims width x height pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


async def setup(server: Any) -> tuple[Person, dict[str, Any], dict[str, Any]]:
    org_id, (owner,) = await quick_team(server, ["Owner"])
    project = await make_project(owner, org_id)
    return owner, project, await make_task(owner, project["id"])


async def get(person: Person, path: str) -> Any:
    async with person.http() as http:
        return await http.get(path)


async def test_a_file_comes_back_as_sent_and_is_listed(files_server):
    owner, project, task = await setup(files_server)
    data = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit: more than one chunk
    first = await attach(owner, task["id"], b"first", filename="a.txt")
    att = await attach(
        owner, task["id"], data, filename="data.bin", content_type="application/x-thing"
    )
    assert att["id"].startswith("att_")
    assert {k: att[k] for k in ("taskId", "filename", "contentType", "size", "uploadedBy")} == {
        "taskId": task["id"],
        "filename": "data.bin",
        "contentType": "application/x-thing",
        "size": len(data),
        "uploadedBy": owner.id,
    }
    assert (att["url"], att["thumbnailUrl"]) == (f"/api/attachments/{att['id']}", None)
    r = await get(owner, att["url"])
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"] == "application/x-thing"
    page = (await get(owner, f"/api/tasks/{task['id']}")).json()
    assert page["task"]["attachmentCount"] == 2
    assert [(a["verb"], a["detail"]) for a in page["activity"][:2]] == [
        ("attached", "data.bin"),
        ("attached", "a.txt"),
    ]
    card = next(t for c in (await board(owner, project["id"]))["columns"] for t in c["tasks"])
    assert card["attachmentCount"] == 2
    from tandem.attachments.service import attachments_of

    async with files_server.runtime.db.read() as session:
        listed = await attachments_of(session, task["id"])
    assert [a["id"] for a in listed] == [att["id"], first["id"]]  # newest first
    assert listed[0] == att
    assert len(await stored(files_server)) == 2


async def test_downloads_are_attachments_never_pages(files_server):
    owner, _project, task = await setup(files_server)
    page = b"<html><script>alert(document.cookie)</script></html>"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    for name, data, kind in (("page.html", page, "text/html"), ("logo.svg", svg, "image/svg+xml")):
        att = await attach(owner, task["id"], data, filename=name, content_type=kind)
        assert att["contentType"] == kind
        r = await get(owner, att["url"])
        assert r.status_code == 200 and r.content == data
        assert r.headers["content-disposition"] == f"attachment; filename*=UTF-8''{name}"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-security-policy"] == "sandbox"
        assert r.headers["content-type"] == "application/octet-stream"


async def test_a_filename_is_its_last_segment_without_control_characters(files_server):
    owner, _project, task = await setup(files_server)
    # Raw, as a client other than a browser may send it (httpx would escape the control character).
    name = "..\\..\\etc/Résumé\x07 v2.pdf".encode()
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="' + name + b'"\r\n'
        b"Content-Type: application/pdf\r\n\r\nx\r\n--b--\r\n"
    )
    async with owner.http() as http:
        r = await http.post(
            f"/api/tasks/{task['id']}/attachments",
            content=body,
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
    assert r.status_code == 201, r.text
    att = r.json()["attachment"]
    assert (att["filename"], att["contentType"]) == ("Résumé v2.pdf", "application/pdf")
    r = await get(owner, att["url"])
    assert (
        r.headers["content-disposition"] == "attachment; filename*=UTF-8''R%C3%A9sum%C3%A9%20v2.pdf"
    )
    weird = await attach(owner, task["id"], b"x", filename="..", content_type="not a type")
    assert (weird["filename"], weird["contentType"]) == ("file", "application/octet-stream")


async def test_images_get_a_thumbnail_other_files_none(files_server):
    owner, _project, task = await setup(files_server)
    for fmt, kind in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        att = await attach(
            owner, task["id"], picture(fmt), filename=f"p.{fmt.lower()}", content_type=kind
        )
        assert att["thumbnailUrl"] == f"/api/attachments/{att['id']}/thumbnail"
        r = await get(owner, att["thumbnailUrl"])
        assert r.status_code == 200 and r.headers["content-type"] == kind
        assert r.headers["x-content-type-options"] == "nosniff"
        with Image.open(io.BytesIO(r.content)) as thumb:
            assert (thumb.format, thumb.size) == (fmt, (320, 160))
    rotated = io.BytesIO()  # a phone's photo: landscape pixels, "turn 90°" in its EXIF
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (1000, 500)).save(rotated, "JPEG", exif=exif)
    photo = await attach(owner, task["id"], rotated.getvalue(), filename="photo.jpg")
    with Image.open(io.BytesIO((await get(owner, photo["thumbnailUrl"])).content)) as thumb:
        assert thumb.size == (160, 320)
    tall = await attach(owner, task["id"], picture("PNG", (40, 2000)), filename="tall.png")
    with Image.open(io.BytesIO((await get(owner, tall["thumbnailUrl"])).content)) as thumb:
        assert thumb.size == (6, 320)
    # No thumbnail: text claiming to be an image, a PNG signature before garbage, canvases too large.
    for data, kind in (
        (b"just text", "image/png"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 100, "image/png"),
        (claimed_canvas(60000, 60000), "image/png"),
        (claimed_canvas(5000, 4000), "image/png"),  # 20 Mpx: over the bound of a whole decode
    ):
        att = await attach(owner, task["id"], data, filename="x.png", content_type=kind)
        assert att["thumbnailUrl"] is None
        assert_error(await get(owner, f"/api/attachments/{att['id']}/thumbnail"), 404, "not_found")
        assert (await get(owner, att["url"])).content == data  # still kept as a file


async def test_a_removed_file_leaves_the_store(files_server):
    owner, _project, task = await setup(files_server)
    image = await attach(
        owner, task["id"], picture("PNG"), filename="p.png", content_type="image/png"
    )
    other = await attach(owner, task["id"], b"keep me")
    assert len(await stored(files_server)) == 3  # two files and a thumbnail
    async with owner.http() as http:
        assert (await http.delete(image["url"])).status_code == 204
        assert_error(await http.delete(image["url"]), 404, "not_found")
        assert_error(await http.get(image["url"]), 404, "not_found")
        assert_error(await http.get(f"{image['url']}/thumbnail"), 404, "not_found")
        page = (await http.get(f"/api/tasks/{task['id']}")).json()
    assert page["task"]["attachmentCount"] == 1
    assert (page["activity"][0]["verb"], page["activity"][0]["detail"]) == ("detached", "p.png")
    # The files leave the store after the commit, off the request: soon, not at once.
    left = [f"{task['id']}/{other['id']}"]
    await eventually(lambda: _stored_is(files_server, left))
    async with owner.http() as http:  # the task's deletion takes its rows and files with it
        assert (await http.delete(f"/api/tasks/{task['id']}")).status_code == 204
        assert_error(await http.get(other["url"]), 404, "not_found")
    await eventually(lambda: _store_is_empty(files_server))


async def _store_is_empty(server: Any) -> bool:
    return not await stored(server)


async def _stored_is(server: Any, keys: list[str]) -> bool:
    return await stored(server) == keys


async def test_a_body_that_is_not_one_file_part_is_refused(files_server):
    owner, _project, task = await setup(files_server)
    path = f"/api/tasks/{task['id']}/attachments"
    async with owner.http() as http:
        assert_error(await http.post(path, json={"file": "x"}), 400, "invalid")
        assert_error(await http.post(path, files={"other": ("a.txt", b"x")}), 400, "invalid")
        two = [("file", ("a.txt", b"a")), ("file", ("b.txt", b"b"))]
        assert_error(await http.post(path, files=two), 400, "invalid")
        truncated = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc'
        r = await http.post(
            path, content=truncated, headers={"content-type": "multipart/form-data; boundary=b"}
        )
        assert_error(r, 400, "invalid")
        long_name = b"a" * 5000  # part headers past the parser's bound
        for body in (
            b"garbage, no boundary anywhere",
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="'
            + long_name
            + b'"\r\n\r\nx\r\n--b--\r\n',
        ):
            r = await http.post(
                path, content=body, headers={"content-type": "multipart/form-data; boundary=b"}
            )
            assert_error(r, 400, "invalid")
        assert_error(await upload(owner, "t_missing", b"x"), 404, "not_found")
    assert await stored(files_server) == []
    assert (await get(owner, f"/api/tasks/{task['id']}")).json()["task"]["attachmentCount"] == 0


async def test_an_empty_file_is_a_file(files_server):
    owner, _project, task = await setup(files_server)
    att = await attach(owner, task["id"], b"", filename="empty.txt")
    assert att["size"] == 0
    r = await get(owner, att["url"])
    assert r.status_code == 200 and r.content == b""


async def test_a_file_gone_from_the_store_is_not_found(files_server):
    owner, _project, task = await setup(files_server)
    att = await attach(
        owner, task["id"], picture("PNG"), filename="p.png", content_type="image/png"
    )
    store = storage.make_store(files_server.settings)
    for key in await stored(files_server):
        await store.delete(key)
    assert_error(await get(owner, att["url"]), 404, "not_found")
    assert_error(await get(owner, att["thumbnailUrl"]), 404, "not_found")


async def test_a_task_deleted_first_thing_after_a_restart_takes_its_files(files_server, tmp_path):
    owner, _project, task = await setup(files_server)
    await attach(owner, task["id"], b"from before the restart")
    await files_server.stop()
    cleanup._stores.clear()  # as in a new process: no store known until the app makes its own
    overrides = {
        k: getattr(files_server.settings, k)
        for k in ("s3_endpoint_url", "s3_bucket", "s3_access_key_id", "s3_secret_access_key")
    }
    async with start_server(
        files_server.settings.effective_database_url, files_server.settings.data_dir, **overrides
    ) as restarted:
        again = Person(restarted, owner.id, owner.email, owner.name, owner.access, owner.refresh)
        async with again.http() as http:  # no attachment route asked before this
            assert (await http.delete(f"/api/tasks/{task['id']}")).status_code == 204
        await eventually(lambda: _store_is_empty(restarted))
