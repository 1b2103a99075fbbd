"""An upload is read as it arrives and refused as soon as it passes the limit: a 30 MiB body is
answered 413 without the server's memory growing by anything like it; a client gone midway, or
one refused for who it is, leaves no file and no row; the refused are answered before their body
is read. Sent over a raw socket, chunk by chunk, as a slow or hostile client would."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.attachments.conftest import stored
from tests.harness import Server, eventually, quick_team, start_server
from tests.projects.factories import add_member, make_project, make_task

MiB = 1024 * 1024
CHUNK = b"\xa5" * (256 * 1024)
PREAMBLE = (
    b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n"
)


class RawUpload:
    """A chunked POST written by hand: the body goes out chunk by chunk while the answer is read
    at the same time, so a refusal mid-body is seen however the server then ends the connection."""

    def __init__(self, server: Server, token: str | None, task_id: str, length: int | None = None):
        self.server, self.token, self.task_id, self.length = server, token, task_id, length
        self.sent = 0

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.server.port)
        framing = f"Content-Length: {self.length}" if self.length else "Transfer-Encoding: chunked"
        auth = f"Authorization: Bearer {self.token}\r\n" if self.token else ""
        self.writer.write(
            (
                f"POST /api/tasks/{self.task_id}/attachments HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\n{auth}{framing}\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\n\r\n"
            ).encode()
        )
        await self.writer.drain()
        self.answer = asyncio.create_task(self._read_answer())

    async def _read_answer(self) -> tuple[int, bytes]:
        status_line = await self.reader.readline()
        if not status_line:
            return 0, b""  # closed unanswered (this side aborted)
        body = await self.reader.read(65536)  # headers and the small error body
        return int(status_line.split()[1]), body

    async def send(self, data: bytes) -> bool:
        """Send a chunk of the body; False once the server answered or closed the connection."""
        if self.answer.done():
            return False
        try:
            self.writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await self.writer.drain()
        except (ConnectionError, OSError):
            return False
        self.sent += len(data)
        return True

    async def stream(self, total: int) -> tuple[int, bytes]:
        """Send PREAMBLE and `total` bytes of file (and the end) unless answered first."""
        await self.open()
        if await self.send(PREAMBLE):
            while self.sent < total and await self.send(CHUNK):
                pass
            if self.sent >= total:
                await self.send(b"\r\n--b--\r\n")
                await self.send(b"")
        return await asyncio.wait_for(self.answer, 30)

    def abort(self) -> None:
        self.writer.transport.abort()


def rss_peak_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


async def rows(server: Server) -> int:
    from sqlalchemy import func, select

    from tandem.attachments.models import Attachment

    async with server.runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Attachment)) or 0)


async def team_task(server: Server) -> tuple[Any, Any, dict[str, Any]]:
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    project = await make_project(owner, org_id)
    return owner, member, await make_task(owner, project["id"])


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux's /proc only")
async def test_a_30_mib_upload_is_refused_while_streaming_without_holding_it(sqlite_server):
    """The server is in this process: its peak memory during the upload is this process's."""
    owner, _member, task = await team_task(sqlite_server)
    assert sqlite_server.settings.max_attachment_bytes == 25 * MiB
    upload = RawUpload(sqlite_server, owner.access, task["id"])
    rss_peak_reset()
    before = rss_kib("VmRSS")
    status, body = await upload.stream(30 * MiB)
    grown = rss_kib("VmHWM") - before
    assert status == 413 and b'"too_large"' in body, body
    assert 25 * MiB <= upload.sent <= 30 * MiB  # refused on reaching the limit, not before
    assert grown < 8 * 1024, f"peak memory grew by {grown} KiB during a 30 MiB upload"
    assert await stored(sqlite_server) == [] and await rows(sqlite_server) == 0


async def test_a_declared_length_over_the_limit_is_refused_before_the_body(files_server):
    owner, _member, task = await team_task(files_server)
    upload = RawUpload(files_server, owner.access, task["id"], length=30 * MiB)
    await upload.open()
    status, body = await asyncio.wait_for(upload.answer, 10)  # not a byte of body was sent
    assert status == 413 and b'"too_large"' in body, body


