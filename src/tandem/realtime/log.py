"""The durable event log: replay after a seq, the latest seq, retention (SPEC §5.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import CursorResult, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.kit.clock import utcnow
from tandem.realtime.models import EventRecord, LogState, RoomFloor

SEQ = "seq"  # LogState row: the last seq assigned
PUBLISHED = "published"  # LogState row: every seq up to here was handed to the socket layer
REPLAY_LIMIT = 10_000
MAX_SEQ = (
    2**63 - 1
)  # seq is a BIGINT: a larger `after` is not a position, and the database would reject it


# Built once: every subscribe with `after` runs them, and building them cost a third of the
# replay's time in a reconnect storm's profile.
_ROOM_LATEST = select(func.max(EventRecord.seq)).where(EventRecord.room == bindparam("room"))
_FLOOR = select(RoomFloor.floor_seq).where(RoomFloor.room == bindparam("room"))
_AFTER = (
    select(EventRecord.envelope)
    .where(EventRecord.room == bindparam("room"), EventRecord.seq > bindparam("after"))
    .order_by(EventRecord.seq)
    .limit(bindparam("limit"))
)


@dataclass
class Replay:
    events: list[dict[str, Any]]
    resync: bool  # the log no longer reaches back to `after`


async def latest_seq(session: AsyncSession) -> int:
    """The highest seq assigned so far: the cursor of any snapshot read after this call."""
    value = await session.scalar(select(LogState.value).where(LogState.name == SEQ))
    return int(value or 0)


async def room_latest_seq(session: AsyncSession, room: str) -> int:
    value = await session.scalar(_ROOM_LATEST, {"room": room})
    return int(value or 0)


async def read_after(
    session: AsyncSession, room: str, after: int, limit: int = REPLAY_LIMIT, *, page: bool = False
) -> Replay:
    """Events of `room` after `after`, in order. Past `limit`, a replay asks for a resync; a page just stops."""
    floor = await session.scalar(_FLOOR, {"room": room})
    if floor is not None and after < floor:
        return Replay([], resync=True)
    rows = await session.scalars(_AFTER, {"room": room, "after": after, "limit": limit + 1})
    events = list(rows)
    if page:
        return Replay(events[:limit], resync=False)
    if len(events) > limit:  # too far behind to replay sensibly: a snapshot is cheaper
        return Replay([], resync=True)
    return Replay(events, resync=False)


async def prune(session: AsyncSession, *, retention_days: float, keep_per_room: int) -> int:
    """Delete events older than the retention, keeping at least `keep_per_room` per room.

    Each pruned room's floor is raised so a client asking for pruned events is told to resync.
    """
    cutoff = utcnow() - timedelta(days=retention_days)
    rooms = (
        await session.scalars(
            select(EventRecord.room).where(EventRecord.created_at < cutoff).distinct()
        )
    ).all()
    removed = 0
    for room in rooms:
        keep_from = (
            await session.scalar(
                select(EventRecord.seq)
                .where(EventRecord.room == room)
                .order_by(EventRecord.seq.desc())
                .offset(keep_per_room - 1)
                .limit(1)
            )
            if keep_per_room > 0
            else None
        )
        conditions = [EventRecord.room == room, EventRecord.created_at < cutoff]
        if keep_from is not None:
            conditions.append(EventRecord.seq < keep_from)
        elif keep_per_room > 0:
            continue  # fewer than keep_per_room events: keep them all
        highest = await session.scalar(select(func.max(EventRecord.seq)).where(*conditions))
        if highest is None:
            continue
        result: CursorResult[Any] = await session.execute(delete(EventRecord).where(*conditions))  # type: ignore[assignment]
        removed += result.rowcount or 0
        floor = await session.get(RoomFloor, room)
        if floor is None:
            session.add(RoomFloor(room=room, floor_seq=highest))
        else:
            floor.floor_seq = max(floor.floor_seq, highest)
    await session.flush()
    return removed
