"""Broadcast fan-out: encode once, write the same WebSocket frame to every local recipient that can
take it directly, and the library's queue for the rest.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

from engineio import packet as eio_packet
from socketio import packet as sio_packet
from socketio.async_manager import AsyncManager

from tandem import accel
from tandem.accel import engineio_socket
from tandem.accel.socket_clock import PacketQueue

NAME = "frame_fanout"
accel.register(
    accel.Accelerator(
        NAME,
        "a broadcast written as one shared WebSocket frame per socket, joined per event-loop pass",
        {
            "python-socketio": "5.18.1",
            "python-engineio": "4.15.1",
            "uvicorn": "0.54.0",
            "wsproto": "1.3.2",
        },
    )
)

WRITE_BUFFER_LIMIT = 256 * 1024
CORK_LIMIT = 4096  # frames held for the end of the loop iteration before the emitter yields


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked, uncompressed WebSocket text frame (RFC 6455 §5.2), as a server sends."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def _is_open(protocol: Any) -> Callable[[], bool] | None:
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


class EphemeralPacket(eio_packet.Packet):
    """An engine.io MESSAGE carrying an event without `seq` (presence, typing...): the first thing
    a slow consumer's queue sheds (see `FrameFanout.backlog`)."""

    event = ""
    room: str | None = None
    key: str | None = None  # what its value is of: a newer one with the same key replaces it


class _Direct:
    """What the fast path needs of one engine.io socket, looked up once per connection."""

    __slots__ = ("is_open", "transport")

    def __init__(self, transport: asyncio.Transport, is_open: Callable[[], bool]) -> None:
        self.transport = transport
        self.is_open = is_open


_NO_DIRECT = _Direct(None, lambda: False)  # type: ignore[arg-type]


