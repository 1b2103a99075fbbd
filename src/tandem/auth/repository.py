"""The accounts domain's SQL: people, logins, and the organizations a person belongs to."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.auth.models import LoginSession, User
from tandem.orgs.models import Membership, Organization


class CallerRow(NamedTuple):
    id: str
    email: str
    name: str
    avatar_url: str | None
    revoked: bool


# Every authenticated request runs this one.
_CALLER = (
    select(User.id, User.email, User.name, User.avatar_url, LoginSession.revoked_at.is_not(None))
    .join(LoginSession, LoginSession.user_id == User.id)
    .where(User.id == bindparam("user_id"), LoginSession.id == bindparam("session_id"))
)

_MEMBERSHIPS = (
    select(Organization.id, Organization.name, Membership.role)
    .join(Membership, Membership.org_id == Organization.id)
    .where(Membership.user_id == bindparam("user_id"), Membership.status == "active")
    .order_by(Organization.name)
)
_MEMBERSHIPS_LOCKED = _MEMBERSHIPS.with_for_update(read=True, of=Membership)

_LOGIN = select(LoginSession.user_id, LoginSession.revoked_at).where(
    LoginSession.id == bindparam("session_id")
)


async def caller(session: AsyncSession, user_id: str, session_id: str) -> CallerRow | None:
    row = (await session.execute(_CALLER, {"user_id": user_id, "session_id": session_id})).first()
    return CallerRow(*row) if row is not None else None


async def login_is_live(session: AsyncSession, user_id: str, session_id: str) -> bool:
    row = (await session.execute(_LOGIN, {"session_id": session_id})).first()
    return row is not None and row[0] == user_id and row[1] is None


async def revoked_logins(session: AsyncSession, session_ids: set[str]) -> set[str]:
    if not session_ids:
        return set()
    return set(
        (
            await session.scalars(
                select(LoginSession.id).where(
                    LoginSession.id.in_(session_ids), LoginSession.revoked_at.is_not(None)
                )
            )
        ).all()
    )


async def memberships(
    session: AsyncSession, user_id: str, *, lock: bool = False
) -> list[tuple[str, str, str]]:
    """(org id, org name, role) of every org the person is an active member of, by name."""
    rows = await session.execute(
        _MEMBERSHIPS_LOCKED if lock else _MEMBERSHIPS, {"user_id": user_id}
    )
    return [(row[0], row[1], row[2]) for row in rows]


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def email_taken(session: AsyncSession, email: str) -> bool:
    return bool(
        await session.scalar(select(func.count()).select_from(User).where(User.email == email))
    )


async def end_other_logins(
    session: AsyncSession, user_id: str, keep: str, now: datetime
) -> list[str]:
    """Revoke every live login of the person but `keep`; returns the ids revoked."""
    rows = await session.scalars(
        update(LoginSession)
        .where(
            LoginSession.user_id == user_id,
            LoginSession.id != keep,
            LoginSession.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .returning(LoginSession.id)
    )
    return list(rows.all())
