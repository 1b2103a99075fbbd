"""The receipt cursors' SQL: a member's delivered and read cursors, moving them, whose messages a
move covers, and the receipts a reader's history shows.

A receipt moves its member's cursor by one conditional UPDATE, which locks only that row.
Receipts are the most frequent writes of all (one per recipient of each message), so their
statements are Core statements built once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.chat.models import Conversation, ConversationMember, Message
from tandem.orgs.models import Membership


class Cursors(NamedTuple):
    """A member's receipt cursors, with the org of the conversation they are an active member of."""

    org_id: str
    delivered_n: int
    read_n: int


# On the tables, not the mapped classes: Core statements skip the ORM's per-execution work.
_cm = ConversationMember.__table__.c
_conv = Conversation.__table__.c
_msg = Message.__table__.c
_ms = Membership.__table__.c
# Conversation members active in the conversation's org.
_MEMBERS_IN_ORG = ConversationMember.__table__.join(
    Conversation.__table__, _conv.id == _cm.conversation_id
).join(
    Membership.__table__,
    and_(_ms.org_id == _conv.org_id, _ms.user_id == _cm.user_id, _ms.status == "active"),
)
_CURSORS = (
    select(_conv.org_id, _cm.delivered_n, _cm.read_n)
    .select_from(_MEMBERS_IN_ORG)
    .where(_cm.conversation_id == bindparam("cid"), _cm.user_id == bindparam("uid"))
)
# The cursors with the n of one message of the conversation (NULL: not one of its messages) and
# its author while still a member active in the org (as latest_by_author counts them), in one
# round trip: a receipt's usual question.
_author_cm = ConversationMember.__table__.alias("author_cm")
_author_conv = Conversation.__table__.alias("author_conv")
_author_ms = Membership.__table__.alias("author_ms")
# A message's author while still a member of its conversation active in the org (as
# latest_by_author counts them), else NULL: correlated to the enclosing query's message.
_AUTHOR_IF_MEMBER = (
    select(_author_ms.c.user_id)
    .select_from(
        _author_cm.join(_author_conv, _author_conv.c.id == _author_cm.c.conversation_id).join(
            _author_ms,
            and_(
                _author_ms.c.org_id == _author_conv.c.org_id,
                _author_ms.c.user_id == _author_cm.c.user_id,
                _author_ms.c.status == "active",
            ),
        )
    )
    .where(
        _author_cm.c.conversation_id == _msg.conversation_id,
        _author_cm.c.user_id == _msg.author_id,
    )
    .scalar_subquery()
)
_ONE_MESSAGE = and_(_msg.conversation_id == bindparam("cid"), _msg.id == bindparam("mid"))
_CURSORS_AND_ONE = _CURSORS.add_columns(
    select(_msg.n).where(_ONE_MESSAGE).scalar_subquery(),
    select(_AUTHOR_IF_MEMBER).where(_ONE_MESSAGE).scalar_subquery(),
)
# Several members' cursors at once, their rows locked on PostgreSQL (a receipt batch moves them).
# Each column IN its list (the pairs are picked out after: only this batch's people's rows, as are
# all the rows locked), the org looked up per row: the plan starts from the key whatever the
# tables' statistics say.
_ORG_IF_ACTIVE = (
    select(_conv.org_id)
    .select_from(
        Conversation.__table__.join(
            Membership.__table__, and_(_ms.org_id == _conv.org_id, _ms.status == "active")
        )
    )
    .where(_conv.id == _cm.conversation_id, _ms.user_id == _cm.user_id)
    .scalar_subquery()
)
_CURSORS_OF_MANY = (
    select(_cm.conversation_id, _cm.user_id, _ORG_IF_ACTIVE, _cm.delivered_n, _cm.read_n)
    .where(
        _cm.conversation_id.in_(bindparam("cids", expanding=True)),
        _cm.user_id.in_(bindparam("uids", expanding=True)),
    )
    .with_for_update(of=ConversationMember.__table__)
)
# Several messages with their conversation, n and author (as above).
_MESSAGES_WITH_AUTHORS = select(_msg.id, _msg.conversation_id, _msg.n, _AUTHOR_IF_MEMBER).where(
    _msg.id.in_(bindparam("mids", expanding=True))
)
# A conversation's messages past n, oldest first, with their author as written and while still a
# member active in the org, and whether deleted: what a batch's receipts there cover and leave
# unread (messages_after).
_MESSAGES_AFTER = (
    select(_msg.n, _msg.id, _msg.author_id, _AUTHOR_IF_MEMBER, _msg.deleted_at.is_not(None))
    .where(_msg.conversation_id == bindparam("cid"), _msg.n > bindparam("after"))
    .order_by(_msg.n)
    .limit(bindparam("limit"))
)
_N = bindparam("n", type_=_cm.read_n.type)
_AT = bindparam("at", type_=_cm.read_at.type)
_MOVE_DELIVERED = (
    update(ConversationMember.__table__)
    .where(
        _cm.conversation_id == bindparam("cid"),
        _cm.user_id == bindparam("uid"),
        _cm.delivered_n < _N,
    )
    .values(delivered_n=_N, delivered_at=_AT)
)
_MOVE_READ = (
    update(ConversationMember.__table__)
    .where(
        _cm.conversation_id == bindparam("cid"),
        _cm.user_id == bindparam("uid"),
        _cm.read_n < _N,
    )
    .values(
        read_n=_N,
        read_at=_AT,
        # Reading delivers too, never moving that cursor back.
        delivered_n=case((_cm.delivered_n < _N, _N), else_=_cm.delivered_n),
        delivered_at=case((_cm.delivered_n < _N, _AT), else_=_cm.delivered_at),
    )
)

