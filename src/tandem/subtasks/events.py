"""The task page's subtask events, to `task:{taskId}`: a subtask added, changed or removed.

Each carries the whole subtask (or its id when removed), so the page applies it to its list and
sorts by `rank`. The task's card learns the new done/total from `kanban.task.updated`
(`changes.subtaskCount`) on the project's room.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from tandem.realtime.envelope import EventData, Model

SubtaskField = Literal["title", "done", "rank"]


class SubtaskOut(Model):
    id: str
    task_id: str
    title: str
    done: bool
    rank: str  # its place in the task's list: subtasks sort by rank, as strings (byte order)
    created_by: str | None
    created_at: str
    updated_at: str


class TaskSubtaskCreated(EventData):
    event_name: ClassVar[str] = "task.subtask.created"
    event_phase: ClassVar[str | None] = "task"
    event_summary: ClassVar[str] = "A subtask was added to the task; carries the whole subtask."

    task_id: str
    subtask: SubtaskOut
    client_id: str | None = None  # the creating client's id for it, if it gave one


class TaskSubtaskUpdated(EventData):
    event_name: ClassVar[str] = "task.subtask.updated"
    event_phase: ClassVar[str | None] = "task"
    event_summary: ClassVar[str] = (
        "A subtask changed (`changes` names the fields: title, done, rank); carries the whole "
        "subtask: replace it. A reorder that had to respace the list sends one per moved subtask."
    )

    task_id: str
    subtask: SubtaskOut
    changes: list[SubtaskField]
    updated_by: str


class TaskSubtaskDeleted(EventData):
    event_name: ClassVar[str] = "task.subtask.deleted"
    event_phase: ClassVar[str | None] = "task"
    event_summary: ClassVar[str] = "A subtask was removed from the task."

    task_id: str
    subtask_id: str
    deleted_by: str