async def test_the_limit_is_the_file_size_not_the_body_size(files_server, tmp_path):
    """TANDEM_MAX_ATTACHMENT_BYTES counts the file: exactly that many bytes pass, one more does
    not (on a server whose limit is 1 MiB)."""
    async with start_server(
        files_server.settings.effective_database_url,
        tmp_path / "small",
        max_attachment_bytes=MiB,
        **{
            k: getattr(files_server.settings, k)
            for k in (
                "s3_endpoint_url",
                "s3_bucket",
                "s3_access_key_id",
                "s3_secret_access_key",
                "s3_region",
            )
        },
    ) as small:
        owner, _member, task = await team_task(small)
        async with owner.http() as http:
            path = f"/api/tasks/{task['id']}/attachments"
            ok = await http.post(path, files={"file": ("a", b"x" * MiB)})
            assert ok.status_code == 201 and ok.json()["attachment"]["size"] == MiB
            over = await http.post(path, files={"file": ("a", b"x" * (MiB + 1))})
            assert over.status_code == 413 and over.json()["error"]["code"] == "too_large"
        assert await rows(small) == 1
        assert len(await stored(small)) == 1


async def test_a_client_gone_midway_leaves_no_file_and_no_row(files_server):
    owner, _member, task = await team_task(files_server)
    upload = RawUpload(files_server, owner.access, task["id"])
    await upload.open()
    assert await upload.send(PREAMBLE)
    while upload.sent < 12 * MiB:  # past one S3 part: the store holds a part by now
        assert await upload.send(CHUNK)
    await eventually(lambda: _holds_something(files_server), timeout=10)
    upload.abort()
    await eventually(lambda: _holds_nothing(files_server), timeout=10)
    assert await rows(files_server) == 0
    async with owner.http() as http:
        page = (await http.get(f"/api/tasks/{task['id']}")).json()
    assert page["task"]["attachmentCount"] == 0


async def _holds_something(server: Server) -> bool:
    return bool(await stored(server))


async def _holds_nothing(server: Server) -> bool:
    return not await stored(server)


async def test_the_refused_are_answered_before_their_body_is_read(files_server):
    """Headers promising 20 MiB and no body: each is answered at once, so the server read none."""
    owner, viewer, task = await team_task(files_server)
    _other_org, (stranger,) = await quick_team(files_server, ["Owner"], org_name="Other")
    await add_member(owner, task["projectId"], viewer.id, "Viewer")
    for token, expected in (
        (None, 401),
        ("not-a-token", 401),
        (stranger.access, 404),
        (viewer.access, 403),
    ):
        upload = RawUpload(files_server, token, task["id"], length=20 * MiB)
        started = time.monotonic()
        await upload.open()
        status, body = await asyncio.wait_for(upload.answer, 10)
        assert status == expected, (expected, body)
        assert time.monotonic() - started < 5
        upload.abort()
    missing = RawUpload(files_server, owner.access, "t_missing", length=20 * MiB)
    await missing.open()
    assert (await asyncio.wait_for(missing.answer, 10))[0] == 404
    assert await stored(files_server) == [] and await rows(files_server) == 0


async def test_upload_throughput_of_a_20_mib_file(sqlite_server, capsys):
    owner, _member, task = await team_task(sqlite_server)
    data = bytes(range(256)) * (20 * MiB // 256)
    async with owner.http() as http:
        started = time.perf_counter()
        r = await http.post(
            f"/api/tasks/{task['id']}/attachments", files={"file": ("big.bin", data)}
        )
        seconds = time.perf_counter() - started
    assert r.status_code == 201 and r.json()["attachment"]["size"] == 20 * MiB
    with capsys.disabled():
        print(f"\n20 MiB upload: {seconds:.3f} s, {20 * MiB / seconds / 1e6:.1f} MB/s")


async def test_a_slow_upload_holds_up_nobody(files_server):
    """While one upload trickles in, the database is not held: others write and upload at once."""
    owner, member, task = await team_task(files_server)
    slow = RawUpload(files_server, owner.access, task["id"])
    await slow.open()
    assert await slow.send(PREAMBLE) and await slow.send(CHUNK)
    started = time.monotonic()
    other = await make_task(member, task["projectId"], title="meanwhile")
    async with member.http() as http:
        quick = await http.post(
            f"/api/tasks/{other['id']}/attachments", files={"file": ("q.txt", b"quick")}
        )
    assert quick.status_code == 201, quick.text
    assert time.monotonic() - started < 5
    assert await slow.send(CHUNK) and await slow.send(b"\r\n--b--\r\n") and await slow.send(b"")
    status, body = await asyncio.wait_for(slow.answer, 10)
    assert status == 201, body
    assert await rows(files_server) == 2
