"""accel/uvicorn_wsproto.py's handshake: an upgrade request read without h11, answered as wsproto
answers it; anything else left to wsproto.

The rest of the suite runs on this connection (tests/harness.py serves with `--ws wsproto`, as
`tandem serve` does); these tests compare its answers with uvicorn's own wsproto connection, byte
for byte where the bytes are the protocol's.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path

import pytest
from wsproto.connection import ConnectionType
from wsproto.events import Request
from wsproto.handshake import H11Handshake

from tandem import accel
from tandem.accel import uvicorn_wsproto
from tandem.accel.uvicorn_wsproto import parse_upgrade
from tests.harness import fresh_database_url, start_server

pytestmark = pytest.mark.skipif(
    accel.switched_off(), reason="accelerators are off (TANDEM_ACCEL=off)"
)

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
PATH = b"/socket.io/?EIO=4&transport=websocket"


def upgrade(*headers: bytes, target: bytes = PATH, request_line: bytes | None = None) -> bytes:
    """An upgrade request as uvicorn re-serializes the one httptools parsed."""
    first = request_line or b"GET " + target + b" HTTP/1.1"
    return first + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


PLAIN = (
    b"host: 127.0.0.1:8000",
    b"upgrade: websocket",
    b"connection: Upgrade",
    b"sec-websocket-key: " + KEY,
    b"sec-websocket-version: 13",
    b"origin: http://127.0.0.1:8000",
)


def wsproto_request(data: bytes) -> Request:
    handshake = H11Handshake(ConnectionType.SERVER)
    handshake.receive_data(data)
    (event,) = list(handshake.events())
    assert isinstance(event, Request)
    return event


@pytest.mark.parametrize(
    "data",
    [
        upgrade(*PLAIN),
        upgrade(*PLAIN, b"sec-websocket-protocol: chat, superchat"),
        upgrade(*PLAIN, b"sec-websocket-extensions: permessage-deflate; client_max_window_bits"),
        upgrade(*PLAIN[:2], b"connection: keep-alive, Upgrade", *PLAIN[3:]),
        upgrade(*PLAIN, b"cookie: a=b; c=d", b"x-forwarded-for: 10.0.0.1, 10.0.0.2"),
        upgrade(*PLAIN, target=b"/socket.io/?EIO=4&transport=websocket&x=%C3%A9"),
    ],
)
def test_a_plain_upgrade_reads_as_wsproto_reads_it(data):
    parsed = parse_upgrade(data)
    assert parsed is not None
    request, key = parsed
    assert key == KEY
    assert request == wsproto_request(data)


@pytest.mark.parametrize(
    "data",
    [
        upgrade(*PLAIN[1:]),  # no host
        upgrade(*PLAIN[:3], *PLAIN[4:]),  # no key
        upgrade(*PLAIN[:4], b"sec-websocket-version: 8", *PLAIN[5:]),
        upgrade(*PLAIN[:2], b"connection: keep-alive", *PLAIN[3:]),
        upgrade(b"upgrade: h2c", *PLAIN[:1], *PLAIN[2:]),
        upgrade(*PLAIN, request_line=b"POST " + PATH + b" HTTP/1.1"),
        upgrade(*PLAIN, request_line=b"GET " + PATH + b" HTTP/1.0"),
        upgrade(*PLAIN) + b"\x81\x05hello",  # bytes past the request
        upgrade(*PLAIN)[:-2],  # no blank line
        upgrade(*PLAIN, b"x-odd:no-space"),
        upgrade(*PLAIN, target="/é".encode()),
    ],
)
def test_anything_else_is_left_to_wsproto(data):
    assert parse_upgrade(data) is None


async def exchange(port: int, data: bytes) -> bytes:
    """Send `data` to the server and return its answer: up to the blank line, and after a 101 up
    to engine.io's OPEN packet."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        answer = b""
        while b"\r\n\r\n" not in answer or (
            answer.startswith(b"HTTP/1.1 101") and b'"sid"' not in answer
        ):  # after a 101, engine.io's OPEN packet: the connection works
            chunk = await asyncio.wait_for(reader.read(4096), 10)
            if not chunk:
                break
            answer += chunk
        return answer
    finally:
        writer.close()


