"""uvicorn's wsproto connection with less held per connection, a handshake without h11, plain
text frames read without wsproto, and the `DETACH` ASGI extension: what `tandem serve` runs
(`--ws wsproto`).

uvicorn hands a WebSocket connection the upgrade request its HTTP parser already parsed, serialized
again; wsproto then parses it once more with h11 and answers the accept through h11 too, about a
tenth of a fresh connect's CPU. `parse_upgrade` reads a plain request the way wsproto's handshake
does, and the accept is answered with the 101 wsproto would write; a refusal, a subprotocol or
anything unusual goes to wsproto, which reads the request then (tests/accel/test_uvicorn_wsproto.py
compares the answers with uvicorn's own connection).

Once the connection is open, plain text frames (every Socket.IO packet a client sends) are read by
accel/ws_frames.py between messages, while wsproto holds nothing; anything else is wsproto's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected, get_client_addr, get_path_with_query_string
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import Request
from wsproto.utilities import generate_accept_token, split_comma_header

from tandem import accel
from tandem.accel.engineio_socket import PacketQueue
from tandem.accel.engineio_websocket import DETACH
from tandem.accel.ws_frames import read_plain_frames

NAME = "uvicorn_wsproto"
accel.register(
    accel.Accelerator(
        NAME,
        "uvicorn's wsproto connection in slots, with small queues and the DETACH extension",
        {"uvicorn": "0.54.0", "wsproto": "1.3.2"},
    )
)


class Flag:
    """The part of `asyncio.Event` uvicorn's connection uses (`writable`), without a deque."""

    __slots__ = ("_value", "_waiters")

    def __init__(self, value: bool = True) -> None:
        self._value = value
        self._waiters: list[asyncio.Future] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        self._value = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(True)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            return await waiter
        finally:
            if self._waiters and waiter in self._waiters:
                self._waiters.remove(waiter)


class _HandshakeDone:
    """Stands in for wsproto's H11Handshake (and its h11 connection) once the connection is open:
    `WSConnection.events()` is all that still asks it for anything."""

    __slots__ = ()

    def events(self) -> tuple:
        return ()


_HANDSHAKE_DONE = _HandshakeDone()


def parse_upgrade(data: bytes) -> tuple[Request, bytes] | None:
    """The wsproto `Request` and the Sec-WebSocket-Key of a WebSocket upgrade request as uvicorn's
    HTTP parser hands it over (it re-serializes what httptools parsed: a request line, `name: value`
    lines, nothing after the blank line), built as wsproto's handshake builds them; None for anything
    that handshake would refuse or that is unusual, which then takes wsproto's own way."""
    head, blank, rest = data.partition(b"\r\n\r\n")
    if not blank or rest:
        return None
    lines = head.split(b"\r\n")
    method, _, tail = lines[0].partition(b" ")
    target, _, version_line = tail.partition(b" ")
    if method != b"GET" or version_line != b"HTTP/1.1" or not target.isascii():
        return None
    headers: list[tuple[bytes, bytes]] = []
    extensions: list[str] = []
    subprotocols: list[str] = []
    host = key = version = None
    upgrade = b""
    connection_upgrade = False
    try:
        for line in lines[1:]:
            name, colon, value = line.partition(b": ")
            if not colon or not name.isascii():
                return None
            name = name.lower()
            if name == b"connection":
                connection_upgrade = any(t.lower() == "upgrade" for t in split_comma_header(value))
            elif name == b"host":
                host = value.decode("idna")
                continue
            elif name == b"sec-websocket-extensions":
                extensions.extend(split_comma_header(value))
                continue
            elif name == b"sec-websocket-protocol":
                subprotocols.extend(split_comma_header(value))
                continue
            elif name == b"sec-websocket-key":
                key = value
            elif name == b"sec-websocket-version":
                version = value
            elif name == b"upgrade":
                upgrade = value
            headers.append((name, value))
    except UnicodeError:
        return None
    if not (
        connection_upgrade
        and version == b"13"
        and key
        and upgrade.lower() == b"websocket"
        and host is not None
    ):
        return None
    request = Request(
        host=host,
        target=target.decode("ascii"),
        extensions=extensions,
        extra_headers=headers,
        subprotocols=subprotocols,
    )
    return request, key


