"""Who may see and change a subtask: whoever may see or change its task (tasks/policy.py).

A subtask of a task the caller may not see answers "not found" exactly like one that does not
exist; the checks for writing are the task's own (tasks/service.py `locked`).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.kit.errors import NotFound
from tandem.kit.ids import id_in_path
from tandem.projects import policy as projects
from tandem.subtasks import repository
from tandem.tasks import policy as tasks


def not_found() -> NotFound:
    return NotFound("subtask not found")


async def task_of(session: AsyncSession, subtask_id: str, user_id: str) -> str:
    """The subtask's task, when the person may see it."""
    task_id = await repository.task_of(session, subtask_id)
    if task_id is None:
        raise not_found()
    found = await tasks.access(session, task_id, user_id)
    if found is None or not projects.can_see(found):
        raise not_found()
    return task_id


SubtaskId = id_in_path()
