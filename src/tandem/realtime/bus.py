"""The control bus: small messages every instance must act on.

Evict a user from an organization's rooms, close the sockets of a login that
logged out, wake the dispatcher, tell long-pollers that events were published,
drop cached flags. In-process on one machine; Redis pub/sub across instances.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from tandem.kit.redis_client import command_client

log = logging.getLogger("tandem.bus")

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class LocalBus:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def publish(self, message: dict[str, Any]) -> None:
        for handler in self._handlers:
            try:
                await handler(message)
            except Exception:  # one bad handler must not stop the others
                log.exception("bus handler failed", extra={"bus_message": message.get("type")})

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class RedisBus(LocalBus):
    """Publishes to Redis; every instance (this one included) handles what arrives."""

    def __init__(self, url: str, prefix: str = "tandem") -> None:
        super().__init__()
        self._redis = command_client(url)
        self.channel = f"{prefix}:control"
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def publish(self, message: dict[str, Any]) -> None:
        await self._redis.publish(self.channel, orjson.dumps(message))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="tandem-bus")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def _listen(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self._ready.set()
                async for item in pubsub.listen():
                    if item.get("type") != "message":
                        continue
                    await LocalBus.publish(self, orjson.loads(item["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("redis bus connection lost; reconnecting")
                await asyncio.sleep(0.5)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:
                    pass

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self._redis.aclose()
