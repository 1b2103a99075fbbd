"""The task page's comment events, to `task:{taskId}`: a comment posted, edited or deleted.

A comment carries `commentId` beside `id` (the same value), as the PRD's sample event does.
"""

from __future__ import annotations

from typing import ClassVar

from tandem.realtime.envelope import EventData, Model


class CommentOut(Model):
    id: str
    comment_id: str  # = id
    task_id: str
    author_id: str | None
    text: str  # Markdown, stored as sent: the page renders it safely
    created_at: str
    edited_at: str | None


class TaskCommentCreated(EventData):
    event_name: ClassVar[str] = "task.comment.created"
    event_phase: ClassVar[str | None] = "task"
    event_summary: ClassVar[str] = "A comment was posted on the task; comments sort oldest first."

    task_id: str
    comment: CommentOut
    client_id: str | None = None  # the posting client's id for it, if it gave one


class TaskCommentUpdated(EventData):
    event_name: ClassVar[str] = "task.comment.updated"
    event_phase: ClassVar[str | None] = "task"
    event_summary: ClassVar[str] = "Its author edited a comment: replace it."

    task_id: str
    comment: CommentOut


class TaskCommentDeleted(EventData):
    event_name: ClassVar[str] = "task.comment.deleted"
    event_phase: ClassVar[str | None] = "task"
    event_summary: ClassVar[str] = "A comment was deleted (by its author, an Owner or an Admin)."

    task_id: str
    comment_id: str
    deleted_by: str
