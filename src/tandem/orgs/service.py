"""Organizations and their members, with SPEC §2's role rules.

Owners and Admins manage members; only an Owner makes or touches an Owner; an
organization always keeps an Owner; nobody outside an org learns it exists
(every question about an org you are not in answers "not found").
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from tandem.auth.models import Profile, User
from tandem.kit.clock import iso, utcnow
from tandem.kit.errors import Conflict, Forbidden, NotFound, Unauthenticated
from tandem.kit.ids import new_id, new_token
from tandem.kit.prepared import Prepared
from tandem.orgs.events import (
    OrgMember,
    OrgMemberJoined,
    OrgMemberLeft,
    OrgMemberRemoved,
    OrgMemberUpdated,
)
from tandem.orgs.models import Invite, Membership, Organization
from tandem.realtime import log as event_log
from tandem.realtime import outbox
from tandem.realtime.presence import LocalPresence
from tandem.realtime.rooms import org_room, user_room

MANAGERS = ("Owner", "Admin")


def _reauthorize(user_id: str, org_id: str) -> dict:
    return {"type": "reauthorize", "userId": user_id, "orgId": org_id}


async def create_org(session: AsyncSession, owner: User | Profile, name: str) -> Organization:
    org = Organization(id=new_id("org"), name=name.strip())
    session.add(org)
    await session.flush()
    session.add(Membership(org_id=org.id, user_id=owner.id, role="Owner", status="active"))
    await session.flush()
    return org


async def membership_of(session: AsyncSession, org_id: str, user_id: str, *, lock: bool = False) -> Membership | None:
    query = select(Membership).where(
        Membership.org_id == org_id, Membership.user_id == user_id, Membership.status == "active")
    if lock:
        # Changes to one membership queue up (PostgreSQL), so their events leave in the order they happened
        # and a change never applies to a row another transaction just deleted.
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def require_member(session: AsyncSession, org_id: str, user_id: str, *, lock: bool = False) -> Membership:
    """The caller's membership, or 'not found' exactly as for an org that does not exist."""
    membership = await membership_of(session, org_id, user_id, lock=lock)
    if membership is None:
        raise NotFound("organization not found")
    return membership


async def require_manager(session: AsyncSession, org_id: str, user_id: str) -> Membership:
    membership = await require_member(session, org_id, user_id)
    if membership.role not in MANAGERS:
        raise Forbidden("only Owners and Admins manage members")
    return membership


# The change_role hot path's statements are built once (bind parameters, not literals): building a
# select and its cache key on every request cost more CPU than SQLite spends running it (issue 4). They
# are Core statements returning plain rows: loading ORM objects doubled the cost of each (issue 4).
_M = Membership.__table__
_U = User.__table__
_O = Organization.__table__
_LOCK_ORG = Prepared(select(_O.c.id).where(_O.c.id == bindparam("org_id")).with_for_update())
# Two plain parameters, not one expanding list: SQLAlchemy rewrites an expanding IN's SQL on every
# execution (a regex substitution; a few % of a PATCH, issue 4). The same statement otherwise.
_ACTOR_AND_TARGET = [bindparam(name, type_=_M.c.user_id.type) for name in ("actor_id", "target_id")]
# The role change's own statements run on the DBAPI cursor (kit/prepared.py: a quarter of the CPU of
# Connection.execute each; issue 4).
_MANAGER_AND_TARGET = Prepared(
    select(_M.c.user_id, _M.c.role, _M.c.status)
    .where(_M.c.org_id == bindparam("org_id"), _M.c.user_id.in_(_ACTOR_AND_TARGET), _M.c.status == "active")
    .with_for_update()
)
_PROFILE = Prepared(select(_U.c.id, _U.c.name, _U.c.email, _U.c.avatar_url).where(_U.c.id == bindparam("user_id")))
_SET_ROLE = Prepared(
    _M.update()
    .where(_M.c.org_id == bindparam("m_org_id"), _M.c.user_id == bindparam("m_user_id"))
    .values(role=bindparam("m_role"))
)
_DELETE_MEMBERSHIP = _M.delete().where(_M.c.org_id == bindparam("m_org_id"), _M.c.user_id == bindparam("m_user_id"))
_OWNER_COUNT = (
    select(func.count()).select_from(_M)
    .where(_M.c.org_id == bindparam("org_id"), _M.c.role == "Owner", _M.c.status == "active")
)


def _serialize_membership_changes(conn: Connection, org_id: str) -> None:
    """Lock the organization's row: changes to one org's memberships (role, removal, leaving, joining)
    run one at a time (PostgreSQL), so rules that count rows — an org always keeps an Owner — hold
    under concurrency and no two changes can deadlock on each other's member rows. (On SQLite every
    writer already runs alone: BEGIN IMMEDIATE.)"""
    if conn.dialect.name != "sqlite":
        _LOCK_ORG.rows(conn, {"org_id": org_id})


