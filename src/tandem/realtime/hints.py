"""Ephemeral hints: "I am dragging this", "I am editing that" — held by a socket, alive a few
seconds unless refreshed, withdrawn when their sender says so, disconnects or leaves the room.

This instance keeps the hints of its own sockets and their timers; it announces every set,
refresh and end to the hint's room (through the socket manager, so every instance's sockets get
it). A shared view of the hints alive now, for snapshots, lives in Redis when configured (a sorted
set per room scored by expiry, so a crashed instance's hints vanish by themselves), else in this
process. An end is announced by whoever removes the hint from that view, so each end is announced
once even when a task's deletion on one instance ends hints held on another.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tandem.kit.redis_client import command_client

logger = logging.getLogger("tandem.hints")

TTL_SECONDS = 5.0


@dataclass(frozen=True)
class Hint:
    kind: str  # what the domain calls it: "lock", "typing"
    room: str
    subject: str  # what it is about (a task id)
    user_id: str
    detail: str | None = None  # e.g. which field

    def member(self, holder: str) -> str:
        """Its entry in the shared view: the hint and the socket holding it."""
        return orjson.dumps([self.kind, self.subject, self.user_id, self.detail, holder]).decode()

    @staticmethod
    def parse(room: str, member: str | bytes) -> Hint:
        kind, subject, user_id, detail, _holder = orjson.loads(member)
        return Hint(kind, room, subject, user_id, detail)


# (hint, alive, its lifetime in ms) -> sent to the hint's room
Announce = Callable[[Hint, bool, int], Awaitable[None]]


class LocalView:
    """The hints alive now, by room: this process alone."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, float]] = {}

    async def put(self, room: str, member: str, expires_at: float) -> None:
        self._rooms.setdefault(room, {})[member] = expires_at

    async def remove(self, room: str, member: str) -> bool:
        held = self._rooms.get(room)
        if held is None or held.pop(member, None) is None:
            return False
        if not held:
            del self._rooms[room]
        return True

    async def alive(self, room: str) -> list[tuple[str, float]]:
        now = time.time()
        return [(m, at) for m, at in self._rooms.get(room, {}).items() if at > now]

    async def close(self) -> None:
        self._rooms.clear()


class RedisView(LocalView):
    """The hints alive now on every instance sharing this Redis."""

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__()
        self._redis: Any = command_client(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix

    def key(self, room: str) -> str:
        return f"{self.prefix}:hints:{room}"

    async def put(self, room: str, member: str, expires_at: float) -> None:
        key = self.key(room)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", time.time())
            pipe.zadd(key, {member: expires_at})
            pipe.expire(key, int(TTL_SECONDS * 2) + 1)
            await pipe.execute()

    async def remove(self, room: str, member: str) -> bool:
        return bool(await self._redis.zrem(self.key(room), member))

    async def alive(self, room: str) -> list[tuple[str, float]]:
        found = await self._redis.zrangebyscore(
            self.key(room), time.time(), "+inf", withscores=True
        )
        return [(m.decode() if isinstance(m, bytes) else m, float(at)) for m, at in found]

    async def close(self) -> None:
        await self._redis.aclose()


@dataclass
class _Held:
    hint: Hint
    timer: asyncio.TimerHandle | None = None


@dataclass
class HintBoard:
    """The hints of this instance's sockets; `view` answers what is alive everywhere."""

    announce: Announce
    view: LocalView
    holder_prefix: str = ""  # this instance's id: a sid is unique only within an instance
    ttl: float = TTL_SECONDS
    _held: dict[str, dict[tuple[str, str], _Held]] = field(default_factory=dict)
    _tasks: set[asyncio.Task] = field(default_factory=set)

    @property
    def ttl_ms(self) -> int:
        return int(self.ttl * 1000)

    def _holder(self, sid: str) -> str:
        return f"{self.holder_prefix}:{sid}"

    async def put(self, sid: str, hint: Hint) -> None:
        """Set or refresh a socket's hint (one per kind and subject), and announce it."""
        held = self._held.setdefault(sid, {})
        key = (hint.kind, hint.subject)
        old = held.get(key)
        if old is not None:
            if old.timer is not None:
                old.timer.cancel()
            if old.hint != hint:  # the detail changed: the old entry goes
                await self._shared(
                    self.view.remove(old.hint.room, old.hint.member(self._holder(sid)))
                )
        entry = held[key] = _Held(hint)
        expires_at = time.time() + self.ttl
        await self._shared(self.view.put(hint.room, hint.member(self._holder(sid)), expires_at))
        entry.timer = asyncio.get_running_loop().call_later(self.ttl, self._lapse, sid, key, entry)
        await self.announce(hint, True, self.ttl_ms)

    async def _shared(self, work: Awaitable[Any]) -> Any:
        """The shared view's answer; when it is unreachable, None: the room is still told, only
        snapshots miss the hint meanwhile."""
        try:
            return await work
        except Exception as exc:
            logger.warning("hint view unreachable: %s", exc)
            return None

    def _lapse(self, sid: str, key: tuple[str, str], entry: _Held) -> None:
        if self._held.get(sid, {}).get(key) is not entry:
            return  # refreshed or withdrawn meanwhile
        self.later(self.withdraw(sid, key[0], key[1]))

    def later(self, work: Awaitable[Any]) -> None:
        """Run in the background (a timer, a commit hook); a failure is logged, not lost."""

        async def run() -> None:
            try:
                await work
            except Exception:
                logger.exception("ending a hint failed")

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def withdraw(self, sid: str, kind: str, subject: str) -> bool:
        """End a socket's hint; announced unless someone else ended it first. Whether it held one."""
        held = self._held.get(sid)
        entry = held.pop((kind, subject), None) if held is not None else None
        if held is not None and not held:
            del self._held[sid]
        if entry is None:
            return False
        await self._end(entry, self._holder(sid))
        return True

    async def _end(self, entry: _Held, holder: str) -> None:
        if entry.timer is not None:
            entry.timer.cancel()
        removed = await self._shared(self.view.remove(entry.hint.room, entry.hint.member(holder)))
        if removed is not False:  # removed here, or the view is down: tell the room
            await self.announce(entry.hint, False, 0)

    async def dropped(self, sid: str, room: str | None = None) -> None:
        """The socket left (`room`, or every room: it disconnected): its hints there end."""
        held = self._held.get(sid)
        if not held:
            return
        for key, entry in list(held.items()):
            if room is None or entry.hint.room == room:
                await self.withdraw(sid, *key)

    async def forget(self, room: str, subject: str) -> None:
        """The subject is gone (a task deleted): end every hint about it, on every instance."""
        for member, _at in await self._shared(self.view.alive(room)) or []:
            hint = Hint.parse(room, member)
            if hint.subject != subject:
                continue
            if await self._shared(self.view.remove(room, member)):
                await self.announce(hint, False, 0)
        for sid, held in list(self._held.items()):
            for key, entry in list(held.items()):
                if entry.hint.room == room and entry.hint.subject == subject:
                    held.pop(key, None)
                    if entry.timer is not None:
                        entry.timer.cancel()
            if not held:
                self._held.pop(sid, None)

    async def alive(self, room: str) -> list[tuple[Hint, int]]:
        """The hints alive now in the room, on every instance, each with its ms left."""
        now = time.time()
        return [
            (Hint.parse(room, member), max(0, int((at - now) * 1000)))
            for member, at in await self._shared(self.view.alive(room)) or []
        ]

    async def close(self) -> None:
        for held in self._held.values():
            for entry in held.values():
                if entry.timer is not None:
                    entry.timer.cancel()
        self._held.clear()
        await self.view.close()