# Sending reads and delivers one's own message: both cursors to it (never unread to its author).
_OWN_MESSAGE = (
    update(ConversationMember.__table__)
    .where(_cm.conversation_id == bindparam("cid"), _cm.user_id == bindparam("uid"))
    .values(read_n=_N, delivered_n=_N, read_at=_AT, delivered_at=_AT)
)


# Each author's latest message in a range, for authors still in the conversation and active in
# its org (joined from the few messages of the range, not filtered by a list of members).
_LAST_BY_AUTHOR = (
    select(_msg.author_id, func.max(_msg.n).label("n"))
    .select_from(
        Message.__table__.join(
            ConversationMember.__table__,
            and_(_cm.conversation_id == _msg.conversation_id, _cm.user_id == _msg.author_id),
        )
        .join(Conversation.__table__, _conv.id == _msg.conversation_id)
        .join(
            Membership.__table__,
            and_(
                _ms.org_id == _conv.org_id,
                _ms.user_id == _msg.author_id,
                _ms.status == "active",
            ),
        )
    )
    .where(
        _msg.conversation_id == bindparam("cid"),
        _msg.n > bindparam("after"),
        _msg.n <= bindparam("upto"),
        _msg.author_id != bindparam("uid"),
    )
    .group_by(_msg.author_id)
    .subquery()
)
_LATEST_BY_AUTHOR = select(_msg.author_id, _msg.id, _msg.n).join(
    _LAST_BY_AUTHOR,
    and_(_msg.conversation_id == bindparam("cid"), _msg.n == _LAST_BY_AUTHOR.c.n),
)


# The reader's unread messages in one conversation once their read cursor is at n: past it, not
# theirs, not deleted (repository.unread_counts, for one conversation and built once).
_UNREAD_AFTER = select(func.count(_msg.id)).where(
    _msg.conversation_id == bindparam("cid"),
    _msg.n > bindparam("n"),
    _msg.deleted_at.is_(None),
    or_(_msg.author_id.is_(None), _msg.author_id != bindparam("uid")),
)


