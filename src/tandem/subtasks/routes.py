from __future__ import annotations

from fastapi import APIRouter, Response

from tandem.deps import CallerDep, Idempotent, Session
from tandem.subtasks import service
from tandem.subtasks.policy import SubtaskId
from tandem.subtasks.schemas import SubtaskEnvelope, SubtaskIn, SubtaskPatch, subtask_out
from tandem.tasks.policy import TaskId

router = APIRouter(tags=["subtasks"])


@router.post("/tasks/{task_id}/subtasks", status_code=201, response_model=SubtaskEnvelope)
async def create_subtask(
    body: SubtaskIn, caller: CallerDep, session: Session, once: Idempotent, task_id: str = TaskId
) -> SubtaskEnvelope | Response:
    """Add a subtask at the end of the task's list, or after `afterSubtaskId`; with `clientId`,
    sending it again returns the first one."""
    if once.replay is not None:
        return once.replay
    subtask = await service.create_subtask(
        session,
        task_id,
        caller.user,
        title=body.title,
        after_subtask_id=body.after_subtask_id,
        client_id=body.client_id,
    )
    return await once.respond(201, SubtaskEnvelope(subtask=subtask_out(subtask)))


@router.patch("/subtasks/{subtask_id}", response_model=SubtaskEnvelope)
async def update_subtask(
    body: SubtaskPatch, caller: CallerDep, session: Session, subtask_id: str = SubtaskId
) -> SubtaskEnvelope:
    """Rename, tick or untick a subtask, or move it next to another (at most one neighbour)."""
    subtask = await service.update_subtask(
        session,
        subtask_id,
        caller.user,
        title=body.title,
        done=body.done,
        after_subtask_id=body.after_subtask_id,
        before_subtask_id=body.before_subtask_id,
    )
    return SubtaskEnvelope(subtask=subtask_out(subtask))


@router.delete("/subtasks/{subtask_id}", status_code=204)
async def delete_subtask(
    caller: CallerDep, session: Session, subtask_id: str = SubtaskId
) -> Response:
    """Remove a subtask."""
    await service.delete_subtask(session, subtask_id, caller.user)
    return Response(status_code=204)
