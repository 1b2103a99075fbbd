"""The project phase's event contracts: a project created or changed, its members, its counters.

They go to the project's room and to the `user:` rooms of everyone who may see the project, not
to the org room: an org's Guests are in its org room and see only the projects they belong to.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tandem.dashboard.events import ActivityOut
from tandem.realtime.envelope import EventData, Model
from tandem.tasks.events import TaskOut

ProjectStatus = Literal["active", "on_hold", "completed", "archived"]
ProjectRole = Literal["Lead", "Contributor", "Viewer"]


class ProjectOut(Model):
    id: str
    org_id: str
    name: str
    description: str
    status: ProjectStatus
    start_date: str | None  # YYYY-MM-DD
    due_date: str | None
    columns: list[str]  # in board order; the last counts as done
    created_by: str | None
    created_at: str
    updated_at: str


class ProjectMemberOut(Model):
    user_id: str
    role: ProjectRole
    name: str
    avatar_url: str | None


class ColumnCount(Model):
    name: str
    count: int


class ProjectMetrics(Model):
    columns: list[ColumnCount]  # in board order
    total: int
    done: int  # tasks in the last column
    open: int = 0  # total - done
    overdue: int = 0  # open tasks due before today (UTC)
    completion_percent: int = 0  # done / total, rounded; 0 for no tasks


class DueDay(Model):
    """How many of the project's tasks are due on a day: still open, and done."""

    date: str  # YYYY-MM-DD
    open: int
    done: int


class ProjectCreated(EventData):
    event_name: ClassVar[str] = "project.created"
    event_phase: ClassVar[str | None] = "project"
    event_summary: ClassVar[str] = (
        "A project was created; sent to the user room of everyone who may see it."
    )

    organization_id: str
    project: ProjectOut
    created_by: str


class ProjectUpdated(EventData):
    event_name: ClassVar[str] = "project.updated"
    event_phase: ClassVar[str | None] = "project"
    event_summary: ClassVar[str] = (
        "A project's fields or columns changed: `project` is the whole project now, `changes` "
        "the fields that changed. A column change that moved, renamed or completed tasks lists "
        "each such task, whole, in `tasks`."
    )

    organization_id: str
    project_id: str
    changes: dict[str, object]
    project: ProjectOut
    updated_by: str
    tasks: list[TaskOut] = Field(default_factory=list)


class ProjectMemberAdded(EventData):
    event_name: ClassVar[str] = "project.member.added"
    event_phase: ClassVar[str | None] = "project"
    event_summary: ClassVar[str] = (
        "Someone was added to a project, or their project role changed: `member` carries the "
        "role they hold now (a client replaces the member by userId). Also sent to their user room."
    )

    project_id: str
    member: ProjectMemberOut
    added_by: str
    project: ProjectOut  # for the person's own list of projects, which may not hold it yet


class ProjectMemberRemoved(EventData):
    event_name: ClassVar[str] = "project.member.removed"
    event_phase: ClassVar[str | None] = "project"
    event_summary: ClassVar[str] = (
        "Someone was removed from a project; also sent to their user room."
    )

    project_id: str
    user_id: str
    removed_by: str


class ProjectMetricsUpdated(EventData):
    event_name: ClassVar[str] = "project.metrics.updated"
    event_phase: ClassVar[str | None] = "project"
    event_summary: ClassVar[str] = (
        "The project's counters and due-date timeline, whole, after its tasks or columns changed "
        "(or a new UTC day began): at most one a second per project, the last value always sent, "
        "counted from the tasks as the board's columns are."
    )

    project_id: str
    metrics: ProjectMetrics
    due: list[DueDay] = Field(default_factory=list)  # by date, only days with tasks due


class ProjectActivityCreated(EventData):
    event_name: ClassVar[str] = "project.activity.created"
    event_phase: ClassVar[str | None] = "project"
    event_summary: ClassVar[str] = (
        "A line of the project's recent activity: the same line the dashboard's feed gains."
    )

    project_id: str
    activity: ActivityOut
