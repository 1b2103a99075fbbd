"""Subtasks: add, change (title, done, place), remove.

Each operation is one body — lock the task as a task write does (tasks/service.py `locked`: the
project's row, then the task's, after the caller may edit it), write, record the events — and
never commits. Every write sends its subtask event to the task's room, a line of the task's
history, and, when done/total changed, the task's new `subtaskCount` to the board and the page.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.kit.clock import utcnow
from tandem.kit.ids import new_id
from tandem.realtime import outbox
from tandem.realtime.rooms import task_room
from tandem.subtasks import placement, policy, repository
from tandem.subtasks.events import (
    SubtaskField,
    TaskSubtaskCreated,
    TaskSubtaskDeleted,
    TaskSubtaskUpdated,
)
from tandem.subtasks.models import Subtask
from tandem.subtasks.schemas import subtask_out
from tandem.tasks import service as tasks
from tandem.tasks.models import Task
from tandem.tasks.service import ClientIdReused, Person


async def create_subtask(
    session: AsyncSession,
    task_id: str,
    actor: Person,
    *,
    title: str,
    after_subtask_id: str | None = None,
    client_id: str | None = None,
) -> Subtask:
    """Add a subtask at the end of the task's list, or just after `after_subtask_id`. A
    `clientId` seen before from this person on this task returns that subtask (422 when it came
    with another title)."""
    _project, task = await tasks.locked(session, task_id, actor.id)
    if client_id is not None:
        # The task's row is locked: a second create with this clientId waits for the first.
        earlier = await repository.by_client(session, task.id, actor.id, client_id)
        if earlier is not None:
            if earlier.title != title:
                raise ClientIdReused("this clientId was already used for another subtask")
            return earlier
    others = await repository.of_task(session, task.id)
    key, respaced = placement.slot(others, None, after_subtask_id)
    now = utcnow()
    subtask = Subtask(
        id=new_id("st"),
        task_id=task.id,
        title=title,
        done=False,
        rank=key,
        created_by=actor.id,
        created_at=now,
        updated_at=now,
        client_id=client_id,
    )
    session.add(subtask)
    await session.flush()
    await _record_respaced(session, task, respaced, actor.id)
    await outbox.record(
        session,
        TaskSubtaskCreated(task_id=task.id, subtask=subtask_out(subtask), client_id=client_id),
        [task_room(task.id)],
        org_id=task.org_id,
        actor_id=actor.id,
    )
    await _recount(session, task, actor.id)
    await tasks.record_activity(session, task, actor.id, "subtask_added", title)
    return subtask


async def update_subtask(
    session: AsyncSession,
    subtask_id: str,
    actor: Person,
    *,
    title: str | None = None,
    done: bool | None = None,
    after_subtask_id: str | None = None,
    before_subtask_id: str | None = None,
) -> Subtask:
    """Rename, tick or untick, or move a subtask next to another; what is already so is no write."""
    task_id = await policy.task_of(session, subtask_id, actor.id)
    _project, task = await tasks.locked(session, task_id, actor.id)
    subtask = await repository.subtask(session, subtask_id)
    if subtask is None or subtask.task_id != task.id:
        raise policy.not_found()  # removed meanwhile
    old_title = subtask.title
    changed: list[SubtaskField] = []
    if title is not None and title != subtask.title:
        subtask.title = title
        changed.append("title")
    if done is not None and done != subtask.done:
        subtask.done = done
        changed.append("done")
    respaced: list[Subtask] = []
    if after_subtask_id is not None or before_subtask_id is not None:
        others = [s for s in await repository.of_task(session, task.id) if s.id != subtask.id]
        subtask.rank, respaced = placement.slot(others, before_subtask_id, after_subtask_id)
        changed.append("rank")
    if not changed:
        return subtask
    subtask.updated_at = utcnow()
    await session.flush()
    await _record_respaced(session, task, respaced, actor.id)
    await outbox.record(
        session,
        TaskSubtaskUpdated(
            task_id=task.id, subtask=subtask_out(subtask), changes=changed, updated_by=actor.id
        ),
        [task_room(task.id)],
        org_id=task.org_id,
        actor_id=actor.id,
    )
    if "done" in changed:
        await _recount(session, task, actor.id)
    verb, detail = _described(subtask, changed, old_title)
    await tasks.record_activity(session, task, actor.id, verb, detail)
    return subtask


async def delete_subtask(session: AsyncSession, subtask_id: str, actor: Person) -> None:
    task_id = await policy.task_of(session, subtask_id, actor.id)
    _project, task = await tasks.locked(session, task_id, actor.id)
    subtask = await repository.subtask(session, subtask_id)
    if subtask is None or subtask.task_id != task.id:
        raise policy.not_found()
    title = subtask.title
    await session.delete(subtask)
    await session.flush()
    await outbox.record(
        session,
        TaskSubtaskDeleted(task_id=task.id, subtask_id=subtask_id, deleted_by=actor.id),
        [task_room(task.id)],
        org_id=task.org_id,
        actor_id=actor.id,
    )
    await _recount(session, task, actor.id)
    await tasks.record_activity(session, task, actor.id, "subtask_removed", title)


def _described(subtask: Subtask, changed: list[SubtaskField], old_title: str) -> tuple[str, str]:
    """The history's line for a change: ticking says most, then a rename, then a move."""
    if "done" in changed:
        return ("subtask_done" if subtask.done else "subtask_reopened"), subtask.title
    if "title" in changed:
        return "subtask_renamed", f"{old_title} → {subtask.title}"
    return "subtask_moved", subtask.title


async def _record_respaced(
    session: AsyncSession, task: Task, respaced: list[Subtask], actor_id: str
) -> None:
    """Subtasks whose ranks a respacing rewrote: each one's new rank, before the write's event."""
    for other in respaced:
        await outbox.record(
            session,
            TaskSubtaskUpdated(
                task_id=task.id, subtask=subtask_out(other), changes=["rank"], updated_by=actor_id
            ),
            [task_room(task.id)],
            org_id=task.org_id,
            actor_id=actor_id,
        )


async def _recount(session: AsyncSession, task: Task, actor_id: str) -> None:
    done, total = await repository.counts(session, task.id)
    await tasks.set_subtask_counts(session, task, done, total, actor_id)
