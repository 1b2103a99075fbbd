from __future__ import annotations

from fastapi import APIRouter, Response

from tandem.comments import service
from tandem.comments.policy import CommentId
from tandem.comments.schemas import CommentEnvelope, CommentIn, CommentPatch, comment_out
from tandem.deps import CallerDep, Idempotent, Session
from tandem.tasks.policy import TaskId

router = APIRouter(tags=["comments"])


@router.post("/tasks/{task_id}/comments", status_code=201, response_model=CommentEnvelope)
async def create_comment(
    body: CommentIn, caller: CallerDep, session: Session, once: Idempotent, task_id: str = TaskId
) -> CommentEnvelope | Response:
    """Post a comment (Markdown); with `clientId`, the same text sent again returns the first."""
    if once.replay is not None:
        return once.replay
    comment = await service.create_comment(session, task_id, caller.user, body.text, body.client_id)
    return await once.respond(201, CommentEnvelope(comment=comment_out(comment)))


@router.patch("/comments/{comment_id}", response_model=CommentEnvelope)
async def update_comment(
    body: CommentPatch, caller: CallerDep, session: Session, comment_id: str = CommentId
) -> CommentEnvelope:
    """Edit a comment's text (its author only)."""
    comment = await service.update_comment(session, comment_id, caller.user, body.text)
    return CommentEnvelope(comment=comment_out(comment))


@router.delete("/comments/{comment_id}", status_code=204)
async def delete_comment(
    caller: CallerDep, session: Session, comment_id: str = CommentId
) -> Response:
    """Delete a comment (its author, an org Owner or an Admin)."""
    await service.delete_comment(session, comment_id, caller.user)
    return Response(status_code=204)