def _lock_org(session: Session, org_id: str) -> None:
    _serialize_membership_changes(session.connection(), org_id)


def _owners(session: Session, org_id: str) -> int:
    return _owner_count(session.connection(), org_id)


class _Held(NamedTuple):
    """A membership read under lock: who, in which role."""

    user_id: str
    role: str
    status: str


def _manager_and_target(conn: Connection, org_id: str, actor_id: str, user_id: str) -> tuple[_Held, _Held]:
    """The acting manager's membership and the target's, in one locked read (their order of checks kept:
    not a member → org not found; not a manager → forbidden; no such target → member not found)."""
    found = _MANAGER_AND_TARGET.rows(conn, {"org_id": org_id, "actor_id": actor_id, "target_id": user_id})
    rows = {row[0]: _Held(row[0], row[1], row[2]) for row in found}
    mine = rows.get(actor_id)
    if mine is None:
        raise NotFound("organization not found")
    if mine.role not in MANAGERS:
        raise Forbidden("only Owners and Admins manage members")
    target = rows.get(user_id)
    if target is None:
        raise NotFound("member not found")
    return mine, target


def _owner_count(conn: Connection, org_id: str) -> int:
    return int(conn.scalar(_OWNER_COUNT, {"org_id": org_id}) or 0)


def _member_model(user: User, membership: Membership) -> OrgMember:
    return OrgMember(user_id=user.id, name=user.name, email=user.email, role=membership.role,  # type: ignore[arg-type]
                     status=membership.status, avatar_url=user.avatar_url)  # type: ignore[arg-type]


async def member_view(session: AsyncSession, org_id: str, user_id: str) -> OrgMember:
    row = (await session.execute(
        select(User, Membership).join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == org_id, Membership.user_id == user_id)
    )).first()
    if row is None:
        raise NotFound("member not found")
    return _member_model(row[0], row[1])


def _view_of(conn: Connection, membership: _Held) -> OrgMember:
    """A membership already in hand, with its person's profile read now (after any lock was taken)."""
    user = _PROFILE.first(conn, {"user_id": membership.user_id})
    if user is None:
        raise NotFound("member not found")
    user_id, name, email, avatar_url = user
    return OrgMember(user_id=user_id, name=name, email=email, role=membership.role,  # type: ignore[arg-type]
                     status=membership.status, avatar_url=avatar_url)  # type: ignore[arg-type]


async def _record_member_updated(session: AsyncSession, member: OrgMember, org_id: str, *, actor_id: str) -> None:
    await outbox.record(session, OrgMemberUpdated(organization_id=org_id, member=member), [org_room(org_id)],
                        org_id=org_id, actor_id=actor_id, control=_reauthorize(member.user_id, org_id))


async def announce_member_updated(session: AsyncSession, org_id: str, user_id: str, *, actor_id: str) -> None:
    await _record_member_updated(session, await member_view(session, org_id, user_id), org_id, actor_id=actor_id)


async def list_members(session: AsyncSession, presence: LocalPresence, org_id: str, caller_id: str) -> tuple[list[dict], int]:
    await require_member(session, org_id, caller_id)
    cursor = await event_log.latest_seq(session)  # read before the state: see SPEC §5.4
    rows = (await session.execute(
        select(User, Membership).join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == org_id, Membership.status == "active")
        .order_by(func.lower(User.name), User.id)
    )).all()
    online = await presence.online(u.id for u, _ in rows)
    members = []
    for user, membership in rows:
        view = _member_model(user, membership).wire()
        view["online"] = user.id in online
        view["lastActiveAt"] = iso(user.last_active_at)
        members.append(view)
    return members, cursor


async def org_name(session: AsyncSession, org_id: str) -> str:
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("organization not found")
    return org.name


async def create_invite(session: AsyncSession, org_id: str, actor: User | Profile, email: str, role: str) -> Invite:
    mine = await require_manager(session, org_id, actor.id)
    if role == "Owner" and mine.role != "Owner":
        raise Forbidden("only an Owner can invite an Owner")
    email = email.strip().lower()
    existing_user = await session.scalar(select(User).where(User.email == email))
    if existing_user is not None and await membership_of(session, org_id, existing_user.id):
        raise Conflict("this person is already a member")
    pending = await session.scalar(
        select(Invite).where(Invite.org_id == org_id, Invite.email == email, Invite.accepted_at.is_(None))
    )
    if pending is not None:  # one live invite per address: the newest wins
        await session.delete(pending)
        await session.flush()
    invite = Invite(token=new_token(24), org_id=org_id, email=email, role=role, invited_by=actor.id)
    session.add(invite)
    await session.flush()
    return invite


async def list_invites(session: AsyncSession, org_id: str, actor_id: str) -> list[Invite]:
    await require_manager(session, org_id, actor_id)
    return list(await session.scalars(
        select(Invite).where(Invite.org_id == org_id, Invite.accepted_at.is_(None)).order_by(Invite.created_at)
    ))