async def unread_after(session: AsyncSession, conversation_id: str, user_id: str, n: int) -> int:
    """How many of the conversation's messages the person has not read (as unread_counts) with
    their read cursor at n."""
    found = await session.execute(_UNREAD_AFTER, {"cid": conversation_id, "uid": user_id, "n": n})
    return int(found.scalar_one())


class Covered(NamedTuple):
    """An author's latest message among those a receipt covers."""

    author_id: str
    message_id: str
    n: int


async def latest_by_author(
    session: AsyncSession, conversation_id: str, after_n: int, upto_n: int, user_id: str
) -> list[Covered]:
    """For each author but `user_id` still in the conversation (and its org), their latest
    message with after_n < n <= upto_n."""
    rows = await session.execute(
        _LATEST_BY_AUTHOR,
        {"cid": conversation_id, "after": after_n, "upto": upto_n, "uid": user_id},
    )
    return sorted((Covered(*row) for row in rows), key=lambda c: c.n)


def _highest_of(author, upto):  # type: ignore[no-untyped-def]
    """The n of `author`'s latest message of the member's conversation up to `upto` (0: none)."""
    return func.coalesce(
        select(func.max(_msg.n))
        .where(
            _msg.conversation_id == _cm.conversation_id, _msg.author_id == author, _msg.n <= upto
        )
        .scalar_subquery(),
        0,
    )


async def receipts_seen_by(
    session: AsyncSession, conversation_id: str, viewer_id: str
) -> list[tuple[str, int, int]]:
    """Each member's (user id, deliveredN, readN) as `viewer_id` knows them (docs/chat.md): their
    own cursors exactly; another member's as far as they cover the viewer's messages, the
    member's own messages, and where the member joined."""
    viewer = bindparam("viewer", type_=_cm.user_id.type)
    never = 2**31 - 1
    own = _highest_of(_cm.user_id, never)
    rows = await session.execute(
        select(
            _cm.user_id,
            _cm.delivered_n,
            _cm.read_n,
            _highest_of(viewer, _cm.delivered_n),
            _highest_of(viewer, _cm.read_n),
            own,
            _cm.joined_n,
        )
        .where(_cm.conversation_id == bindparam("cid"))
        .order_by(_cm.user_id),
        {"cid": conversation_id, "viewer": viewer_id},
    )
    seen = []
    for user_id, delivered, read, delivered_mine, read_mine, own_n, joined in rows:
        if user_id == viewer_id:
            seen.append((user_id, delivered, read))
        else:
            floor = max(own_n, joined)
            seen.append((user_id, max(delivered_mine, floor), max(read_mine, floor)))
    return seen


async def cursors_of(session: AsyncSession, conversation_id: str, user_id: str) -> Cursors | None:
    """The person's cursors, when they are a member of the conversation and active in its org."""
    row = (await session.execute(_CURSORS, {"cid": conversation_id, "uid": user_id})).first()
    return Cursors(*row) if row is not None else None


class OneMessage(NamedTuple):
    """A member's cursors beside one message: its n (None: not one of the conversation's
    messages) and its author while still a member active in the org (else None)."""

    cursors: Cursors
    n: int | None
    author_id: str | None


async def cursors_and_n(
    session: AsyncSession, conversation_id: str, user_id: str, message_id: str
) -> OneMessage | None:
    """The person's cursors (as cursors_of) beside this message, or None when they are not a
    member."""
    row = (
        await session.execute(
            _CURSORS_AND_ONE, {"cid": conversation_id, "uid": user_id, "mid": message_id}
        )
    ).first()
    return OneMessage(Cursors(row[0], row[1], row[2]), row[3], row[4]) if row is not None else None


