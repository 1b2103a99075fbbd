"""Who is online, across every socket of every instance.

A person is online while any of their sockets is connected. Going offline
waits a short grace period so a page reload does not flap. Transitions are
decided atomically (one Python process, or one Redis script), so exactly one
instance announces each change. In Redis every key starts with the configured
prefix and expires unless a live instance refreshes it, so an instance that
crashed leaves nothing behind for good. One process without Redis keeps who is
online across a graceful restart in a file of its data directory, so the
reconnect storm after it announces nothing to anyone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import orjson
from redis.exceptions import RedisError

from tandem.kit.redis_client import command_client

logger = logging.getLogger("tandem.presence")

Announce = Callable[[str, bool], Awaitable[None]]  # (user_id, online)

_CONNECT = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[3])
local became = redis.call('SET', KEYS[2], '1', 'NX')
for _, key in ipairs(KEYS) do redis.call('EXPIRE', key, ARGV[4]) end
if became then return 1 end
return 0
"""

_DISCONNECT = """
redis.call('ZREM', KEYS[1], ARGV[1])
"""

_SETTLE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[2])
  return redis.call('DEL', KEYS[2])
end
return 0
"""


class LocalPresence:
    """Presence in this process. With `saved` (a file), a restart keeps it: `stop` writes who is
    online, and `start` takes them back as online for `restart_grace` seconds, so the people who
    reconnect are announced nothing (nobody was told they left) and those who do not come back
    are announced offline then."""

    def __init__(
        self,
        announce: Announce,
        grace_seconds: float,
        saved: Path | None = None,
        restart_grace: float = 60.0,
    ) -> None:
        self.announce = announce
        self.grace = grace_seconds
        self.saved = saved
        self.restart_grace = restart_grace
        self._sockets: dict[str, set[str]] = {}
        self._online: set[str] = set()
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        if self.saved is None:
            return
        try:
            raw = self.saved.read_bytes()
            self.saved.unlink()
            online = orjson.loads(raw)["online"]
            if not isinstance(online, list) or not all(isinstance(u, str) for u in online):
                raise ValueError("online is not a list of user ids")
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning(
                "presence saved at the last stop is unreadable", extra={"error": str(exc)}
            )
            return
        self._online.update(online)
        for user_id in online:
            self._later(self._settle(user_id, self.restart_grace))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.saved is not None and self._online:
            try:
                partial = self.saved.with_suffix(".partial")
                partial.write_bytes(orjson.dumps({"online": sorted(self._online)}))
                partial.replace(self.saved)
            except OSError as exc:
                logger.warning("could not save presence at stop", extra={"error": str(exc)})

    async def connected(self, user_id: str, sid: str) -> None:
        self._sockets.setdefault(user_id, set()).add(sid)
        if user_id not in self._online:
            self._online.add(user_id)
            await self.announce(user_id, True)

    async def disconnected(self, user_id: str, sid: str) -> None:
        sids = self._sockets.get(user_id)
        if sids is not None:
            sids.discard(sid)
        self._later(self._settle(user_id, self.grace))

    def _later(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, user_id: str, after: float) -> None:
        """After `after` seconds, announce the person offline if none of their sockets is here."""
        await asyncio.sleep(after)
        if not self._sockets.get(user_id) and user_id in self._online:
            self._sockets.pop(user_id, None)
            self._online.discard(user_id)
            await self.announce(user_id, False)

    async def online(self, user_ids: Iterable[str]) -> set[str]:
        return {u for u in user_ids if u in self._online}


class RedisPresence(LocalPresence):
    """Presence shared by every instance. Each socket entry expires unless its instance refreshes it."""

    TTL = 30.0
    REFRESH = 10.0
    # The keys outlive their entries by a few sweeps, so a live instance still finds a crashed
    # one's people in the online set and announces them offline before the keys vanish.
    KEY_TTL = int(TTL + 3 * REFRESH)

    def __init__(
        self,
        announce: Announce,
        grace_seconds: float,
        url: str,
        instance_id: str,
        prefix: str = "tandem",
    ) -> None:
        super().__init__(announce, grace_seconds)
        self._redis = command_client(url)
        self.instance_id = instance_id
        self.prefix = prefix
        self._online_users = f"{prefix}:online-users"
        self._connect = self._redis.register_script(_CONNECT)
        self._disconnect = self._redis.register_script(_DISCONNECT)
        self._settle_script = self._redis.register_script(_SETTLE)
        self._sweeper: asyncio.Task | None = None
        self._leaving: dict[str, int] = {}  # person -> settles pending after a socket here closed

    def _keys(self, user_id: str) -> list[str]:
        return [
            f"{self.prefix}:presence:{user_id}",
            f"{self.prefix}:online:{user_id}",
            self._online_users,
        ]

    def _member(self, sid: str) -> str:
        return f"{self.instance_id}:{sid}"

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name="tandem-presence")

    async def stop(self) -> None:
        await super().stop()
        if self._sweeper:
            self._sweeper.cancel()
        # This instance's sockets are gone: drop them, and settle the people still in their grace,
        # so they go offline now and their keys go with them, not at expiry.
        for user_id, sids in list(self._sockets.items()):
            for sid in sids:
                try:
                    await self._disconnect(keys=self._keys(user_id), args=[self._member(sid)])
                except Exception:
                    pass
            self._leaving.setdefault(user_id, 0)
        for user_id in list(self._leaving):
            try:
                await self._settle_now(user_id)
            except Exception:
                pass
        await self._redis.aclose()

    async def connected(self, user_id: str, sid: str) -> None:
        self._sockets.setdefault(user_id, set()).add(sid)
        became = await self._connect(
            keys=self._keys(user_id),
            args=[self._member(sid), time.time() + self.TTL, user_id, self.KEY_TTL],
        )
        if became:
            await self.announce(user_id, True)

    async def disconnected(self, user_id: str, sid: str) -> None:
        sids = self._sockets.get(user_id)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                self._sockets.pop(user_id, None)
        try:
            await self._disconnect(keys=self._keys(user_id), args=[self._member(sid)])
        except RedisError as exc:
            # The socket is gone all the same. Its entry is no longer refreshed: it expires, and a
            # sweep then settles the person.
            logger.warning(
                "presence unreachable; a socket's entry is left to expire",
                extra={"redis_exception": str(exc)},
            )
            return
        self._leaving[user_id] = self._leaving.get(user_id, 0) + 1
        self._later(self._settle_after_grace(user_id))

    async def _settle_after_grace(self, user_id: str) -> None:
        await asyncio.sleep(self.grace)
        await self._settle_now(user_id)
        if self._leaving.get(user_id, 0) <= 1:
            self._leaving.pop(user_id, None)
        else:
            self._leaving[user_id] -= 1

    async def _settle_now(self, user_id: str) -> None:
        if await self._settle_script(keys=self._keys(user_id), args=[time.time(), user_id]):
            await self.announce(user_id, False)

    async def online(self, user_ids: Iterable[str]) -> set[str]:
        ids = list(user_ids)
        if not ids:
            return set()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id in ids:
                    pipe.exists(f"{self.prefix}:online:{user_id}")
                flags = await pipe.execute()
        except RedisError as exc:
            # A snapshot must not fail because presence is unreachable: answer with what this
            # instance sees itself; presence events correct the picture once Redis is back.
            logger.warning(
                "presence unreachable; answering from this instance's sockets",
                extra={"redis_exception": str(exc)},
            )
            return {u for u in ids if u in self._sockets}
        return {u for u, f in zip(ids, flags, strict=True) if f}

    async def _sweep(self) -> None:
        """Refresh this instance's entries; settle people whose every entry expired (a crashed instance)."""
        while True:
            await asyncio.sleep(self.REFRESH)
            try:
                expires = time.time() + self.TTL
                async with self._redis.pipeline(transaction=False) as pipe:
                    for user_id, sids in self._sockets.items():
                        keys = self._keys(user_id)
                        for sid in sids:
                            pipe.zadd(keys[0], {self._member(sid): expires})
                        for key in keys:
                            pipe.expire(key, self.KEY_TTL)
                    await pipe.execute()
                for raw in await self._redis.smembers(self._online_users):
                    await self._settle_now(raw.decode() if isinstance(raw, bytes) else raw)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(1)
