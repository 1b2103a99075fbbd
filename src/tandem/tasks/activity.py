"""What a task write says in the org's activity feed (the dashboard phase): who created, moved,
completed, reopened, changed or deleted which task."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.dashboard import service as dashboard
from tandem.dashboard.service import TaskFacts
from tandem.projects.models import Project
from tandem.tasks.models import Task


def verb(before: TaskFacts, task: Task) -> dashboard.Verb:
    """How the feed names a change: completing or reopening a task, else moving or editing it."""
    if before.completed_at is None and task.completed_at is not None:
        return "completed"
    if before.completed_at is not None and task.completed_at is None:
        return "reopened"
    return "moved" if before.status != task.status else "updated"


async def record(
    session: AsyncSession,
    project: Project,
    task: Task,
    actor_id: str,
    verb: dashboard.Verb,
    from_column: str | None = None,
) -> None:
    """A line in the org's activity feed (dashboard phase); a column change names both columns."""
    detail = (
        {"fromColumn": from_column, "toColumn": task.status}
        if from_column is not None and from_column != task.status
        else None
    )
    await dashboard.record_activity(
        session,
        org_id=project.org_id,
        project_id=project.id,
        actor_id=actor_id,
        verb=verb,
        kind="task",
        target_id=task.id,
        title=task.title,
        detail=detail,
    )
