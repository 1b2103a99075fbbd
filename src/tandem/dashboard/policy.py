"""Who sees which dashboard: the one place its rules are written.

SPEC §2: an org's Owners, Admins and Members see every project, so they see the org-wide
dashboard; a Guest sees only the projects they are a member of, so their dashboard (metrics and
activity) is computed over those projects alone. The room `dashboard:{orgId}` carries org-wide
values, so only Owners, Admins and Members may enter it; to a Guest it answers exactly as a room
that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.orgs import policy as orgs_policy
from tandem.orgs import repository as orgs
from tandem.realtime import rooms

WHOLE_ORG_ROLES = ("Owner", "Admin", "Member")


@dataclass(frozen=True)
class Viewer:
    """Whose dashboard: the org, and the Guest it is narrowed to (None: the whole org)."""

    org_id: str
    guest_id: str | None


def viewer_of(org_id: str, user_id: str, role: str) -> Viewer:
    return Viewer(org_id, None if role in WHOLE_ORG_ROLES else user_id)


@rooms.room_policy("dashboard")
async def dashboard_room(session: AsyncSession, user_id: str, org_id: str) -> rooms.Grant | None:
    """Active Owners, Admins and Members may enter `dashboard:{orgId}`; its events are the
    dashboard phase's. Guests may not: they get theirs on their own user room."""
    held = await orgs.membership(session, org_id, user_id)
    if held is None or held.role not in WHOLE_ORG_ROLES:
        return None
    return rooms.Grant(rooms.dashboard_room(org_id), org_id, "dashboard")


async def reading_viewer(member: orgs_policy.ReadingMember) -> Viewer:
    return viewer_of(member.org_id, member.id, member.role)


ReadingViewer = Annotated[Viewer, Depends(reading_viewer)]
