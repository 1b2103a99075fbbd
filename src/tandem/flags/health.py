"""Per-org, per-phase health figures: what clients saw, summed per minute in `realtime_health`.

Every instance adds to the same rows (an upsert that increments, on SQLite and PostgreSQL), so the
instance that evaluates rollbacks sees every client's reports. Latencies are kept as a small
histogram per minute (bounds in HISTOGRAM_MS) plus an exact count of samples over the p99
threshold: "p99 over the threshold" over a window is "more than 1% of its samples over it", and the
p99 shown to operators is estimated from the histogram (linear within a bucket, as Prometheus's
histogram_quantile does).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.flags.models import RealtimeHealth

HISTOGRAM_MS = (50, 100, 250, 500, 1000, 2500, 5000)
BUCKETS = ("le_50", "le_100", "le_250", "le_500", "le_1000", "le_2500", "le_5000", "le_inf")
COUNTS = ("samples", "over", *BUCKETS, "drift", "calls", "errors", "drops")


# Which phase an event belongs to, by its name's first part (org.member.updated: members).
_EVENT_PHASES = {
    "org": "members",
    "dashboard": "dashboard",
    "kanban": "kanban",
    "task": "task",
    "project": "project",
    "chat": "chat",
}


def phase_of_event(event: str) -> str | None:
    return _EVENT_PHASES.get(event.split(".", 1)[0])


def minute_of(at: float) -> int:
    return int(at // 60)


def window_start(window_seconds: float, now: float | None = None) -> int:
    """The first minute a window ending now includes (the current, partial minute counts)."""
    now = time.time() if now is None else now
    return minute_of(now - window_seconds) + 1


@dataclass
class Tally:
    """What to add to one (org, phase, minute) row."""

    samples: int = 0
    over: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    drift: int = 0
    calls: int = 0
    errors: int = 0
    drops: int = 0

    def observe(self, ms: float, threshold_ms: float) -> None:
        self.samples += 1
        if ms > threshold_ms:
            self.over += 1
        self.buckets[bisect.bisect_left(HISTOGRAM_MS, ms)] += 1

    def counts(self) -> dict[str, int]:
        return {
            "samples": self.samples,
            "over": self.over,
            **dict(zip(BUCKETS, self.buckets, strict=True)),
            "drift": self.drift,
            "calls": self.calls,
            "errors": self.errors,
            "drops": self.drops,
        }


async def add(
    session: AsyncSession, org_id: str, tallies: dict[str, Tally], at: float | None = None
) -> None:
    """Add each phase's tally to this minute's row of the org."""
    minute = minute_of(time.time() if at is None else at)
    rows = [
        {"org_id": org_id, "phase": phase, "minute": minute, **tally.counts()}
        for phase, tally in sorted(tallies.items())
    ]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(RealtimeHealth)
    table = RealtimeHealth.__table__
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["org_id", "phase", "minute"],
            set_={name: table.c[name] + statement.excluded[name] for name in COUNTS},
        ),
        rows,
    )


@dataclass(frozen=True)
class Figures:
    samples: int = 0
    over: int = 0
    buckets: tuple[int, ...] = (0,) * len(BUCKETS)
    drift: int = 0
    calls: int = 0
    errors: int = 0
    drops: int = 0

    @property
    def over_share(self) -> float:
        return self.over / self.samples if self.samples else 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    def p99_ms(self) -> float | None:
        return quantile_ms(0.99, self.buckets)


def quantile_ms(q: float, buckets: Iterable[int]) -> float | None:
    """The q-quantile estimated from bucket counts (None without samples); past the last bound,
    the last bound (the histogram knows no more)."""
    counts = list(buckets)
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if seen + count >= rank and count:
            if index == len(HISTOGRAM_MS):
                return float(HISTOGRAM_MS[-1])
            lower = HISTOGRAM_MS[index - 1] if index else 0
            upper = HISTOGRAM_MS[index]
            return round(lower + (upper - lower) * (rank - seen) / count, 1)
        seen += count
    return float(HISTOGRAM_MS[-1])


def _sums() -> list:
    return [func.coalesce(func.sum(RealtimeHealth.__table__.c[name]), 0) for name in COUNTS]


def _figures(values: Iterable[int]) -> Figures:
    v = [int(x) for x in values]
    return Figures(v[0], v[1], tuple(v[2 : 2 + len(BUCKETS)]), *v[2 + len(BUCKETS) :])


async def window(session: AsyncSession, since_minute: int) -> dict[tuple[str, str], Figures]:
    """Every (org, phase) with figures since that minute."""
    rows = await session.execute(
        select(RealtimeHealth.org_id, RealtimeHealth.phase, *_sums())
        .where(RealtimeHealth.minute >= since_minute)
        .group_by(RealtimeHealth.org_id, RealtimeHealth.phase)
    )
    return {(row[0], row[1]): _figures(row[2:]) for row in rows}


async def org_window(session: AsyncSession, org_id: str, since_minute: int) -> dict[str, Figures]:
    """One org's figures since that minute, by phase."""
    rows = await session.execute(
        select(RealtimeHealth.phase, *_sums())
        .where(RealtimeHealth.org_id == org_id, RealtimeHealth.minute >= since_minute)
        .group_by(RealtimeHealth.phase)
    )
    return {row[0]: _figures(row[1:]) for row in rows}


async def prune(session: AsyncSession, before_minute: int) -> int:
    result = await session.execute(
        delete(RealtimeHealth).where(RealtimeHealth.minute < before_minute)
    )
    return int(getattr(result, "rowcount", 0) or 0)
