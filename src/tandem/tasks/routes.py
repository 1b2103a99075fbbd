from __future__ import annotations

from fastapi import APIRouter, Response

from tandem.deps import CallerDep, Idempotent, ReadSession, RuntimeDep, Session
from tandem.projects.policy import ProjectId
from tandem.tasks import moves, page_hints, policy, service
from tandem.tasks.policy import TaskId
from tandem.tasks.schemas import (
    TaskEnvelope,
    TaskIn,
    TaskMove,
    TaskPage,
    TaskPatch,
    TaskPatched,
    task_out,
)

router = APIRouter(tags=["tasks"])


@router.post("/projects/{project_id}/tasks", status_code=201, response_model=TaskEnvelope)
async def create_task(
    body: TaskIn, caller: CallerDep, session: Session, once: Idempotent, project_id: str = ProjectId
) -> TaskEnvelope | Response:
    """Add a task to a column (the first, unless `status` names another): at its end, or before or
    after a task there. With `clientId`, the same body sent again returns the first task."""
    if once.replay is not None:
        return once.replay
    task = await service.create_task(
        session,
        project_id,
        caller.user,
        title=body.title,
        status=body.status,
        priority=body.priority,
        assignee_id=body.assignee_id,
        due_date=body.due_date,
        description=body.description,
        before_task_id=body.before_task_id,
        after_task_id=body.after_task_id,
        client_id=body.client_id,
        digest=body.digest(),
    )
    return await once.respond(201, TaskEnvelope(task=task_out(task)))


@router.get("/tasks/{task_id}", response_model=TaskPage)
async def task_page(
    viewer: policy.ReadingViewer, session: ReadSession, runtime: RuntimeDep
) -> TaskPage:
    """The task page's snapshot: the task, its subtasks, comments, files and history, and who
    is typing there now."""
    hints = await page_hints.snapshot(runtime.gateway.inbound, viewer.task_id)
    return TaskPage.model_validate(await service.task_page(session, viewer.task_id, hints))


@router.patch("/tasks/{task_id}", response_model=TaskPatched)
async def update_task(
    body: TaskPatch, caller: CallerDep, session: Session, task_id: str = TaskId
) -> TaskPatched:
    """Change a task's fields, the last write winning each; with `baseRev`, fields someone else
    changed meanwhile are named, with who changed them, in `conflict`. A description sent with
    `descriptionBase` is merged with changes made since (or both versions come back)."""
    changes = body.changes.model_dump(exclude_unset=True)
    task, conflict = await service.update_task(
        session,
        task_id,
        caller.user,
        changes,
        body.base_rev,
        body.client_id,
        description_base=body.description_base,
    )
    return TaskPatched.model_validate({"task": task_out(task), "conflict": conflict})


@router.post("/tasks/{task_id}/move", response_model=TaskPatched)
async def move_task(
    body: TaskMove, caller: CallerDep, session: Session, task_id: str = TaskId
) -> TaskPatched:
    """Move a task within or between columns; with `baseRev`, `conflict` names who moved it
    meanwhile (the move still applies). A neighbour no longer in `toColumn` answers 409."""
    task, conflict = await moves.move_task(
        session,
        task_id,
        caller.user,
        to_column=body.to_column,
        before_task_id=body.before_task_id,
        after_task_id=body.after_task_id,
        base_rev=body.base_rev,
        client_id=body.client_id,
    )
    return TaskPatched.model_validate({"task": task_out(task), "conflict": conflict})


@router.delete("/tasks/{task_id}", status_code=204)
async def delete_task(caller: CallerDep, session: Session, task_id: str = TaskId) -> Response:
    """Delete a task."""
    await service.delete_task(session, task_id, caller.user)
    return Response(status_code=204)
