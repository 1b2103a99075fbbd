"""Who may see and change a task: whoever may see or edit its project (projects/policy.py).

A task of another org, or of a project the caller may not see, answers "not found" exactly like
a task that does not exist. The HTTP dependency and the socket room `task:{id}` ask the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.deps import Caller, ReadingCallerDep, ReadSession
from tandem.kit.errors import NotFound
from tandem.kit.ids import id_in_path
from tandem.projects import policy as projects
from tandem.projects import repository as project_access
from tandem.projects.repository import Access
from tandem.realtime import rooms
from tandem.tasks import repository


def not_found() -> NotFound:
    return NotFound("task not found")


async def access(session: AsyncSession, task_id: str, user_id: str) -> Access | None:
    """The person's standing towards the task's project; None when there is no such task."""
    project_id = await repository.project_of(session, task_id)
    if project_id is None:
        return None
    return await project_access.access(session, project_id, user_id)


def require_visible(found: Access | None) -> Access:
    if found is None or not projects.can_see(found):
        raise not_found()
    return found


def require_editor(found: Access | None) -> Access:
    return projects.require_editor(require_visible(found))


@rooms.room_policy("task")
async def task_room(session: AsyncSession, user_id: str, task_id: str) -> rooms.Grant | None:
    """Whoever may see the task's project may enter `task:{id}`; its events are the task phase's."""
    found = await access(session, task_id, user_id)
    if found is None or not projects.can_see(found):
        return None
    return rooms.Grant(rooms.task_room(task_id), found.org_id, "task")


TaskId = id_in_path()


@dataclass(frozen=True)
class TaskCaller:
    caller: Caller
    access: Access
    task_id: str

    @property
    def id(self) -> str:
        return self.caller.id


async def reading_viewer(
    caller: ReadingCallerDep, session: ReadSession, task_id: str = TaskId
) -> TaskCaller:
    found = require_visible(await access(session, task_id, caller.id))
    return TaskCaller(caller, found, task_id)


ReadingViewer = Annotated[TaskCaller, Depends(reading_viewer)]
