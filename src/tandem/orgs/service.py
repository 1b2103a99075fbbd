"""Organizations and their members: create, invite, join, change a role, remove, leave.

Each operation is one body — lock, check (orgs/policy.py), write, record the event — and never
commits: the request's unit of work does. A membership change locks the org's row first, so
changes to one org run one at a time and their events leave in the order they happened.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.auth.models import Profile, User
from tandem.kit.clock import iso, utcnow
from tandem.kit.errors import Conflict, Forbidden, NotFound, Unauthenticated
from tandem.kit.ids import new_id, new_token
from tandem.orgs import policy, repository
from tandem.orgs.events import (
    OrgMember,
    OrgMemberJoined,
    OrgMemberLeft,
    OrgMemberRemoved,
    OrgMemberUpdated,
)
from tandem.orgs.models import Invite, Membership, Organization
from tandem.orgs.repository import Held, MemberRow
from tandem.realtime import log as event_log
from tandem.realtime import outbox
from tandem.realtime.presence import LocalPresence
from tandem.realtime.rooms import org_room, user_room


def _member(row: MemberRow) -> OrgMember:
    return OrgMember(
        user_id=row.user_id,
        name=row.name,
        email=row.email,
        role=row.role,  # type: ignore[arg-type]
        status=row.status,
        avatar_url=row.avatar_url,
    )  # type: ignore[arg-type]


async def create_org(
    session: AsyncSession, owner: User | Profile, name: str, *, max_owned: int
) -> Organization:
    """Create an organization with `owner` as its Owner, within the cap on organizations owned."""
    if await repository.owned_org_count(session, owner.id) >= max_owned:
        raise Conflict(f"you already own {max_owned} organizations, the most one account may own")
    org = Organization(id=new_id("org"), name=name)
    session.add(org)
    await session.flush()
    session.add(Membership(org_id=org.id, user_id=owner.id, role="Owner", status="active"))
    await session.flush()
    return org


async def org_name(session: AsyncSession, org_id: str) -> str:
    org = await repository.organization(session, org_id)
    if org is None:
        raise policy.not_found()
    return org.name


async def list_members(
    session: AsyncSession, presence: LocalPresence, org_id: str
) -> tuple[list[dict], int]:
    """The members table's snapshot: every active member with presence, and the event cursor."""
    cursor = await event_log.latest_seq(session)  # read before the state: see SPEC §5.4
    rows = await repository.members(session, org_id)
    online = await presence.online(row.user_id for row in rows)
    members = []
    for row in rows:
        view = _member(row).wire()
        view["online"] = row.user_id in online
        view["lastActiveAt"] = iso(row.last_active_at)  # type: ignore[arg-type]
        members.append(view)
    return members, cursor


async def announce_member_updated(
    session: AsyncSession, org_id: str, user_id: str, *, actor_id: str
) -> None:
    """Tell the org a member's profile changed (their name or avatar)."""
    row = await repository.member(session, org_id, user_id)
    if row is None:
        raise NotFound("member not found")
    await outbox.record(
        session,
        OrgMemberUpdated(organization_id=org_id, member=_member(row)),
        [org_room(org_id)],
        org_id=org_id,
        actor_id=actor_id,
    )


async def create_invite(
    session: AsyncSession, org_id: str, actor: User | Profile, email: str, role: str
) -> Invite:
    mine = policy.require_manager(await repository.membership(session, org_id, actor.id))
    policy.check_invite(mine, role)
    email = email.strip().lower()
    existing_user = await repository.user_by_email(session, email)
    if existing_user is not None and await repository.membership(session, org_id, existing_user.id):
        raise Conflict("this person is already a member")
    pending = await repository.pending_invite(session, org_id, email)
    if pending is not None:  # one live invite per address: the newest wins
        await session.delete(pending)
        await session.flush()
    invite = Invite(token=new_token(24), org_id=org_id, email=email, role=role, invited_by=actor.id)
    session.add(invite)
    await session.flush()
    return invite


async def list_invites(session: AsyncSession, org_id: str) -> list[Invite]:
    return await repository.pending_invites(session, org_id)


async def open_invite(
    session: AsyncSession, token: str, *, lock: bool = False
) -> tuple[Invite, Organization]:
    invite = (
        await repository.invite(session, token, lock=lock) if token and len(token) <= 64 else None
    )
    if invite is None or invite.accepted_at is not None:
        raise NotFound("this invite does not exist or was already used")
    org = await repository.organization(session, invite.org_id)
    if org is None:
        raise NotFound("this invite does not exist or was already used")
    return invite, org


