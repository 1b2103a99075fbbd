"""The chat domain's SQL: conversations, their members, messages, unread counts (the receipt
cursors' own statements are in cursors.py).

A write to a conversation (a message, a member, a title) first locks the conversation's row on
PostgreSQL (`FOR UPDATE`), so its messages' `n` are handed out one at a time; SQLite runs one
writer at a time anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.auth.models import User
from tandem.chat.models import Conversation, ConversationMember, Message
from tandem.orgs.models import Membership


class Standing(NamedTuple):
    """A member's standing towards a conversation: its org and their role in that org."""

    conversation: Conversation
    org_role: str


class MemberRow(NamedTuple):
    conversation_id: str
    user_id: str
    name: str
    avatar_url: str | None


async def conversation(
    session: AsyncSession, conversation_id: str, *, lock: bool = False
) -> Conversation | None:
    return await session.get(
        Conversation, conversation_id, with_for_update=lock, populate_existing=lock
    )


_STANDING = (
    select(Conversation, Membership.role)
    .join(
        ConversationMember,
        and_(
            ConversationMember.conversation_id == Conversation.id,
            ConversationMember.user_id == bindparam("uid"),
        ),
    )
    .join(
        Membership,
        and_(
            Membership.org_id == Conversation.org_id,
            Membership.user_id == bindparam("uid"),
            Membership.status == "active",
        ),
    )
    .where(Conversation.id == bindparam("cid"))
)


async def standing(session: AsyncSession, conversation_id: str, user_id: str) -> Standing | None:
    """The conversation and the person's org role, when they are a member of both."""
    row = (await session.execute(_STANDING, {"cid": conversation_id, "uid": user_id})).first()
    return Standing(row[0], row[1]) if row is not None else None


async def member(
    session: AsyncSession, conversation_id: str, user_id: str, *, lock: bool = False
) -> ConversationMember | None:
    return await session.get(
        ConversationMember, (conversation_id, user_id), with_for_update=lock, populate_existing=lock
    )


async def members_of(session: AsyncSession, conversation_ids: Sequence[str]) -> list[MemberRow]:
    if not conversation_ids:
        return []
    rows = await session.execute(
        select(ConversationMember.conversation_id, User.id, User.name, User.avatar_url)
        .join(User, User.id == ConversationMember.user_id)
        .where(ConversationMember.conversation_id.in_(list(conversation_ids)))
        .order_by(ConversationMember.joined_at, User.id)
    )
    return [MemberRow(*row) for row in rows]


async def cursors(session: AsyncSession, conversation_id: str) -> list[ConversationMember]:
    rows = await session.scalars(
        select(ConversationMember)
        .where(ConversationMember.conversation_id == conversation_id)
        .order_by(ConversationMember.user_id)
    )
    return list(rows)


async def direct(session: AsyncSession, org_id: str, key: str) -> Conversation | None:
    return await session.scalar(
        select(Conversation).where(Conversation.org_id == org_id, Conversation.direct_key == key)
    )


async def active_in_org(session: AsyncSession, org_id: str, user_ids: Sequence[str]) -> set[str]:
    if not user_ids:
        return set()
    rows = await session.scalars(
        select(Membership.user_id).where(
            Membership.org_id == org_id,
            Membership.user_id.in_(list(user_ids)),
            Membership.status == "active",
        )
    )
    return set(rows)


async def ids_of_people(
    session: AsyncSession, org_ids: dict[str, list[str]]
) -> dict[str, list[str]]:
    """The ids of each person's conversations in their orgs given (person -> org ids), in one query."""
    wanted = {org_id for orgs in org_ids.values() for org_id in orgs}
    found: dict[str, list[str]] = {user_id: [] for user_id in org_ids}
    if not wanted:
        return found
    rows = await session.execute(
        select(ConversationMember.user_id, Conversation.id, Conversation.org_id)
        .join(ConversationMember, ConversationMember.conversation_id == Conversation.id)
        .where(
            Conversation.org_id.in_(wanted),
            ConversationMember.user_id.in_([u for u, orgs in org_ids.items() if orgs]),
        )
    )
    for user_id, conversation_id, org_id in rows:
        if org_id in org_ids[user_id]:
            found[user_id].append(conversation_id)
    return found


async def of_person(
    session: AsyncSession, org_id: str, user_id: str
) -> list[tuple[Conversation, ConversationMember]]:
    """The person's conversations in the org, latest activity first."""
    rows = await session.execute(
        select(Conversation, ConversationMember)
        .join(ConversationMember, ConversationMember.conversation_id == Conversation.id)
        .where(Conversation.org_id == org_id, ConversationMember.user_id == user_id)
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
    )
    return [(row[0], row[1]) for row in rows]


