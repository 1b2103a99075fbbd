"""The durable event log: appending events with their seqs, replay after a seq, the latest seq,
retention (SPEC §5.3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.kit.clock import iso, utcnow
from tandem.realtime.envelope import envelope
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


# (event, seq, its envelopes): an event as the dispatcher publishes it. The event is an outbox row or
# anything with the same fields (realtime/direct_log.py); seq is the last one before it when it has
# no rooms.
Appended = tuple[Any, int, list[dict[str, Any]]]


async def append(session: AsyncSession, events: Sequence[Any], now: datetime) -> list[Appended]:
    """Give each event with rooms the next seq and write its envelope for each room to the log, in
    order, in the caller's transaction."""
    seq = await take_seqs(session, sum(1 for event in events if event.rooms))
    emitted_at = iso(now)
    appended: list[Appended] = []
    records: list[dict[str, Any]] = []
    for event in events:
        envelopes = []
        if event.rooms:
            seq += 1
            for room in event.rooms:
                env = envelope(
                    event.data,
                    event=event.event,
                    version=event.version,
                    room=room,
                    seq=seq,
                    actor_id=event.actor_id,
                    trace_id=event.trace_id,
                    emitted_at=emitted_at,
                )
                records.append(
                    {
                        "room": room,
                        "seq": seq,
                        "event": event.event,
                        "envelope": env,
                        "created_at": now,
                    }
                )
                envelopes.append(env)
        appended.append((event, seq, envelopes))
    if records:
        await session.execute(_INSERT_RECORDS, records)
    return appended


_INSERT_RECORDS = insert(EventRecord.__table__)
_STATE = LogState.__table__
# The row is locked until commit (PostgreSQL): a dispatcher that lost its lock without knowing
# cannot hand out the same seqs.
_NEXT_SEQS = (
    update(_STATE)
    .where(_STATE.c.name == SEQ)
    .values(value=_STATE.c.value + bindparam("n"))
    .returning(_STATE.c.value)
)
_LAST_SEQ = select(_STATE.c.value).where(_STATE.c.name == SEQ)


async def take_seqs(session: AsyncSession, n: int) -> int:
    """Reserve the next n seqs; returns the last seq before them."""
    if n == 0:
        return int(await session.scalar(_LAST_SEQ) or 0)
    last = await session.scalar(_NEXT_SEQS, {"n": n})
    if last is None:  # the first events ever: no row yet
        await set_state(session, SEQ, n)
        return 0
    return int(last) - n


_RAISE_STATE = (
    update(_STATE)
    .where(_STATE.c.name == bindparam("s_name"), _STATE.c.value < bindparam("s_below"))
    .values(value=bindparam("s_value"))
)
_STATE_EXISTS = select(_STATE.c.name).where(_STATE.c.name == bindparam("s_name"))


async def set_state(session: AsyncSession, name: str, value: int) -> None:
    """Raise a LogState counter to value (never lower it), creating the row the first time."""
    updated: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        _RAISE_STATE, {"s_name": name, "s_below": value, "s_value": value}
    )
    if updated.rowcount == 0 and await session.scalar(_STATE_EXISTS, {"s_name": name}) is None:
        await session.execute(insert(_STATE), {"name": name, "value": value})
