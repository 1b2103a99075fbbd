"""GET /api/events: the long-poll fallback, with the socket's events and authorization."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Query

from tandem.deps import ReadingCallerDep, RuntimeDep
from tandem.kit.errors import NotFound
from tandem.realtime import log as event_log
from tandem.realtime import rooms
from tandem.realtime.envelope import Model

router = APIRouter(tags=["events"])

PAGE = 500


class EventsOut(Model):
    events: list[dict[str, Any]]
    cursor: int
    resync: bool = False


@router.get("/events", response_model=EventsOut)
async def events(
    caller: ReadingCallerDep,
    runtime: RuntimeDep,
    room: str = Query(max_length=rooms.MAX_ROOM_LENGTH),
    after: int | None = Query(default=None, ge=0, le=event_log.MAX_SEQ),
    wait: float = Query(default=0, ge=0, le=60),
) -> EventsOut:
    """Events of a room after `after`, waiting up to `wait` seconds for the first one."""
    wait = min(wait, runtime.settings.longpoll_max_wait)
    deadline = time.monotonic() + wait
    while True:
        # A fresh short read each time: a waiting long-poll holds no transaction.
        async with runtime.db.read() as session:
            if await rooms.authorize(session, caller.id, room) is None:
                raise NotFound("room not found")
            latest = await event_log.latest_seq(session)
            if after is None:
                return EventsOut(events=[], cursor=latest)
            replay = await event_log.read_after(session, room, after, limit=PAGE, page=True)
        if replay.resync:
            runtime.metrics.resyncs.inc()
            return EventsOut(events=[], cursor=latest, resync=True)
        if replay.events:
            return EventsOut(events=replay.events, cursor=replay.events[-1]["seq"])
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return EventsOut(events=[], cursor=max(after, latest))
        async with runtime.published:
            try:
                await asyncio.wait_for(runtime.published.wait(), timeout=min(remaining, 1.0))
            except TimeoutError:
                pass
