"""The Kanban and task phases' event contracts: a task created, changed, moved or deleted, and
the board's ephemeral hints (who drags, who edits which card).

A board applies the durable ones in order to its snapshot (GET /api/projects/{id}/board) and gets
the next snapshot; the task page does the same with `task.updated` (GET /api/tasks/{id}). Every
change carries the task's new `rev` and `updatedAt`, so a client's copy stays whole, and the
writer's `clientId` and `conflict`, so the writer can match it to its own write and the person it
overrode can be told (docs/kanban.md).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from tandem.realtime.envelope import EventData, Model

Priority = Literal["Low", "Medium", "High", "Urgent"]


class SubtaskCount(TypedDict):
    done: int
    total: int


class TaskOut(Model):
    id: str
    project_id: str
    title: str
    description: str
    status: str  # its column's name
    rank: str  # its place in the column: tasks sort by rank, as strings (byte order)
    priority: Priority
    assignee_id: str | None
    due_date: str | None  # YYYY-MM-DD
    rev: int
    created_by: str | None
    created_at: str
    updated_at: str
    completed_at: str | None  # set while the task is in the project's last column
    subtask_count: SubtaskCount
    attachment_count: int


TypingField = Literal["title", "description", "priority", "assigneeId", "dueDate"]


class ConflictWith(Model):
    field: str  # a wire name
    user_id: str | None  # who made the last other change to it (None: not known, older rows)


class TaskConflict(Model):
    """Fields the writer sent that someone else changed after `baseRev`; the write still applied
    (last write wins) and `with` names who was overridden. `rev` is the task's rev just before
    this write."""

    fields: list[str]
    base_rev: int
    rev: int
    with_: list[ConflictWith] = Field(alias="with")


# The fields a change touched, by their wire names; `rank` and `completedAt` come with a status change.
class TaskChanges(TypedDict, total=False):
    title: str
    description: str
    status: str
    rank: str
    priority: Priority
    assigneeId: str | None
    dueDate: str | None
    completedAt: str | None
    subtaskCount: SubtaskCount
    attachmentCount: int


class KanbanTaskCreated(EventData):
    event_name: ClassVar[str] = "kanban.task.created"
    event_phase: ClassVar[str | None] = "kanban"
    event_summary: ClassVar[str] = "A task was created on the board; carries the whole task."

    project_id: str
    task: TaskOut
    created_by: str
    rebalanced: dict[str, str] = Field(default_factory=dict)  # as in kanban.task.moved
    client_id: str | None = None  # the creating client's id for it, if it gave one


class KanbanTaskUpdated(EventData):
    event_name: ClassVar[str] = "kanban.task.updated"
    event_phase: ClassVar[str | None] = "kanban"
    event_summary: ClassVar[str] = (
        "A task's fields changed: apply `changes`, then `rev` and `updatedAt`. A status change "
        "(from the task page) also carries the new `rank` and `completedAt`: the task went to "
        "the end of that column."
    )

    project_id: str
    task_id: str
    changes: TaskChanges
    updated_by: str
    rev: int
    updated_at: str
    rebalanced: dict[str, str] = Field(default_factory=dict)  # as in kanban.task.moved
    client_id: str | None = None  # the writing client's id for this write, if it gave one
    conflict: TaskConflict | None = None


class KanbanTaskMoved(EventData):
    event_name: ClassVar[str] = "kanban.task.moved"
    event_phase: ClassVar[str | None] = "kanban"
    event_summary: ClassVar[str] = (
        "A task moved within or between columns. `position` is its 0-based index in `toColumn` "
        "after the move; `rank` orders it. `rebalanced`, when not empty, gives the new rank of "
        "every task of `toColumn` whose rank was rewritten to keep keys short."
    )

    project_id: str
    task_id: str
    from_column: str
    to_column: str
    position: int
    moved_by: str
    rank: str
    rev: int
    updated_at: str
    completed_at: str | None
    rebalanced: dict[str, str] = Field(default_factory=dict)
    client_id: str | None = None
    conflict: TaskConflict | None = None  # someone else moved it after the mover's baseRev


class KanbanTaskDeleted(EventData):
    event_name: ClassVar[str] = "kanban.task.deleted"
    event_phase: ClassVar[str | None] = "kanban"
    event_summary: ClassVar[str] = (
        "A task was deleted; also sent to the task's own room, so its page learns it."
    )

    project_id: str
    task_id: str
    status: str  # the column it was in, for counts kept without the tasks
    deleted_by: str


class TaskUpdated(EventData):
    event_name: ClassVar[str] = "task.updated"
    event_phase: ClassVar[str | None] = "task"
    event_summary: ClassVar[str] = (
        "To the task's room: its fields changed (an edit or a move); apply `changes`, then "
        "`rev` and `updatedAt`."
    )

    task_id: str
    changes: TaskChanges
    updated_by: str
    rev: int
    updated_at: str
    client_id: str | None = None
    conflict: TaskConflict | None = None


# -- hints: ephemeral (no seq, never replayed), to `project:{id}` ------------------------------


class KanbanLock(EventData):
    event_name: ClassVar[str] = "kanban.lock"
    event_phase: ClassVar[str | None] = "kanban"
    event_durable: ClassVar[bool] = False
    event_supersedes: ClassVar[tuple[str, ...]] = ("projectId", "taskId")
    event_summary: ClassVar[str] = (
        "Someone is dragging a card (`locked`), or stopped. Alive `expiresInMs` after its last "
        "refresh; the server sends `locked: false` when it lapses, is withdrawn, its sender "
        "leaves or the task is deleted (ephemeral: no seq, never replayed)."
    )

    project_id: str
    task_id: str
    user_id: str
    locked: bool
    expires_in_ms: int


class KanbanTyping(EventData):
    event_name: ClassVar[str] = "kanban.typing"
    event_phase: ClassVar[str | None] = "kanban"
    event_durable: ClassVar[bool] = False
    event_supersedes: ClassVar[tuple[str, ...]] = ("projectId", "taskId", "userId", "field")
    event_summary: ClassVar[str] = (
        "Someone is editing a card (`field`, if they said which), or stopped; lives and ends "
        "as kanban.lock does (ephemeral: no seq, never replayed)."
    )

    project_id: str
    task_id: str
    user_id: str
    typing: bool
    field: TypingField | None
    expires_in_ms: int


# -- the task page: its history, and who is typing there -------------------------------------


class TaskActivityOut(Model):
    id: str
    task_id: str
    actor_id: str | None
    verb: str  # created, updated, moved, commented, subtask_added, subtask_done, attached, ...
    detail: str  # a short human text, such as "priority High → Urgent"
    created_at: str


class TaskActivityCreated(EventData):
    event_name: ClassVar[str] = "task.activity.created"
    event_phase: ClassVar[str | None] = "task"
    event_summary: ClassVar[str] = (
        "A line of the task's history (one per write on the task): put it first in `activity`."
    )

    task_id: str
    activity: TaskActivityOut


PageTypingField = Literal["comment", "description"]


class TaskTyping(EventData):
    event_name: ClassVar[str] = "task.typing"
    event_phase: ClassVar[str | None] = "task"
    event_durable: ClassVar[bool] = False
    event_supersedes: ClassVar[tuple[str, ...]] = ("taskId", "userId", "field")
    event_summary: ClassVar[str] = (
        "Someone is writing a comment or the description on the task's page, or stopped; alive "
        "`expiresInMs` after its last refresh, ended (`typing: false`) when it lapses, is "
        "withdrawn, its sender leaves or the task is deleted (ephemeral: no seq, never replayed)."
    )

    task_id: str
    user_id: str
    typing: bool
    field: PageTypingField | None  # None only in an end whose field is not known
    expires_in_ms: int


# The task page's other events are declared in their own packages; importing them here puts them
# in the registry with the task's (realtime/envelope.py `load_all_contracts`).
import tandem.comments.events  # noqa: E402
import tandem.subtasks.events  # noqa: E402, F401
