"""Moving a task within or between columns: one body, as tasks/service.py's others.

A move writes the one task (tasks/placement.py gives its rank). Against an older `baseRev` than
someone else's move of the same task it still applies: the project's row lock orders the two, so
the card ends where the last committed move put it, in one column, with a rank of its own; the
answer's and events' `conflict` name who moved it meanwhile. A neighbour that is no longer in the
target column is refused with 409: the client's picture of the column is stale.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.dashboard import service as dashboard
from tandem.dashboard.service import TaskFacts
from tandem.kit.clock import iso, utcnow
from tandem.realtime import outbox
from tandem.realtime.rooms import project_room
from tandem.tasks import activity, placement, repository
from tandem.tasks.events import KanbanTaskMoved, TaskChanges
from tandem.tasks.models import Task
from tandem.tasks.service import Person, locked, record_task_updated
from tandem.tasks.timeline import record_activity


async def move_task(
    session: AsyncSession,
    task_id: str,
    actor: Person,
    *,
    to_column: str,
    before_task_id: str | None,
    after_task_id: str | None,
    base_rev: int | None,
    client_id: str | None = None,
) -> tuple[Task, dict[str, Any] | None]:
    """Move a task just before `before_task_id`, just after `after_task_id`, or (neither) to the
    column's end; returns the task and the conflict, if any."""
    project, task = await locked(session, task_id, actor.id)
    placement.column(project, to_column)
    # Every move (and a status change from the task page) writes `rank`: its writer moved it last.
    conflict = placement.conflict(task, {"status": "rank"}, base_rev, actor.id)
    key, rebalanced = await placement.slot(
        session, project, to_column, before_task_id, after_task_id, task.id
    )
    from_column = task.status
    before = TaskFacts.of(task)
    task.rank = key
    task.status = to_column
    now = utcnow()
    placement.complete(project, task, now)
    placement.bump(
        task, ["status", "rank"] if from_column != to_column else ["rank"], actor.id, now
    )
    await session.flush()
    await dashboard.tally(session, before, TaskFacts.of(task))
    if from_column != to_column:
        await activity.record(
            session, project, task, actor.id, activity.verb(before, task), from_column
        )
    position = await repository.position(session, project.id, to_column, task.rank)
    await outbox.record(
        session,
        KanbanTaskMoved(
            project_id=project.id,
            task_id=task.id,
            from_column=from_column,
            to_column=to_column,
            position=position,
            moved_by=actor.id,
            rank=task.rank,
            rev=task.rev,
            updated_at=iso(task.updated_at),  # type: ignore[arg-type]
            completed_at=iso(task.completed_at),
            rebalanced=rebalanced,
            client_id=client_id,
            conflict=conflict,  # type: ignore[arg-type]
        ),
        [project_room(project.id)],
        org_id=project.org_id,
        actor_id=actor.id,
    )
    changes: TaskChanges = {"rank": task.rank}
    if from_column != to_column:
        changes["status"] = to_column
        changes["completedAt"] = iso(task.completed_at)
    await record_task_updated(session, project, task, changes, actor.id, client_id, conflict)
    await record_activity(
        session,
        task,
        actor.id,
        "moved",
        f"{from_column} → {to_column}" if from_column != to_column else f"reordered in {to_column}",
    )
    return task, conflict
