"""Messages: send, edit and delete them, and page through a conversation's history.

Each write is one body — lock the conversation's row, check (chat/policy.py), write, record the
event — and never commits: the request's (or the socket event's) unit of work does. A message's
`n` is the conversation's `last_n + 1`, taken under that lock, so concurrent sends never share or
skip one. Sending moves the sender's own cursors to the new message: one's own messages are never
unread.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.chat import cursors, policy, repository
from tandem.chat.events import ChatMessageCreated, ChatMessageDeleted, ChatMessageUpdated
from tandem.chat.models import Conversation, Message
from tandem.chat.repository import Standing
from tandem.chat.schemas import ChatHistory, ChatReceipt, message_out
from tandem.kit.clock import utcnow
from tandem.kit.errors import Conflict, NotFound
from tandem.kit.ids import new_id
from tandem.realtime import log as event_log
from tandem.realtime import outbox
from tandem.realtime.rooms import chat_room
from tandem.tasks.service import ClientIdReused


async def history(
    session: AsyncSession,
    conversation_id: str,
    user_id: str,
    before: str | None,
    limit: int,
) -> ChatHistory:
    """Up to `limit` messages before `before` (the latest, without it), oldest first; every
    member's receipt cursors as this person knows them (chat/receipts.py)."""
    cursor = await event_log.latest_seq(session)
    await policy.require_standing(session, conversation_id, user_id)
    before_n: int | None = None
    if before is not None:
        anchor = await repository.message(session, before)
        if anchor is None or anchor.conversation_id != conversation_id:
            raise policy.message_not_found()
        before_n = anchor.n
    found = await repository.page(session, conversation_id, before_n, limit + 1)
    shown = list(reversed(found[:limit]))
    return ChatHistory(
        messages=[message_out(m) for m in shown],
        receipts=[
            ChatReceipt(user_id=user, delivered_n=delivered, read_n=read)
            for user, delivered, read in await cursors.receipts_seen_by(
                session, conversation_id, user_id
            )
        ],
        has_more=len(found) > limit,
        cursor=cursor,
    )


async def send_message(
    session: AsyncSession,
    conversation_id: str,
    actor_id: str,
    text: str,
    client_id: str | None = None,
) -> tuple[Message, bool]:
    """The new message (True), or the one this clientId already made with the same text (False)."""
    conversation = await repository.sending(session, conversation_id, actor_id)
    if conversation is None:
        raise policy.not_found()
    if client_id is not None:
        # The conversation's row is locked: a second send with this clientId waits for the first.
        earlier_id = await repository.id_by_client(session, conversation_id, actor_id, client_id)
        earlier = await repository.message(session, earlier_id) if earlier_id else None
        if earlier is not None:
            # Edited or deleted since, its text says nothing of what was first sent: a retry of
            # that send gets the message as it is now.
            changed = earlier.edited_at is not None or earlier.deleted_at is not None
            if earlier.text != text and not changed:
                raise ClientIdReused("this clientId was already used for another message")
            return earlier, False
    now = utcnow()
    message = Message(
        id=new_id("m"),
        conversation_id=conversation_id,
        n=conversation.last_n + 1,
        author_id=actor_id,
        text=text,
        client_id=client_id,
        sent_at=now,
        edited_at=None,
        deleted_at=None,
    )
    await repository.add_message(session, message)  # the message is not in the session
    await cursors.sent(session, conversation_id, actor_id, message.n, now)
    await outbox.record(
        session,
        ChatMessageCreated(
            conversation_id=conversation_id, message=message_out(message), client_id=client_id
        ),
        [chat_room(conversation_id)],
        org_id=conversation.org_id,
        actor_id=actor_id,
    )
    return message, True


async def edit_message(session: AsyncSession, message_id: str, actor_id: str, text: str) -> Message:
    """Its author changes a message's text; the same text again is no write."""
    conversation, _standing, message = await _locked_message(session, message_id, actor_id)
    policy.require_author(message, actor_id)
    if message.deleted_at is not None:
        raise Conflict("this message was deleted")
    if message.text == text:
        return message
    message.text = text
    message.edited_at = utcnow()
    await session.flush()
    await outbox.record(
        session,
        ChatMessageUpdated(conversation_id=conversation.id, message=message_out(message)),
        [chat_room(conversation.id)],
        org_id=conversation.org_id,
        actor_id=actor_id,
    )
    return message


async def delete_message(session: AsyncSession, message_id: str, actor_id: str) -> None:
    """Its author, an Owner or an Admin deletes a message: it stays in the history, emptied."""
    conversation, standing, message = await _locked_message(session, message_id, actor_id)
    policy.require_message_remover(message, standing, actor_id)
    if message.deleted_at is not None:
        return
    message.text = ""
    message.deleted_at = utcnow()
    await session.flush()
    await outbox.record(
        session,
        ChatMessageDeleted(
            conversation_id=conversation.id,
            message_id=message.id,
            n=message.n,
            deleted_by=actor_id,
            message=message_out(message),
        ),
        [chat_room(conversation.id)],
        org_id=conversation.org_id,
        actor_id=actor_id,
    )


async def _locked_message(
    session: AsyncSession, message_id: str, actor_id: str
) -> tuple[Conversation, Standing, Message]:
    message = await repository.message(session, message_id)
    if message is None:
        raise policy.message_not_found()
    try:
        conversation, standing = await policy.require_locked(
            session, message.conversation_id, actor_id
        )
    except NotFound:
        raise policy.message_not_found() from None
    return conversation, standing, message
