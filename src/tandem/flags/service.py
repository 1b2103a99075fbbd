"""Feature flags, one per real-time phase (SPEC §6): on/off, org allow-list, rollout percentage.

An Owner's per-organization override wins over the global rule; it says off, soak (live, while
the client verifies against snapshots) or on. Soak counts as on for delivering events. Every
change writes a row of the audit trail in its own transaction. Reads are cached for a moment; a
change clears the cache on every instance via the bus.
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.flags import health
from tandem.flags.models import Flag, FlagChange, FlagOverride
from tandem.flags.schemas import DriftIn
from tandem.kit.errors import Forbidden, Invalid
from tandem.realtime import outbox, rooms

logger = logging.getLogger("tandem.flags")

PHASES = ("members", "dashboard", "kanban", "task", "project", "chat")
STATES = ("on", "off", "soak")
CACHE_SECONDS = 2.0
DEFAULT = "default"  # an org with no override: the global rule decides


@dataclass(frozen=True)
class Rule:
    phase: str
    enabled: bool = True
    allow_orgs: tuple[str, ...] = ()
    rollout_percent: int = 100

    def applies_to(self, org_id: str) -> bool:
        if not self.enabled:
            return False
        if org_id in self.allow_orgs:
            return True
        return self.in_rollout(org_id)

    def in_rollout(self, org_id: str) -> bool:
        return rollout_bucket(org_id) < self.rollout_percent

    def describe(self) -> str:
        allow = ", ".join(self.allow_orgs) or "-"
        return _clip(f"{'on' if self.enabled else 'off'}, {self.rollout_percent}%, allow: {allow}")


@dataclass(frozen=True)
class PhaseState:
    """A phase for one org: its state, whether an override or the rule decides, and the rule."""

    phase: str
    state: str
    source: str  # "override" | "rule"
    rule: Rule


def rollout_bucket(org_id: str) -> int:
    """A stable bucket 0..99 for an org, the same on every instance and every run."""
    return zlib.crc32(org_id.encode()) % 100


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Cache:
    def __init__(self) -> None:
        self.loaded_at = 0.0
        self.rules: dict[str, Rule] = {}
        self.overrides: dict[tuple[str, str], str] = {}  # (phase, org) -> on | off | soak

    def clear(self) -> None:
        self.loaded_at = 0.0


cache = _Cache()


def check_phase(phase: str) -> str:
    if phase not in PHASES:
        raise Invalid(f"unknown phase {phase!r}; phases are {', '.join(PHASES)}")
    return phase


def override_state(override: FlagOverride | None) -> str:
    if override is None:
        return DEFAULT
    if not override.enabled:
        return "off"
    return "soak" if override.soak else "on"


async def _load(session: AsyncSession) -> None:
    if time.monotonic() - cache.loaded_at < CACHE_SECONDS:
        return
    rules = {p: Rule(p) for p in PHASES}
    for flag in (await session.scalars(select(Flag))).all():
        rules[flag.phase] = Rule(
            flag.phase, flag.enabled, tuple(flag.allow_orgs or ()), flag.rollout_percent
        )
    overrides = {
        (o.phase, o.org_id): override_state(o)
        for o in (await session.scalars(select(FlagOverride))).all()
    }
    cache.rules, cache.overrides, cache.loaded_at = rules, overrides, time.monotonic()


def _phase_state(phase: str, org_id: str) -> PhaseState:
    rule = cache.rules[phase]
    override = cache.overrides.get((phase, org_id))
    if override is not None:
        return PhaseState(phase, override, "override", rule)
    return PhaseState(phase, "on" if rule.applies_to(org_id) else "off", "rule", rule)


async def is_enabled(session: AsyncSession, phase: str, org_id: str | None) -> bool:
    """Whether the phase's events reach this org's rooms: on or soak."""
    if org_id is None:
        return True
    await _load(session)
    return _phase_state(phase, org_id).state != "off"


# Durable events of a phase that is off for an org are not published to its rooms.
outbox.use_phase_gate(is_enabled)


async def flags_for_org(session: AsyncSession, org_id: str) -> dict[str, bool]:
    return {phase: await is_enabled(session, phase, org_id) for phase in PHASES}


async def phase_states(session: AsyncSession, org_id: str) -> list[PhaseState]:
    await _load(session)
    return [_phase_state(phase, org_id) for phase in PHASES]


async def states_for_org(session: AsyncSession, org_id: str) -> dict[str, str]:
    return {s.phase: s.state for s in await phase_states(session, org_id)}


async def rules(session: AsyncSession) -> list[Rule]:
    cache.clear()
    await _load(session)
    return [cache.rules[p] for p in PHASES]


async def overrides(session: AsyncSession) -> list[tuple[str, str, str]]:
    """Every org override as (phase, org id, state), read fresh."""
    cache.clear()
    await _load(session)
    return sorted((phase, org, state) for (phase, org), state in cache.overrides.items())


def _audit(
    session: AsyncSession,
    phase: str,
    org_id: str | None,
    before: str,
    after: str,
    *,
    actor_id: str | None,
    reason: str,
    automatic: bool,
) -> None:
    session.add(
        FlagChange(
            phase=phase,
            org_id=org_id,
            actor_id=actor_id,
            before=_clip(before),
            after=_clip(after),
            reason=_clip(reason, 300),
            automatic=automatic,
        )
    )


def _changed(session: AsyncSession) -> None:
    session.info["tandem_flags_changed"] = True  # the runtime tells every instance after commit
    cache.clear()


async def set_rule(
    session: AsyncSession,
    phase: str,
    *,
    enabled: bool | None = None,
    allow_orgs: list[str] | None = None,
    rollout_percent: int | None = None,
    actor_id: str | None = None,
    reason: str = "",
) -> Rule:
    check_phase(phase)
    if rollout_percent is not None and not 0 <= rollout_percent <= 100:
        raise Invalid("rollout percent must be between 0 and 100")
    flag = await session.get(Flag, phase, with_for_update=True)
    if flag is None:
        flag = Flag(phase=phase, enabled=True, allow_orgs=[], rollout_percent=100)
        session.add(flag)
    before = Rule(phase, flag.enabled, tuple(flag.allow_orgs or ()), flag.rollout_percent)
    if enabled is not None:
        flag.enabled = enabled
    if allow_orgs is not None:
        flag.allow_orgs = sorted(set(allow_orgs))
    if rollout_percent is not None:
        flag.rollout_percent = rollout_percent
    after = Rule(phase, flag.enabled, tuple(flag.allow_orgs), flag.rollout_percent)
    if after != before:
        _audit(
            session,
            phase,
            None,
            before.describe(),
            after.describe(),
            actor_id=actor_id,
            reason=reason,
            automatic=False,
        )
    await session.flush()
    _changed(session)
    return after


async def set_org_state(
    session: AsyncSession,
    phase: str,
    org_id: str,
    state: str | None,
    *,
    actor_id: str | None = None,
    reason: str = "",
    automatic: bool = False,
) -> bool:
    """Set a phase's state for one org: on, off, soak, or None to return to the global rule.
    Returns whether anything changed (an unchanged state writes no audit row)."""
    check_phase(phase)
    if state is not None and state not in STATES:
        raise Invalid(f"unknown state {state!r}; states are {', '.join(STATES)} or default")
    current = await session.get(FlagOverride, (phase, org_id), with_for_update=True)
    before = override_state(current)
    after = DEFAULT if state is None else state
    if before == after:
        return False
    if state is None:
        await session.execute(
            delete(FlagOverride).where(FlagOverride.phase == phase, FlagOverride.org_id == org_id)
        )
    elif current is None:
        session.add(
            FlagOverride(phase=phase, org_id=org_id, enabled=state != "off", soak=state == "soak")
        )
    else:
        current.enabled, current.soak = state != "off", state == "soak"
    _audit(
        session,
        phase,
        org_id,
        before,
        after,
        actor_id=actor_id,
        reason=reason,
        automatic=automatic,
    )
    await session.flush()
    _changed(session)
    return True


async def set_org_override(
    session: AsyncSession,
    phase: str,
    org_id: str,
    enabled: bool | None,
    *,
    actor_id: str | None = None,
    reason: str = "",
) -> None:
    """enabled=None removes the override, so the global rule applies again."""
    state = None if enabled is None else ("on" if enabled else "off")
    await set_org_state(session, phase, org_id, state, actor_id=actor_id, reason=reason)


async def report_drift(session: AsyncSession, org_id: str, user_id: str, report: DriftIn) -> None:
    """A soaking client's drift report: counted for the rollback check and logged. The room must
    be one of this org's that the reporter may read (a missing one answers the same)."""
    grant = await rooms.authorize(session, user_id, report.room)
    if grant is None or grant.org_id != org_id:
        raise Forbidden("no such room in this organization, or not one you may read")
    await health.add(session, org_id, {report.phase: health.Tally(drift=1)})
    logger.warning(
        "client drift",
        extra={
            "org_id": org_id,
            "phase": report.phase,
            "room": report.room,
            "user_id": user_id,
            "fields": report.fields,
            "event_types": report.event_types,
            "trace_ids": report.trace_ids,
            "seq": report.seq,
        },
    )
