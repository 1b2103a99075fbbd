"""Tandem's Socket.IO client managers.

`LocalDelivery` sits directly above `FrameFanout` (python-socketio's AsyncManager
with a broadcast written as one shared frame per socket: realtime/fanout.py), so it is
the local delivery step both in-process and behind Redis (the pub/sub manager
calls it for every emit that reaches this instance). It adds one thing:
*holds*. While a socket's replay runs, live events for that room are buffered
for it instead of sent, then flushed after the replay, so a client sees a
room's events in seq order (SPEC §5.2–5.3). And *floors*: the dispatcher
commits a batch to the log before it publishes it, so a replay can send an
event whose live copy is published only after the hold was released; the
floor (the last seq the replay sent that socket) drops such late copies.

`emit_many` emits a batch of broadcasts in order and returns once every instance
can have them: in-process at once; behind Redis once Redis accepted every
PUBLISH. `TandemRedisManager` sends what it publishes in one pipeline per
event-loop pass (one round trip, in call order) and each caller awaits the
flush of the pipeline that carries its message, so the dispatcher counts an
event as published only after Redis has it (SPEC §5.1), and a burst leaves
together, which lets the receiving instances join its frames into one write
per socket.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Sequence
from typing import Any

import socketio
from socketio.async_manager import AsyncManager
from socketio.packet import Packet

from tandem.realtime.fanout import FrameFanout

logger = logging.getLogger("tandem.realtime")

Broadcast = tuple[str, Any, str]  # event, data, room


class LocalDelivery(FrameFanout):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holds: dict[str, dict[str, list[tuple[str, Any]]]] = {}  # room -> sid -> buffered
        self._floors: dict[str, dict[str, int]] = {}  # room -> sid -> last seq its replay sent

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

    async def emit(self, event: str, data: Any, namespace: str, room: str | None = None,
                   skip_sid: Any = None, callback: Any = None, to: str | None = None, **kwargs: Any) -> None:
        room = to or room
        held = self._holds.get(room) if room is not None else None
        floors = self._floors.get(room) if room is not None else None
        seq = data.get("seq") if isinstance(data, dict) else None
        if held or (floors and seq is not None):
            skip = list(skip_sid) if isinstance(skip_sid, list) else ([skip_sid] if skip_sid else [])
            members = self.rooms.get(namespace or "/", {}).get(room, {})
            for sid, buffer in (held or {}).items():
                if sid in members:
                    buffer.append((event, data))
                    skip.append(sid)
            if floors and seq is not None:
                for sid, floor in list(floors.items()):
                    if seq <= floor:
                        skip.append(sid)
                    else:  # the log is published in seq order: nothing at or below the floor comes later
                        self._drop_floor(room, sid)
            skip_sid = skip
        await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs)

    async def emit_many(self, items: Sequence[Broadcast], namespace: str = "/") -> None:
        """Emit each (event, data, room) in order. In one process, delivery is all there is."""
        if len(items) > 1:
            self.join_next()
        for event, data, room in items:
            await self.emit(event, data, namespace, room=room)


class TandemManager(LocalDelivery):
    """One process: in-process fan-out."""


class TandemRedisManager(socketio.AsyncRedisManager, LocalDelivery):
    """Several instances: Redis pub/sub fan-out, local delivery through LocalDelivery.

    Every message this manager publishes (emits, and python-socketio's disconnect, room and
    callback messages) joins one queue; a flusher sends what queued during an event-loop pass
    in one pipeline, waits for Redis's replies, then sends the next, so messages reach Redis
    in the order they were published, whichever coroutine published them. `_publish` (one
    emit) waits for its pipeline and, as python-socketio's does, logs a failure; `emit_many`
    waits for its pipelines and raises it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued: list[str] = []
        self._queued_flush: asyncio.Future[None] | None = None  # resolved when `_queued` reached Redis
        self._flusher: asyncio.Task[None] | None = None

    async def emit_many(self, items: Sequence[Broadcast], namespace: str = "/") -> None:
        """Deliver each broadcast here and publish it to the other instances, in order; return
        once Redis accepted every one of them, or raise if it did not."""
        flushes: list[asyncio.Future[None]] = []
        if len(items) > 1:
            self.join_next()
        for event, data, room in items:
            message = self._emit_message(event, data, namespace, room)
            await self._handle_emit(message)  # this instance's clients, as AsyncPubSubManager.emit
            flush = self._queue(message)
            if not flushes or flushes[-1] is not flush:
                flushes.append(flush)
        for flush in flushes:
            await asyncio.shield(flush)  # a cancelled caller must not cancel the others' flush

    async def _publish(self, data: Any) -> None:
        try:
            await asyncio.shield(self._queue(data))
        except Exception as exc:  # noqa: BLE001 - python-socketio's _publish logs and gives up too
            logger.error("cannot publish to redis, giving up", extra={"redis_exception": str(exc)})

    def _emit_message(self, event: str, data: Any, namespace: str, room: str) -> dict[str, Any]:
        """The message AsyncPubSubManager.emit publishes for a broadcast without callback."""
        data = list(data) if isinstance(data, tuple) else [data]
        binary = Packet.data_is_binary(data)
        if binary:
            data, attachments = Packet.deconstruct_binary(data)
            data = [data, *[base64.b64encode(a).decode() for a in attachments]]
        return {"method": "emit", "event": event, "data": data, "binary": binary, "namespace": namespace or "/",
                "room": room, "skip_sid": None, "callback": None, "host_id": self.host_id}

    def _queue(self, message: dict[str, Any]) -> asyncio.Future[None]:
        """Queue `message` for the next pipeline; the future resolves when that pipeline is flushed."""
        self._queued.append(self.json.dumps(message))
        if self._queued_flush is None:
            flush = self._queued_flush = asyncio.get_running_loop().create_future()
            flush.add_done_callback(_retrieve)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_queued(), name="tandem-redis-publish")
        return self._queued_flush

    async def _flush_queued(self) -> None:
        try:
            while self._queued:
                messages, self._queued = self._queued, []
                flush, self._queued_flush = self._queued_flush, None
                assert flush is not None
                try:
                    await self._send(messages)
                except asyncio.CancelledError:
                    flush.cancel()
                    raise
                except Exception as exc:  # noqa: BLE001 - handed to every caller waiting for this pipeline
                    flush.set_exception(exc)
                else:
                    flush.set_result(None)
        finally:
            self._flusher = None
            if self._queued_flush is not None:  # cancelled (shutdown) with messages queued: they are not sent
                self._queued_flush.cancel()
                self._queued_flush, self._queued = None, []

    async def _send(self, messages: list[str]) -> None:
        """PUBLISH every message in one pipeline; reconnect and try once more, as python-socketio does."""
        for retries_left in (1, 0):
            try:
                if not self.connected:
                    self._redis_connect()
                async with self.redis.pipeline(transaction=False) as pipe:
                    for message in messages:
                        pipe.publish(self.channel, message)
                    await pipe.execute()
                return
            except Exception as exc:
                self.connected = False
                if not retries_left:
                    raise
                logger.warning("cannot publish to redis, retrying", extra={"redis_exception": str(exc)})


def _retrieve(flush: asyncio.Future[None]) -> None:
    """Mark a failed flush's exception as seen: its callers may all have been cancelled."""
    if not flush.cancelled():
        flush.exception()


def make_manager(redis_url: str) -> AsyncManager:
    if redis_url:
        return TandemRedisManager(redis_url, channel="tandem:socketio")
    return TandemManager()
