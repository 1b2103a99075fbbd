"""Tasks: create, change, delete; the task page's snapshot (moves: tasks/moves.py).

Each operation is one body — lock the project's row (so one board's changes run one at a time and
their events leave in that order), check (tasks/policy.py), write, record the events — and never
commits. Every write adds 1 to the task's `rev` and records who wrote each field
(tasks/placement.py).

Conflicts (the PRD's "last write wins, with a toast when the same field changed meanwhile"): a
PATCH may say which `baseRev` it was made against. Every field sent applies, even one someone else
changed after that rev; such a field (when the value sent differs from theirs) is named, with who
changed it, in the answer's and the events' `conflict`, so both people can be told. A create with
a `clientId` is made once: sent again with the same body it returns the first task, with another
body it is refused (422).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.attachments import repository as attachments
from tandem.attachments.schemas import attachment_out
from tandem.auth.models import Profile, User
from tandem.comments import repository as comments
from tandem.comments.schemas import comment_out
from tandem.dashboard import service as dashboard
from tandem.dashboard.service import TaskFacts
from tandem.kit.clock import iso, utcnow
from tandem.kit.errors import AppError, Conflict
from tandem.kit.ids import new_id
from tandem.projects import policy as projects_policy
from tandem.projects import repository as projects
from tandem.projects import service as project_service
from tandem.projects.models import Project
from tandem.realtime import log as event_log
from tandem.realtime import outbox
from tandem.realtime.rooms import project_room, task_room
from tandem.subtasks import repository as subtasks
from tandem.subtasks.schemas import subtask_out
from tandem.tasks import activity, hints, merge, placement, policy, repository, timeline
from tandem.tasks.events import (
    KanbanTaskCreated,
    KanbanTaskDeleted,
    KanbanTaskUpdated,
    TaskChanges,
    TaskUpdated,
)
from tandem.tasks.models import Task
from tandem.tasks.schemas import task_out
from tandem.tasks.timeline import record_activity as record_activity

__all__ = ["record_activity", "set_attachment_count", "set_subtask_counts"]

Person = User | Profile
# A null in a PATCH clears these; for any other field it means "leave as it is".
CLEARABLE = ("assignee_id", "due_date")


async def task_page(
    session: AsyncSession, task_id: str, hints: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The task page's snapshot; `hints` (tasks/page_hints.py) are the instance's to read."""
    cursor = await event_log.latest_seq(session)  # read before the state: see SPEC §5.4
    task = await repository.task(session, task_id)
    if task is None:
        raise policy.not_found()
    return {
        "task": task_out(task),
        "subtasks": [subtask_out(s) for s in await subtasks.of_task(session, task_id)],
        "comments": [comment_out(c) for c in await comments.of_task(session, task_id)],
        "attachments": [attachment_out(a) for a in await attachments.of_task(session, task_id)],
        "activity": [timeline.activity_out(a) for a in await timeline.recent(session, task_id)],
        "hints": hints or {"typing": []},
        "cursor": cursor,
    }


async def locked(session: AsyncSession, task_id: str, actor_id: str) -> tuple[Project, Task]:
    """The task's project and the task, locked in that order, after the caller may edit them."""
    project_id = await repository.project_of(session, task_id)
    if project_id is None:
        raise policy.not_found()
    project = await projects.project(session, project_id, lock=True)
    task = await repository.task(session, task_id, lock=True)
    if project is None or task is None or task.project_id != project.id:
        raise policy.not_found()  # deleted meanwhile
    policy.require_editor(await projects.access(session, project.id, actor_id))
    return project, task


async def _check_assignee(session: AsyncSession, project: Project, user_id: str | None) -> None:
    if user_id is None:
        return
    found = await projects.access(session, project.id, user_id)
    if found is None or not projects_policy.can_see(found):
        raise Conflict("the assignee must be someone who can see this project")


class ClientIdReused(AppError):
    status, code = 422, "invalid"


