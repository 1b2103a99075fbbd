"""The subtasks domain's SQL: a task's list in rank order, its neighbours, its done/total."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.subtasks.models import Subtask


async def subtask(session: AsyncSession, subtask_id: str) -> Subtask | None:
    return await session.get(Subtask, subtask_id)


async def task_of(session: AsyncSession, subtask_id: str) -> str | None:
    return await session.scalar(select(Subtask.task_id).where(Subtask.id == subtask_id))


async def of_task(session: AsyncSession, task_id: str) -> list[Subtask]:
    """The task's subtasks, in rank order."""
    rows = await session.scalars(
        select(Subtask).where(Subtask.task_id == task_id).order_by(Subtask.rank, Subtask.id)
    )
    return list(rows)


async def by_client(
    session: AsyncSession, task_id: str, user_id: str, client_id: str
) -> Subtask | None:
    return await session.scalar(
        select(Subtask).where(
            Subtask.task_id == task_id,
            Subtask.created_by == user_id,
            Subtask.client_id == client_id,
        )
    )


async def counts(session: AsyncSession, task_id: str) -> tuple[int, int]:
    """How many of the task's subtasks are done, and how many there are."""
    mine = select(func.count()).select_from(Subtask).where(Subtask.task_id == task_id)
    done = await session.scalar(mine.where(Subtask.done.is_(True)))
    total = await session.scalar(mine)
    return int(done or 0), int(total or 0)
