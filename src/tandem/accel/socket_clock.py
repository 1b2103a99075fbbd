"""What the clocked engine.io sockets (`accel.engineio_socket.ClockedSocket`) share: a light
per-socket packet queue and one clock per server for their pings and receive timeouts.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tandem.accel.engineio_socket import ClockedSocket


class PacketQueue:
    """The part of `asyncio.Queue` (unbounded) that engine.io uses, in a few hundred bytes.

    `on_put`, when set, is called after every put (ClockedSocket starts its writer from it).
    `idle` is True only while a websocket writer is attached and holds nothing: every packet
    put so far has been written to the connection. `nbytes` is the size of the queued packets'
    data (what a slow consumer's bound counts; see `drop`).
    """

    __slots__ = ("_getters", "_joiners", "_queue", "_unfinished", "idle", "nbytes", "on_put")

    def __init__(self) -> None:
        self._queue: list[Any] = []
        self._getters: list[asyncio.Future] | None = None
        self._joiners: list[asyncio.Future] | None = None
        self._unfinished = 0
        self.on_put: Callable[[], None] | None = None
        self.idle = False
        self.nbytes = 0

    def qsize(self) -> int:
        return len(self._queue)

    def empty(self) -> bool:
        return not self._queue

    def full(self) -> bool:
        return False

    def put_nowait(self, item: Any) -> None:
        self._queue.append(item)
        self.nbytes += _size(item)
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
        item = self._queue.pop(0)
        self.nbytes -= _size(item)
        return item

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
        item = self._queue.pop(0)
        self.nbytes -= _size(item)
        return item

    def drop(self, unwanted: Callable[[Any], bool]) -> list[Any]:
        """Remove the queued items for which `unwanted` is true (each counts as done); returns them."""
        dropped = [item for item in self._queue if unwanted(item)]
        if dropped:
            self._queue = [item for item in self._queue if not unwanted(item)]
            for item in dropped:
                self.nbytes -= _size(item)
                self.task_done()
        return dropped

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
        taken = cls()
        while True:
            try:
                taken._queue.append(queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        taken._unfinished = len(taken._queue)
        taken.nbytes = sum(map(_size, taken._queue))
        return taken


def _size(item: Any) -> int:
    """The bytes an engine.io packet's data holds (0 for None, the writer's end marker)."""
    data = getattr(item, "data", None)
    return len(data) if isinstance(data, (str, bytes)) else 0


logger = logging.getLogger("tandem.accel.engineio_socket")  # the clock logs as part of the sockets

# A SocketClock entry is due this much before its time: the loop's timers are no finer.
_EARLY = 0.001
_PING, _RECEIVE = 0, 1


class SocketClock:
    """One timer for every ClockedSocket of an engine.io server: their next pings and their
    receive timeouts, on one heap of `(when, sid, kind)`.

    The library gives each socket a task that sleeps until the next ping and wraps each
    receive in a timeout; a timer handle per socket for each would still cost about 1.3 KB
    per idle connection (uvloop's handle, its libuv timer, asyncio's Timeout). Here a socket
    costs two heap entries and the loop holds one timer, set for the earliest entry.
    Entries name the socket by sid, so a closed socket is not kept alive by its entries:
    they are dropped when they come due and the sid is no longer one of the server's.

    - a ping entry is due `ping_interval` after `schedule_ping` (as the library's sleep; a socket's
      first ping somewhat sooner, see `ClockedSocket.schedule_ping`);
      it fires only if it is still the socket's `_ping_at`;
    - a receive entry checks the socket's current wait: a wait that began
      `ping_interval + ping_timeout` ago or more is ended as a timeout (the socket's task is
      cancelled and the cancellation taken back, as `asyncio.timeout` does); otherwise the
      entry comes back for when the current (or next) wait would time out.
    """

    __slots__ = ("_handle", "_heap", "_when", "loop", "server")

    def __init__(self, server: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self._heap: list[tuple[float, str, int]] = []
        self._handle: asyncio.TimerHandle | None = None
        self._when = 0.0

    @classmethod
    def of(cls, server: Any) -> SocketClock:
        """The server's clock on the running loop (a new one if the server moved to another loop)."""
        loop = asyncio.get_running_loop()
        clock = getattr(server, "_tandem_clock", None)
        if clock is None or clock.loop is not loop:
            clock = server._tandem_clock = cls(server, loop)
        return clock

    def ping_later(self, socket: ClockedSocket, delay: float | None = None) -> None:
        when = self.loop.time() + (self.server.ping_interval if delay is None else delay)
        socket._ping_at = when
        self._push(when, socket.sid, _PING)

    def watch_receives(self, socket: ClockedSocket) -> None:
        self._push(self.loop.time() + self.receive_timeout(), socket.sid, _RECEIVE)

    def receive_timeout(self) -> float:
        return self.server.ping_interval + self.server.ping_timeout

    def pending(self) -> int:
        return len(self._heap)

    def _push(self, when: float, sid: str, kind: int) -> None:
        heapq.heappush(self._heap, (when, sid, kind))
        if self._handle is None or when < self._when:
            self._arm(when)

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._when = when
        self._handle = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        heap, sockets = self._heap, self.server.sockets
        now = self.loop.time()
        while heap and heap[0][0] <= now + _EARLY:
            when, sid, kind = heapq.heappop(heap)
            socket = sockets.get(sid)
            if not hasattr(socket, "_receive_check"):  # not a ClockedSocket: closed and gone
                continue  # its entries end here
            try:
                if kind == _PING:
                    if socket._ping_at == when:
                        socket._ping_at = None
                        socket._ping_due()
                else:
                    socket._receive_check(self, now)
            except Exception:  # one socket's failure must not stop the others' clock
                logger.exception("socket clock: %s", sid)
        # (an entry pushed above may have set the timer for itself, later than the head)
        if heap and (self._handle is None or heap[0][0] < self._when):
            self._arm(heap[0][0])