async def create_task(
    session: AsyncSession,
    project_id: str,
    actor: Person,
    *,
    title: str,
    status: str | None,
    priority: str,
    assignee_id: str | None,
    due_date: date | None,
    description: str,
    before_task_id: str | None = None,
    after_task_id: str | None = None,
    client_id: str | None = None,
    digest: str | None = None,
) -> Task:
    """Add a task to a column (the first one unless `status` names another): at its end, or next
    to a neighbour there. A `clientId` seen before from this person here returns that task."""
    project = await project_service.locked(session, project_id)
    projects_policy.require_editor(await projects.access(session, project_id, actor.id))
    if client_id is not None:
        # The project's row is locked: a second create with this clientId waits for the first.
        earlier = await repository.by_client(session, project_id, actor.id, client_id)
        if earlier is not None:
            if earlier.client_digest != digest:
                raise ClientIdReused("this clientId was already used for another task")
            return earlier
    column = placement.column(project, status) if status is not None else project.columns[0]
    await _check_assignee(session, project, assignee_id)
    task_id = new_id("t")
    key, rebalanced = await placement.slot(
        session, project, column, before_task_id, after_task_id, task_id
    )
    now = utcnow()
    task = Task(
        id=task_id,
        project_id=project_id,
        org_id=project.org_id,
        title=title,
        description=description,
        status=column,
        rank=key,
        priority=priority,
        assignee_id=assignee_id,
        due_date=due_date,
        rev=1,
        field_revs={},
        created_by=actor.id,
        created_at=now,
        updated_at=now,
        client_id=client_id,
        client_digest=digest if client_id is not None else None,
    )
    placement.complete(project, task, now)
    session.add(task)
    await session.flush()
    await dashboard.tally(session, None, TaskFacts.of(task))
    await activity.record(session, project, task, actor.id, "created")
    await record_activity(session, task, actor.id, "created", task.title)
    await outbox.record(
        session,
        KanbanTaskCreated(
            project_id=project_id,
            task=task_out(task),
            created_by=actor.id,
            rebalanced=rebalanced,
            client_id=client_id,
        ),
        [project_room(project_id)],
        org_id=project.org_id,
        actor_id=actor.id,
    )
    return task


async def update_task(
    session: AsyncSession,
    task_id: str,
    actor: Person,
    changes: dict[str, Any],
    base_rev: int | None,
    client_id: str | None = None,
    description_base: str | None = None,
) -> tuple[Task, dict[str, Any] | None]:
    """Change a task's fields, the last write winning each but the description, which is merged
    when it comes with the text it was edited from; returns the task and the conflict, if any
    (see the module's text)."""
    project, task = await locked(session, task_id, actor.id)
    changes, merging = merge.description(task, changes, description_base)
    wanted: dict[str, Any] = {}
    for field, value in changes.items():
        if value is None and field not in CLEARABLE:
            continue
        if getattr(task, field) != value:
            wanted[field] = value
    # A status change is a move: whoever last placed the task (rank) is whom it overrides.
    counted = {
        placement.wire_name(f): "rank" if f == "status" else f
        for f in wanted
        if not (merging and f == "description")  # merged: nobody's edit was overridden
    }
    conflict = placement.conflict(task, counted, base_rev, actor.id)
    answer = merge.answer_conflict(task, conflict, merging, base_rev) if merging else conflict
    if not wanted:
        return task, answer
    if "status" in wanted:
        placement.column(project, wanted["status"])
    if "assignee_id" in wanted:
        await _check_assignee(session, project, wanted["assignee_id"])
    now = utcnow()
    before = TaskFacts.of(task)
    was = {field: getattr(task, field) for field in wanted}
    wire: TaskChanges = {}
    rebalanced: dict[str, str] = {}
    for field, value in wanted.items():
        setattr(task, field, value)
        wire[placement.wire_name(field)] = value.isoformat() if isinstance(value, date) else value  # type: ignore[literal-required]
    touched = list(wanted)
    if "status" in wanted:  # to the end of its new column
        task.rank, rebalanced = await placement.slot(
            session, project, task.status, None, None, task.id
        )
        placement.complete(project, task, now)
        wire["rank"] = task.rank
        wire["completedAt"] = iso(task.completed_at)
        touched.append("rank")
    placement.bump(task, touched, actor.id, now)
    await session.flush()
    await dashboard.tally(session, before, TaskFacts.of(task))
    await activity.record(
        session, project, task, actor.id, activity.verb(before, task), before.status
    )
    await outbox.record(
        session,
        KanbanTaskUpdated(
            project_id=project.id,
            task_id=task.id,
            changes=wire,
            updated_by=actor.id,
            rev=task.rev,
            updated_at=iso(task.updated_at),  # type: ignore[arg-type]
            rebalanced=rebalanced,
            client_id=client_id,
            conflict=conflict,  # type: ignore[arg-type]
        ),
        [project_room(project.id)],
        org_id=project.org_id,
        actor_id=actor.id,
    )
    await record_task_updated(session, project, task, wire, actor.id, client_id, conflict)
    await record_activity(
        session,
        task,
        actor.id,
        "moved" if "status" in wanted else "updated",
        timeline.describe(was, wanted),
    )
    return task, answer


