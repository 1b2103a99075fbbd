from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.attachments.models import Attachment
from tandem.auth.models import User
from tandem.tasks.models import Task


async def attachment(session: AsyncSession, attachment_id: str) -> Attachment | None:
    return await session.get(Attachment, attachment_id)


async def of_task(session: AsyncSession, task_id: str) -> list[Attachment]:
    """The task's files, newest first."""
    rows = await session.scalars(
        select(Attachment)
        .where(Attachment.task_id == task_id)
        .order_by(Attachment.created_at.desc(), Attachment.id.desc())
    )
    return list(rows)


async def of_project(
    session: AsyncSession, project_id: str
) -> list[tuple[Attachment, str, str | None]]:
    """The files of the project's tasks, newest first, each with its task's title and uploader's name."""
    rows = await session.execute(
        select(Attachment, Task.title, User.name)
        .join(Task, Task.id == Attachment.task_id)
        .outerjoin(User, User.id == Attachment.uploaded_by)
        .where(Attachment.project_id == project_id)
        .order_by(Attachment.created_at.desc(), Attachment.id.desc())
    )
    return [(row, title, name) for row, title, name in rows]


async def count(session: AsyncSession, task_id: str) -> int:
    found = await session.scalar(
        select(func.count()).select_from(Attachment).where(Attachment.task_id == task_id)
    )
    return int(found or 0)
