"""The task phase's file events: a file attached to a task or removed from it, to the task's room,
and the project's file list changed, to the project's room.

A task page applies `task.attachment.*` to its snapshot's `attachments` (GET /api/tasks/{id}); a
project's Files tab applies `project.files.updated` to its `files`. The card's count comes apart,
as `kanban.task.updated` with `attachmentCount`.
"""

from __future__ import annotations

from typing import ClassVar

from tandem.realtime.envelope import EventData, Model


class AttachmentOut(Model):
    id: str
    task_id: str
    filename: str
    content_type: str
    size: int  # bytes
    uploaded_by: str | None
    created_at: str
    thumbnail_url: str | None  # images only: a PNG or JPEG at most 320 px on a side
    url: str  # the bytes, with the same Bearer token as the API


class ProjectFile(AttachmentOut):
    """An attachment as the project's Files list shows it: with its task's title and uploader."""

    task_title: str
    uploader_name: str | None  # None once the account is gone


class TaskAttachmentAdded(EventData):
    event_name: ClassVar[str] = "task.attachment.added"
    event_phase: ClassVar[str | None] = "task"
    event_summary: ClassVar[str] = "A file was attached to the task; carries the whole attachment."

    task_id: str
    attachment: AttachmentOut


class TaskAttachmentRemoved(EventData):
    event_name: ClassVar[str] = "task.attachment.removed"
    event_phase: ClassVar[str | None] = "task"
    event_summary: ClassVar[str] = "A file was removed from the task."

    task_id: str
    attachment_id: str
    removed_by: str


class ProjectFilesUpdated(EventData):
    event_name: ClassVar[str] = "project.files.updated"
    event_phase: ClassVar[str | None] = "task"
    event_summary: ClassVar[str] = (
        "The files of the project's tasks changed: add `added` (newest first), drop `removedIds`."
    )

    project_id: str
    added: list[ProjectFile] | None = None
    removed_ids: list[str] | None = None
