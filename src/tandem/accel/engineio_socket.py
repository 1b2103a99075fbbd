"""engine.io sockets with fewer tasks, queues and bytes held per idle connection (`ClockedSocket`),
and `install(sio)`, which gives a python-socketio server's engine.io server such sockets. Their
websocket transport is accel/engineio_websocket.py's.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import engineio
from engineio import packet
from engineio.async_socket import AsyncSocket

from tandem import accel
from tandem.accel.engineio_websocket import WebSocketTransport
from tandem.accel.socket_clock import _EARLY, _RECEIVE, PacketQueue, SocketClock

NAME = "engineio_socket"
accel.register(
    accel.Accelerator(
        NAME,
        "engine.io sockets without idle tasks: one clock for pings and receive timeouts, a writer on demand",
        {"python-engineio": "4.15.1", "python-socketio": "5.18.1"},
    )
)

# The first ping's delay is ping_interval less up to this share of it (see ClockedSocket.schedule_ping).
FIRST_PING_SPREAD = 0.5

# What a connection's environ keeps once its Socket.IO connect succeeded. `asgi.*` are
# references to objects the ASGI server holds anyway (the fan-out finds the connection's
# transport through `asgi.send`); the rest is small and useful to a later reader (logs, a
# handler asking `sio.get_environ`).
KEPT_ENVIRON = frozenset(
    {
        "REQUEST_METHOD",
        "PATH_INFO",
        "QUERY_STRING",
        "REMOTE_ADDR",
        "wsgi.url_scheme",
        "HTTP_HOST",
        "HTTP_ORIGIN",
        "HTTP_USER_AGENT",
        "HTTP_X_FORWARDED_FOR",
        "HTTP_X_FORWARDED_PROTO",
        "asgi.receive",
        "asgi.send",
        "asgi.scope",
    }
)


class ClockedSocket(WebSocketTransport, AsyncSocket):
    """engine.io's AsyncSocket with the writer, receive and ping tasks of an idle socket gone.

    python-engineio's `AsyncSocket` keeps, for every websocket connection, a writer task
    blocked on an `asyncio.Queue` (and a second task that `asyncio.wait_for` wraps around that
    wait), a task per receive (the library wraps each `ws.wait()` in a task to time it out) and a
    task that sleeps until the next ping. That is four tasks and a 3 KB queue per socket besides
    the ASGI server's own, and the WSGI-style environ engine.io builds from the ASGI scope (every
    header, and a class object created per request for `wsgi.input`) stays referenced for as long
    as the connection lives.

    `ClockedSocket` (its pings and receive timeouts run on a shared clock) keeps the protocol and
    the library's behaviour and drops what an idle socket does not need:

    - the receive loop waits in the ASGI task itself, without a task per receive;
    - the writer is a task that exists only while there is something to write: a put on the
      socket's `PacketQueue` starts it, it drains the queue in order and ends. An idle socket
      has none, and `PacketQueue.idle` tells the fan-out fast path (accel/frame_fanout.py) that
      everything queued so far has been handed to the transport. Where that fast path could
      write to the socket, the writer hands it the queued text packets (`write_queued`: frames,
      one write) instead of sending them one by one through the ASGI server;
    - the next ping and the receive timeout are entries on the server's one `SocketClock`, not
      a sleeping task, nor a timer handle and an `asyncio.timeout` per socket (together about
      1.3 KB per idle connection on uvloop);
    - `PacketQueue` is a list with waiters created on demand (engine.io's polling transport
      still awaits `get()`), not three deques and an Event;
    - the websocket is read from the ASGI connection directly, not through engine.io's
      `WebSocket` wrapper, and, where the server offers the `DETACH` extension (DetachableWSProtocol,
      accel/uvicorn_wsproto.py), from outside the request's call stack: engine.io's and Socket.IO's
      request handling return once the websocket is accepted, so an idle connection's task does
      not keep their 9 suspended coroutines and their locals (the parsed query, the OPEN packet).

    `install(sio)` makes a python-socketio `AsyncServer`'s engine.io server use it, by wrapping
    its engine.io `connect` and `message` handlers (no library code is replaced): a new socket
    becomes a `ClockedSocket` before anything reads from its queue, and once its Socket.IO connect
    to `/` succeeded, the environ is trimmed in place to `KEPT_ENVIRON` (the connect handler
    already ran; what stays is what the library and Tandem's fan-out read later).
    """

    _ws: Any = None
    _writer: asyncio.Task | None = None
    _writer_ended = False
    _ping_at: float | None = None  # when the SocketClock sends the next ping
    _first_ping_scheduled = False
    _environ_trimmed = False
    _task: asyncio.Task | None = None  # the task running the websocket receive loop
    _waiting_since: float | None = (
        None  # loop time the current receive began, None between receives
    )
    _stopping = False  # the receive loop is to end: a receive timeout, or the session ended
    _stop_cancelled = False  # ... and its wait was cancelled for it

    # -- pings: an entry on the server's clock, not a sleeping task --------------

    def schedule_ping(self) -> None:
        # as the library: only after the previous ping was answered (or for the first one)
        if self.last_ping:
            self.last_ping = None
            clock = SocketClock.of(self.server)
            if self._first_ping_scheduled:
                clock.ping_later(self)
            else:
                # The first ping comes a random time between half an interval and one interval after
                # the handshake: sockets that connected together (a server restart's reconnects, a
                # load generator's clients) do not keep pinging together, every interval, for as long
                # as they live. Sooner is always safe: a client only gives up on a ping that is late.
                self._first_ping_scheduled = True
                clock.ping_later(
                    self, self.server.ping_interval * (1 - FIRST_PING_SPREAD * random.random())
                )

    def _ping_due(self) -> None:
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.queue.put_nowait(packet.Packet(packet.PING))

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        self._ping_at = None  # its clock entry, if any, is dropped when it comes due
        await super().close(wait=wait, abort=abort, reason=reason)
        # The session is over (the client's CLOSE, a ping timeout, a server-side disconnect): end
        # the websocket too, as the library's does, or the connection stays open for as long as
        # the client keeps it. The library's receive loop ends by its own timeout once no pings
        # flow; this one has none left once the server forgot the socket, so it is ended here.
        self._stop_receiving()

    def _stop_receiving(self) -> None:
        """End the websocket receive loop: the writer then writes what is queued (a CLOSE packet,
        say) and closes the connection. A loop handling a packet ends once that is done; one
        waiting for the client is cancelled, the cancellation taken back as a timeout's is."""
        task = self._task
        if task is None or self._stopping:
            return
        self._stopping = True
        if self._waiting_since is not None and task is not asyncio.current_task():
            self._stop_cancelled = True
            task.cancel()

    # -- the receive timeout: an entry on the same clock ------------------------------

    def _receive_check(self, clock: SocketClock, now: float) -> None:
        task = self._task
        if task is None:
            return  # the receive loop ended
        since = self._waiting_since
        if since is None:  # handling a packet: the next wait starts later than now
            clock._push(now + clock.receive_timeout(), self.sid, _RECEIVE)
            return
        deadline = since + clock.receive_timeout()
        if deadline <= now + _EARLY:
            self._stop_receiving()
        else:
            clock._push(deadline, self.sid, _RECEIVE)

    # -- the writer: a task only while there is something to write ---------------

    def _kick(self) -> None:
        if self._writer is None and not self._writer_ended:
            self.queue.idle = False
            self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        queue, ws = self.queue, self._ws
        fanout = getattr(self.server, "_tandem_fanout", None)  # accel/frame_fanout.py's
        try:
            while queue._queue:
                if fanout is not None and fanout.write_queued(self):
                    continue
                pkt = queue.get_nowait()
                queue.task_done()
                if pkt is None:  # the receive loop ended
                    break
                await ws.send(pkt.encode())
            else:
                queue.idle = True
                return
        except Exception as exc:
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


def trim_environ(environ: dict[str, Any]) -> None:
    """Keep only `KEPT_ENVIRON` of a connection's environ, in place (the library's frames hold it)."""
    kept = {key: environ[key] for key in KEPT_ENVIRON if key in environ}
    environ.clear()
    environ.update(kept)


def install(sio: Any) -> None:
    """Make `sio`'s engine.io server use ClockedSocket and trim environs after a successful connect
    (nothing when the accelerator is off: engine.io's own sockets)."""
    if not accel.enabled(NAME):
        return
    eio = sio.eio
    if getattr(eio, "_tandem_clocked", False) or not isinstance(eio, engineio.AsyncServer):
        return
    eio._tandem_clocked = True
    on_connect = eio.handlers["connect"]
    on_message = eio.handlers["message"]

    async def connect(eio_sid: str, environ: dict[str, Any]) -> Any:
        socket = eio.sockets.get(eio_sid)
        if type(socket) is AsyncSocket and isinstance(socket.queue, asyncio.Queue):
            socket.__class__ = ClockedSocket  # same layout; nothing has read its queue yet
            socket.queue = PacketQueue.taking_over(socket.queue)
        return await on_connect(eio_sid, environ)

    async def message(eio_sid: str, data: Any) -> Any:
        result = await on_message(eio_sid, data)
        if isinstance(data, str) and data[:1] == "0":  # a Socket.IO CONNECT
            socket = eio.sockets.get(eio_sid)
            if (
                socket is not None
                and not getattr(socket, "_environ_trimmed", True)
                and sio.manager.sid_from_eio_sid(eio_sid, "/") is not None
            ):
                environ = sio.environ.get(eio_sid)
                if environ is not None:
                    trim_environ(environ)
                    socket._environ_trimmed = True
        return result

    eio.on("connect", connect)
    eio.on("message", message)
