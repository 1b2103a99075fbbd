"""accel/uvicorn_wsproto.py's handshake: an upgrade request read without h11, answered as wsproto
answers it; anything else left to wsproto. And its frames: plain text frames read without wsproto,
every sequence of frames reaching the app (and answered) as through uvicorn's own connection.

The rest of the suite runs on this connection (tests/harness.py serves with `--ws wsproto`, as
`tandem serve` does); these tests compare its answers with uvicorn's own wsproto connection, byte
for byte where the bytes are the protocol's.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from wsproto.connection import ConnectionType
from wsproto.events import Request
from wsproto.handshake import H11Handshake

from tandem import accel
from tandem.accel import uvicorn_wsproto, ws_frames
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


# -- frames after the handshake: plain text frames read without wsproto --------------------------

# One client frame of the kinds a connection can see, masked as clients mask (`mask=False` and the
# malformed ones are wsproto's to refuse).
FRAME_KINDS = (
    "text",
    "text",
    "text",
    "binary",
    "ping",
    "pong",
    "fragmented",
    "bad-utf8",
    "unmasked",
    "long-16",
    "wasteful-16",
    "long-64",
    "close",
)


def frame(kind: str, text: str, key: bytes) -> bytes:
    def one(first: int, payload: bytes, *, masked: bool = True, wide: bool = False) -> bytes:
        n = len(payload)
        if n < 126 and not wide:
            head_ = bytes([first, (0x80 if masked else 0) | n])
        elif n < 65536:
            head_ = bytes([first, (0x80 if masked else 0) | 126]) + n.to_bytes(2, "big")
        else:
            head_ = bytes([first, (0x80 if masked else 0) | 127]) + n.to_bytes(8, "big")
        if not masked:
            return head_ + payload
        return head_ + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))

    body = text.encode()
    if kind == "text":
        return one(0x81, body)
    if kind == "binary":
        return one(0x82, body)
    if kind == "ping":
        return one(0x89, body[:125])
    if kind == "pong":
        return one(0x8A, body[:125])
    if kind == "fragmented":
        return one(0x01, body[:3]) + one(0x80, body[3:])
    if kind == "bad-utf8":
        return one(0x81, body + b"\xff\xfe")
    if kind == "unmasked":
        return one(0x81, body, masked=False)
    if kind == "long-16":
        return one(0x81, (body * 200)[:300] or b"x" * 300)
    if kind == "wasteful-16":  # a short length in the 16-bit form
        return one(0x81, body[:100], wide=True)
    if kind == "long-64":
        return one(0x81, b"y" * 65536)
    assert kind == "close"
    return one(0x88, (1000).to_bytes(2, "big") + b"bye")


async def feed(protocol_class: type, chunks: list[bytes]) -> tuple[list[dict], bytes, bool]:
    """What an app behind `protocol_class` receives from these bytes after an accepted
    handshake, what the connection writes back, and whether it closed the transport."""
    import uvicorn
    from uvicorn.server import ServerState

    got: list[dict] = []

    async def app(scope, receive, send):
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            got.append(message)
            if message["type"] == "websocket.disconnect":
                return

    class Transport(asyncio.Transport):
        def __init__(self) -> None:
            super().__init__()
            self.written = bytearray()
            self.closed = False

        def get_extra_info(self, name, default=None):
            return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name)

        def write(self, data) -> None:
            self.written += data

        def is_closing(self) -> bool:
            return self.closed

        def close(self) -> None:
            self.closed = True

        def pause_reading(self) -> None: ...

        def resume_reading(self) -> None: ...

    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="critical",
        ws_per_message_deflate=False,
        ws_ping_interval=None,
    )
    config.load()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    protocol.connection_made(transport)
    protocol.data_received(upgrade(*PLAIN))
    for _ in range(20):
        await asyncio.sleep(0)
    assert transport.written.startswith(b"HTTP/1.1 101")
    handshake = len(transport.written)
    for chunk in chunks:
        if transport.closed:
            break
        protocol.data_received(chunk)
        for _ in range(5):
            await asyncio.sleep(0)
    if not transport.closed:
        protocol.connection_lost(None)
    for _ in range(20):
        await asyncio.sleep(0)
    return got, bytes(transport.written[handshake:]), transport.closed


@settings(max_examples=60, deadline=None)
@given(
    frames=st.lists(
        st.tuples(
            st.sampled_from(FRAME_KINDS), st.text(max_size=40), st.binary(min_size=4, max_size=4)
        ),
        max_size=8,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=70_000), max_size=5),
)
def test_frames_reach_the_app_as_through_uvicorns_own_connection(frames, cuts):
    data = b"".join(frame(kind, text, key) for kind, text, key in frames)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    ours = asyncio.run(feed(uvicorn_wsproto.DetachableWSProtocol, chunks))
    theirs = asyncio.run(feed(WSProtocol, chunks))
    assert ours == theirs


def test_plain_frames_are_read_without_wsproto_up_to_the_first_other():
    key = b"\x01\x02\x03\x04"
    data = frame("text", "héllo", key) + frame("long-16", "ab", key) + frame("ping", "p", key)
    data += frame("text", "after", key)
    texts, used = ws_frames.read_plain_frames(data, 1 << 20)
    assert texts == ["héllo", ("ab" * 200)[:300]]
    assert data[used:] == frame("ping", "p", key) + frame("text", "after", key)
    # the connection's size limit, a frame cut short, and invalid UTF-8 stop it too
    assert ws_frames.read_plain_frames(frame("long-16", "ab", key), 299) == ([], 0)
    assert ws_frames.read_plain_frames(frame("text", "whole", key)[:-1], 1 << 20) == ([], 0)
    assert ws_frames.read_plain_frames(frame("bad-utf8", "x", key), 1 << 20) == ([], 0)
    assert ws_frames.read_plain_frames(frame("text", "", key), 1 << 20) == ([""], 6)
