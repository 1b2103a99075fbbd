"""A socket's WebSocket connection reached directly: the frame a server sends, whether the
connection is open and negotiated nothing that would change that frame, and the connection's
transport, looked up once per socket (kept on the engine.io socket as `_tandem_direct`). Used by
`accel/frame_fanout.py` for broadcasts, a slow consumer's backlog and abort, and for the queued
packets a ClockedSocket's writer sends. It reads uvicorn's, websockets' and wsproto's connection
state, so it is part of that accelerator and pinned with it.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

WRITE_BUFFER_LIMIT = 256 * 1024


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked, uncompressed WebSocket text frame (RFC 6455 §5.2), as a server sends."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def is_open_check(protocol: Any) -> Callable[[], bool] | None:
    """For a uvicorn websocket connection this module knows, a check that it is open and
    writable with no extension negotiated; None for any other server (Granian, hypercorn...),
    which keeps the library's path."""
    # a subclass (accel.uvicorn_wsproto's DetachableWSProtocol) is known by the uvicorn class it extends
    kind = next(
        (c.__module__ for c in type(protocol).__mro__ if c.__module__.startswith("uvicorn.")), ""
    )
    if kind == "uvicorn.protocols.websockets.websockets_impl":
        from websockets.legacy.protocol import State

        if protocol.extensions:
            return None
        return lambda: protocol.state is State.OPEN
    if kind == "uvicorn.protocols.websockets.websockets_sansio_impl":
        from websockets.protocol import State

        if protocol.conn.extensions:
            return None
        conn, writable = protocol.conn, protocol.writable
        return lambda: conn.state is State.OPEN and writable.is_set() and not protocol.close_sent
    if kind == "uvicorn.protocols.websockets.wsproto_impl":
        from wsproto.connection import ConnectionState

        # WSConnection keeps what was negotiated on its inner connection's frame protocol.
        proto = getattr(getattr(protocol.conn, "connection", None), "_proto", None)
        if proto is None or proto.extensions:
            return None
        conn, writable = protocol.conn, protocol.writable
        from tandem.accel.uvicorn_wsproto import Flag

        inner = conn.connection
        if type(writable) is Flag and type(getattr(inner, "_state", None)) is ConnectionState:
            # Tandem's own connection (accel/uvicorn_wsproto.py): its open frame protocol and its Flag
            # are read directly, without two properties and a method call per recipient.
            return lambda: inner._state is ConnectionState.OPEN and writable._value
        return lambda: conn.state is ConnectionState.OPEN and writable.is_set()
    return None


class Direct:
    """What the fast path needs of one engine.io socket, looked up once per connection."""

    __slots__ = ("is_open", "transport")

    def __init__(self, transport: asyncio.Transport, is_open: Callable[[], bool]) -> None:
        self.transport = transport
        self.is_open = is_open


NO_DIRECT = Direct(None, lambda: False)  # type: ignore[arg-type]


def lookup(server: Any, eio_sid: str) -> Direct:
    """The connection behind an engine.io socket of a python-socketio server, or NO_DIRECT when
    it is not one this module knows."""
    environ = server.environ.get(eio_sid)
    protocol = getattr(environ.get("asgi.send"), "__self__", None) if environ else None
    transport = getattr(protocol, "transport", None)
    if transport is None:
        return NO_DIRECT
    try:
        is_open = is_open_check(protocol)
    except (AttributeError, ImportError):  # a server version laid out differently
        return NO_DIRECT
    return Direct(transport, is_open) if is_open is not None else NO_DIRECT


def direct(server: Any, socket: Any, eio_sid: str) -> Direct:
    """lookup's answer for a socket, found once and kept on it."""
    found = getattr(socket, "_tandem_direct", None)
    if found is None:
        found = socket._tandem_direct = lookup(server, eio_sid)
    return found


def writable(server: Any, socket: Any, eio_sid: str) -> asyncio.Transport | None:
    """The transport a frame for an upgraded socket may be written to now: the connection open,
    its write buffer below WRITE_BUFFER_LIMIT; else None."""
    if not socket.upgraded or socket.upgrading or socket.closing or socket.closed:
        return None
    ws = direct(server, socket, eio_sid)
    transport = ws.transport
    if (
        transport is None
        or transport.is_closing()
        or not ws.is_open()
        or transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT
    ):
        return None
    return transport


def write_queued(server: Any, socket: Any) -> bool:
    """Write the text packets at the head of a ClockedSocket's queue to its transport as frames,
    in one write; False, writing nothing, where it could not (see FrameFanout.write_queued)."""
    transport = writable(server, socket, socket.sid)
    if transport is None:
        return False
    queue = socket.queue
    frames = []
    pending = queue._queue
    while pending:
        pkt = pending[0]
        if pkt is None:  # the receive loop ended: the writer closes the connection
            break
        encoded = pkt.encode()
        if not isinstance(encoded, str):
            break
        queue.get_nowait()
        queue.task_done()
        frames.append(text_frame(encoded.encode()))
    if not frames:
        return False
    transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
    return True
