"""The dashboard phase's event contracts: the org's metrics, and its activity feed.

Who gets them: the org's Owners, Admins and Members see every project, so the org-wide values go
to `dashboard:{orgId}`, a room only they may enter. An org's Guests are in `org:{orgId}` but see
only the projects they belong to, so org-wide counts must not go there: each Guest gets the
values over their own projects, and the activity of those projects, on `user:{guestId}`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from tandem.realtime.envelope import EventData, Model

Verb = Literal["created", "updated", "moved", "completed", "reopened", "deleted"]
TargetKind = Literal["task", "project"]


class SeriesPoint(Model):
    t: str  # a UTC day, YYYY-MM-DD (a week is named by its Monday)
    v: int


class StatusCount(Model):
    status: str  # a column name; columns of the same name in several projects add up
    count: int


class AssigneeCount(Model):
    assignee_id: str | None  # None: tasks nobody is assigned to
    open: int
    completed: int


class DashboardMetrics(Model):
    open_tasks: int
    completed_tasks: int
    overdue_tasks: int  # open, due before today (UTC)
    active_projects: int
    tasks_by_status: list[StatusCount]  # by status name
    tasks_by_assignee: list[AssigneeCount]  # by assignee id, unassigned first
    # Open tasks at the end of each of the last 30 days, oldest first; today is the last point.
    burndown_series: list[SeriesPoint]
    burndown_start: str  # the series' first day: a client drops points before it
    # Tasks completed in each of the last 12 weeks (Monday to Sunday), oldest first.
    completed_per_week: list[SeriesPoint]
    completed_per_week_start: str


class ActivityTarget(Model):
    kind: TargetKind
    id: str
    title: str


class ActivityOut(Model):
    id: str
    organization_id: str
    project_id: str | None
    actor_id: str | None
    verb: Verb
    target: ActivityTarget
    detail: dict[str, str] | None  # e.g. a move's fromColumn and toColumn
    created_at: str


class DashboardMetricsUpdated(EventData):
    event_name: ClassVar[str] = "dashboard.metrics.updated"
    event_phase: ClassVar[str | None] = "dashboard"
    event_summary: ClassVar[str] = (
        "The org's metrics changed; at most one a second per org, the last value always sent. "
        "Counts come whole; the two series carry only the points that changed (set each by `t`, "
        "drop points before the series' start). Org-wide values go to `dashboard:{orgId}` "
        "(Owners, Admins, Members); each Guest gets the values over their own projects on "
        "`user:{guestId}`, never in the org room."
    )

    organization_id: str
    metrics: DashboardMetrics


class DashboardActivityCreated(EventData):
    event_name: ClassVar[str] = "dashboard.activity.created"
    event_phase: ClassVar[str | None] = "dashboard"
    event_summary: ClassVar[str] = (
        "A line for the org's activity feed (a task created, moved, completed, deleted; a "
        "project created); a client adds it once, by its id. To `dashboard:{orgId}`, and to "
        "`user:{guestId}` of each Guest who belongs to the activity's project."
    )

    organization_id: str
    activity: ActivityOut
