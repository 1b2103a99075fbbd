from __future__ import annotations

from fastapi import APIRouter, Path
from pydantic import StrictBool

from tandem.deps import CallerDep, Session
from tandem.flags import service
from tandem.kit.errors import Forbidden
from tandem.orgs.service import require_member
from tandem.realtime.envelope import Model

router = APIRouter(tags=["flags"])


class FlagsOut(Model):
    flags: dict[str, bool]


class FlagOverrideIn(Model):
    enabled: StrictBool | None  # null removes the override; "off" or 0 is a client bug, not false


@router.get("/orgs/{org_id}/flags", response_model=FlagsOut)
async def org_flags(caller: CallerDep, session: Session, org_id: str = Path(max_length=32)) -> FlagsOut:
    """Which real-time phases are on for this organization."""
    await require_member(session, org_id, caller.id)
    return FlagsOut(flags=await service.flags_for_org(session, org_id))


@router.put("/orgs/{org_id}/flags/{phase}", response_model=FlagsOut)
async def set_org_flag(body: FlagOverrideIn, caller: CallerDep, session: Session,
                       org_id: str = Path(max_length=32), phase: str = Path(max_length=16)) -> FlagsOut:
    """Turn a phase on or off for this organization (Owners only); null returns to the global rule."""
    membership = await require_member(session, org_id, caller.id)
    if membership.role != "Owner":
        raise Forbidden("only an Owner changes feature flags")
    await service.set_org_override(session, phase, org_id, body.enabled)
    return FlagsOut(flags=await service.flags_for_org(session, org_id))
