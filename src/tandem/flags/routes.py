"""An organization's feature flags: read by members, overridden by Owners."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import StrictBool

from tandem.deps import Session
from tandem.flags import service
from tandem.orgs import policy
from tandem.realtime.envelope import Model

router = APIRouter(tags=["flags"])

# service.PHASES as a type, so the OpenAPI document lists the phases (tests check the two agree).
Phase = Literal["members", "dashboard", "kanban", "task", "project", "chat"]


class FlagsOut(Model):
    flags: dict[str, bool]


class FlagOverrideIn(Model):
    enabled: StrictBool | None  # null removes the override; "off" or 0 is a client bug, not false


@router.get("/orgs/{org_id}/flags", response_model=FlagsOut)
async def org_flags(member: policy.Member, session: Session) -> FlagsOut:
    """Which real-time phases are on for this organization."""
    return FlagsOut(flags=await service.flags_for_org(session, member.org_id))


@router.put("/orgs/{org_id}/flags/{phase}", response_model=FlagsOut)
async def set_org_flag(
    phase: Phase, body: FlagOverrideIn, owner: policy.Owner, session: Session
) -> FlagsOut:
    """Turn a phase on or off for this organization (Owners only); null returns to the global rule."""
    await service.set_org_override(session, phase, owner.org_id, body.enabled)
    return FlagsOut(flags=await service.flags_for_org(session, owner.org_id))
