"""A task page's history: one line per write on the task (its fields, moves, subtasks, comments,
files), kept with the task and sent to its room as `task.activity.created`.

Separate from the org's feed (tasks/activity.py), which names tasks across projects for the
dashboard; this one says what changed on the task, for the people on its page.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.kit.clock import iso, utcnow
from tandem.kit.ids import new_id
from tandem.realtime import outbox
from tandem.realtime.rooms import task_room
from tandem.tasks.events import TaskActivityCreated, TaskActivityOut
from tandem.tasks.models import Task, TaskActivity

# The page's snapshot shows this many, newest first; older lines stay stored.
SHOWN = 50
DETAIL_LENGTH = 500


# How the history names a field; fields not here (the description) are named without values.
LABELS = {
    "title": "title",
    "status": "status",
    "priority": "priority",
    "assignee_id": "assignee",
    "due_date": "due date",
}


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    return value.isoformat() if isinstance(value, date) else str(value)


def describe(before: dict[str, Any], after: dict[str, Any]) -> str:
    """A change as the history says it: "priority High → Urgent; description edited"."""
    parts = []
    for field, value in after.items():
        if field in LABELS:
            parts.append(f"{LABELS[field]} {_shown(before.get(field))} → {_shown(value)}")
        else:
            parts.append(f"{field} edited")
    return "; ".join(parts)


def activity_out(row: TaskActivity) -> TaskActivityOut:
    return TaskActivityOut(
        id=row.id,
        task_id=row.task_id,
        actor_id=row.actor_id,
        verb=row.verb,
        detail=row.detail,
        created_at=iso(row.created_at),  # type: ignore[arg-type]
    )


async def record_activity(
    session: AsyncSession, task: Task, actor_id: str, verb: str, detail: str = ""
) -> TaskActivity:
    """Store a line of the task's history and send it to the task's room. Called inside the
    write's transaction, after the write: the line leaves with the write's own events."""
    if len(detail) > DETAIL_LENGTH:
        detail = detail[: DETAIL_LENGTH - 1] + "…"
    row = TaskActivity(
        id=new_id("ta"),
        task_id=task.id,
        actor_id=actor_id,
        verb=verb,
        detail=detail,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    await outbox.record(
        session,
        TaskActivityCreated(task_id=task.id, activity=activity_out(row)),
        [task_room(task.id)],
        org_id=task.org_id,
        actor_id=actor_id,
    )
    return row


async def recent(session: AsyncSession, task_id: str) -> list[TaskActivity]:
    """The task's last lines, newest first."""
    rows = await session.scalars(
        select(TaskActivity)
        .where(TaskActivity.task_id == task_id)
        .order_by(TaskActivity.created_at.desc(), TaskActivity.id.desc())
        .limit(SHOWN)
    )
    return list(rows)
