"""The dashboard's metrics as plain SQL over the tasks and projects tables, the reference the
tallies must always equal; and the client's rule for applying `dashboard.metrics.updated`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.projects.models import Project, ProjectMember
from tandem.tasks.models import Task


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


async def plain_metrics(
    session: AsyncSession, org_id: str, guest_id: str | None, today: date
) -> dict[str, Any]:
    """What the dashboard must show, counted task by task (the wire form of DashboardMetrics)."""
    where = [Task.org_id == org_id]
    projects = [Project.org_id == org_id, Project.status == "active"]
    if guest_id is not None:
        theirs = select(ProjectMember.project_id).where(ProjectMember.user_id == guest_id)
        where.append(Task.project_id.in_(theirs))
        projects.append(Project.id.in_(theirs))

    async def count(*conditions: Any) -> int:
        return int(
            await session.scalar(select(func.count()).select_from(Task).where(*where, *conditions))
            or 0
        )

    open_ = Task.completed_at.is_(None)
    done = Task.completed_at.is_not(None)
    by_status = await session.execute(
        select(Task.status, func.count()).where(*where).group_by(Task.status)
    )
    by_assignee: dict[str | None, dict[str, Any]] = {}
    for assignee, is_done, n in await session.execute(
        select(Task.assignee_id, done, func.count()).where(*where).group_by(Task.assignee_id, done)
    ):
        entry = by_assignee.setdefault(
            assignee, {"assigneeId": assignee, "open": 0, "completed": 0}
        )
        entry["completed" if is_done else "open"] += n
    burndown = []
    for offset in range(29, -1, -1):
        day = today - timedelta(days=offset)
        end = _start(day + timedelta(days=1))
        value = await count(Task.created_at < end, or_(open_, Task.completed_at >= end))
        burndown.append({"t": day.isoformat(), "v": value})
    first_week = today - timedelta(days=today.weekday()) - timedelta(weeks=11)
    weeks = []
    for i in range(12):
        monday = first_week + timedelta(weeks=i)
        value = await count(
            and_(
                Task.completed_at >= _start(monday),
                Task.completed_at < _start(monday + timedelta(days=7)),
            )
        )
        weeks.append({"t": monday.isoformat(), "v": value})
    return {
        "openTasks": await count(open_),
        "completedTasks": await count(done),
        "overdueTasks": await count(open_, Task.due_date < today),
        "activeProjects": int(
            await session.scalar(select(func.count()).select_from(Project).where(*projects)) or 0
        ),
        "tasksByStatus": [{"status": s, "count": n} for s, n in sorted(by_status)],
        "tasksByAssignee": sorted(by_assignee.values(), key=lambda e: e["assigneeId"] or ""),
        "burndownSeries": burndown,
        "burndownStart": burndown[0]["t"],
        "completedPerWeek": weeks,
        "completedPerWeekStart": first_week.isoformat(),
    }


def apply_metrics(state: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """The web client's rule for a `dashboard.metrics.updated`: counts replace, each series point
    sent replaces the point of its day, and points before a series' start are dropped."""
    out = {k: v for k, v in update.items() if k not in ("burndownSeries", "completedPerWeek")}
    for series, start in (
        ("burndownSeries", "burndownStart"),
        ("completedPerWeek", "completedPerWeekStart"),
    ):
        points = {p["t"]: p["v"] for p in state[series]}
        points.update({p["t"]: p["v"] for p in update[series]})
        out[series] = [{"t": t, "v": v} for t, v in sorted(points.items()) if t >= update[start]]
    return out