def head(answer: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The status line and the headers but the date, names lowercased, of an HTTP answer."""
    lines = answer.partition(b"\r\n\r\n")[0].split(b"\r\n")
    headers = [tuple(line.split(b": ", 1)) for line in lines[1:]]
    return lines[0], sorted((n.lower(), v) for n, v in headers if n.lower() != b"date")


@pytest.fixture
async def both(tmp_path: Path):
    """A server on this connection and one on uvicorn's own wsproto connection."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with (
        fresh_database_url("sqlite", tmp_path / "a", "") as url_a,
        fresh_database_url("sqlite", tmp_path / "b", "") as url_b,
        start_server(url_a, tmp_path / "a") as fast,
        start_server(url_b, tmp_path / "b", ws="wsproto-stock") as stock,
    ):
        yield fast, stock


@pytest.mark.parametrize(
    "data",
    [
        upgrade(*PLAIN),  # accepted: 101
        upgrade(*PLAIN, target=b"/socket.io/?EIO=3&transport=websocket"),  # engine.io refuses
        upgrade(*PLAIN[:4], b"sec-websocket-version: 8", *PLAIN[5:]),  # wsproto refuses: 426
        upgrade(*PLAIN[:3], *PLAIN[4:]),  # no key: 400
        upgrade(*PLAIN, b"sec-websocket-protocol: chat"),  # a subprotocol nobody picks
    ],
)
async def test_the_answer_is_the_one_uvicorns_own_connection_gives(both, data, monkeypatch):
    fast, stock = both
    read: list[bool] = []

    def reading(raw: bytes):
        parsed = parse_upgrade(raw)  # the module's own, imported before the patch
        read.append(parsed is not None)
        return parsed

    monkeypatch.setattr(uvicorn_wsproto, "parse_upgrade", reading)
    ours, theirs = await exchange(fast.port, data), await exchange(stock.port, data)
    assert ours and head(ours) == head(theirs)
    assert read == [parse_upgrade(data) is not None]  # this server read it (by itself or not)
    if head(ours)[0].startswith(b"HTTP/1.1 101"):
        accept = base64.b64encode(
            hashlib.sha1(KEY + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        assert (b"sec-websocket-accept", accept) in head(ours)[1]
        assert b'"sid"' in ours.partition(b"\r\n\r\n")[2]


async def serve_failing_app(ws: str) -> tuple[object, asyncio.Task]:
    """uvicorn on a free port with an app whose websocket handler fails before it answers."""
    import uvicorn

    async def app(scope, receive, send):
        if scope["type"] == "websocket":
            raise RuntimeError("the app failed before accepting")

    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            ws=uvicorn_wsproto.uvicorn_ws(ws),
            lifespan="off",
            log_level="critical",
            ws_per_message_deflate=False,  # as Tandem serves
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    return server, task


async def test_an_app_that_fails_before_accepting_gets_wsprotos_500(monkeypatch):
    read: list[bool] = []

    def reading(raw: bytes):
        parsed = parse_upgrade(raw)
        read.append(parsed is not None)
        return parsed

    monkeypatch.setattr(uvicorn_wsproto, "parse_upgrade", reading)
    answers = []
    for ws in ("wsproto", "wsproto-stock"):
        server, task = await serve_failing_app(ws)
        try:
            port = server.servers[0].sockets[0].getsockname()[1]  # type: ignore[attr-defined]
            answers.append(await exchange(port, upgrade(*PLAIN)))
        finally:
            server.should_exit = True  # type: ignore[attr-defined]
            await task
    ours, theirs = answers
    assert read == [True]  # this connection read the request itself, then handed it to wsproto
    assert head(ours)[0].startswith(b"HTTP/1.1 500")
    assert head(ours) == head(theirs)