async def open_invite(session: AsyncSession, token: str, *, lock: bool = False) -> tuple[Invite, Organization]:
    invite = await session.get(Invite, token, with_for_update=lock) if token and len(token) <= 64 else None
    if invite is None or invite.accepted_at is not None:
        raise NotFound("this invite does not exist or was already used")
    org = await session.get(Organization, invite.org_id)
    if org is None:
        raise NotFound("this invite does not exist or was already used")
    return invite, org


async def accept_invite(session: AsyncSession, token: str, person: User | Profile) -> tuple[Membership, Organization]:
    # Locked: two tabs accepting at once must not both insert the membership (PostgreSQL).
    invite, org = await open_invite(session, token, lock=True)
    # The joined event carries the profile: read it under a share lock, so a concurrent PATCH /me either
    # commits first (and we carry its name) or waits for us (and then sees this membership).
    user = await session.get(User, person.id, with_for_update={"read": True}, populate_existing=True)
    if user is None:  # deleted since the request was authenticated
        raise Unauthenticated("this login has ended; sign in again")
    if invite.email != user.email.lower():
        raise Forbidden("this invite was sent to another email address")
    if await membership_of(session, org.id, user.id):
        raise Conflict("you are already a member of this organization")
    invite.accepted_at = utcnow()
    membership = Membership(org_id=org.id, user_id=user.id, role=invite.role, status="active")
    session.add(membership)
    await session.flush()
    await outbox.record(session, OrgMemberJoined(organization_id=org.id, member=_member_model(user, membership)),
                        [org_room(org.id)], org_id=org.id, actor_id=user.id)
    return membership, org


# The role rules run as one synchronous block on the unit of work's connection (Session.run_sync): SQLAlchemy's
# asyncio layer starts a greenlet, and wraps the session and the result, for every statement awaited on
# its own — about half of what each of these few-µs statements cost (issue 4). They are Core statements,
# which the session would not have autoflushed for either.


def _set_role(session: Session, org_id: str, actor_id: str, user_id: str, role: str) -> OrgMember:
    """The role rules, the change and its event; returns the member as it now is."""
    conn = session.connection()
    _serialize_membership_changes(conn, org_id)
    mine, target = _manager_and_target(conn, org_id, actor_id, user_id)
    if mine.role != "Owner" and (role == "Owner" or target.role == "Owner"):
        raise Forbidden("only an Owner can make or change an Owner")
    if target.role == role:
        return _view_of(conn, target)
    if target.role == "Owner" and _owner_count(conn, org_id) <= 1:
        raise Conflict("an organization must keep an Owner: make someone else Owner first")
    _SET_ROLE.run(conn, {"m_org_id": org_id, "m_user_id": user_id, "m_role": role})
    member = _view_of(conn, target._replace(role=role))
    outbox.record_now(session, OrgMemberUpdated(organization_id=org_id, member=member), [org_room(org_id)],
                      org_id=org_id, actor_id=actor_id, control=_reauthorize(member.user_id, org_id))
    return member


async def change_role(session: AsyncSession, org_id: str, actor: User | Profile, user_id: str, role: str) -> OrgMember:
    return await session.run_sync(_set_role, org_id, actor.id, user_id, role)


def _remove(session: Session, org_id: str, actor_id: str, user_id: str) -> None:
    """The removal rules and the removal."""
    conn = session.connection()
    _serialize_membership_changes(conn, org_id)
    mine, target = _manager_and_target(conn, org_id, actor_id, user_id)
    if target.role == "Owner" and mine.role != "Owner":
        raise Forbidden("only an Owner can remove an Owner")
    if target.role == "Owner" and _owner_count(conn, org_id) <= 1:
        raise Conflict("an organization must keep an Owner")
    conn.execute(_DELETE_MEMBERSHIP, {"m_org_id": org_id, "m_user_id": user_id})


async def remove_member(session: AsyncSession, org_id: str, actor: User | Profile, user_id: str) -> None:
    await session.run_sync(_remove, org_id, actor.id, user_id)
    await outbox.record(
        session, OrgMemberRemoved(organization_id=org_id, user_id=user_id, removed_by=actor.id),
        [org_room(org_id), user_room(user_id)], org_id=org_id, actor_id=actor.id,
        control=_reauthorize(user_id, org_id),
    )


async def leave(session: AsyncSession, org_id: str, user: User | Profile) -> None:
    await session.run_sync(_lock_org, org_id)
    mine = await require_member(session, org_id, user.id, lock=True)
    if mine.role == "Owner" and await session.run_sync(_owners, org_id) <= 1:
        raise Conflict("you are the last Owner: make someone else Owner before leaving")
    await session.delete(mine)
    await session.flush()
    # Also to their own room, so the leaver's other tabs learn it too.
    await outbox.record(session, OrgMemberLeft(organization_id=org_id, user_id=user.id),
                        [org_room(org_id), user_room(user.id)],
                        org_id=org_id, actor_id=user.id, control=_reauthorize(user.id, org_id))
