"""Conversations: start one, rename a group, add and remove its people; the list and one
conversation as a person sees them.

Each write is one body — lock the conversation's row, check (chat/policy.py), write, record the
events — and never commits: the request's unit of work does. Messages are chat/messages.py's,
receipts chat/receipts.py's.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.chat import policy, repository
from tandem.chat.events import (
    ChatConversationCreated,
    ChatConversationUpdated,
    ChatMemberAdded,
    ChatMemberOut,
    ChatMemberRemoved,
    ConversationOut,
)
from tandem.chat.models import Conversation, ConversationMember
from tandem.chat.schemas import (
    MAX_MEMBERS,
    ConversationView,
    message_out,
)
from tandem.kit.clock import iso, utcnow
from tandem.kit.errors import Conflict, NotFound
from tandem.kit.ids import new_id
from tandem.orgs import repository as orgs
from tandem.realtime import log as event_log
from tandem.realtime import outbox
from tandem.realtime.rooms import chat_room, user_room

# -- the shapes ------------------------------------------------------------------------------


async def conversation_out(session: AsyncSession, conversation: Conversation) -> ConversationOut:
    return (await _outs(session, [conversation]))[0]


async def _outs(
    session: AsyncSession, conversations: Sequence[Conversation]
) -> list[ConversationOut]:
    members: dict[str, list[ChatMemberOut]] = {c.id: [] for c in conversations}
    for row in await repository.members_of(session, [c.id for c in conversations]):
        members[row.conversation_id].append(
            ChatMemberOut(user_id=row.user_id, name=row.name, avatar_url=row.avatar_url)
        )
    last = await repository.last_messages(session, conversations)
    return [
        ConversationOut(
            id=c.id,
            org_id=c.org_id,
            kind=c.kind,  # type: ignore[arg-type]
            title=c.title,
            created_by=c.created_by,
            created_at=iso(c.created_at),  # type: ignore[arg-type]
            members=members[c.id],
            last_message=message_out(last[c.id]) if c.id in last else None,
            last_n=c.last_n,
            last_activity_at=iso(c.last_activity_at),  # type: ignore[arg-type]
        )
        for c in conversations
    ]


async def _views(
    session: AsyncSession, pairs: Sequence[tuple[Conversation, ConversationMember]], user_id: str
) -> list[ConversationView]:
    outs = await _outs(session, [c for c, _ in pairs])
    unread = await repository.unread_counts(session, [c.id for c, _ in pairs], user_id)
    return [
        ConversationView(
            **out.model_dump(),
            unread_count=unread.get(out.id, 0),
            read_n=mine.read_n,
            delivered_n=mine.delivered_n,
        )
        for out, (_, mine) in zip(outs, pairs, strict=True)
    ]


def _audience(out: ConversationOut, *also: str) -> list[str]:
    """The conversation's room, then the user rooms of its members (and of `also`)."""
    people = dict.fromkeys([*(m.user_id for m in out.members), *also])
    return [chat_room(out.id), *(user_room(u) for u in people)]


# -- reads -----------------------------------------------------------------------------------


async def list_conversations(
    session: AsyncSession, org_id: str, user_id: str
) -> tuple[list[ConversationView], int]:
    cursor = await event_log.latest_seq(session)  # read before the state: see SPEC §5.4
    if await orgs.membership(session, org_id, user_id) is None:
        raise NotFound("organization not found")
    return await _views(
        session, await repository.of_person(session, org_id, user_id), user_id
    ), cursor


async def get_conversation(
    session: AsyncSession, conversation_id: str, user_id: str
) -> tuple[ConversationView, int]:
    cursor = await event_log.latest_seq(session)
    found = await policy.require_standing(session, conversation_id, user_id)
    mine = await repository.member(session, conversation_id, user_id)
    assert mine is not None  # the standing says so
    return (await _views(session, [(found.conversation, mine)], user_id))[0], cursor


# -- conversations ---------------------------------------------------------------------------


