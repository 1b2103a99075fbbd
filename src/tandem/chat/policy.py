"""Who may read and write a conversation: the one place its rules are written.

Only a conversation's members who are still active members of its org see it; to anyone else it
answers "not found" (and its room `forbidden`), exactly like a conversation that does not exist.
Any member writes, renames a group and adds people of the org to it, and may leave it; removing
someone else is for the group's creator and the org's Owners and Admins. A direct conversation's
members never change. Only its author edits a message; its author or an org Owner or Admin
deletes it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.chat import cursors, repository
from tandem.chat.models import Conversation, Message
from tandem.chat.repository import Standing
from tandem.kit.errors import Conflict, Forbidden, NotFound
from tandem.kit.ids import id_in_path
from tandem.realtime import rooms

MODERATORS = ("Owner", "Admin")


def not_found() -> NotFound:
    return NotFound("conversation not found")


class MessageNotFound(NotFound):
    """No such message in the conversation (a socket answers `invalid`, not `forbidden`)."""


def message_not_found() -> NotFound:
    return MessageNotFound("message not found")


def no_such_person() -> NotFound:
    return NotFound("no such person in this organization")


async def require_standing(session: AsyncSession, conversation_id: str, user_id: str) -> Standing:
    found = await repository.standing(session, conversation_id, user_id)
    if found is None:
        raise not_found()
    return found


async def require_locked(
    session: AsyncSession, conversation_id: str, actor_id: str
) -> tuple[Conversation, Standing]:
    """The conversation's row, locked, once the caller is known to be its member."""
    conversation = await repository.conversation(session, conversation_id, lock=True)
    if conversation is None:
        raise not_found()
    return conversation, await require_standing(session, conversation_id, actor_id)


def require_group(conversation: Conversation) -> None:
    if conversation.kind != "group":
        raise Conflict("a direct conversation's members and title never change")


def require_remover(conversation: Conversation, standing: Standing, actor_id: str) -> None:
    if conversation.created_by == actor_id or standing.org_role in MODERATORS:
        return
    raise Forbidden("only the group's creator, an Owner or an Admin may remove someone else")


def require_author(message: Message, actor_id: str) -> None:
    if message.author_id != actor_id:
        raise Forbidden("only its author may edit a message")


def require_message_remover(message: Message, standing: Standing, actor_id: str) -> None:
    if message.author_id == actor_id or standing.org_role in MODERATORS:
        return
    raise Forbidden("only its author, an Owner or an Admin may delete a message")


@rooms.room_policy("chat")
async def chat_room(
    session: AsyncSession, user_id: str, conversation_id: str
) -> rooms.Grant | None:
    """Its members may enter `chat:{id}`; the grant rests on the conversation's org, so leaving
    the org takes them out of it too."""
    found = await cursors.cursors_of(session, conversation_id, user_id)
    if found is None:
        return None
    return rooms.Grant(rooms.chat_room(conversation_id), found.org_id, "chat")


ConversationId = id_in_path()
MessageId = id_in_path()
UserId = id_in_path()
