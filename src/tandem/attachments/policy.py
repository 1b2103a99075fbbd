"""Who may add, read and remove a task's files: whoever may see or edit the task (tasks/policy.py);
a file is removed by its uploader, the project's Leads or the org's Owners and Admins.

A file of a task the caller may not see answers "not found" exactly like a missing file. The
upload's check runs before a byte of its body is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.attachments import repository
from tandem.attachments.models import Attachment
from tandem.deps import Caller, ReadingCallerDep, ReadSession
from tandem.kit.errors import Forbidden, NotFound
from tandem.kit.ids import id_in_path
from tandem.projects import policy as projects
from tandem.projects.repository import Access
from tandem.tasks import policy as tasks
from tandem.tasks.policy import TaskId

AttachmentId = id_in_path()


def not_found() -> NotFound:
    return NotFound("attachment not found")


async def readable(session: AsyncSession, attachment_id: str, user_id: str) -> Attachment:
    row = await repository.attachment(session, attachment_id)
    if row is None:
        raise not_found()
    found = await tasks.access(session, row.task_id, user_id)
    if found is None or not projects.can_see(found):
        raise not_found()
    return row


def require_remover(access: Access, row: Attachment, user_id: str) -> None:
    projects.require_editor(access)
    if row.uploaded_by != user_id and not projects.can_manage(access):
        raise Forbidden(
            "only who uploaded a file, the project's Leads and the org's Owners and Admins remove it"
        )


@dataclass(frozen=True)
class Uploader:
    caller: Caller
    task_id: str


async def uploader(
    caller: ReadingCallerDep, session: ReadSession, task_id: str = TaskId
) -> Uploader:
    """The caller may add files to the task: checked again under lock when the row is written."""
    tasks.require_editor(await tasks.access(session, task_id, caller.id))
    # Done with the database until the file is in: the upload may take minutes.
    await session.close()
    return Uploader(caller, task_id)


UploaderDep = Annotated[Uploader, Depends(uploader)]


async def reader(
    caller: ReadingCallerDep, session: ReadSession, attachment_id: str = AttachmentId
) -> Attachment:
    row = await readable(session, attachment_id, caller.id)
    await session.close()  # before the bytes stream
    return row


ReadableAttachment = Annotated[Attachment, Depends(reader)]
