"""An organization's feature flags and real-time rollout: states read by members and set by
Owners, drift reports from soaking clients, the Owner's operator view."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.deps import ReadSession, RuntimeDep, Session
from tandem.flags import service, view
from tandem.flags.rollback import Thresholds
from tandem.flags.schemas import (
    AutoRollbackOut,
    DriftIn,
    FlagOverrideIn,
    FlagsOut,
    Phase,
    RealtimeOut,
)
from tandem.orgs import policy
from tandem.orgs.repository import Held
from tandem.realtime.limits import enforce

router = APIRouter(tags=["flags"])

__all__ = ["Phase", "router"]


async def _reading_owner(member: policy.ReadingMember) -> policy.OrgCaller:
    policy.require_owner(Held(member.id, member.role, "active"), "sees the real-time rollout")
    return member


ReadingOwner = Annotated[policy.OrgCaller, Depends(_reading_owner)]


async def _flags_out(session: AsyncSession, org_id: str) -> FlagsOut:
    states = await service.states_for_org(session, org_id)
    return FlagsOut(
        flags={phase: state != "off" for phase, state in states.items()},
        states=states,  # type: ignore[arg-type]
    )


@router.get("/orgs/{org_id}/flags", response_model=FlagsOut)
async def org_flags(member: policy.ReadingMember, session: ReadSession) -> FlagsOut:
    """Which real-time phases are on, soaking or off for this organization."""
    return await _flags_out(session, member.org_id)


@router.put("/orgs/{org_id}/flags/{phase}", response_model=FlagsOut)
async def set_org_flag(
    phase: Phase, body: FlagOverrideIn, owner: policy.Owner, session: Session, runtime: RuntimeDep
) -> FlagsOut:
    """Set a phase's state for this organization (Owners only): `state` on, off, soak or default
    (the global rule), or the older `enabled` true, false or null (the global rule)."""
    if await service.set_org_state(
        session, phase, owner.org_id, body.wanted(), actor_id=owner.id, reason="set by an Owner"
    ):
        runtime.metrics.flag_changes.labels(phase, "false").inc()
    return await _flags_out(session, owner.org_id)


@router.post("/orgs/{org_id}/realtime/drift", status_code=204)
async def report_drift(
    body: DriftIn, member: policy.Member, session: Session, runtime: RuntimeDep
) -> Response:
    """Report that the live state of a soaking page differed from a fresh snapshot (any member)."""
    settings = runtime.settings
    await enforce(runtime.limiter, "drift", member.id, settings.drift_reports_per_minute, 60)
    await service.report_drift(session, member.org_id, member.id, body)
    runtime.metrics.client_drift.labels(body.phase).inc()
    return Response(status_code=204)


@router.get("/orgs/{org_id}/realtime", response_model=RealtimeOut)
async def realtime(owner: ReadingOwner, session: ReadSession, runtime: RuntimeDep) -> RealtimeOut:
    """The real-time rollout of this organization (Owners only): each phase's state and figures,
    the automatic rollback's thresholds, and the last changes."""
    limits = Thresholds.from_settings(runtime.settings)
    auto_rollback = AutoRollbackOut(
        enabled=limits.enabled,
        window_seconds=limits.window_seconds,
        p99_ms=limits.p99_ms,
        max_drift=limits.max_drift,
        max_error_rate=limits.max_error_rate,
        max_lag_seconds=limits.max_lag_seconds,
        min_samples=limits.min_samples,
    )
    return await view.realtime_view(session, owner.org_id, auto_rollback, runtime.presence.online)