class FrameFanout(AsyncManager):
    """AsyncManager whose emits without an ack callback write one shared frame per socket.

    `fast_fanout` is False when the accelerator is off; setting it False restores the library's
    delivery (for comparisons and diagnosis).

    python-socketio's AsyncManager encodes a broadcast once, but then hands it to each
    recipient through an asyncio task, the engine.io socket's queue, its writer task, an
    ASGI `websocket.send` message and the server's own framing: five hops and two task
    switches per recipient. Node's socket.io builds the frame once and writes it to every
    socket. `FrameFanout` does the same for sockets where that is safe, and keeps the library's
    queue for the rest, so the Socket.IO protocol and every ordering guarantee are unchanged.

    A recipient takes the direct path only when all of these hold:

    - it is on the websocket transport of a uvicorn websocket implementation this module knows
      (`websockets`, `websockets-sansio`, `wsproto`), the connection is open and negotiated no
      extension (no per-message deflate), so the frame is a plain unmasked text frame;
    - its engine.io queue is empty and its writer holds nothing: nothing queued earlier can be
      overtaken (a frame written here lands after everything the writer already wrote). Tandem's
      sockets are `accel.engineio_socket.ClockedSocket`s (installed by `set_server`), whose queue says so
      (`PacketQueue.idle`: no writer task running); a stock engine.io socket's writer is idle when
      it waits on its queue;
    - its transport's write buffer is below `WRITE_BUFFER_LIMIT`: a client that does not read
      falls back to the queue, where the library's flow control applies.

    Any other recipient gets the engine.io packet put on its queue right away (not from a task
    per recipient, as the library does), so it keeps its place among that socket's packets,
    once `admit` agreed: a subclass bounds what a socket may have queued but unwritten there
    (`backlog`: its queue, and its transport's write buffer), so a client that stops reading
    does not grow the server's memory.

    Out of a burst, the first broadcast of an event-loop iteration is written to each socket as
    its recipients are found (the first recipient does not wait for the checks of the last:
    the bench's latency workload). The iteration's later broadcasts, and every broadcast of the
    iterations that follow one with several, are joined per socket and written once at the end
    of the iteration ("corking"), so a burst of broadcasts costs one syscall per socket and
    iteration, not one per broadcast. A caller that knows it emits several at once (the
    dispatcher's batch, through `emit_many`) calls `join_next` first, so the batch's first
    broadcast is joined with the rest too.
    A later queued packet cannot overtake them: the flush is scheduled before any queue put
    that follows, and the event loop runs callbacks in order. A ClockedSocket's writer, which
    starts on such a put, writes its queued text packets the same way (`write_queued`): a
    connect's answer and a subscribe's ack cost one frame and one write, not an ASGI message,
    wsproto's framing and a write each. Emits with an ack callback, to a
    list of rooms, or with binary attachments take the library's path unchanged.
    """

    fast_fanout = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast_fanout = accel.enabled(NAME)
        self._corked: dict[asyncio.Transport, list[bytes]] = {}
        self._flush_scheduled = False
        self._corked_frames = 0
        self._pass_broadcasts = 0  # broadcasts in this event-loop pass so far
        self._bursting = False  # the last pass had more than one

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        room = to or room
        ns = self.rooms.get(namespace)
        if (
            not self.fast_fanout
            or callback is not None
            or ns is None
            or not (room is None or isinstance(room, str))
        ):
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
            )
            return
        members = ns.get(room)
        if not members:
            return
        if isinstance(data, tuple):
            data = list(data)
        elif data is not None:
            data = [data]
        else:
            data = []
        try:
            # binary=False skips the library's walk of the whole payload for bytes: a payload that
            # holds some fails to encode as JSON instead, and takes the library's path below.
            encoded = self.server.packet_class(
                sio_packet.EVENT, namespace=namespace, data=[event, *data], binary=False
            ).encode()
        except TypeError:
            encoded = None
        if not isinstance(encoded, str):  # binary attachments: several engine.io packets
            await super().emit(
                event,
                data[0] if len(data) == 1 else tuple(data),
                namespace,
                room=room,
                skip_sid=skip_sid,
                **kwargs,
            )
            return
        ephemeral = not (len(data) == 1 and isinstance(data[0], dict) and "seq" in data[0])
        key = self.superseding(event, data[0]) if ephemeral and len(data) == 1 else None
        text = "4" + encoded  # engine.io MESSAGE
        frame = text_frame(text.encode())
        skip = skip_sid if isinstance(skip_sid, list) else ((skip_sid,) if skip_sid else ())

        sockets = self.server.eio.sockets
        corked = self._corked
        # Out of a burst, the first broadcast of a loop pass is written as its recipients are found
        # (nothing earlier waits to be joined with it, and the first recipient need not wait for the last
        # one's checks); the pass's later broadcasts, and all of a burst's, are corked and joined.
        immediate = not corked and not self._flush_scheduled and not self._bursting
        queued = None
        direct = 0
        # The checks of `_direct`, inlined: this loop runs once per recipient.
        for sid, eio_sid in tuple(members._fwdm.items()):
            if skip and sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            transport = None
            queue = socket.queue
            # Nothing queued and the writer idle (see the module docstring): a ClockedSocket's queue
            # says so itself, a stock socket's writer waits on its queue.
            if (
                not queue._queue
                and (queue.idle if type(queue) is PacketQueue else queue._getters)
                and socket.upgraded
                and not socket.upgrading
                and not socket.closing
            ):
                ws = getattr(socket, "_tandem_direct", None)
                if ws is None:
                    ws = socket._tandem_direct = self._lookup(eio_sid)
                transport = ws.transport
                if transport is not None and (
                    transport.is_closing()
                    or not ws.is_open()
                    or transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT
                ):
                    transport = None
            if transport is None:
                # The library's queue, but put now, not from a task per recipient: the packet
                # keeps its place relative to this socket's other sends.
                if not self.admit(sid, eio_sid, socket, event, ephemeral, room, key):
                    continue
                if queued is None:
                    if ephemeral:
                        queued = EphemeralPacket(eio_packet.MESSAGE, encoded)
                        queued.event, queued.room, queued.key = event, room, key
                    else:
                        queued = eio_packet.Packet(eio_packet.MESSAGE, encoded)
                queue.put_nowait(queued)
                continue
            if immediate:
                transport.write(frame)
                continue
            pending = corked.get(transport)
            if pending is None:
                corked[transport] = [frame]
            else:
                pending.append(frame)
            direct += 1
        self._corked_frames += direct
        self._pass_broadcasts += 1
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        if self._corked_frames >= CORK_LIMIT:
            # A caller emitting in a loop that never suspends would hold every frame until it
            # ends: let the flush run now and then.
            await asyncio.sleep(0)

    def admit(
        self,
        sid: str,
        eio_sid: str,
        socket: Any,
        event: str,
        ephemeral: bool,
        room: str | None = None,
        key: str | None = None,
    ) -> bool:
        """Whether to queue an event for a socket (a subclass bounds slow consumers); True here."""
        return True

    def superseding(self, event: str, data: Any) -> str | None:
        """What an ephemeral event's value is of (a subclass knows the events); None here."""
        return None

    def backlog(self, eio_sid: str, socket: Any) -> tuple[int, int]:
        """What a socket holds queued but unwritten: (packets, bytes). Bytes are those of a
        ClockedSocket's queue and of its transport's write buffer, when known; 0 for a stock
        socket, whose queue only says its length."""
        queue = socket.queue
        if type(queue) is not PacketQueue:
            return queue.qsize(), 0
        nbytes = queue.nbytes
        if self.fast_fanout and socket.upgraded:
            ws = getattr(socket, "_tandem_direct", None)
            if ws is None:
                ws = socket._tandem_direct = self._lookup(eio_sid)
            if ws.transport is not None:
                nbytes += ws.transport.get_write_buffer_size()
        return len(queue._queue), nbytes

    @staticmethod
    def drop_ephemeral(socket: Any) -> list[tuple[str, str | None]]:
        """Remove the ephemeral events queued for a socket; returns their (name, room) (stock
        queue: none)."""
        queue = socket.queue
        if type(queue) is not PacketQueue:
            return []
        return [(p.event, p.room) for p in queue.drop(lambda p: type(p) is EphemeralPacket)]

    @staticmethod
    def drop_superseded(socket: Any, key: str) -> bool:
        """Remove the ephemeral values of `key` queued for a socket (a newer one takes their
        place); whether there was one (stock queue: never)."""
        queue = socket.queue
        if type(queue) is not PacketQueue or not queue._queue:
            return False
        return bool(queue.drop(lambda p: type(p) is EphemeralPacket and p.key == key))

    def abort_connection(self, eio_sid: str, socket: Any) -> None:
        """End a websocket connection at once, unsent data and all (a slow consumer's): its
        writer may wait forever on a client that does not read. Nothing for a connection this
        module cannot reach (polling, another server, the accelerator off)."""
        if not self.fast_fanout or not getattr(socket, "upgraded", False):
            return
        ws = getattr(socket, "_tandem_direct", None) or self._lookup(eio_sid)
        if ws.transport is not None and not ws.transport.is_closing():
            ws.transport.abort()

    def join_next(self) -> None:
        """Join the broadcasts that follow in this event-loop pass, the first one too: a batch known
        to hold several (the dispatcher's) goes out as one write per socket, not two."""
        self._bursting = True

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        engineio_socket.install(
            server
        )  # ClockedSocket, when on: the fast path reads its queue's `idle`
        server.eio._tandem_fanout = self  # a ClockedSocket's writer asks `write_queued`

    def write_queued(self, socket: Any) -> bool:
        """Write the text packets at the head of a ClockedSocket's queue (a connect's answer, acks,
        pings) to its transport as frames, in one write, where a broadcast could be written
        directly; False, writing nothing, where it could not (the writer then sends through the
        library: binary packets, a closing socket, a full write buffer, the accelerator off)."""
        queue = socket.queue
        if (
            not self.fast_fanout
            or not socket.upgraded
            or socket.upgrading
            or socket.closing
            or socket.closed
        ):
            return False
        ws = getattr(socket, "_tandem_direct", None)
        if ws is None:
            ws = socket._tandem_direct = self._lookup(socket.sid)
        transport = ws.transport
        if (
            transport is None
            or transport.is_closing()
            or not ws.is_open()
            or transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT
        ):
            return False
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

    def _lookup(self, eio_sid: str) -> _Direct:
        environ = self.server.environ.get(eio_sid)
        protocol = getattr(environ.get("asgi.send"), "__self__", None) if environ else None
        transport = getattr(protocol, "transport", None)
        if transport is None:
            return _NO_DIRECT
        try:
            is_open = _is_open(protocol)
        except (
            AttributeError,
            ImportError,
        ):  # a server version laid out differently: the library's path
            return _NO_DIRECT
        return _Direct(transport, is_open) if is_open is not None else _NO_DIRECT

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._corked_frames = 0
        corked, self._corked = self._corked, {}
        self._bursting = (
            self._pass_broadcasts > 1
        )  # then the next pass corks its first broadcast too
        self._pass_broadcasts = 0
        for transport, frames in corked.items():
            if transport.is_closing():
                continue
            transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