async def accept_invite(
    session: AsyncSession, token: str, person: User | Profile
) -> tuple[Membership, Organization]:
    # Locked: two tabs accepting at once must not both insert the membership (PostgreSQL).
    invite, org = await open_invite(session, token, lock=True)
    # The joined event carries the profile: read it under a share lock, so a concurrent PATCH /me either
    # commits first (and we carry its name) or waits for us (and then sees this membership).
    user = await session.get(
        User, person.id, with_for_update={"read": True}, populate_existing=True
    )
    if user is None:  # deleted since the request was authenticated
        raise Unauthenticated("this login has ended; sign in again")
    if invite.email != user.email.lower():
        raise Forbidden("this invite was sent to another email address")
    if await repository.membership(session, org.id, user.id):
        raise Conflict("you are already a member of this organization")
    invite.accepted_at = utcnow()
    membership = Membership(org_id=org.id, user_id=user.id, role=invite.role, status="active")
    session.add(membership)
    await session.flush()
    member = OrgMember(
        user_id=user.id,
        name=user.name,
        email=user.email,
        role=invite.role,  # type: ignore[arg-type]
        status="active",
        avatar_url=user.avatar_url,
    )
    await outbox.record(
        session,
        OrgMemberJoined(organization_id=org.id, member=member),
        [org_room(org.id)],
        org_id=org.id,
        actor_id=user.id,
    )
    return membership, org


async def _manager_and_target(
    session: AsyncSession, org_id: str, actor_id: str, user_id: str
) -> tuple[Held, Held]:
    """With the org locked: the acting manager's membership and the target's, in that order of checks
    (not a member: org not found; not a manager: forbidden; no such target: member not found)."""
    await repository.lock_org(session, org_id)
    held = await repository.two_memberships(session, org_id, actor_id, user_id)
    mine = policy.require_manager(held.get(actor_id))
    target = held.get(user_id)
    if target is None:
        raise NotFound("member not found")
    return mine, target


async def change_role(
    session: AsyncSession, org_id: str, actor: User | Profile, user_id: str, role: str
) -> OrgMember:
    """Change a member's role (SPEC §2's rules); returns the member as they now are."""
    mine, target = await _manager_and_target(session, org_id, actor.id, user_id)
    policy.check_role_change(mine, target, role)
    if target.role != role:
        if target.role == "Owner":
            policy.keep_an_owner(
                await repository.owner_count(session, org_id),
                "an organization must keep an Owner: make someone else Owner first",
            )
        await repository.set_role(session, org_id, user_id, role)
    row = await repository.member(session, org_id, user_id)
    if row is None:
        raise NotFound("member not found")
    member = _member(row)
    if target.role != role:
        await outbox.record(
            session,
            OrgMemberUpdated(organization_id=org_id, member=member),
            [org_room(org_id)],
            org_id=org_id,
            actor_id=actor.id,
            control=outbox.reauthorize(user_id, org_id),
        )
    return member


async def remove_member(
    session: AsyncSession, org_id: str, actor: User | Profile, user_id: str
) -> None:
    mine, target = await _manager_and_target(session, org_id, actor.id, user_id)
    policy.check_removal(mine, target)
    if target.role == "Owner":
        policy.keep_an_owner(
            await repository.owner_count(session, org_id), "an organization must keep an Owner"
        )
    await repository.delete_membership(session, org_id, user_id)
    # Also to the removed person's own room: their other pages learn it there.
    await outbox.record(
        session,
        OrgMemberRemoved(organization_id=org_id, user_id=user_id, removed_by=actor.id),
        [org_room(org_id), user_room(user_id)],
        org_id=org_id,
        actor_id=actor.id,
        control=outbox.reauthorize(user_id, org_id),
    )


async def leave(session: AsyncSession, org_id: str, user: User | Profile) -> None:
    await repository.lock_org(session, org_id)
    mine = policy.require_active(await repository.membership(session, org_id, user.id, lock=True))
    if mine.role == "Owner":
        policy.keep_an_owner(
            await repository.owner_count(session, org_id),
            "you are the last Owner: make someone else Owner before leaving",
        )
    await repository.delete_membership(session, org_id, user.id)
    # Also to their own room, so the leaver's other tabs learn it too.
    await outbox.record(
        session,
        OrgMemberLeft(organization_id=org_id, user_id=user.id),
        [org_room(org_id), user_room(user.id)],
        org_id=org_id,
        actor_id=user.id,
        control=outbox.reauthorize(user.id, org_id),
    )