async def last_messages(
    session: AsyncSession, conversations: Sequence[Conversation]
) -> dict[str, Message]:
    wanted = [(c.id, c.last_n) for c in conversations if c.last_n > 0]
    if not wanted:
        return {}
    rows = await session.scalars(
        select(Message).where(
            or_(*(and_(Message.conversation_id == cid, Message.n == n) for cid, n in wanted))
        )
    )
    return {m.conversation_id: m for m in rows}


def _unread(user_id: str):  # type: ignore[no-untyped-def]
    return and_(
        Message.conversation_id == ConversationMember.conversation_id,
        Message.n > ConversationMember.read_n,
        Message.deleted_at.is_(None),
        or_(Message.author_id.is_(None), Message.author_id != user_id),
    )


async def unread_counts(
    session: AsyncSession, conversation_ids: Sequence[str], user_id: str
) -> dict[str, int]:
    """Messages past the person's read cursor, not theirs and not deleted, per conversation."""
    if not conversation_ids:
        return {}
    rows = await session.execute(
        select(ConversationMember.conversation_id, func.count(Message.id))
        .join(Message, _unread(user_id))
        .where(
            ConversationMember.conversation_id.in_(list(conversation_ids)),
            ConversationMember.user_id == user_id,
        )
        .group_by(ConversationMember.conversation_id)
    )
    return {cid: int(count) for cid, count in rows}


class Sending(NamedTuple):
    """What a send needs of its conversation: its org and its last message's n."""

    org_id: str
    last_n: int


# A message is the conversation's most frequent write: its statements are Core, built once (an ORM
# load, flush and identity map would cost more than the SQL itself).
_CONVERSATIONS = Conversation.__table__
_SENDING = (
    select(_CONVERSATIONS.c.org_id, _CONVERSATIONS.c.last_n)
    .join(
        ConversationMember,
        and_(
            ConversationMember.conversation_id == _CONVERSATIONS.c.id,
            ConversationMember.user_id == bindparam("uid"),
        ),
    )
    .join(
        Membership,
        and_(
            Membership.org_id == _CONVERSATIONS.c.org_id,
            Membership.user_id == bindparam("uid"),
            Membership.status == "active",
        ),
    )
    .where(_CONVERSATIONS.c.id == bindparam("cid"))
    .with_for_update(of=_CONVERSATIONS)
)
_NEXT_N = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("cid"))
    .values(last_n=bindparam("n"), last_activity_at=bindparam("at"))
)
_ADD_MESSAGE = insert(Message.__table__)
_MESSAGES = Message.__table__
_ID_BY_CLIENT = select(_MESSAGES.c.id).where(
    _MESSAGES.c.conversation_id == bindparam("cid"),
    _MESSAGES.c.author_id == bindparam("uid"),
    _MESSAGES.c.client_id == bindparam("client"),
)


async def sending(session: AsyncSession, conversation_id: str, user_id: str) -> Sending | None:
    """The conversation's row, locked, when the person is its member active in its org."""
    row = (await session.execute(_SENDING, {"cid": conversation_id, "uid": user_id})).first()
    return Sending(row[0], row[1]) if row is not None else None


async def id_by_client(
    session: AsyncSession, conversation_id: str, author_id: str, client_id: str
) -> str | None:
    return await session.scalar(
        _ID_BY_CLIENT, {"cid": conversation_id, "uid": author_id, "client": client_id}
    )


async def add_message(session: AsyncSession, message: Message) -> None:
    """Writes the message as the conversation's last one (its n is the new last_n)."""
    await session.execute(
        _NEXT_N, {"cid": message.conversation_id, "n": message.n, "at": message.sent_at}
    )
    await session.execute(
        _ADD_MESSAGE,
        {
            "id": message.id,
            "conversation_id": message.conversation_id,
            "n": message.n,
            "author_id": message.author_id,
            "text": message.text,
            "client_id": message.client_id,
            "sent_at": message.sent_at,
        },
    )


async def message(session: AsyncSession, message_id: str) -> Message | None:
    return await session.get(Message, message_id)


async def page(
    session: AsyncSession, conversation_id: str, before_n: int | None, limit: int
) -> list[Message]:
    """Up to `limit` messages before `before_n` (all, if None), newest first."""
    statement = select(Message).where(Message.conversation_id == conversation_id)
    if before_n is not None:
        statement = statement.where(Message.n < before_n)
    rows = await session.scalars(statement.order_by(Message.n.desc()).limit(limit))
    return list(rows)
