"""Who may see and change what in an organization: the one place its rules are written.

SPEC §2's rules: Owners and Admins manage members; only an Owner makes, changes or removes an
Owner, or changes feature flags; an organization always keeps an Owner; and nobody outside an
org learns it exists (every question about an org you are not in answers "not found", exactly
as for an org that does not exist). The HTTP dependencies, the services' checks under lock and
the socket room `org:{id}` all ask these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.deps import Caller, CallerDep, ReadingCallerDep, ReadSession, Session
from tandem.kit.errors import Conflict, Forbidden, NotFound
from tandem.kit.ids import id_in_path
from tandem.orgs import repository
from tandem.orgs.repository import Held
from tandem.realtime import rooms

MANAGERS = ("Owner", "Admin")


def not_found() -> NotFound:
    return NotFound("organization not found")


def require_active(held: Held | None) -> Held:
    if held is None:
        raise not_found()
    return held


def require_manager(held: Held | None) -> Held:
    held = require_active(held)
    if held.role not in MANAGERS:
        raise Forbidden("only Owners and Admins manage members")
    return held


def require_owner(held: Held | None, action: str) -> Held:
    held = require_active(held)
    if held.role != "Owner":
        raise Forbidden(f"only an Owner {action}")
    return held


def check_invite(actor: Held, role: str) -> None:
    if role == "Owner" and actor.role != "Owner":
        raise Forbidden("only an Owner can invite an Owner")


def check_role_change(actor: Held, target: Held, role: str) -> None:
    if actor.role != "Owner" and (role == "Owner" or target.role == "Owner"):
        raise Forbidden("only an Owner can make or change an Owner")


def check_removal(actor: Held, target: Held) -> None:
    if target.role == "Owner" and actor.role != "Owner":
        raise Forbidden("only an Owner can remove an Owner")


def keep_an_owner(owners: int, message: str) -> None:
    """An Owner is about to stop being one (demoted, removed, leaving): refuse if they are the last."""
    if owners <= 1:
        raise Conflict(message)


@rooms.room_policy("org")
async def org_room(session: AsyncSession, user_id: str, org_id: str) -> rooms.Grant | None:
    """Any active member may enter `org:{id}`; its events belong to the members phase."""
    if await repository.membership(session, org_id, user_id) is None:
        return None
    return rooms.Grant(rooms.org_room(org_id), org_id, "members")


# -- HTTP dependencies: the caller, checked against the org in the path -------------------

OrgId = id_in_path()


@dataclass(frozen=True)
class OrgCaller:
    """The signed-in caller and their membership of the org named in the path."""

    caller: Caller
    org_id: str
    role: str

    @property
    def id(self) -> str:
        return self.caller.id


async def _member(caller: Caller, session: AsyncSession, org_id: str) -> OrgCaller:
    held = require_active(await repository.membership(session, org_id, caller.id))
    return OrgCaller(caller, org_id, held.role)


async def reading_member(
    caller: ReadingCallerDep, session: ReadSession, org_id: str = OrgId
) -> OrgCaller:
    return await _member(caller, session, org_id)


async def reading_manager(
    caller: ReadingCallerDep, session: ReadSession, org_id: str = OrgId
) -> OrgCaller:
    checked = await _member(caller, session, org_id)
    require_manager(Held(checked.id, checked.role, "active"))
    return checked


async def member(caller: CallerDep, session: Session, org_id: str = OrgId) -> OrgCaller:
    return await _member(caller, session, org_id)


async def owner(caller: CallerDep, session: Session, org_id: str = OrgId) -> OrgCaller:
    checked = await _member(caller, session, org_id)
    require_owner(Held(checked.id, checked.role, "active"), "changes feature flags")
    return checked


ReadingMember = Annotated[OrgCaller, Depends(reading_member)]
ReadingManager = Annotated[OrgCaller, Depends(reading_manager)]
Member = Annotated[OrgCaller, Depends(member)]
Owner = Annotated[OrgCaller, Depends(owner)]
