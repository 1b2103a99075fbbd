"""Tandem's Socket.IO client managers: local delivery with replay holds and floors, in-process or
behind Redis.

`LocalDelivery` (above `accel.frame_fanout.FrameFanout`, which is python-socketio's AsyncManager
when the accelerator is off) is the local delivery step both in-process and behind Redis. It adds
*holds*: while a socket's replay runs, live events for that room are buffered for it and flushed
after the replay, so a client sees a room's events in seq order (SPEC §5.2–5.3); and *floors*: the
dispatcher commits a batch to the log before it publishes it, so a replay can send an event whose
live copy arrives after the hold was released, and the floor (the last seq the replay sent that
socket) drops such late copies. `emit_many` emits a batch in order and returns once every instance
can have it: in-process at once, behind Redis once Redis accepted every PUBLISH (SPEC §5.1).

It also bounds slow consumers: a socket whose queued-but-unwritten data passes
`TANDEM_SOCKET_MAX_BUFFER_PACKETS` or `TANDEM_SOCKET_MAX_BUFFER_BYTES` (a client that stopped
reading or polling) first loses its ephemeral events (no `seq`: presence, typing; a newer value
replaces an older one of the same thing still queued, and from half the bound on the others are
dropped), then, if durable ones still do not fit, is closed; its client reconnects and replays from its last seq (SPEC §5.3).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import socketio
from socketio.async_manager import AsyncManager

from tandem.accel.frame_fanout import FrameFanout
from tandem.accel.redis_pipeline import PipelinedPublish, PublishFailed
from tandem.accel.room_index import RoomIndex
from tandem.config import Settings
from tandem.realtime.envelope import superseding_key

if TYPE_CHECKING:
    from tandem.realtime.metrics import Metrics

logger = logging.getLogger("tandem.realtime")

Broadcast = tuple[str, Any, str]  # event, data, room


ANSWER_PACKETS = 4


class LocalDelivery(RoomIndex, FrameFanout):
    @property
    def caught_up(self) -> bool:
        """In one process every event is delivered here as it is published: nothing to catch up on."""
        return True

    async def start(self) -> None:
        """Ready before the instance serves (a manager behind Redis subscribes here)."""
        return None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holds: dict[str, dict[str, list[tuple[str, Any]]]] = {}  # room -> sid -> buffered
        self._floors: dict[str, dict[str, int]] = {}  # room -> sid -> last seq its replay sent
        defaults = Settings.model_fields
        self.max_buffer_packets: int = defaults["socket_max_buffer_packets"].default
        self.max_buffer_bytes: int = defaults["socket_max_buffer_bytes"].default
        self.metrics: Metrics | None = None
        self._shedding: set[str] = set()  # engine.io sids being closed as slow consumers
        self._closing: set[asyncio.Task[None]] = set()
        # Told of each event dropped for a socket (its sid, room and name): the runtime counts
        # them toward the room's organization.
        self.on_dropped: Callable[[str, str, str], None] | None = None

    def configure(self, settings: Settings, metrics: Metrics | None) -> None:
        """Each socket's outbound bound, and where drops and slow-consumer closes are counted."""
        self.max_buffer_packets = settings.socket_max_buffer_packets
        self.max_buffer_bytes = settings.socket_max_buffer_bytes
        self.metrics = metrics

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
        """Whether an event may be queued for a socket. An ephemeral value takes the place of an
        older one of the same thing still queued (`key`). Past half its outbound bound, other
        ephemeral events are dropped; past the bound, a durable one first makes room by dropping
        the ephemeral ones queued, and failing that closes the socket (its client replays what it
        missed)."""
        if eio_sid in self._shedding:
            return False
        if key is not None and self.drop_superseded(socket, key):
            if self.metrics is not None:
                self.metrics.coalesced.labels(event).inc()
            return True
        packets, nbytes = self.backlog(eio_sid, socket)
        max_packets, max_bytes = self.max_buffer_packets, self.max_buffer_bytes
        if packets * 2 < max_packets and nbytes * 2 < max_bytes:
            return True
        if ephemeral:  # past half the bound: ephemeral events are the first to go
            self._count_dropped(sid, event, room)
            return False
        if packets < max_packets and nbytes < max_bytes:
            return True
        dropped = self.drop_ephemeral(socket)
        for name, dropped_room in dropped:
            self._count_dropped(sid, name, dropped_room)
        if dropped:
            packets, nbytes = self.backlog(eio_sid, socket)
            if packets < self.max_buffer_packets and nbytes < self.max_buffer_bytes:
                return True
        self._shed(sid, eio_sid, socket, packets, nbytes)
        return False

    def admit_answer(self, eio_sid: str, socket: Any) -> bool:
        """Whether an ack may be queued for a socket. Answers are small and a burst of events read
        in one go is answered in one go, so they may queue `ANSWER_PACKETS` times the packet bound;
        past that, or past the byte bound, the client is not reading them and the socket is closed."""
        if eio_sid in self._shedding:
            return False
        packets, nbytes = self.backlog(eio_sid, socket)
        if packets < self.max_buffer_packets * ANSWER_PACKETS and nbytes < self.max_buffer_bytes:
            return True
        self._shed(eio_sid, eio_sid, socket, packets, nbytes)
        return False

    def superseding(self, event: str, data: Any) -> str | None:
        return superseding_key(event, data)

    def _count_dropped(self, sid: str, event: str, room: str | None) -> None:
        if self.metrics is not None:
            self.metrics.dropped.labels(event).inc()
        if self.on_dropped is not None and room is not None:
            self.on_dropped(sid, room, event)

    def _shed(self, sid: str, eio_sid: str, socket: Any, packets: int, nbytes: int) -> None:
        self._shedding.add(eio_sid)
        if self.metrics is not None:
            self.metrics.slow_consumer_disconnects.inc()
        logger.warning(
            "closing a slow consumer: %d packets, %d bytes queued unwritten",
            packets,
            nbytes,
            extra={"sid": sid, "reason": "slow_consumer"},
        )
        task = asyncio.ensure_future(self._close_slow(eio_sid, socket))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_slow(self, eio_sid: str, socket: Any) -> None:
        """Close the engine.io session (not only Socket.IO's: its client reconnects on its own),
        without waiting for a client that does not read, and free what it had queued."""
        try:
            eio = self.server.eio
            if not socket.closed:
                self.abort_connection(eio_sid, socket)
                await socket.close(wait=False, abort=True, reason=eio.reason.TRANSPORT_ERROR)
            if eio.sockets.get(eio_sid) is socket:
                del eio.sockets[eio_sid]
            queue = socket.queue
            while not queue.empty():
                queue.get_nowait()
                queue.task_done()
        except Exception:
            logger.exception("closing a slow consumer failed", extra={"sid": eio_sid})
        finally:
            self._shedding.discard(eio_sid)

    def _bound_stock(self, event: str, data: Any, namespace: str, room: str, skip: list) -> None:
        """The library's delivery (fan-out accelerator off): the same bound, on the engine.io
        socket's public queue length, before the library queues the event."""
        members = self.rooms.get(namespace or "/", {}).get(room)
        if not members:
            return
        ephemeral = not (isinstance(data, dict) and "seq" in data)
        sockets = self.server.eio.sockets
        for sid, eio_sid in list(members.items()):
            if sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            if not self.admit(sid, eio_sid, socket, event, ephemeral, room):
                skip.append(sid)

    def hold(self, sid: str, room: str) -> None:
        self._holds.setdefault(room, {})[sid] = []

    def take_held(self, sid: str, room: str) -> list[tuple[str, Any]]:
        """Return what was buffered so far; the hold stays until `release`."""
        held = self._holds.get(room, {}).get(sid)
        if not held:
            return []
        out = list(held)
        held.clear()
        return out

    def release(self, sid: str, room: str, floor: int | None = None) -> None:
        """End the hold; live events of `room` at or below `floor` are not sent to `sid` again."""
        by_sid = self._holds.get(room)
        if by_sid is not None:
            by_sid.pop(sid, None)
            if not by_sid:
                del self._holds[room]
        if floor is not None:
            self._floors.setdefault(room, {})[sid] = floor

    def release_all(self, sid: str) -> None:
        for room in [r for r, by_sid in self._holds.items() if sid in by_sid]:
            self.release(sid, room)
        for room in [r for r, by_sid in self._floors.items() if sid in by_sid]:
            self._drop_floor(room, sid)

    def _drop_floor(self, room: str, sid: str) -> None:
        by_sid = self._floors.get(room)
        if by_sid is not None:
            by_sid.pop(sid, None)
            if not by_sid:
                del self._floors[room]

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        room = to or room
        held = self._holds.get(room) if room is not None else None
        floors = self._floors.get(room) if room is not None else None
        seq = data.get("seq") if isinstance(data, dict) else None
        if held or (floors and seq is not None):
            skip = (
                list(skip_sid) if isinstance(skip_sid, list) else ([skip_sid] if skip_sid else [])
            )
            members = self.rooms.get(namespace or "/", {}).get(room, {})
            for sid, buffer in (held or {}).items():
                if sid in members:
                    buffer.append((event, data))
                    skip.append(sid)
            if floors and seq is not None and room is not None:
                for sid, floor in list(floors.items()):
                    if seq <= floor:
                        skip.append(sid)
                    else:  # the log is published in seq order: nothing at or below the floor comes later
                        self._drop_floor(room, sid)
            skip_sid = skip
        if not self.fast_fanout and room is not None and callback is None and isinstance(room, str):
            skip = (
                list(skip_sid) if isinstance(skip_sid, list) else ([skip_sid] if skip_sid else [])
            )
            self._bound_stock(event, data, namespace, room, skip)
            skip_sid = skip or None
        await super().emit(
            event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
        )

    async def emit_many(self, items: Sequence[Broadcast], namespace: str = "/") -> None:
        """Emit each (event, data, room) in order. In one process, delivery is all there is."""
        if len(items) > 1:
            self.join_next()
        for event, data, room in items:
            await self.emit(event, data, namespace, room=room)


