"""The comments domain's SQL: a task's comments, oldest first; a comment by its client id."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.comments.models import Comment


async def comment(session: AsyncSession, comment_id: str) -> Comment | None:
    return await session.get(Comment, comment_id)


async def task_of(session: AsyncSession, comment_id: str) -> str | None:
    return await session.scalar(select(Comment.task_id).where(Comment.id == comment_id))


async def of_task(session: AsyncSession, task_id: str) -> list[Comment]:
    rows = await session.scalars(
        select(Comment).where(Comment.task_id == task_id).order_by(Comment.created_at, Comment.id)
    )
    return list(rows)


async def by_client(
    session: AsyncSession, task_id: str, author_id: str, client_id: str
) -> Comment | None:
    return await session.scalar(
        select(Comment).where(
            Comment.task_id == task_id,
            Comment.author_id == author_id,
            Comment.client_id == client_id,
        )
    )
