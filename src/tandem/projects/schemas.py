from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from tandem.attachments.events import ProjectFile
from tandem.auth.schemas import Name
from tandem.dashboard.events import ActivityOut
from tandem.projects.events import (
    ColumnCount,
    DueDay,
    ProjectMemberOut,
    ProjectMetrics,
    ProjectOut,
    ProjectRole,
    ProjectStatus,
)
from tandem.realtime.envelope import Model
from tandem.tasks.events import TaskOut, TypingField

ProjectName = Name
Description = Annotated[str, StringConstraints(max_length=10_000)]

# A column's name is a task's status: no surrounding or doubled spaces, nothing invisible, so two
# names that look alike are the same string.
_UNSHOWN = r"\u0000-\u001f\u007f-\u009f\u200b-\u200d\u202a-\u202e\u2066-\u2069\ufeff"
COLUMN_PATTERN = rf"^[^\s{_UNSHOWN}]+( [^\s{_UNSHOWN}]+)*$"
MAX_COLUMNS = 20
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=COLUMN_PATTERN)]


def _unique(names: list[str]) -> list[str]:
    if len(set(names)) != len(names):
        raise ValueError("column names must differ")
    return names


Columns = Annotated[
    list[ColumnName],
    AfterValidator(_unique),
    Field(min_length=1, max_length=MAX_COLUMNS, json_schema_extra={"uniqueItems": True}),
]


class ProjectIn(Model):
    name: ProjectName
    description: Description = ""
    columns: Columns | None = None  # default: To Do, In Progress, Review, Done
    start_date: date | None = None
    due_date: date | None = None


class ProjectPatch(Model):
    """Only the fields sent change; `null` clears a date and leaves any other field as it is."""

    name: ProjectName | None = None
    description: Description | None = None
    status: ProjectStatus | None = None
    start_date: date | None = None
    due_date: date | None = None


class ColumnsIn(Model):
    """The board's whole new column list, in order. A name not there before is a new column; an
    old name missing from it is removed, unless `renames` maps it to a new name. A removed column
    that holds tasks needs `moveTasks` to say which (new) column takes them (at its end); else 409."""

    columns: Columns
    renames: Annotated[dict[str, ColumnName], Field(max_length=MAX_COLUMNS)] = Field(
        default_factory=dict
    )
    move_tasks: Annotated[dict[str, ColumnName], Field(max_length=MAX_COLUMNS)] = Field(
        default_factory=dict
    )


class ProjectEnvelope(Model):
    project: ProjectOut


class ProjectsOut(Model):
    projects: list[ProjectOut]
    metrics: dict[str, ProjectMetrics]  # by project id: its task counts, as project.metrics.updated
    cursor: int


class ProjectPage(Model):
    project: ProjectOut
    members: list[ProjectMemberOut]
    metrics: ProjectMetrics
    due: list[DueDay]  # the timeline: tasks due per day
    files: list[ProjectFile]  # attachments of the project's tasks, newest first
    activity: list[ActivityOut]  # the project's recent activity, newest first
    cursor: int


class BoardColumn(ColumnCount):
    tasks: list[TaskOut]  # in rank order


class LockHint(Model):
    task_id: str
    user_id: str
    expires_in_ms: int


class TypingHint(Model):
    task_id: str
    user_id: str
    field: TypingField | None
    expires_in_ms: int


class BoardHints(Model):
    """Who drags (`locks`) and who edits (`typing`) which card now, on every instance; they go
    on as the `kanban.lock` and `kanban.typing` events say."""

    locks: list[LockHint]
    typing: list[TypingHint]


class BoardOut(Model):
    project: ProjectOut
    columns: list[BoardColumn]
    hints: BoardHints
    cursor: int


class ProjectMemberIn(Model):
    user_id: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    role: ProjectRole = "Contributor"


class ProjectRoleIn(Model):
    role: ProjectRole


class ProjectMemberEnvelope(Model):
    member: ProjectMemberOut