class _EventList(list):
    """wsproto's per-connection event deque (`append`, `popleft`, truth) as a list: an open
    connection's is nearly always empty, and an empty deque holds a 0.5 KB block."""

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)


# Every attribute uvicorn's WSProtocol (uvicorn 0.54) sets: kept in slots, not in a per-connection dict.
# One uvicorn adds later lands in the instance dict, which still works (tests/accel/test_engineio_socket.py
# says when the dict is no longer empty).
_WSPROTOCOL_ATTRIBUTES = (
    "app",
    "app_state",
    "asgi_version",
    "buffer",
    "client",
    "close_sent",
    "close_timeout",
    "close_timer",
    "config",
    "conn",
    "connections",
    "default_headers",
    "disconnected",
    "handshake_complete",
    "last_ping_rtt",
    "logger",
    "loop",
    "pending_ping_payload",
    "ping_interval",
    "ping_sent_at",
    "ping_timeout",
    "ping_timer",
    "pong_timer",
    "queue",
    "read_paused",
    "response_started",
    "root_path",
    "scheme",
    "scope",
    "server",
    "tasks",
    "transport",
    "writable",
)


class DetachableWSProtocol(WSProtocol):
    """uvicorn's wsproto connection with a PacketQueue for its receive queue, a Flag for
    `writable`, wsproto's HTTP handshake state dropped once the connection is accepted, and the
    `DETACH` extension (below). Pass it as uvicorn's `ws=` (see `uvicorn_ws`).

    `DetachableWSProtocol` is uvicorn's own wsproto connection with engine.io-sized parts: its receive
    queue is a `PacketQueue` (accel/engineio_socket.py) instead of an `asyncio.Queue`, `writable` a
    `Flag` instead of an `asyncio.Event`, wsproto's HTTP handshake state is dropped once the
    connection is accepted, and its event deque becomes a list.

    It offers the application the `DETACH` ASGI extension (accel/engineio_socket.py): once a websocket is
    accepted, the app may send `{"type": DETACH, "run": f}` and return; the connection then stays
    open and `f()` is awaited in its place, from the connection's own task. An engine.io socket
    uses it to leave the request's call stack (Socket.IO's and engine.io's request handling, the
    middleware, about 2.5 KB of suspended coroutines and their locals per idle connection) and
    read the connection from a shallow one. Its attributes live in slots:
    uvicorn's connection sets 33 of them, past the 30 that CPython 3.11 shares between the
    instance dicts of a class, so each connection would otherwise carry a dict of its own
    (about 1.6 KB; in slots, 0.35 KB). The fan-out fast path (accel/frame_fanout.py) knows it by the
    uvicorn class it extends.
    """

    __slots__ = (*_WSPROTOCOL_ATTRIBUTES, "detached", "_upgrade")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = PacketQueue()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]
        self.detached: Callable[[], Awaitable[Any]] | None = None
        # (the upgrade request's bytes, its key) while a request read by `parse_upgrade` awaits
        # the app's answer; None otherwise
        self._upgrade: tuple[bytes, bytes] | None = None

    def data_received(self, data: bytes) -> None:
        # The upgrade request, which uvicorn hands over whole: read without h11 where it is plain
        # (wsproto would parse again what httptools just parsed, and answer through h11).
        if (
            self.conn.connection is None
            and self._upgrade is None
            and not self.handshake_complete
            and not self.config.ws_per_message_deflate
        ):
            parsed = parse_upgrade(data)
            if parsed is not None:
                request, key = parsed
                self._upgrade = (data, key)
                self.handle_connect(request)
                return
        if self._between_messages():
            texts, used = read_plain_frames(data, self.config.ws_max_size)
            for text in texts:  # as handle_message does with a whole text message
                self.queue.put_nowait({"type": "websocket.receive", "text": text})
                if not self.read_paused:
                    self.read_paused = True
                    self.transport.pause_reading()
            if used == len(data):
                return
            data = data[used:]
        super().data_received(data)

    def _between_messages(self) -> bool:
        """Open, and wsproto (and uvicorn's message buffer) holding nothing of a frame or message."""
        conn = self.conn
        if conn.handshake is not _HANDSHAKE_DONE or self.close_sent:
            return False
        connection = conn.connection
        if connection is None:
            return False
        proto = connection._proto
        decoder = proto._frame_decoder
        return (
            connection._state is ConnectionState.OPEN
            and not connection._events
            and not decoder.buffer.buffer
            and decoder.header is None
            and proto._message_decoder.opcode is None
            and not proto.extensions
            and self.buffer.value is None
        )

    def _request_to_wsproto(self) -> None:
        """Have wsproto's handshake read the request `parse_upgrade` read, so it can answer it."""
        if self._upgrade is not None:
            raw, _ = self._upgrade
            self._upgrade = None
            self.conn.receive_data(raw)
            for _ in self.conn.events():  # the Request event, handled already
                pass

    def send_500_response(self) -> None:
        self._request_to_wsproto()
        super().send_500_response()

    def _accept_directly(self, message: Any) -> bool:
        """Answer a plain accept of a request read by `parse_upgrade` with the 101 response
        wsproto would send; False (nothing done) for anything else."""
        if message["type"] != "websocket.accept" or message.get("subprotocol") is not None:
            return False
        _, key = self._upgrade  # type: ignore[misc]
        self._upgrade = None
        self.logger.info(
            '%s - "WebSocket %s" [accepted]',
            get_client_addr(self.scope),
            get_path_with_query_string(self.scope),
        )
        if self.transport.is_closing():
            return True
        self.handshake_complete = True
        lines = [
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + generate_accept_token(key) + b"\r\n"
        ]
        for name, value in (*self.default_headers, *message.get("headers", ())):
            lines.append(name + b": " + value + b"\r\n")
        lines.append(b"\r\n")
        conn = self.conn
        conn.connection = Connection(ConnectionType.SERVER, [])
        conn.connection._events = _EventList()
        conn.handshake = _HANDSHAKE_DONE
        self.transport.write(b"".join(lines))
        self.start_keepalive()
        return True

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(
            event
        )  # builds the scope and creates the task, which has not run yet
        self.scope["extensions"][DETACH] = {}

    async def send(self, message: Any) -> None:
        if message["type"] == DETACH:
            if not self.handshake_complete or self.close_sent or self.detached is not None:
                raise RuntimeError(f"'{DETACH}' is for an accepted, open connection, once")
            self.detached = message["run"]
            return
        if self._upgrade is not None and not self.handshake_complete and not self.disconnected:
            if self._accept_directly(message):
                return
            # Anything but a plain accept (a refusal, a subprotocol): wsproto's handshake answers.
            self._request_to_wsproto()
        await super().send(message)
        conn = self.conn
        if (
            message["type"] == "websocket.accept"
            and conn.connection is not None
            and not getattr(conn.handshake, "_events", True)
        ):  # no handshake event pending
            conn.handshake = _HANDSHAKE_DONE
            connection = conn.connection
            if type(connection._events) is not _EventList:
                connection._events = _EventList(connection._events)

    async def run_asgi(self) -> None:
        """uvicorn's run_asgi (0.54), and then the `DETACH`ed rest of the connection, if any."""
        try:
            result = await self.app(self.scope, self.receive, self.send)  # type: ignore[func-returns-value]
            if self.detached is not None:
                result = await self._detached_run()
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self.close_timer is None:
            self.transport.close()

    def _detached_run(self) -> Awaitable[Any]:
        """The detached rest of the connection; the callable that starts it is not kept."""
        run, self.detached = self.detached, None
        assert run is not None
        return run()


def uvicorn_ws(name: str) -> Any:
    """uvicorn's `ws=` for a name: "wsproto" is DetachableWSProtocol (uvicorn's own wsproto
    connection when the accelerator is off), "wsproto-stock" uvicorn's own, anything else is passed
    through ("websockets-sansio", "websockets")."""
    if name == "wsproto":
        return DetachableWSProtocol if accel.enabled(NAME) else "wsproto"
    if name == "wsproto-stock":
        return "wsproto"
    return name