async def create_conversation(
    session: AsyncSession,
    org_id: str,
    actor_id: str,
    member_ids: Sequence[str],
    title: str | None,
) -> tuple[ConversationView, bool]:
    """A direct conversation (exactly one other person, no title), returned if it exists (False),
    or a group. Every member must be an active member of the org."""
    if await orgs.membership(session, org_id, actor_id) is None:
        raise NotFound("organization not found")
    others = [u for u in dict.fromkeys(member_ids) if u != actor_id]
    if set(others) - await repository.active_in_org(session, org_id, others):
        raise policy.no_such_person()
    direct = len(others) == 1 and title is None
    if not direct and title is None:
        raise Conflict("a group needs a title (a conversation with one other person needs none)")
    if len(others) + 1 > MAX_MEMBERS:
        raise Conflict(f"a group has at most {MAX_MEMBERS} members, its creator included")
    key = "|".join(sorted([actor_id, others[0]])) if direct else None
    if key is not None:
        # Two people starting their conversation at once make one: the org's row is the lock.
        await orgs.lock_org(session, org_id)
        earlier = await repository.direct(session, org_id, key)
        if earlier is not None:
            mine = await repository.member(session, earlier.id, actor_id)
            if mine is not None:
                return (await _views(session, [(earlier, mine)], actor_id))[0], False
    now = utcnow()
    conversation = Conversation(
        id=new_id("conv"),
        org_id=org_id,
        kind="direct" if direct else "group",
        title=title,
        direct_key=key,
        created_by=actor_id,
        created_at=now,
        last_activity_at=now,
        last_n=0,
    )
    session.add(conversation)
    members = [
        ConversationMember(
            conversation_id=conversation.id, user_id=u, joined_at=now, delivered_n=0, read_n=0
        )
        for u in [actor_id, *others]
    ]
    session.add_all(members)
    await session.flush()
    out = await conversation_out(session, conversation)
    await outbox.record(
        session,
        ChatConversationCreated(conversation=out),
        _audience(out),
        org_id=org_id,
        actor_id=actor_id,
    )
    return (await _views(session, [(conversation, members[0])], actor_id))[0], True


async def rename(
    session: AsyncSession, conversation_id: str, actor_id: str, title: str
) -> ConversationView:
    conversation, _standing = await policy.require_locked(session, conversation_id, actor_id)
    policy.require_group(conversation)
    if conversation.title != title:
        conversation.title = title
        await session.flush()
        out = await conversation_out(session, conversation)
        await outbox.record(
            session,
            ChatConversationUpdated(conversation=out, updated_by=actor_id),
            _audience(out),
            org_id=conversation.org_id,
            actor_id=actor_id,
        )
    mine = await repository.member(session, conversation_id, actor_id)
    assert mine is not None
    return (await _views(session, [(conversation, mine)], actor_id))[0]


async def add_member(
    session: AsyncSession, conversation_id: str, actor_id: str, user_id: str
) -> tuple[ChatMemberOut, ConversationOut]:
    """Any member adds a person of the org to a group; they start with every earlier message read."""
    conversation, _standing = await policy.require_locked(session, conversation_id, actor_id)
    policy.require_group(conversation)
    if not await repository.active_in_org(session, conversation.org_id, [user_id]):
        raise policy.no_such_person()
    if await repository.member(session, conversation_id, user_id) is not None:
        raise Conflict("already a member of this conversation")
    if len(await repository.cursors(session, conversation_id)) >= MAX_MEMBERS:
        raise Conflict(f"a group has at most {MAX_MEMBERS} members")
    session.add(
        ConversationMember(
            conversation_id=conversation_id,
            user_id=user_id,
            joined_at=utcnow(),
            delivered_n=conversation.last_n,
            read_n=conversation.last_n,
            joined_n=conversation.last_n,
        )
    )
    await session.flush()
    out = await conversation_out(session, conversation)
    member = next(m for m in out.members if m.user_id == user_id)
    await outbox.record(
        session,
        ChatMemberAdded(
            conversation_id=conversation_id, member=member, added_by=actor_id, conversation=out
        ),
        _audience(out),
        org_id=conversation.org_id,
        actor_id=actor_id,
    )
    return member, out


async def remove_member(
    session: AsyncSession, conversation_id: str, actor_id: str, user_id: str
) -> None:
    """Leave a group, or (its creator, an Owner, an Admin) take someone out of it; their sockets
    leave its room on every instance."""
    conversation, standing = await policy.require_locked(session, conversation_id, actor_id)
    policy.require_group(conversation)
    if user_id != actor_id:
        policy.require_remover(conversation, standing, actor_id)
    gone = await repository.member(session, conversation_id, user_id)
    if gone is None:
        raise NotFound("member not found")
    await session.delete(gone)
    await session.flush()
    out = await conversation_out(session, conversation)
    await outbox.record(
        session,
        ChatMemberRemoved(
            conversation_id=conversation_id,
            user_id=user_id,
            removed_by=actor_id,
            conversation=out,
        ),
        _audience(out, user_id),
        org_id=conversation.org_id,
        actor_id=actor_id,
        control=outbox.reauthorize(user_id, conversation.org_id),
    )
