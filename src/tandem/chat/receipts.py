"""Receipts: a member's delivered and read cursors over a conversation's messages (docs/chat.md).

Each moves forward only, by one conditional UPDATE of the member's row (which locks it), and
records one event when it moves; a receipt that moves no cursor records nothing. Reading message
n reads (and delivers) all before it; the read event carries the reader's unread count, so their
other devices agree at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.chat import policy, repository
from tandem.chat.events import ChatMessageDelivered, ChatMessageRead
from tandem.kit.clock import iso, utcnow
from tandem.realtime import outbox
from tandem.realtime.rooms import chat_room


async def _cursors(
    session: AsyncSession, conversation_id: str, actor_id: str, message_ids: Sequence[str]
) -> tuple[repository.Cursors, str, int]:
    """The caller's cursors and the (id, n) of the latest of these messages of the conversation."""
    mine = await repository.cursors_of(session, conversation_id, actor_id)
    if mine is None:
        raise policy.not_found()
    latest = await repository.latest_of(session, conversation_id, list(dict.fromkeys(message_ids)))
    if latest is None:
        raise policy.message_not_found()
    return mine, *latest


async def mark_delivered(
    session: AsyncSession, conversation_id: str, actor_id: str, message_ids: Sequence[str]
) -> None:
    """Move the caller's delivered cursor to the latest of these messages (others ignored)."""
    mine, message_id, n = await _cursors(session, conversation_id, actor_id, message_ids)
    now = utcnow()
    if n <= mine.delivered_n or not await repository.move_cursor(
        session, "delivered", conversation_id, actor_id, n, now
    ):
        return
    await outbox.record(
        session,
        ChatMessageDelivered(
            conversation_id=conversation_id,
            message_id=message_id,
            n=n,
            recipient_id=actor_id,
            delivered_at=iso(now),  # type: ignore[arg-type]
        ),
        [chat_room(conversation_id)],
        org_id=mine.org_id,
        actor_id=actor_id,
    )


async def mark_read(
    session: AsyncSession, conversation_id: str, actor_id: str, message_id: str
) -> None:
    """Move the caller's read cursor (and delivered, if behind) to this message."""
    mine, message_id, n = await _cursors(session, conversation_id, actor_id, [message_id])
    now = utcnow()
    if n <= mine.read_n or not await repository.move_cursor(
        session, "read", conversation_id, actor_id, n, now
    ):
        return
    unread = await repository.unread_counts(session, [conversation_id], actor_id)
    await outbox.record(
        session,
        ChatMessageRead(
            conversation_id=conversation_id,
            message_id=message_id,
            n=n,
            reader_id=actor_id,
            read_at=iso(now),  # type: ignore[arg-type]
            unread_count=unread.get(conversation_id, 0),
        ),
        [chat_room(conversation_id)],
        org_id=mine.org_id,
        actor_id=actor_id,
    )
