"""Where a task goes in a column, and who last wrote each of its fields.

A task's place is a rank between its new neighbours' (kit/rank.py), unless the keys there grew
too long, when the column is rebalanced and the caller's event says so. Each write records, per
field, the rev it made and who made it, so a later write against an older rev can be told whom it
overrode (tasks/service.py says what it does with that).
"""

from __future__ import annotations

from typing import Any

from pydantic.alias_generators import to_camel
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.kit import rank
from tandem.kit.errors import Conflict
from tandem.projects.models import Project
from tandem.tasks import repository
from tandem.tasks.models import Task


def column(project: Project, name: str) -> str:
    if name not in project.columns:
        raise Conflict(f"the board has no column {name!r}")
    return name


def complete(project: Project, task: Task, now: Any) -> None:
    """completedAt is set while the task is in the last column, and cleared when it leaves."""
    if task.status == project.columns[-1]:
        task.completed_at = task.completed_at or now
    else:
        task.completed_at = None


async def place(
    session: AsyncSession,
    project_id: str,
    status: str,
    low: str | None,
    high: str | None,
    moving_id: str,
) -> tuple[str, dict[str, str]]:
    """A rank between low and high in the column, and the other tasks' new ranks if the column had
    to be rebalanced for it (empty when not)."""
    if low is None or high is None or low < high:
        key = rank.between(low, high)
        if not rank.needs_rebalance(key):
            return key, {}
    others = [t for t in await repository.column(session, project_id, status) if t.id != moving_id]
    at = sum(1 for t in others if low is not None and t.rank <= low)
    keys = rank.spread(len(others) + 1)
    mine = keys.pop(at)
    rebalanced: dict[str, str] = {}
    for task, key in zip(others, keys, strict=True):
        if task.rank != key:
            task.rank = key
            rebalanced[task.id] = key
    return mine, rebalanced


async def slot(
    session: AsyncSession,
    project: Project,
    status: str,
    before_task_id: str | None,
    after_task_id: str | None,
    moving_id: str,
) -> tuple[str, dict[str, str]]:
    """The rank for a task going just before `before_task_id`, just after `after_task_id`, or
    (neither) to the column's end; 409 when the neighbour is not (or no longer) in the column."""
    if before_task_id is not None and after_task_id is not None:
        raise Conflict("give beforeTaskId or afterTaskId, not both")
    neighbour_id = before_task_id or after_task_id
    if neighbour_id is None:
        low = await repository.last_rank(session, project.id, status, besides=moving_id)
        return await place(session, project.id, status, low, None, moving_id)
    neighbour = await repository.task(session, neighbour_id)
    if (
        neighbour is None
        or neighbour.project_id != project.id
        or neighbour.status != status
        or neighbour.id == moving_id
    ):
        raise Conflict(f"{neighbour_id} is no longer another task of the column {status!r}")
    if before_task_id is not None:
        high: str | None = neighbour.rank
        low = await repository.rank_below(session, project.id, status, neighbour.rank, moving_id)
    else:
        low = neighbour.rank
        high = await repository.rank_above(session, project.id, status, neighbour.rank, moving_id)
    return await place(session, project.id, status, low, high, moving_id)


# -- who wrote what -------------------------------------------------------------------------


def writer(task: Task, field: str) -> tuple[int, str | None]:
    """The rev of the field's last change and who made it (a bare rev: an older row, writer unknown)."""
    held = task.field_revs.get(field)
    if held is None:
        return 0, None
    if isinstance(held, list):
        return int(held[0]), held[1]
    return int(held), None


def bump(task: Task, fields: list[str], actor_id: str, now: Any) -> None:
    task.rev += 1
    task.field_revs = {**task.field_revs, **{f: [task.rev, actor_id] for f in fields}}
    task.updated_at = now


def conflict(
    task: Task, fields: dict[str, str], base_rev: int | None, actor_id: str
) -> dict[str, Any] | None:
    """The conflict to report for a write against `base_rev` that sends `fields` (wire name ->
    the stored field whose writer counts): those someone other than the actor changed after it.
    Read before the write."""
    if base_rev is None:
        return None
    found = []
    for wire, stored in fields.items():
        rev, user_id = writer(task, stored)
        if rev > base_rev and user_id != actor_id:
            found.append({"field": wire, "userId": user_id})
    if not found:
        return None
    return {
        "fields": [f["field"] for f in found],
        "baseRev": base_rev,
        "rev": task.rev,
        "with": found,
    }


def wire_name(field: str) -> str:
    return to_camel(field)
