"""Publishing through Redis in one pipeline per event-loop pass, for python-socketio's AsyncRedisManager.

`PipelinedPublish` is mixed in before `socketio.AsyncRedisManager`: every message the manager
publishes (emits, and python-socketio's disconnect, room and callback messages) joins one queue,
and a flusher sends what queued during an event-loop pass in one pipeline, waits for Redis's
replies, then sends the next, so messages reach Redis in the order they were published, whichever
coroutine published them, and a burst leaves together (the receiving instances can then join its
frames into one write per socket). When the accelerator is off every message goes through the
library's own `_publish`, one PUBLISH each; `publish_batch` still returns only once Redis took
every message and raises if it did not, on either path.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

from socketio.packet import Packet

from tandem import accel

NAME = "redis_pipeline"
accel.register(
    accel.Accelerator(
        NAME,
        "what the Socket.IO manager publishes to Redis leaves in one pipeline per event-loop pass",
        {"python-socketio": "5.18.1", "redis": "8.1.0"},
    )
)

logger = logging.getLogger("tandem.realtime")


class PublishFailed(ConnectionError):
    """Redis did not take a message (python-socketio's `_publish` logged why and gave up)."""


class PipelinedPublish:
    """Mix in before `socketio.AsyncRedisManager`. `_publish` (one emit) waits for its pipeline and,
    as python-socketio's does, logs a failure; `publish_batch` waits for its pipelines and raises it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pipelined = accel.enabled(NAME)
        self._queued: list[str] = []
        self._queued_flush: asyncio.Future[None] | None = (
            None  # resolved when `_queued` reached Redis
        )
        self._flusher: asyncio.Task[None] | None = None

    async def publish_batch(self, items: list[tuple[str, Any, str]], namespace: str = "/") -> None:
        """Deliver each (event, data, room) here and publish it to the other instances, in order;
        return once Redis accepted every one of them, or raise if it did not."""
        flushes: list[asyncio.Future[None]] = []
        for event, data, room in items:
            message = self.emit_message(event, data, namespace, room)
            await self._handle_emit(message)  # type: ignore[attr-defined]  # this instance's clients
            if not self.pipelined:
                # python-socketio's own PUBLISH; it returns None only when it gave up
                if await super()._publish(message) is None:  # type: ignore[misc]
                    raise PublishFailed("cannot publish to redis")
                continue
            flush = self._queue(message)
            if not flushes or flushes[-1] is not flush:
                flushes.append(flush)
        for flush in flushes:
            await asyncio.shield(flush)  # a cancelled caller must not cancel the others' flush

    async def _publish(self, data: Any) -> Any:
        if not self.pipelined:
            return await super()._publish(data)  # type: ignore[misc]
        try:
            await asyncio.shield(self._queue(data))
        except Exception as exc:
            logger.error("cannot publish to redis, giving up", extra={"redis_exception": str(exc)})
        return None

    def emit_message(self, event: str, data: Any, namespace: str, room: str) -> dict[str, Any]:
        """The message AsyncPubSubManager.emit publishes for a broadcast without callback."""
        data = list(data) if isinstance(data, tuple) else [data]
        binary = Packet.data_is_binary(data)
        if binary:
            data, attachments = Packet.deconstruct_binary(data)
            data = [data, *[base64.b64encode(a).decode() for a in attachments]]
        return {
            "method": "emit",
            "event": event,
            "data": data,
            "binary": binary,
            "namespace": namespace or "/",
            "room": room,
            "skip_sid": None,
            "callback": None,
            "host_id": self.host_id,
        }  # type: ignore[attr-defined]

    def _queue(self, message: dict[str, Any]) -> asyncio.Future[None]:
        """Queue `message` for the next pipeline; the future resolves when that pipeline is flushed."""
        self._queued.append(self.json.dumps(message))  # type: ignore[attr-defined]
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
                except Exception as exc:
                    flush.set_exception(exc)
                else:
                    flush.set_result(None)
        finally:
            self._flusher = None
            if (
                self._queued_flush is not None
            ):  # cancelled (shutdown) with messages queued: they are not sent
                self._queued_flush.cancel()
                self._queued_flush, self._queued = None, []

    async def _send(self, messages: list[str]) -> None:
        """PUBLISH every message in one pipeline; reconnect and try once more, as python-socketio does."""
        manager: Any = self
        for retries_left in (1, 0):
            try:
                if not manager.connected:
                    manager._redis_connect()
                async with manager.redis.pipeline(transaction=False) as pipe:
                    for message in messages:
                        pipe.publish(manager.channel, message)
                    await pipe.execute()
                return
            except Exception as exc:
                manager.connected = False
                if not retries_left:
                    raise
                logger.warning(
                    "cannot publish to redis, retrying", extra={"redis_exception": str(exc)}
                )


def _retrieve(flush: asyncio.Future[None]) -> None:
    """Mark a failed flush's exception as seen: its callers may all have been cancelled."""
    if not flush.cancelled():
        flush.exception()