async def cursors_of_many(
    session: AsyncSession, members: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Cursors]:
    """cursors_of for several (conversation, person) at once, locking their rows on PostgreSQL
    until the transaction ends; the ones not found are left out."""
    wanted = set(members)
    rows = await session.execute(
        _CURSORS_OF_MANY,
        {"cids": sorted({c for c, _ in wanted}), "uids": sorted({u for _, u in wanted})},
    )
    return {
        (cid, uid): Cursors(org, d, r)
        for cid, uid, org, d, r in rows
        if (cid, uid) in wanted and org is not None
    }


class Named(NamedTuple):
    """A message a receipt names: its conversation, its n, and its author while still a member
    active in the org (else None)."""

    conversation_id: str
    n: int
    author_id: str | None


async def messages_named(session: AsyncSession, message_ids: Sequence[str]) -> dict[str, Named]:
    """The messages of these ids that exist, by id."""
    rows = await session.execute(_MESSAGES_WITH_AUTHORS, {"mids": sorted(set(message_ids))})
    return {mid: Named(cid, n, author) for mid, cid, n, author in rows}


class After(NamedTuple):
    """One of a conversation's messages past a cursor (messages_after)."""

    n: int
    message_id: str
    author_id: str | None  # as written (None: the author's account is gone)
    member_author_id: str | None  # the author while still a member active in the org
    deleted: bool


class Window(NamedTuple):
    """A conversation's messages past `after`, oldest first: what latest_by_author and unread_after
    would say for any receipt whose cursor is at or past `after`, answered in memory."""

    after: int
    messages: list[After]

    def latest_by_author(self, after_n: int, upto_n: int, user_id: str) -> list[Covered]:
        """As latest_by_author, for after_n >= self.after."""
        assert after_n >= self.after, "the window does not reach back to this cursor"
        latest: dict[str, After] = {}
        for m in self.messages:
            if after_n < m.n <= upto_n and m.member_author_id not in (None, user_id):
                latest[m.member_author_id] = m  # type: ignore[index]
        return sorted((Covered(a, m.message_id, m.n) for a, m in latest.items()), key=lambda c: c.n)

    def unread_after(self, user_id: str, n: int) -> int:
        """As unread_after, for n >= self.after."""
        assert n >= self.after, "the window does not reach back to this cursor"
        return sum(
            1
            for m in self.messages
            if m.n > n and not m.deleted and (m.author_id is None or m.author_id != user_id)
        )


async def messages_after(
    session: AsyncSession, conversation_id: str, after_n: int, limit: int
) -> Window | None:
    """The conversation's messages past after_n, or None when there are more than `limit`."""
    rows = await session.execute(
        _MESSAGES_AFTER, {"cid": conversation_id, "after": after_n, "limit": limit + 1}
    )
    found = [After(*row) for row in rows]
    return Window(after_n, found) if len(found) <= limit else None


async def move_cursor(
    session: AsyncSession, kind: str, conversation_id: str, user_id: str, n: int, at: datetime
) -> bool:
    """Move the member's `kind` ("delivered" or "read") cursor to n if it is behind; True if it moved."""
    statement = _MOVE_DELIVERED if kind == "delivered" else _MOVE_READ
    result = await session.execute(
        statement, {"cid": conversation_id, "uid": user_id, "n": n, "at": at}
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def move_cursors(
    session: AsyncSession, kind: str, moves: Sequence[tuple[str, str, int]], at: datetime
) -> None:
    """move_cursor for several (conversation, person, n) in order, in one statement run; for rows
    the caller has locked (cursors_of_many), whose moves it knows."""
    statement = _MOVE_DELIVERED if kind == "delivered" else _MOVE_READ
    await session.execute(
        statement, [{"cid": cid, "uid": uid, "n": n, "at": at} for cid, uid, n in moves]
    )


async def sent(
    session: AsyncSession, conversation_id: str, user_id: str, n: int, at: datetime
) -> None:
    """The author of message n has delivered and read it (and all before it)."""
    await session.execute(_OWN_MESSAGE, {"cid": conversation_id, "uid": user_id, "n": n, "at": at})
