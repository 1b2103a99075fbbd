"""A project's columns: add, rename, reorder and remove them in one change, its tasks following.

One body, as the rest of projects/service.py: lock the project, check, rewrite the tasks a change
moves (a removed column's tasks go to the end of the column named for them; completedAt follows
whichever column is last), record the events.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.dashboard import service as dashboard
from tandem.dashboard.service import TaskFacts
from tandem.kit import rank
from tandem.kit.clock import iso, utcnow
from tandem.kit.errors import Conflict
from tandem.projects import policy, repository
from tandem.projects.models import Project
from tandem.projects.service import Person, locked, record_updated
from tandem.realtime import outbox
from tandem.realtime.rooms import task_room
from tandem.tasks import placement
from tandem.tasks import repository as tasks
from tandem.tasks.events import TaskChanges, TaskUpdated
from tandem.tasks.models import Task


async def set_columns(
    session: AsyncSession,
    project_id: str,
    actor: Person,
    columns: list[str],
    renames: dict[str, str],
    move_tasks: dict[str, str],
) -> Project:
    """Add, rename, reorder and remove columns in one change (see projects/schemas.ColumnsIn).

    Tasks follow their column's new name; those of a removed column go, in their order, to the end
    of the column `move_tasks` names; completedAt follows whichever column is now last.
    """
    project = await locked(session, project_id)
    policy.require_manager(await repository.access(session, project_id, actor.id))
    if project.status == "archived":
        raise Conflict("this project is archived: reopen it to change its columns")
    old = list(project.columns)
    kept = _column_mapping(old, columns, renames)
    counts = {
        name: tally.tasks
        for name, tally in (
            await repository.column_counts(session, project_id, utcnow().date())
        ).items()
    }
    if unknown := sorted(set(move_tasks) - set(old)):
        raise Conflict(f"moveTasks names columns the board does not have: {unknown}")
    removed: dict[str, str] = {}
    for name in old:
        if name in kept:
            continue
        target = move_tasks.get(name)
        if target is not None:
            if target not in columns:
                raise Conflict(f"moveTasks sends {name!r}'s tasks to {target!r}, not a new column")
            removed[name] = target
        elif counts.get(name):
            raise Conflict(
                f"the column {name!r} holds {counts[name]} tasks: say in moveTasks where they go"
            )
    if old == columns and not renames:
        return project
    now = utcnow()
    board = await tasks.board(session, project_id)
    before = {task.id: TaskFacts.of(task) for task in board}
    written = _retarget(board, kept, removed, columns, now, actor.id)
    project.columns = list(columns)
    project.updated_at = now
    await session.flush()
    await dashboard.tally_many(session, [(before[t.id], TaskFacts.of(t)) for t in written])
    await record_updated(session, project, actor.id, {"columns": list(columns)}, written)
    for task in written:
        changes: TaskChanges = {"status": task.status, "rank": task.rank}
        changes["completedAt"] = iso(task.completed_at)
        await outbox.record(
            session,
            TaskUpdated(
                task_id=task.id,
                changes=changes,
                updated_by=actor.id,
                rev=task.rev,
                updated_at=iso(task.updated_at),  # type: ignore[arg-type]
            ),
            [task_room(task.id)],
            org_id=project.org_id,
            actor_id=actor.id,
        )
    await dashboard.mark_dirty(session, project.org_id, project.id)  # the project's counters
    return project


def _column_mapping(old: list[str], columns: list[str], renames: dict[str, str]) -> dict[str, str]:
    """Old column name -> new name, for the columns that stay (renamed or not)."""
    for before, after in renames.items():
        if before not in old:
            raise Conflict(f"there is no column {before!r} to rename")
        if after not in columns:
            raise Conflict(f"{before!r} is renamed to {after!r}, which is not in columns")
    if len(set(renames.values())) != len(renames):
        raise Conflict("two columns cannot be renamed to the same name")
    taken = set(renames.values())
    mapping = dict(renames)
    for name in old:
        if name not in renames and name in columns and name not in taken:
            mapping[name] = name
    return mapping


def _retarget(
    board: list[Task],
    kept: dict[str, str],
    removed: dict[str, str],
    columns: list[str],
    now: datetime,
    actor_id: str,
) -> list[Task]:
    """Apply a column change to the board's tasks; returns those whose row changed, in board order.

    A rank rewritten only to keep keys short (a rebalance) leaves the task's rev as it was: its
    place among the others did not change."""
    staying: dict[str, list[Task]] = {}
    arriving: dict[str, list[Task]] = {}
    for task in board:  # by column, then rank
        if task.status in kept:
            staying.setdefault(kept[task.status], []).append(task)
        elif task.status in removed:
            arriving.setdefault(removed[task.status], []).append(task)
    written: dict[str, Task] = {}
    for column, incoming in arriving.items():
        present = staying.get(column, [])
        keys: list[str] = []
        last = present[-1].rank if present else None
        for _ in incoming:
            last = rank.between(last, None)
            keys.append(last)
        ordered, fresh = incoming, keys
        if any(rank.needs_rebalance(k) for k in keys):
            ordered, fresh = present + incoming, rank.spread(len(present) + len(incoming))
        for task, key in zip(ordered, fresh, strict=True):
            if task.rank != key:
                task.rank = key
                written[task.id] = task
    for task in board:
        target = kept.get(task.status) or removed.get(task.status) or task.status
        done = target == columns[-1]
        status_changed = target != task.status
        completion_changed = done != (task.completed_at is not None)
        if not (status_changed or completion_changed):
            continue
        task.status = target
        task.completed_at = (task.completed_at or now) if done else None
        placement.bump(task, ["status", "rank"] if status_changed else [], actor_id, now)
        written[task.id] = task
    return sorted(written.values(), key=lambda t: (columns.index(t.status), t.rank, t.id))
