"""Broadcast fan-out: encode once, write the same WebSocket frame to every local recipient that can
take it directly, and the library's queue for the rest.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engineio import packet as eio_packet
from socketio import packet as sio_packet
from socketio.async_manager import AsyncManager

from tandem import accel
from tandem.accel import direct_frames, engineio_socket
from tandem.accel.direct_frames import WRITE_BUFFER_LIMIT, text_frame
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

CORK_LIMIT = 4096  # frames held for the end of the loop iteration before the emitter yields


class EphemeralPacket(eio_packet.Packet):
    """An engine.io MESSAGE carrying an event without `seq` (presence, typing...): the first thing
    a slow consumer's queue sheds (see `FrameFanout.backlog`)."""

    event = ""
    room: str | None = None
    key: str | None = None  # what its value is of: a newer one with the same key replaces it


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
    wsproto's framing and a write each. The gate's answers to requests (acks) skip the queue and
    the writer task altogether where a broadcast could be written directly (`write_answer`),
    joined with the pass's frames like one. Emits with an ack callback, to a
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
        # direct_frames.writable's checks, inlined: this loop runs once per recipient.
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
                    ws = direct_frames.direct(self.server, socket, eio_sid)
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
            transport = direct_frames.direct(self.server, socket, eio_sid).transport
            if transport is not None:
                nbytes += transport.get_write_buffer_size()
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
        transport = direct_frames.direct(self.server, socket, eio_sid).transport
        if transport is not None and not transport.is_closing():
            transport.abort()

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

    def write_answer(self, eio_sid: str, socket: Any, encoded: str) -> bool:
        """Write a Socket.IO packet for one socket (an ack) as a frame where a broadcast could be
        written directly: at once out of a burst, else joined with the loop pass's other frames
        for that connection. False, writing nothing, where it could not (the caller sends it
        through the library's queue)."""
        if not self.fast_fanout or socket.closed or not isinstance(encoded, str):
            return False
        queue = socket.queue
        if queue._queue or not (queue.idle if type(queue) is PacketQueue else queue._getters):
            return False
        transport = direct_frames.writable(self.server, socket, eio_sid)
        if transport is None:
            return False
        frame = text_frame(("4" + encoded).encode())
        if not self._corked and not self._flush_scheduled and not self._bursting:
            transport.write(frame)
        else:
            pending = self._corked.get(transport)
            if pending is None:
                self._corked[transport] = [frame]
            else:
                pending.append(frame)
            self._corked_frames += 1
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return True

    def write_queued(self, socket: Any) -> bool:
        """Write the text packets at the head of a ClockedSocket's queue (a connect's answer, acks,
        pings) to its transport as frames, in one write, where a broadcast could be written
        directly; False, writing nothing, where it could not (the writer then sends through the
        library: binary packets, a closing socket, a full write buffer, the accelerator off)."""
        return self.fast_fanout and direct_frames.write_queued(self.server, socket)

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