async def record_task_updated(
    session: AsyncSession,
    project: Project,
    task: Task,
    changes: TaskChanges,
    actor_id: str,
    client_id: str | None,
    conflict: dict[str, Any] | None,
) -> None:
    """`task.updated` to the task's own room, for its page (after an edit or a move)."""
    await outbox.record(
        session,
        TaskUpdated(
            task_id=task.id,
            changes=changes,
            updated_by=actor_id,
            rev=task.rev,
            updated_at=iso(task.updated_at),  # type: ignore[arg-type]
            client_id=client_id,
            conflict=conflict,  # type: ignore[arg-type]
        ),
        [task_room(task.id)],
        org_id=project.org_id,
        actor_id=actor_id,
    )


async def delete_task(session: AsyncSession, task_id: str, actor: Person) -> None:
    project, task = await locked(session, task_id, actor.id)
    status = task.status
    before = TaskFacts.of(task)
    await session.delete(task)
    await session.flush()
    hints.task_gone(session, project.id, task_id)
    await dashboard.tally(session, before, None)
    await activity.record(session, project, task, actor.id, "deleted")
    # Also to the task's own room: its page learns the task is gone.
    await outbox.record(
        session,
        KanbanTaskDeleted(
            project_id=project.id, task_id=task_id, status=status, deleted_by=actor.id
        ),
        [project_room(project.id), task_room(task_id)],
        org_id=project.org_id,
        actor_id=actor.id,
    )


async def set_attachment_count(
    session: AsyncSession, task: Task, count: int, actor_id: str
) -> None:
    """Store how many files the task has, for its card; the caller holds the task's lock
    (`locked`) and records its own activity line."""
    if task.attachment_count == count:
        return
    task.attachment_count = count
    await _record_counts(session, task, actor_id, {"attachmentCount": count})


async def set_subtask_counts(
    session: AsyncSession, task: Task, done: int, total: int, actor_id: str
) -> None:
    """Store how many of the task's subtasks are done, of how many; the caller holds its lock."""
    if (task.subtasks_done, task.subtasks_total) == (done, total):
        return
    task.subtasks_done, task.subtasks_total = done, total
    await _record_counts(session, task, actor_id, {"subtaskCount": {"done": done, "total": total}})


async def _record_counts(
    session: AsyncSession, task: Task, actor_id: str, wire: TaskChanges
) -> None:
    """A count on the card changed: a new rev, told to the board and to the task's page."""
    placement.bump(task, [], actor_id, utcnow())
    await session.flush()
    await outbox.record(
        session,
        KanbanTaskUpdated(
            project_id=task.project_id,
            task_id=task.id,
            changes=wire,
            updated_by=actor_id,
            rev=task.rev,
            updated_at=iso(task.updated_at),  # type: ignore[arg-type]
        ),
        [project_room(task.project_id)],
        org_id=task.org_id,
        actor_id=actor_id,
    )
    await outbox.record(
        session,
        TaskUpdated(
            task_id=task.id,
            changes=wire,
            updated_by=actor_id,
            rev=task.rev,
            updated_at=iso(task.updated_at),  # type: ignore[arg-type]
        ),
        [task_room(task.id)],
        org_id=task.org_id,
        actor_id=actor_id,
    )
