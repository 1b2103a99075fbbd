"""The organizations domain's SQL: organizations, memberships, invites.

Statements are built once, at import, with bind parameters: each request only runs them.
Reads that a rule depends on take row locks on PostgreSQL (`FOR UPDATE`); SQLite runs one
writer at a time anyway.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.auth.models import User
from tandem.orgs.models import Invite, Membership, Organization


class Held(NamedTuple):
    """A membership as read: who, in which role."""

    user_id: str
    role: str
    status: str


class MemberRow(NamedTuple):
    """A member with the profile others see."""

    user_id: str
    name: str
    email: str
    avatar_url: str | None
    role: str
    status: str
    last_active_at: object


_LOCK_ORG = select(Organization.id).where(Organization.id == bindparam("org_id")).with_for_update()

_MEMBERSHIP = select(Membership.user_id, Membership.role, Membership.status).where(
    Membership.org_id == bindparam("org_id"),
    Membership.user_id == bindparam("user_id"),
    Membership.status == "active",
)
_MEMBERSHIP_LOCKED = _MEMBERSHIP.with_for_update()

# Two plain parameters rather than an expanding IN: the same statement text on every call.
_TWO_MEMBERSHIPS_LOCKED = (
    select(Membership.user_id, Membership.role, Membership.status)
    .where(
        Membership.org_id == bindparam("org_id"),
        Membership.user_id.in_([bindparam("first_id"), bindparam("second_id")]),
        Membership.status == "active",
    )
    .with_for_update()
)

_OWNER_COUNT = (
    select(func.count())
    .select_from(Membership)
    .where(
        Membership.org_id == bindparam("org_id"),
        Membership.role == "Owner",
        Membership.status == "active",
    )
)

_SET_ROLE = (
    update(Membership.__table__)
    .where(Membership.org_id == bindparam("m_org_id"), Membership.user_id == bindparam("m_user_id"))
    .values(role=bindparam("m_role"))
)

_DELETE_MEMBERSHIP = delete(Membership.__table__).where(
    Membership.org_id == bindparam("m_org_id"), Membership.user_id == bindparam("m_user_id")
)

_MEMBER_COLUMNS = (
    User.id,
    User.name,
    User.email,
    User.avatar_url,
    Membership.role,
    Membership.status,
    User.last_active_at,
)

_MEMBER = (
    select(*_MEMBER_COLUMNS)
    .join(Membership, Membership.user_id == User.id)
    .where(Membership.org_id == bindparam("org_id"), Membership.user_id == bindparam("user_id"))
)

_MEMBERS = (
    select(*_MEMBER_COLUMNS)
    .join(Membership, Membership.user_id == User.id)
    .where(Membership.org_id == bindparam("org_id"), Membership.status == "active")
    .order_by(func.lower(User.name), User.id)
)

_LOCK_USER = select(User.id).where(User.id == bindparam("user_id")).with_for_update()

_OWNED_COUNT = (
    select(func.count())
    .select_from(Membership)
    .where(
        Membership.user_id == bindparam("user_id"),
        Membership.role == "Owner",
        Membership.status == "active",
    )
)

_ACTIVE_ORG_IDS = select(Membership.org_id).where(
    Membership.user_id == bindparam("user_id"), Membership.status == "active"
)


async def lock_org(session: AsyncSession, org_id: str) -> None:
    """Changes to one org's memberships (role, removal, leaving, joining) run one at a time on
    PostgreSQL, so rules that count rows — an org always keeps an Owner — hold under concurrency,
    and two changes cannot deadlock on each other's member rows."""
    if session.get_bind().dialect.name != "sqlite":
        await session.execute(_LOCK_ORG, {"org_id": org_id})


async def membership(
    session: AsyncSession, org_id: str, user_id: str, *, lock: bool = False
) -> Held | None:
    statement = _MEMBERSHIP_LOCKED if lock else _MEMBERSHIP
    row = (await session.execute(statement, {"org_id": org_id, "user_id": user_id})).first()
    return Held(row[0], row[1], row[2]) if row is not None else None


async def two_memberships(
    session: AsyncSession, org_id: str, first_id: str, second_id: str
) -> dict[str, Held]:
    """Two people's memberships in one locked read, by user id (absent: not an active member)."""
    rows = await session.execute(
        _TWO_MEMBERSHIPS_LOCKED, {"org_id": org_id, "first_id": first_id, "second_id": second_id}
    )
    return {row[0]: Held(row[0], row[1], row[2]) for row in rows}


async def owner_count(session: AsyncSession, org_id: str) -> int:
    return int(await session.scalar(_OWNER_COUNT, {"org_id": org_id}) or 0)


async def owned_org_count(session: AsyncSession, user_id: str) -> int:
    """How many organizations this person owns; on PostgreSQL their row is locked first, so two
    creates at the cap cannot both pass."""
    if session.get_bind().dialect.name != "sqlite":
        await session.execute(_LOCK_USER, {"user_id": user_id})
    return int(await session.scalar(_OWNED_COUNT, {"user_id": user_id}) or 0)


async def set_role(session: AsyncSession, org_id: str, user_id: str, role: str) -> None:
    await session.execute(_SET_ROLE, {"m_org_id": org_id, "m_user_id": user_id, "m_role": role})


async def delete_membership(session: AsyncSession, org_id: str, user_id: str) -> None:
    await session.execute(_DELETE_MEMBERSHIP, {"m_org_id": org_id, "m_user_id": user_id})


async def member(session: AsyncSession, org_id: str, user_id: str) -> MemberRow | None:
    row = (await session.execute(_MEMBER, {"org_id": org_id, "user_id": user_id})).first()
    return MemberRow(*row) if row is not None else None


async def members(session: AsyncSession, org_id: str) -> list[MemberRow]:
    return [MemberRow(*row) for row in await session.execute(_MEMBERS, {"org_id": org_id})]


async def active_org_ids(session: AsyncSession, user_id: str) -> list[str]:
    return list((await session.scalars(_ACTIVE_ORG_IDS, {"user_id": user_id})).all())


async def active_org_ids_of(session: AsyncSession, user_ids: list[str]) -> dict[str, list[str]]:
    """Each of these people's active orgs, in one query."""
    rows = await session.execute(
        select(Membership.user_id, Membership.org_id).where(
            Membership.user_id.in_(user_ids), Membership.status == "active"
        )
    )
    found: dict[str, list[str]] = {user_id: [] for user_id in user_ids}
    for user_id, org_id in rows:
        found[user_id].append(org_id)
    return found


async def organization(session: AsyncSession, org_id: str) -> Organization | None:
    return await session.get(Organization, org_id)


async def pending_invite(session: AsyncSession, org_id: str, email: str) -> Invite | None:
    return await session.scalar(
        select(Invite).where(
            Invite.org_id == org_id, Invite.email == email, Invite.accepted_at.is_(None)
        )
    )


async def pending_invites(session: AsyncSession, org_id: str) -> list[Invite]:
    return list(
        await session.scalars(
            select(Invite)
            .where(Invite.org_id == org_id, Invite.accepted_at.is_(None))
            .order_by(Invite.created_at)
        )
    )


async def invite(session: AsyncSession, token: str, *, lock: bool = False) -> Invite | None:
    return await session.get(Invite, token, with_for_update=lock)


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))
