"""Leaner engine.io sockets: fewer tasks, queues and bytes held per idle connection.

python-engineio's `AsyncSocket` keeps, for every websocket connection, a writer task
blocked on an `asyncio.Queue` (and a second task that `asyncio.wait_for` wraps around that
wait), a task per receive (the library wraps each `ws.wait()` in a task to time it out) and a
task that sleeps until the next ping. That is four tasks and a 3 KB queue per socket besides
the ASGI server's own, and the WSGI-style environ engine.io builds from the ASGI scope (every
header, and a class object created per request for `wsgi.input`) stays referenced for as long
as the connection lives.

`LeanSocket` keeps the protocol and the library's behaviour and drops what an idle socket
does not need:

- the receive loop times each receive with `asyncio.timeout`, in the ASGI task itself;
- the writer is a task that exists only while there is something to write: a put on the
  socket's `PacketQueue` starts it, it drains the queue in order and ends. An idle socket
  has none, and `PacketQueue.idle` tells the fan-out fast path (realtime/fanout.py) that
  everything queued so far has been handed to the transport;
- the next ping is a timer callback, not a sleeping task;
- `PacketQueue` is a list with waiters created on demand (engine.io's polling transport
  still awaits `get()`), not three deques and an Event.

`install(sio)` makes a python-socketio `AsyncServer`'s engine.io server use it, by wrapping
its engine.io `connect` and `message` handlers (no library code is replaced): a new socket
becomes a `LeanSocket` before anything reads from its queue, and once its Socket.IO connect
to `/` succeeded, the environ is trimmed in place to `KEPT_ENVIRON` (the connect handler
already ran; what stays is what the library and Tandem's fan-out read later).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import engineio
from engineio import exceptions, packet
from engineio.async_socket import AsyncSocket

# What a connection's environ keeps once its Socket.IO connect succeeded. `asgi.*` are
# references to objects the ASGI server holds anyway (the fan-out finds the connection's
# transport through `asgi.send`); the rest is small and useful to a later reader (logs, a
# handler asking `sio.get_environ`).
KEPT_ENVIRON = frozenset({
    "REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "REMOTE_ADDR", "wsgi.url_scheme",
    "HTTP_HOST", "HTTP_ORIGIN", "HTTP_USER_AGENT", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
    "asgi.receive", "asgi.send", "asgi.scope",
})


class PacketQueue:
    """The part of `asyncio.Queue` (unbounded) that engine.io uses, in a few hundred bytes.

    `on_put`, when set, is called after every put (LeanSocket starts its writer from it).
    `idle` is True only while a websocket writer is attached and holds nothing: every packet
    put so far has been written to the connection.
    """

    __slots__ = ("_getters", "_joiners", "_queue", "_unfinished", "idle", "on_put")

    def __init__(self) -> None:
        self._queue: list[Any] = []
        self._getters: list[asyncio.Future] | None = None
        self._joiners: list[asyncio.Future] | None = None
        self._unfinished = 0
        self.on_put: Callable[[], None] | None = None
        self.idle = False

    def qsize(self) -> int:
        return len(self._queue)

    def empty(self) -> bool:
        return not self._queue

    def full(self) -> bool:
        return False

    def put_nowait(self, item: Any) -> None:
        self._queue.append(item)
        self._unfinished += 1
        getters = self._getters
        while getters:
            getter = getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                break
        if self.on_put is not None:
            self.on_put()

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        if not self._queue:
            raise asyncio.QueueEmpty
        return self._queue.pop(0)

    async def get(self) -> Any:
        while not self._queue:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                if self._getters and getter in self._getters:
                    self._getters.remove(getter)
                elif self._queue and not getter.cancelled():
                    # woken, then cancelled: hand the wake-up to the next getter
                    self._wake_getter()
                raise
        return self._queue.pop(0)

    def _wake_getter(self) -> None:
        while self._getters:
            getter = self._getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                return

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._joiners:
            joiners, self._joiners = self._joiners, None
            for joiner in joiners:
                if not joiner.done():
                    joiner.set_result(None)

    async def join(self) -> None:
        if self._unfinished:
            joiner = asyncio.get_running_loop().create_future()
            if self._joiners is None:
                self._joiners = []
            self._joiners.append(joiner)
            await joiner

    @classmethod
    def taking_over(cls, queue: Any) -> PacketQueue:
        """A PacketQueue holding what `queue` (an asyncio.Queue nobody waits on yet) holds."""
        lean = cls()
        while True:
            try:
                lean._queue.append(queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        lean._unfinished = len(lean._queue)
        return lean


class LeanSocket(AsyncSocket):
    """engine.io's AsyncSocket with the writer, receive and ping tasks of an idle socket gone."""

    _ws: Any = None
    _writer: asyncio.Task | None = None
    _writer_ended = False
    _ping_timer: asyncio.TimerHandle | None = None
    _environ_trimmed = False

    # -- pings: a timer, not a sleeping task ------------------------------------

    def schedule_ping(self) -> None:
        # as the library: only after the previous ping was answered (or for the first one)
        if self.last_ping:
            self.last_ping = None
            loop = asyncio.get_running_loop()
            self._ping_timer = loop.call_later(self.server.ping_interval, self._ping_due)

    def _ping_due(self) -> None:
        self._ping_timer = None
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.queue.put_nowait(packet.Packet(packet.PING))

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        await super().close(wait=wait, abort=abort, reason=reason)

    # -- the writer: a task only while there is something to write ---------------

    def _kick(self) -> None:
        if self._writer is None and not self._writer_ended:
            self.queue.idle = False
            self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        queue, ws = self.queue, self._ws
        try:
            while queue._queue:
                pkt = queue.get_nowait()
                queue.task_done()
                if pkt is None:  # the receive loop ended
                    break
                await ws.send(pkt.encode())
            else:
                queue.idle = True
                return
        except Exception as exc:  # noqa: BLE001 - as the library's writer: a failed send ends the connection
            self.server.logger.info("%s: websocket send failed: %r", self.sid, exc)
        finally:
            self._writer = None
        self._end_writer()
        await ws.close()

    def _end_writer(self) -> None:
        """No writer will run again: let nothing wait on what it would have written."""
        self._writer_ended = True
        queue = self.queue
        queue.on_put = None
        queue.idle = False
        while queue._queue:
            queue.get_nowait()
            queue.task_done()

    # -- the websocket transport ---------------------------------------------------

    async def _websocket_handler(self, ws: Any) -> None:
        server = self.server
        max_size = server.max_http_buffer_size

        async def websocket_wait() -> Any:
            data = await ws.wait()
            if data and len(data) > max_size:
                raise ValueError("packet is too large")
            return data

        if self.connected:
            # The socket was already connected on polling: this is an upgrade (as the library).
            self.upgrading = True  # hold packet sends during the upgrade
            try:
                pkt = await websocket_wait()
            except OSError:  # pragma: no cover
                return
            decoded = packet.Packet(encoded_packet=pkt)
            if decoded.packet_type != packet.PING or decoded.data != "probe":
                server.logger.info("%s: Failed websocket upgrade, no PING packet", self.sid)
                self.upgrading = False
                return
            await ws.send(packet.Packet(packet.PONG, data="probe").encode())
            await self.queue.put(packet.Packet(packet.NOOP))  # end the pending poll
            try:
                pkt = await websocket_wait()
            except OSError:  # pragma: no cover
                self.upgrading = False
                return
            decoded = packet.Packet(encoded_packet=pkt)
            if decoded.packet_type != packet.UPGRADE:
                self.upgraded = False
                server.logger.info("%s: Failed websocket upgrade, expected UPGRADE packet, received %s instead.",
                                   self.sid, pkt)
                self.upgrading = False
                return
            self.upgraded = True
            self.upgrading = False
        else:
            self.connected = True
            self.upgraded = True

        self._ws = ws
        queue = self.queue
        queue.on_put = self._kick
        if queue._queue:
            self._kick()
        else:
            queue.idle = True
        server.logger.info("%s: Upgrade to websocket successful", self.sid)

        timeout = server.ping_interval + server.ping_timeout
        cancelled = False
        while True:
            try:
                async with asyncio.timeout(timeout):
                    p = await websocket_wait()
            except asyncio.CancelledError:
                cancelled = True  # the library ends the connection as below, then lets the task end
                break
            except Exception:  # noqa: BLE001 - a timeout, a closed connection, an oversized packet
                break
            if p is None:  # closed by the client
                break
            try:
                await self.receive(packet.Packet(encoded_packet=p))
            except exceptions.UnknownPacketError:  # pragma: no cover
                pass
            except exceptions.SocketIsClosedError:  # pragma: no cover
                server.logger.info("Receive error -- socket is closed")
                break
            except Exception:  # pragma: no cover
                server.logger.exception("Unknown receive error")

        writer = self._writer
        if cancelled:
            if writer is not None:
                writer.cancel()
            self._end_writer()
        else:
            queue.put_nowait(None)  # the writer writes what is queued, then closes the connection
            writer = self._writer
            if writer is not None:
                await writer
        await self.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)


