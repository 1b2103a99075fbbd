"""The tasks domain's SQL: a task, a board's columns in rank order, a column's neighbours."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.tasks.models import Task

_BOARD = (
    select(Task)
    .where(Task.project_id == bindparam("project_id"))
    .order_by(Task.status, Task.rank, Task.id)
)
_COLUMN = (
    select(Task)
    .where(Task.project_id == bindparam("project_id"), Task.status == bindparam("status"))
    .order_by(Task.rank, Task.id)
)
_LAST_RANK = select(func.max(Task.rank)).where(
    Task.project_id == bindparam("project_id"),
    Task.status == bindparam("status"),
    Task.id != bindparam("task_id"),
)
# The nearest rank on one side of a given one, the moving task itself left out.
_RANK_BELOW = select(func.max(Task.rank)).where(
    Task.project_id == bindparam("project_id"),
    Task.status == bindparam("status"),
    Task.rank < bindparam("rank"),
    Task.id != bindparam("task_id"),
)
_RANK_ABOVE = select(func.min(Task.rank)).where(
    Task.project_id == bindparam("project_id"),
    Task.status == bindparam("status"),
    Task.rank > bindparam("rank"),
    Task.id != bindparam("task_id"),
)
_POSITION = (
    select(func.count())
    .select_from(Task)
    .where(
        Task.project_id == bindparam("project_id"),
        Task.status == bindparam("status"),
        Task.rank < bindparam("rank"),
    )
)


async def task(session: AsyncSession, task_id: str, *, lock: bool = False) -> Task | None:
    return await session.get(Task, task_id, with_for_update=lock, populate_existing=lock)


async def project_of(session: AsyncSession, task_id: str) -> str | None:
    return await session.scalar(select(Task.project_id).where(Task.id == task_id))


async def board(session: AsyncSession, project_id: str) -> list[Task]:
    """Every task of the project, by column then rank."""
    return list(await session.scalars(_BOARD, {"project_id": project_id}))


async def column(session: AsyncSession, project_id: str, status: str) -> list[Task]:
    return list(await session.scalars(_COLUMN, {"project_id": project_id, "status": status}))


async def last_rank(
    session: AsyncSession, project_id: str, status: str, *, besides: str = ""
) -> str | None:
    """The column's highest rank, the task `besides` left out."""
    params = {"project_id": project_id, "status": status, "task_id": besides}
    return await session.scalar(_LAST_RANK, params)


async def rank_below(
    session: AsyncSession, project_id: str, status: str, rank: str, task_id: str
) -> str | None:
    params = {"project_id": project_id, "status": status, "rank": rank, "task_id": task_id}
    return await session.scalar(_RANK_BELOW, params)


async def rank_above(
    session: AsyncSession, project_id: str, status: str, rank: str, task_id: str
) -> str | None:
    params = {"project_id": project_id, "status": status, "rank": rank, "task_id": task_id}
    return await session.scalar(_RANK_ABOVE, params)


async def position(session: AsyncSession, project_id: str, status: str, rank: str) -> int:
    """How many tasks of the column come before this rank: the 0-based index of a task holding it."""
    params = {"project_id": project_id, "status": status, "rank": rank}
    return int(await session.scalar(_POSITION, params) or 0)


async def by_client(
    session: AsyncSession, project_id: str, created_by: str, client_id: str
) -> Task | None:
    """The task this person created in the project under this clientId, if it still exists."""
    return await session.scalar(
        select(Task).where(
            Task.project_id == project_id,
            Task.created_by == created_by,
            Task.client_id == client_id,
        )
    )