class TandemManager(LocalDelivery):
    """One process: in-process fan-out."""


class TandemRedisManager(PipelinedPublish, socketio.AsyncRedisManager, LocalDelivery):
    """Several instances: Redis pub/sub fan-out (accel/redis_pipeline.py), local delivery through
    LocalDelivery.

    Redis pub/sub keeps nothing for a subscriber that is away: whatever other instances published
    while this one's subscription was down never reaches its sockets, and no seq gap tells their
    clients (seqs are global, so gaps are normal). So `_listen` — the method python-socketio's
    pub/sub managers leave to their subclasses — owns its connection, with no silent reconnect
    inside redis-py, and once subscribed (at start, and again after any break) it calls
    `on_resubscribed`: the gateway closes its local sockets, whose clients reconnect and replay
    from their last seq (SPEC §5.3). Until that has run, `caught_up` is false and `emit_many`
    refuses a batch before delivering any of it here: a later event delivered to a socket that
    missed an earlier one would move its client's cursor past the gap, and its replay would
    start after it.
    """

    LISTEN_RETRY_MAX_SECONDS = 5.0
    SUBSCRIBE_TIMEOUT_SECONDS = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_resubscribed: Callable[[], Awaitable[None]] | None = None
        self.resubscriptions = 0
        self._listening = False
        self._caught_up = asyncio.Event()

    @property
    def caught_up(self) -> bool:
        """Subscribed, and this instance's sockets closed for whatever the subscription missed."""
        return self._caught_up.is_set()

    @property
    def listener_name(self) -> str:
        """The name the subscription's connection gives itself (Redis `CLIENT LIST`)."""
        return f"{self.channel}:listener:{self.host_id}"

    def initialize(self) -> None:
        """Start listening; python-socketio calls this at the first connect, `start` earlier."""
        if not self._listening:
            self._listening = True
            super().initialize()

    async def start(self, timeout: float = 10.0) -> None:
        """Subscribe before the instance serves or publishes; raises if Redis does not answer."""
        self.initialize()
        await asyncio.wait_for(self._caught_up.wait(), timeout)

    async def _listen(self) -> AsyncIterator[bytes]:
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        channel = self.channel.encode()
        retry_in = 0.1
        interrupted = False
        while True:
            # No retries inside redis-py: a reconnect there would resubscribe without telling us.
            client = redis.from_url(
                self.redis_url,
                retry=Retry(NoBackoff(), 0),
                client_name=self.listener_name,
                **self.redis_options,
            )
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                await self._confirmed(pubsub)
                retry_in = 0.1
                if interrupted:
                    interrupted = False
                    self.resubscriptions += 1
                    logger.warning("redis subscription restored; local sockets catch up by replay")
                if self.on_resubscribed is not None:
                    await self.on_resubscribed()
                self._caught_up.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message" and message.get("channel") == channel:
                        yield message["data"]
                interrupted = True  # listen() ended: the subscription is gone
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure means the subscription broke
                interrupted = True
                logger.error(
                    "redis subscription lost; retrying in %.1f s",
                    retry_in,
                    extra={"redis_exception": str(exc)},
                )
            finally:
                self._caught_up.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(retry_in)
            retry_in = min(retry_in * 2, self.LISTEN_RETRY_MAX_SECONDS)

    async def _confirmed(self, pubsub: Any) -> None:
        """Wait for Redis to confirm the SUBSCRIBE: from then on nothing published is missed here."""
        deadline = asyncio.get_running_loop().time() + self.SUBSCRIBE_TIMEOUT_SECONDS
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("redis did not confirm the subscription")
            reply = await pubsub.get_message(timeout=left)
            if reply is not None and reply.get("type") == "subscribe":
                return

    async def emit_many(self, items: Sequence[Broadcast], namespace: str = "/") -> None:
        """Deliver each broadcast here and publish it to the other instances, in order; return
        once Redis accepted every one of them, or raise if it did not, or if this instance's
        sockets have not caught up with what its subscription missed (nothing is delivered)."""
        if not self.caught_up:
            raise PublishFailed("this instance's redis subscription has not caught up")
        if len(items) > 1:
            self.join_next()
        await self.publish_batch(list(items), namespace)


def make_manager(redis_url: str, prefix: str = "tandem") -> AsyncManager:
    if redis_url:
        return TandemRedisManager(redis_url, channel=f"{prefix}:socketio")
    return TandemManager()