def trim_environ(environ: dict[str, Any]) -> None:
    """Keep only `KEPT_ENVIRON` of a connection's environ, in place (the library's frames hold it)."""
    kept = {key: environ[key] for key in KEPT_ENVIRON if key in environ}
    environ.clear()
    environ.update(kept)


def install(sio: Any) -> None:
    """Make `sio`'s engine.io server use LeanSocket and trim environs after a successful connect."""
    eio = sio.eio
    if getattr(eio, "_tandem_lean", False) or not isinstance(eio, engineio.AsyncServer):
        return
    eio._tandem_lean = True
    on_connect = eio.handlers["connect"]
    on_message = eio.handlers["message"]

    async def connect(eio_sid: str, environ: dict[str, Any]) -> Any:
        socket = eio.sockets.get(eio_sid)
        if type(socket) is AsyncSocket and isinstance(socket.queue, asyncio.Queue):
            socket.__class__ = LeanSocket  # same layout; nothing has read its queue yet
            socket.queue = PacketQueue.taking_over(socket.queue)
        return await on_connect(eio_sid, environ)

    async def message(eio_sid: str, data: Any) -> Any:
        result = await on_message(eio_sid, data)
        if isinstance(data, str) and data[:1] == "0":  # a Socket.IO CONNECT
            socket = eio.sockets.get(eio_sid)
            if socket is not None and not getattr(socket, "_environ_trimmed", True) \
                    and sio.manager.sid_from_eio_sid(eio_sid, "/") is not None:
                environ = sio.environ.get(eio_sid)
                if environ is not None:
                    trim_environ(environ)
                    socket._environ_trimmed = True
        return result

    eio.on("connect", connect)
    eio.on("message", message)
