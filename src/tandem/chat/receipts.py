"""Receipts: a member's delivered and read cursors over a conversation's messages (docs/chat.md).

Each moves forward only, under a lock of the member's row, and records one event when it moves;
a receipt that moves no cursor records nothing. Reading message n reads (and delivers) all before
it; the read event carries the reader's unread count, so their other devices agree at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.chat import policy, repository
from tandem.chat.events import ChatMessageDelivered, ChatMessageRead
from tandem.chat.models import ConversationMember, Message
from tandem.chat.repository import Standing
from tandem.kit.clock import iso, utcnow
from tandem.realtime import outbox
from tandem.realtime.rooms import chat_room


async def _cursor_of(
    session: AsyncSession, conversation_id: str, actor_id: str, message_ids: Sequence[str]
) -> tuple[Standing, Message, ConversationMember]:
    """The caller's standing, the latest of these messages of the conversation, and the caller's
    member row, locked."""
    standing = await policy.require_standing(session, conversation_id, actor_id)
    found = await repository.messages_in(session, conversation_id, list(dict.fromkeys(message_ids)))
    if not found:
        raise policy.message_not_found()
    mine = await repository.member(session, conversation_id, actor_id, lock=True)
    if mine is None:
        raise policy.not_found()
    return standing, max(found, key=lambda m: m.n), mine


async def mark_delivered(
    session: AsyncSession, conversation_id: str, actor_id: str, message_ids: Sequence[str]
) -> None:
    """Move the caller's delivered cursor to the latest of these messages (others ignored)."""
    standing, latest, mine = await _cursor_of(session, conversation_id, actor_id, message_ids)
    if latest.n <= mine.delivered_n:
        return
    now = utcnow()
    mine.delivered_n, mine.delivered_at = latest.n, now
    await session.flush()
    await outbox.record(
        session,
        ChatMessageDelivered(
            conversation_id=conversation_id,
            message_id=latest.id,
            n=latest.n,
            recipient_id=actor_id,
            delivered_at=iso(now),  # type: ignore[arg-type]
        ),
        [chat_room(conversation_id)],
        org_id=standing.conversation.org_id,
        actor_id=actor_id,
    )


async def mark_read(
    session: AsyncSession, conversation_id: str, actor_id: str, message_id: str
) -> None:
    """Move the caller's read cursor (and delivered, if behind) to this message."""
    standing, message, mine = await _cursor_of(session, conversation_id, actor_id, [message_id])
    if message.n <= mine.read_n:
        return
    now = utcnow()
    mine.read_n, mine.read_at = message.n, now
    if mine.delivered_n < message.n:
        mine.delivered_n, mine.delivered_at = message.n, now
    await session.flush()
    unread = await repository.unread_counts(session, [conversation_id], actor_id)
    await outbox.record(
        session,
        ChatMessageRead(
            conversation_id=conversation_id,
            message_id=message.id,
            n=message.n,
            reader_id=actor_id,
            read_at=iso(now),  # type: ignore[arg-type]
            unread_count=unread.get(conversation_id, 0),
        ),
        [chat_room(conversation_id)],
        org_id=standing.conversation.org_id,
        actor_id=actor_id,
    )
