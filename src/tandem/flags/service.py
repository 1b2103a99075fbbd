"""Feature flags, one per real-time phase (SPEC §6): on/off, org allow-list, rollout percentage.

An Owner's per-organization override wins over the global rule. Reads are
cached for a moment; a change clears the cache on every instance via the bus.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.flags.models import Flag, FlagOverride
from tandem.kit.errors import Invalid
from tandem.realtime import outbox

PHASES = ("members", "dashboard", "kanban", "task", "project", "chat")
CACHE_SECONDS = 2.0


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
        return rollout_bucket(org_id) < self.rollout_percent


def rollout_bucket(org_id: str) -> int:
    """A stable bucket 0..99 for an org, the same on every instance and every run."""
    return zlib.crc32(org_id.encode()) % 100


class _Cache:
    def __init__(self) -> None:
        self.loaded_at = 0.0
        self.rules: dict[str, Rule] = {}
        self.overrides: dict[tuple[str, str], bool] = {}

    def clear(self) -> None:
        self.loaded_at = 0.0


cache = _Cache()


def check_phase(phase: str) -> str:
    if phase not in PHASES:
        raise Invalid(f"unknown phase {phase!r}; phases are {', '.join(PHASES)}")
    return phase


async def _load(session: AsyncSession) -> None:
    if time.monotonic() - cache.loaded_at < CACHE_SECONDS:
        return
    rules = {p: Rule(p) for p in PHASES}
    for flag in (await session.scalars(select(Flag))).all():
        rules[flag.phase] = Rule(
            flag.phase, flag.enabled, tuple(flag.allow_orgs or ()), flag.rollout_percent
        )
    overrides = {
        (o.phase, o.org_id): o.enabled for o in (await session.scalars(select(FlagOverride))).all()
    }
    cache.rules, cache.overrides, cache.loaded_at = rules, overrides, time.monotonic()


def _applies(phase: str, org_id: str) -> bool:
    override = cache.overrides.get((phase, org_id))
    if override is not None:
        return override
    return cache.rules[phase].applies_to(org_id)


async def is_enabled(session: AsyncSession, phase: str, org_id: str | None) -> bool:
    if org_id is None:
        return True
    await _load(session)
    return _applies(phase, org_id)


# Durable events of a phase that is off for an org are not published to its rooms.
outbox.use_phase_gate(is_enabled)


async def flags_for_org(session: AsyncSession, org_id: str) -> dict[str, bool]:
    return {phase: await is_enabled(session, phase, org_id) for phase in PHASES}


async def rules(session: AsyncSession) -> list[Rule]:
    cache.clear()
    await _load(session)
    return [cache.rules[p] for p in PHASES]


async def set_rule(
    session: AsyncSession,
    phase: str,
    *,
    enabled: bool | None = None,
    allow_orgs: list[str] | None = None,
    rollout_percent: int | None = None,
) -> Rule:
    check_phase(phase)
    if rollout_percent is not None and not 0 <= rollout_percent <= 100:
        raise Invalid("rollout percent must be between 0 and 100")
    flag = await session.get(Flag, phase)
    if flag is None:
        flag = Flag(phase=phase, enabled=True, allow_orgs=[], rollout_percent=100)
        session.add(flag)
    if enabled is not None:
        flag.enabled = enabled
    if allow_orgs is not None:
        flag.allow_orgs = sorted(set(allow_orgs))
    if rollout_percent is not None:
        flag.rollout_percent = rollout_percent
    await session.flush()
    session.info["tandem_flags_changed"] = True
    cache.clear()
    return Rule(phase, flag.enabled, tuple(flag.allow_orgs), flag.rollout_percent)


async def set_org_override(
    session: AsyncSession, phase: str, org_id: str, enabled: bool | None
) -> None:
    """enabled=None removes the override, so the global rule applies again."""
    check_phase(phase)
    await session.execute(
        delete(FlagOverride).where(FlagOverride.phase == phase, FlagOverride.org_id == org_id)
    )
    if enabled is not None:
        session.add(FlagOverride(phase=phase, org_id=org_id, enabled=enabled))
    await session.flush()
    session.info["tandem_flags_changed"] = True
    cache.clear()
