"""Client-observed figures attributed to an organization: latency samples and call outcomes, by
phase, added to the rollout's health figures (flags/health.py)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.flags import health
from tandem.orgs import repository as orgs


async def attribute(
    session: AsyncSession,
    org_id: str,
    user_id: str,
    samples: Iterable[tuple[str, float]],
    outcomes: Iterable[tuple[str, int, int]],
    threshold_ms: float,
) -> bool:
    """Count (event, ms) samples and (phase, calls, failed) outcomes toward the org, if the person
    is one of its members (else nothing: the answer is the same, so no org's existence leaks).
    Samples of an event no phase owns are not attributed."""
    if await orgs.membership(session, org_id, user_id) is None:
        return False
    tallies: dict[str, health.Tally] = {}
    for event, ms in samples:
        phase = health.phase_of_event(event)
        if phase is not None:
            tallies.setdefault(phase, health.Tally()).observe(ms, threshold_ms)
    for phase, calls, failed in outcomes:
        tally = tallies.setdefault(phase, health.Tally())
        tally.calls += calls
        tally.errors += failed
    await health.add(session, org_id, tallies)
    return True
