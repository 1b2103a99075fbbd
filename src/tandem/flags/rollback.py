"""Automatic rollback (PRD §8): a phase whose clients in an org see it fail is turned off for that
org alone, and its pages fall back to polling.

`evaluate` is one check, run every `rollback_check_seconds` by the instance whose dispatcher leads
(runtime.py), and by tests directly. Over the last `rollback_window_seconds` it reads the figures
every instance adds to `realtime_health` (flags/health.py) and, for each (org, phase) whose state
is on or soak, turns the phase off for the org when:

- latency: more than 1% of its clients' samples took longer than `rollback_p99_ms` (their p99 is
  over it), with at least `rollback_min_samples` samples;
- drift: `rollback_max_drift` or more drift reports arrived;
- errors: more than `rollback_max_error_rate` of the calls its clients reported (socket acks and
  REST requests of the phase's pages) failed on the server's side (5xx, or an ack `internal`),
  with at least `rollback_min_samples` calls;
- lag: the dispatch lag's p99 since the previous check passed `rollback_max_lag_seconds`. The lag
  is the one dispatcher's, shared by every org: it rolls back only orgs in soak, the ones still on
  trial, rather than every org at once.

A rolled-back org keeps its `off` override until someone sets the phase again. Each rollback writes
an automatic audit row, counts in tandem_flag_rollbacks_total and logs "phase rolled back".
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.flags import health, service
from tandem.realtime.metrics import LATENCY_BUCKETS, Metrics

if TYPE_CHECKING:
    from tandem.config import Settings
    from tandem.db import Database

logger = logging.getLogger("tandem.flags")


@dataclass(frozen=True)
class Thresholds:
    enabled: bool
    window_seconds: int
    p99_ms: float
    min_samples: int
    max_drift: int
    max_error_rate: float
    max_lag_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            enabled=settings.auto_rollback,
            window_seconds=settings.rollback_window_seconds,
            p99_ms=settings.rollback_p99_ms,
            min_samples=settings.rollback_min_samples,
            max_drift=settings.rollback_max_drift,
            max_error_rate=settings.rollback_max_error_rate,
            max_lag_seconds=settings.rollback_max_lag_seconds,
        )


@dataclass(frozen=True)
class Verdict:
    org_id: str
    phase: str
    state: str  # before the rollback: on or soak
    reason: str  # latency | drift | errors | lag
    detail: str  # the audit row's reason, in words


def _ms(value: float) -> str:
    return f"{value:,.0f} ms"


def judge(
    org_id: str,
    phase: str,
    state: str,
    figures: health.Figures,
    limits: Thresholds,
    lag_p99: float | None,
) -> Verdict | None:
    """The first threshold this (org, phase) exceeds, or None."""
    window = f"over {limits.window_seconds} s"
    if figures.samples >= limits.min_samples and figures.over_share > 0.01:
        p99 = figures.p99_ms()
        shown = _ms(p99) if p99 is not None and p99 > limits.p99_ms else f"> {_ms(limits.p99_ms)}"
        return Verdict(
            org_id,
            phase,
            state,
            "latency",
            f"client p99 {shown} > {_ms(limits.p99_ms)} {window} ({figures.samples:,} samples, "
            f"{figures.over:,} over)",
        )
    if figures.drift >= limits.max_drift:
        return Verdict(
            org_id,
            phase,
            state,
            "drift",
            f"{figures.drift:,} drift reports >= {limits.max_drift:,} {window}",
        )
    if figures.calls >= limits.min_samples and figures.error_rate > limits.max_error_rate:
        return Verdict(
            org_id,
            phase,
            state,
            "errors",
            f"error rate {figures.error_rate:.1%} > {limits.max_error_rate:.1%} {window} "
            f"({figures.errors:,} of {figures.calls:,} calls)",
        )
    if state == "soak" and lag_p99 is not None and lag_p99 > limits.max_lag_seconds:
        return Verdict(
            org_id,
            phase,
            state,
            "lag",
            f"dispatch lag p99 {lag_p99:,.1f} s > {limits.max_lag_seconds:,.1f} s (soak)",
        )
    return None


class LagWatch:
    """The dispatch lag's p99 over the events dispatched since the previous reading, from this
    instance's histogram (only the leading dispatcher, which runs the check, dispatches)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._last: list[float] = self._cumulative()

    def _cumulative(self) -> list[float]:
        totals = [0.0] * (len(LATENCY_BUCKETS) + 1)
        for family in self.metrics.dispatch_lag.collect():
            for sample in family.samples:
                if not sample.name.endswith("_bucket"):
                    continue
                bound = sample.labels["le"]
                index = (
                    len(LATENCY_BUCKETS) if bound == "+Inf" else LATENCY_BUCKETS.index(float(bound))
                )
                totals[index] += sample.value
        return totals

    def p99_seconds(self) -> float | None:
        now = self._cumulative()
        delta = [max(0.0, a - b) for a, b in zip(now, self._last, strict=True)]
        self._last = now
        counts = [delta[0]] + [delta[i] - delta[i - 1] for i in range(1, len(delta))]
        total = delta[-1]
        if total <= 0:
            return None
        rank, seen = 0.99 * total, 0.0
        for index, count in enumerate(counts):
            if count > 0 and seen + count >= rank:
                if index == len(LATENCY_BUCKETS):
                    return float(LATENCY_BUCKETS[-1]) * 2  # past the last bound: "well over it"
                lower = LATENCY_BUCKETS[index - 1] if index else 0.0
                return lower + (LATENCY_BUCKETS[index] - lower) * (rank - seen) / count
            seen += count
        return None


async def evaluate(
    db: Database,
    limits: Thresholds,
    metrics: Metrics,
    *,
    lag_p99: float | None = None,
    now: float | None = None,
) -> list[Verdict]:
    """One check: the verdicts of every (org, phase) on or soaking; with rollback enabled, each
    is turned off for its org (in one transaction, audited). Also drops figures older than the
    window."""
    now = time.time() if now is None else now
    since = health.window_start(limits.window_seconds, now)
    async with db.read() as session:
        figures = await health.window(session, since)
        soaking = [(p, o) for p, o, state in await service.overrides(session) if state == "soak"]
        for phase, org_id in soaking:
            figures.setdefault((org_id, phase), health.Figures())
        states: dict[tuple[str, str], str] = {}
        for org_id in sorted({org_id for org_id, _ in figures}):
            for phase_state in await service.phase_states(session, org_id):
                states[(org_id, phase_state.phase)] = phase_state.state
    verdicts = [
        verdict
        for (org_id, phase), figure in sorted(figures.items())
        if states[(org_id, phase)] != "off"
        and (verdict := judge(org_id, phase, states[(org_id, phase)], figure, limits, lag_p99))
    ]
    async with db.unit_of_work() as session:
        await health.prune(session, since)
        if limits.enabled:
            for verdict in verdicts:
                await _roll_back(session, verdict, metrics)
    return verdicts


async def _roll_back(session: AsyncSession, verdict: Verdict, metrics: Metrics) -> None:
    changed = await service.set_org_state(
        session, verdict.phase, verdict.org_id, "off", reason=verdict.detail, automatic=True
    )
    if not changed:
        return
    metrics.flag_rollbacks.labels(verdict.phase, verdict.reason).inc()
    metrics.flag_changes.labels(verdict.phase, "true").inc()
    logger.warning(
        "phase rolled back",
        extra={
            "org_id": verdict.org_id,
            "phase": verdict.phase,
            "was": verdict.state,
            "reason": verdict.reason,
            "detail": verdict.detail,
        },
    )
