"""Receipts: a member's delivered and read cursors over a conversation's messages (docs/chat.md).

Each moves forward only, by one conditional UPDATE of the member's row (which locks it), and
records events when it moves; a receipt that moves no cursor records nothing. Reading message n
reads (and delivers) all before it.

A receipt is news to the people whose messages it covers and to its own person's other devices,
not to the whole conversation: as the well-known messengers do, each author hears of it on their
`user:` room, with the n of their own latest message it covers, and the person on theirs, with
the cursor's new position (a read carries their unread count, so their devices agree at once).
A group of m people then costs about 2 envelopes per receipt instead of m.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.chat import cursors, policy
from tandem.chat.events import ChatMessageDelivered, ChatMessageRead
from tandem.kit.clock import iso, utcnow
from tandem.realtime import outbox
from tandem.realtime.rooms import user_room


class _Target(NamedTuple):
    """The caller's cursors and the latest of the messages a receipt names, with that message's
    author while still a member active in the org (else None)."""

    mine: cursors.Cursors
    message_id: str
    n: int
    author_id: str | None


async def _cursors(
    session: AsyncSession, conversation_id: str, actor_id: str, message_ids: Sequence[str]
) -> _Target:
    """The caller's cursors and the latest of these messages of the conversation."""
    ids = list(dict.fromkeys(message_ids))
    if len(ids) == 1:  # the usual receipt: one round trip
        found = await cursors.cursors_and_n(session, conversation_id, actor_id, ids[0])
        if found is None:
            raise policy.not_found()
        if found.n is None:
            raise policy.message_not_found()
        return _Target(found.cursors, ids[0], found.n, found.author_id)
    mine = await cursors.cursors_of(session, conversation_id, actor_id)
    if mine is None:
        raise policy.not_found()
    named = await cursors.messages_named(session, ids)
    theirs = [
        (m.n, mid, m.author_id) for mid, m in named.items() if m.conversation_id == conversation_id
    ]
    if not theirs:
        raise policy.message_not_found()
    n, message_id, author_id = max(theirs)
    return _Target(mine, message_id, n, author_id)


async def _audiences(
    session: AsyncSession,
    conversation_id: str,
    actor_id: str,
    after_n: int,
    target: _Target,
    window: cursors.Window | None = None,
) -> list[tuple[str, int, list[str]]]:
    """(message id, n, rooms) of each event a cursor moved from after_n to the target's n makes:
    one per author of the messages it covers (their latest one), the person's own sharing one
    with the author of the target message. The window, when given, holds the messages past
    after_n."""
    message_id, n = target.message_id, target.n
    if n == after_n + 1:  # the usual move, by one message: its author is known
        author = target.author_id
        covered = [] if author in (None, actor_id) else [cursors.Covered(author, message_id, n)]
    elif window is not None:
        covered = window.latest_by_author(after_n, n, actor_id)
    else:
        covered = await cursors.latest_by_author(session, conversation_id, after_n, n, actor_id)
    events = [(c.message_id, c.n, [user_room(c.author_id)]) for c in covered if c.n != n]
    at_n = [user_room(c.author_id) for c in covered if c.n == n]
    events.append((message_id, n, [*at_n, user_room(actor_id)]))
    return events


async def mark_delivered(
    session: AsyncSession, conversation_id: str, actor_id: str, message_ids: Sequence[str]
) -> None:
    """Move the caller's delivered cursor to the latest of these messages (others ignored)."""
    target = await _cursors(session, conversation_id, actor_id, message_ids)
    mine, now = target.mine, utcnow()
    if target.n <= mine.delivered_n or not await cursors.move_cursor(
        session, "delivered", conversation_id, actor_id, target.n, now
    ):
        return
    for covered_id, covered_n, rooms in await _audiences(
        session, conversation_id, actor_id, mine.delivered_n, target
    ):
        await outbox.record(
            session,
            _delivered(conversation_id, covered_id, covered_n, actor_id, now),
            rooms,
            org_id=mine.org_id,
            actor_id=actor_id,
        )


class Mark(NamedTuple):
    """A one-message receipt of `mark_together`, with its request's trace id."""

    kind: str  # "delivered" or "read"
    conversation_id: str
    actor_id: str
    message_id: str
    trace_id: str


# How many messages past the batch's furthest-behind cursor a conversation's window holds at most;
# past that, each receipt there asks for what it covers and leaves unread by itself.
WINDOW = 200


