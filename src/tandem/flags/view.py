"""The Owner's view of an organization's real-time rollout: each phase's state and why, its
figures over the rollback's window, and the audit trail (docs/rollout.md)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.flags import health, repository
from tandem.flags.schemas import (
    ActorOut,
    AutoRollbackOut,
    FiguresOut,
    FlagChangeOut,
    Phase,
    PhaseOut,
    RealtimeOut,
    RuleOut,
    State,
)
from tandem.flags.service import phase_states
from tandem.kit.clock import iso

AUDIT_LIMIT = 100


async def realtime_view(
    session: AsyncSession,
    org_id: str,
    auto_rollback: AutoRollbackOut,
    online: Callable[[list[str]], Awaitable[set[str]]],
) -> RealtimeOut:
    """The operator's view of one org: each phase's state and why, its figures, the audit trail."""
    now = time.time()
    figures = await health.org_window(
        session, org_id, health.window_start(auto_rollback.window_seconds, now)
    )
    connections = len(await online(await repository.active_member_ids(session, org_id)))
    events = await repository.events_by_type(session, org_id, datetime.fromtimestamp(now - 60, UTC))
    per_phase: dict[str, int] = {}
    for event, count in events.items():
        if (phase := health.phase_of_event(event)) is not None:
            per_phase[phase] = per_phase.get(phase, 0) + count
    phases = []
    for ps in await phase_states(session, org_id):
        f = figures.get(ps.phase, health.Figures())
        phases.append(
            PhaseOut(
                phase=cast(Phase, ps.phase),
                state=cast(State, ps.state),
                source="override" if ps.source == "override" else "rule",
                rule=RuleOut(
                    enabled=ps.rule.enabled,
                    rollout_percent=ps.rule.rollout_percent,
                    allow_listed=org_id in ps.rule.allow_orgs,
                    in_rollout=ps.rule.in_rollout(org_id),
                ),
                figures=FiguresOut(
                    connections=connections,
                    events_per_minute=per_phase.get(ps.phase, 0),
                    client_p99_ms=f.p99_ms(),
                    samples=f.samples,
                    over_p99=f.over,
                    drift=f.drift,
                    calls=f.calls,
                    errors=f.errors,
                    drops=f.drops,
                ),
            )
        )
    audit = [
        FlagChangeOut(
            at=iso(change.at) or "",
            phase=cast(Phase, change.phase),
            before=change.before if change.org_id else _rule_seen_by(change.before, org_id),
            after=change.after if change.org_id else _rule_seen_by(change.after, org_id),
            reason=change.reason,
            automatic=change.automatic,
            actor=ActorOut(id=change.actor_id, name=name or "")
            if change.actor_id is not None
            else None,
            scope="global" if change.org_id is None else "org",
        )
        for change, name in await repository.audit(session, org_id, AUDIT_LIMIT)
    ]
    return RealtimeOut(auto_rollback=auto_rollback, phases=phases, audit=audit)


def _rule_seen_by(description: str, org_id: str) -> str:
    """A global rule's description (service.Rule.describe) as one org may see it: its allow-list
    names other orgs, whose ids it must not learn, so it says only whether this org is on it."""
    head, separator, allowed = description.partition(", allow: ")
    if not separator or allowed == "-":
        return description
    ids = {part.strip() for part in allowed.rstrip("…").split(",")}
    others = bool(ids - {org_id})
    if org_id in ids:
        return f"{head}, allow: this organization{' and others' if others else ''}"
    return f"{head}, allow: other organizations"
