"""Attachments: a file added to a task, removed from it; the task's and the project's lists.

Each write is one body — lock the task's project and the task (tasks/service.py's `locked`, which
checks the caller may edit it), write the row, record the events, update the card's count and the
task's history — and never commits. The bytes are stored before (an upload) or removed after (a
removal) the transaction, by the routes: a row never names a file that is not there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.attachments import policy, repository
from tandem.attachments.events import (
    ProjectFilesUpdated,
    TaskAttachmentAdded,
    TaskAttachmentRemoved,
)
from tandem.attachments.models import Attachment
from tandem.attachments.schemas import attachment_out, project_file
from tandem.attachments.upload import Received
from tandem.auth.models import Profile, User
from tandem.kit.clock import utcnow
from tandem.kit.errors import NotFound
from tandem.projects import repository as projects
from tandem.projects.models import Project
from tandem.realtime import outbox
from tandem.realtime.rooms import project_room, task_room
from tandem.tasks import service as tasks
from tandem.tasks.models import Task

Person = User | Profile


async def attachments_of(session: AsyncSession, task_id: str) -> list[dict[str, Any]]:
    """The task's files as its page's snapshot lists them, newest first (wire names)."""
    return [attachment_out(row).wire() for row in await repository.of_task(session, task_id)]


async def add_attachment(
    session: AsyncSession,
    task_id: str,
    actor: Person,
    received: Received,
    *,
    attachment_id: str,
    storage_key: str,
    thumbnail_key: str | None,
) -> Attachment:
    """Record a file already in the store as the task's."""
    project, task = await tasks.locked(session, task_id, actor.id)
    row = Attachment(
        id=attachment_id,
        task_id=task.id,
        project_id=project.id,
        filename=received.filename,
        content_type=received.content_type,
        size=received.size,
        storage_key=storage_key,
        thumbnail_key=thumbnail_key,
        uploaded_by=actor.id,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    out = attachment_out(row)
    await outbox.record(
        session,
        TaskAttachmentAdded(task_id=task.id, attachment=out),
        [task_room(task.id)],
        org_id=project.org_id,
        actor_id=actor.id,
    )
    await outbox.record(
        session,
        ProjectFilesUpdated(
            project_id=project.id, added=[project_file(row, task.title, actor.name)]
        ),
        [project_room(project.id)],
        org_id=project.org_id,
        actor_id=actor.id,
    )
    await _counted(session, project, task, actor.id, "attached", row.filename)
    return row


async def remove_attachment(session: AsyncSession, attachment_id: str, actor: Person) -> list[str]:
    """Remove a file from its task; returns its store keys, for the caller to delete once the
    transaction has committed."""
    # A file of a task the caller may not see is "attachment not found", as a missing one is.
    row = await policy.readable(session, attachment_id, actor.id)
    try:
        project, task = await tasks.locked(session, row.task_id, actor.id)
    except NotFound:  # the task went meanwhile
        raise policy.not_found() from None
    access = await projects.access(session, project.id, actor.id)
    assert access is not None  # `locked` checked it
    policy.require_remover(access, row, actor.id)
    keys = [key for key in (row.storage_key, row.thumbnail_key) if key]
    await session.delete(row)
    await session.flush()
    await outbox.record(
        session,
        TaskAttachmentRemoved(task_id=task.id, attachment_id=row.id, removed_by=actor.id),
        [task_room(task.id)],
        org_id=project.org_id,
        actor_id=actor.id,
    )
    await outbox.record(
        session,
        ProjectFilesUpdated(project_id=project.id, removed_ids=[row.id]),
        [project_room(project.id)],
        org_id=project.org_id,
        actor_id=actor.id,
    )
    await _counted(session, project, task, actor.id, "detached", row.filename)
    return keys


async def _counted(
    session: AsyncSession, project: Project, task: Task, actor_id: str, verb: str, filename: str
) -> None:
    """The card's count and a line in the task's history, after a file came or went."""
    await tasks.set_attachment_count(
        session, task, await repository.count(session, task.id), actor_id
    )
    await tasks.record_activity(session, task, actor_id, verb, filename)