async def mark_together(session: AsyncSession, marks: Sequence[Mark]) -> None:
    """What mark_delivered and mark_read, one receipt after another, write, in a few statements for
    them all: one query for their cursors (locking the rows on PostgreSQL), one for their messages,
    a run of each cursor UPDATE and one INSERT of the events; and, in each conversation where a
    cursor moves by more than one message or a read unread counts, one query for the messages past
    the furthest-behind of them. When any of them would be refused, raises that refusal before
    writing anything."""
    mine = await cursors.cursors_of_many(session, [(m.conversation_id, m.actor_id) for m in marks])
    named = await cursors.messages_named(session, [m.message_id for m in marks])
    # The batch's cursors only move forward: the lowest one a conversation's receipts start from
    # bounds every later one there.
    lowest: dict[str, int] = {}
    for kind, cid, uid, _, _ in marks:
        if (cid, uid) in mine:
            at = mine[(cid, uid)].read_n if kind == "read" else mine[(cid, uid)].delivered_n
            lowest[cid] = min(at, lowest.get(cid, at))
    windows: dict[str, cursors.Window | None] = {}

    async def window(cid: str) -> cursors.Window | None:
        if cid not in windows:
            windows[cid] = await cursors.messages_after(session, cid, lowest[cid], WINDOW)
        return windows[cid]

    now = utcnow()
    moves: dict[str, list[tuple[str, str, int]]] = {"delivered": [], "read": []}
    events: list[outbox.Recorded] = []
    for kind, cid, uid, mid, trace_id in marks:
        if (cid, uid) not in mine:
            raise policy.not_found()
        message = named.get(mid)
        if message is None or message.conversation_id != cid:
            raise policy.message_not_found()
        cursor, n = mine[(cid, uid)], message.n
        after = cursor.read_n if kind == "read" else cursor.delivered_n
        if n <= after:
            continue
        seen = await window(cid) if kind == "read" or n > after + 1 else None
        if kind == "read":
            unread = (
                seen.unread_after(uid, n)
                if seen is not None
                else await cursors.unread_after(session, cid, uid, n)
            )
            mine[(cid, uid)] = cursors.Cursors(cursor.org_id, max(n, cursor.delivered_n), n)
        else:
            mine[(cid, uid)] = cursors.Cursors(cursor.org_id, n, cursor.read_n)
        target = _Target(cursor, mid, n, message.author_id)
        for covered_id, covered_n, rooms in await _audiences(
            session, cid, uid, after, target, seen
        ):
            data = (
                _read(cid, covered_id, covered_n, uid, now, unread)
                if kind == "read"
                else _delivered(cid, covered_id, covered_n, uid, now)
            )
            events.append(outbox.Recorded(data, rooms, cursor.org_id, uid, trace_id))
        moves[kind].append((cid, uid, n))
    for kind, moved in moves.items():
        if moved:
            await cursors.move_cursors(session, kind, moved, now)
    if events:
        await outbox.record_many(session, events)


async def mark_read(
    session: AsyncSession, conversation_id: str, actor_id: str, message_id: str
) -> None:
    """Move the caller's read cursor (and delivered, if behind) to this message."""
    target = await _cursors(session, conversation_id, actor_id, [message_id])
    mine, now = target.mine, utcnow()
    if target.n <= mine.read_n or not await cursors.move_cursor(
        session, "read", conversation_id, actor_id, target.n, now
    ):
        return
    unread = await cursors.unread_after(session, conversation_id, actor_id, target.n)
    for covered_id, covered_n, rooms in await _audiences(
        session, conversation_id, actor_id, mine.read_n, target
    ):
        await outbox.record(
            session,
            _read(conversation_id, covered_id, covered_n, actor_id, now, unread),
            rooms,
            org_id=mine.org_id,
            actor_id=actor_id,
        )


def _read(
    conversation_id: str, message_id: str, n: int, reader_id: str, at: datetime, unread: int
) -> ChatMessageRead:
    return ChatMessageRead(
        conversation_id=conversation_id,
        message_id=message_id,
        n=n,
        reader_id=reader_id,
        read_at=iso(at),  # type: ignore[arg-type]
        unread_count=unread,
    )


def _delivered(
    conversation_id: str, message_id: str, n: int, recipient_id: str, at: datetime
) -> ChatMessageDelivered:
    return ChatMessageDelivered(
        conversation_id=conversation_id,
        message_id=message_id,
        n=n,
        recipient_id=recipient_id,
        delivered_at=iso(at),  # type: ignore[arg-type]
    )
