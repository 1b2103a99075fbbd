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
"""

from __future__ import annotations

from typing import Any

import socketio
from socketio.async_manager import AsyncManager

from tandem.realtime.fanout import FrameFanout


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


class TandemManager(LocalDelivery):
    """One process: in-process fan-out."""


class TandemRedisManager(socketio.AsyncRedisManager, LocalDelivery):
    """Several instances: Redis pub/sub fan-out, local delivery through LocalDelivery."""


def make_manager(redis_url: str) -> AsyncManager:
    if redis_url:
        return TandemRedisManager(redis_url, channel="tandem:socketio")
    return TandemManager()
