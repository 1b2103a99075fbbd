"""The dashboard's arithmetic, free of SQL: what a task write adds to the tallies, the metrics made
from summed tallies, and which series points an update must carry.

The definitions (SPEC §2: a task is done while it is in its project's last column, i.e. while
completedAt is set):
- open / completed: tasks without / with completedAt;
- overdue: open tasks whose due date is before today (UTC);
- burndown, for each of the last 30 UTC days d: tasks that exist now with createdAt on or before d
  and completedAt unset or after d;
- completed per week: tasks whose completedAt falls in each of the last 12 Monday-to-Sunday weeks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from tandem.dashboard.events import AssigneeCount, DashboardMetrics, SeriesPoint, StatusCount
from tandem.dashboard.models import NO_ASSIGNEE
from tandem.kit.clock import aware

BURNDOWN_DAYS = 30
WEEKS = 12
# A mark's `since` meaning "every point may have changed" (e.g. a Guest gained or lost a project).
EVERY_POINT = date(1, 1, 1)


def utc_day(value: datetime) -> date:
    return aware(value).astimezone(UTC).date()  # type: ignore[union-attr]


class _TaskLike(Protocol):
    org_id: str
    project_id: str
    status: str
    assignee_id: str | None
    due_date: date | None
    created_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class TaskFacts:
    """What the dashboard needs of one task, as it was before or is after a write."""

    org_id: str
    project_id: str
    status: str
    assignee_id: str | None
    due_date: date | None
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, task: _TaskLike) -> TaskFacts:
        return cls(
            task.org_id,
            task.project_id,
            task.status,
            task.assignee_id,
            task.due_date,
            task.created_at,
            task.completed_at,
        )

    @property
    def done(self) -> bool:
        return self.completed_at is not None


StatusKey = tuple[str, str, str, bool]  # project, status, assignee ("" for none), done
DayKey = tuple[str, date]  # project, day
DueKey = tuple[str, date]  # project, due date


@dataclass
class Deltas:
    """What some task writes add to (or take from) each tally row, zeros dropped when applied."""

    status: dict[StatusKey, int] = field(default_factory=lambda: defaultdict(int))
    # per (project, day): [created, completed, closed]
    days: dict[DayKey, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    due: dict[DueKey, int] = field(default_factory=lambda: defaultdict(int))
    org_of: dict[str, str] = field(default_factory=dict)  # project -> org
    # per (org, project): the earliest day whose series points changed (None: no point did)
    touched: dict[tuple[str, str], date | None] = field(default_factory=dict)

    def add(self, facts: TaskFacts, sign: int) -> None:
        project = facts.project_id
        self.org_of[project] = facts.org_id
        assignee = facts.assignee_id or NO_ASSIGNEE
        self.status[(project, facts.status, assignee, facts.done)] += sign
        created = utc_day(facts.created_at)
        self.days[(project, created)][0] += sign
        if facts.completed_at is not None:
            completed = utc_day(facts.completed_at)
            self.days[(project, completed)][1] += sign
            self.days[(project, max(created, completed))][2] += sign
        elif facts.due_date is not None:
            self.due[(project, facts.due_date)] += sign

    def finish(self) -> None:
        """Drop the keys that cancelled out, and note the earliest series day each project touched."""
        self.status = {k: v for k, v in self.status.items() if v}
        self.days = {k: v for k, v in self.days.items() if any(v)}
        self.due = {k: v for k, v in self.due.items() if v}
        touched: dict[tuple[str, str], date | None] = {
            (org, project): None for project, org in self.org_of.items()
        }
        for project, day in self.days:
            key = (self.org_of[project], project)
            earliest = touched[key]
            touched[key] = day if earliest is None else min(earliest, day)
        self.touched = touched


def deltas_of(changes: Iterable[tuple[TaskFacts | None, TaskFacts | None]]) -> Deltas:
    found = Deltas()
    for before, after in changes:
        if before is not None:
            found.add(before, -1)
        if after is not None:
            found.add(after, +1)
    found.finish()
    return found


# -- metrics from summed tallies ------------------------------------------------------------


def burndown_start(today: date) -> date:
    return today - timedelta(days=BURNDOWN_DAYS - 1)


def weeks_start(today: date) -> date:
    return today - timedelta(days=today.weekday()) - timedelta(weeks=WEEKS - 1)


def first_day_read(today: date) -> date:
    """The earliest day whose tally rows the metrics read."""
    return min(burndown_start(today), weeks_start(today))


def build(
    today: date,
    status_rows: Iterable[tuple[str, str, bool, int]],
    overdue: int,
    day_rows: Iterable[tuple[date, int, int, int]],
    active_projects: int,
) -> DashboardMetrics:
    """Metrics from tally sums: (status, assignee, done, count) rows, the overdue count, and
    (day, created, completed, closed) rows from `first_day_read(today)` on."""
    open_tasks = completed_tasks = 0
    by_status: dict[str, int] = defaultdict(int)
    by_assignee: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for status, assignee, done, count in status_rows:
        by_status[status] += count
        by_assignee[assignee][1 if done else 0] += count
        if done:
            completed_tasks += count
        else:
            open_tasks += count
    days: dict[date, tuple[int, int, int]] = {}
    for day, created, completed, closed in day_rows:
        days[day] = (created, completed, closed)

    start = burndown_start(today)
    total, closed_total = open_tasks + completed_tasks, completed_tasks
    # Created and closed after day d: what the days after d (future ones too) hold.
    created_after = sum(c for d, (c, _, _) in days.items() if d > today)
    closed_after = sum(x for d, (_, _, x) in days.items() if d > today)
    burndown: list[SeriesPoint] = []
    for offset in range(BURNDOWN_DAYS):
        day = today - timedelta(days=offset)
        value = (total - created_after) - (closed_total - closed_after)
        burndown.append(SeriesPoint(t=day.isoformat(), v=value))
        created, _, closed = days.get(day, (0, 0, 0))
        created_after += created
        closed_after += closed
    burndown.reverse()

    first_week = weeks_start(today)
    weekly = [0] * WEEKS
    for day, (_, completed, _) in days.items():
        index = (day - first_week).days // 7
        if 0 <= index < WEEKS:
            weekly[index] += completed
    week_points = [
        SeriesPoint(t=(first_week + timedelta(weeks=i)).isoformat(), v=v)
        for i, v in enumerate(weekly)
    ]
    return DashboardMetrics(
        open_tasks=open_tasks,
        completed_tasks=completed_tasks,
        overdue_tasks=overdue,
        active_projects=active_projects,
        tasks_by_status=[StatusCount(status=s, count=c) for s, c in sorted(by_status.items()) if c],
        tasks_by_assignee=[
            AssigneeCount(assignee_id=a or None, open=o, completed=c)
            for a, (o, c) in sorted(by_assignee.items())
            if o or c
        ],
        burndown_series=burndown,
        burndown_start=start.isoformat(),
        completed_per_week=week_points,
        completed_per_week_start=first_week.isoformat(),
    )


# -- what an update carries -----------------------------------------------------------------


def _changed_points(
    before: list[dict[str, Any]] | None,
    now: list[SeriesPoint],
    since: date | None,
    span_days: int,
) -> list[SeriesPoint]:
    """The points that differ from what was sent, plus every point a write touched since then.

    The second part matters: a snapshot loaded between two updates may show a value that a later
    write put back as it was, and only an update naming that point brings the snapshot back."""
    if before is None:
        return list(now)
    sent = {p["t"]: p["v"] for p in before}
    out = []
    for point in now:
        last_day = date.fromisoformat(point.t) + timedelta(days=span_days - 1)
        if sent.get(point.t) != point.v or (since is not None and last_day >= since):
            out.append(point)
    return out


def update_of(
    sent: dict[str, Any] | None, now: DashboardMetrics, since: date | None
) -> DashboardMetrics:
    """The metrics an update carries: counts whole, series as changed points (see _changed_points)."""
    sent = sent or {}
    return now.model_copy(
        update={
            "burndown_series": _changed_points(
                sent.get("burndownSeries"), now.burndown_series, since, 1
            ),
            "completed_per_week": _changed_points(
                sent.get("completedPerWeek"), now.completed_per_week, since, 7
            ),
        }
    )
