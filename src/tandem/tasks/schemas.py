from __future__ import annotations

import hashlib
from datetime import date
from typing import Annotated

import orjson
from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from tandem.attachments.events import AttachmentOut
from tandem.auth.schemas import NAME_PATTERN, clean_name
from tandem.comments.events import CommentOut
from tandem.kit.clock import iso
from tandem.realtime.envelope import Model
from tandem.subtasks.events import SubtaskOut
from tandem.tasks.events import PageTypingField, Priority, TaskActivityOut, TaskConflict, TaskOut
from tandem.tasks.models import Task

Title = Annotated[
    str,
    StringConstraints(max_length=200),
    AfterValidator(clean_name),
    Field(min_length=1),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200, "pattern": NAME_PATTERN}),
]


def _no_nul(text: str) -> str:
    if "\x00" in text:  # no database stores it in text (PostgreSQL answers with an error)
        raise ValueError("text may not contain NUL characters")
    return text


Description = Annotated[
    str,
    StringConstraints(max_length=10_000),
    AfterValidator(_no_nul),
    WithJsonSchema({"type": "string", "maxLength": 10_000, "pattern": "^[^\\x00]*$"}),
]
ColumnRef = Annotated[str, StringConstraints(min_length=1, max_length=40)]
TaskRef = Annotated[str, StringConstraints(min_length=1, max_length=32)]
UserRef = Annotated[str, StringConstraints(min_length=1, max_length=32)]
# A client's own id for one write, echoed in the write's event so it can match it to its own.
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
BaseRev = Annotated[int, Field(ge=0)]


def task_out(task: Task) -> TaskOut:
    return TaskOut(
        id=task.id,
        project_id=task.project_id,
        title=task.title,
        description=task.description,
        status=task.status,
        rank=task.rank,
        priority=task.priority,  # type: ignore[arg-type]
        assignee_id=task.assignee_id,
        due_date=task.due_date.isoformat() if task.due_date else None,
        rev=task.rev,
        created_by=task.created_by,
        created_at=iso(task.created_at),  # type: ignore[arg-type]
        updated_at=iso(task.updated_at),  # type: ignore[arg-type]
        completed_at=iso(task.completed_at),
        subtask_count={"done": task.subtasks_done or 0, "total": task.subtasks_total or 0},
        attachment_count=task.attachment_count or 0,
    )


class TaskIn(Model):
    """A new task; at the end of its column unless a neighbour there is named (as in a move).
    With `clientId`, sending the same body again returns the first task (docs/kanban.md)."""

    title: Title
    status: ColumnRef | None = None  # a column of the project; default its first
    priority: Priority = "Medium"
    assignee_id: UserRef | None = None
    due_date: date | None = None
    description: Description = ""
    before_task_id: TaskRef | None = None  # the task that will follow it
    after_task_id: TaskRef | None = None  # the task that will precede it
    client_id: ClientId | None = None

    def digest(self) -> str:
        """What a retry of this create must send again, as one hash (the clientId left out)."""
        body = self.model_dump(mode="json", exclude={"client_id"})
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class TaskChangesIn(Model):
    """The fields to change; only those sent change. `status` moves the task to that column's end."""

    title: Title | None = None
    description: Description | None = None
    status: ColumnRef | None = None
    priority: Priority | None = None
    assignee_id: UserRef | None = None
    due_date: date | None = None


class TaskPatch(Model):
    changes: TaskChangesIn
    base_rev: BaseRev | None = None  # the rev the change was made against (see tasks/service.py)
    client_id: ClientId | None = None
    # The description the editor started from: when the stored one changed since, the two edits
    # are merged (tasks/merge.py) rather than the last overwriting the first.
    description_base: Description | None = None


class DescriptionConflict(TaskConflict):
    """A description edited from an older text: `merged` when both edits were kept (the merged
    text is stored); else the stored text is left as it is and `theirs` (it) and `mine` (the
    text sent) come back, for the writer to combine and save again."""

    merged: bool
    theirs: str | None = None
    mine: str | None = None


class TaskMove(Model):
    """Where to: a column, and at most one neighbour there; neither puts the task at the column's end."""

    to_column: ColumnRef
    before_task_id: TaskRef | None = None  # the task that will follow it
    after_task_id: TaskRef | None = None  # the task that will precede it
    base_rev: BaseRev | None = None
    client_id: ClientId | None = None


class TaskEnvelope(Model):
    task: TaskOut


class TaskPatched(Model):
    """The task after the write; `conflict` names what someone else changed since `baseRev`."""

    task: TaskOut
    conflict: DescriptionConflict | TaskConflict | None = None


class PageTypingHint(Model):
    user_id: str
    field: PageTypingField
    expires_in_ms: int


class PageHints(Model):
    typing: list[PageTypingHint]  # who is writing on the page now (task.typing)


class TaskPage(Model):
    task: TaskOut
    subtasks: list[SubtaskOut]  # by rank
    comments: list[CommentOut]  # oldest first
    attachments: list[AttachmentOut]  # newest first
    activity: list[TaskActivityOut]  # newest first, the last 50
    hints: PageHints
    cursor: int
