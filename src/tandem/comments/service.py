"""Comments: post, edit, delete.

Each operation is one body — lock the task as a task write does (tasks/service.py `locked`: the
caller may change the task), check (comments/policy.py), write, record the events — and never
commits. A post with a `clientId` is made once: sent again with the same text it returns the
first comment, with another text it is refused (422).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.comments import policy, repository
from tandem.comments.events import TaskCommentCreated, TaskCommentDeleted, TaskCommentUpdated
from tandem.comments.models import Comment
from tandem.comments.schemas import comment_out
from tandem.kit.clock import utcnow
from tandem.kit.ids import new_id
from tandem.projects import repository as projects
from tandem.realtime import outbox
from tandem.realtime.rooms import task_room
from tandem.tasks import service as tasks
from tandem.tasks.models import Task
from tandem.tasks.service import ClientIdReused, Person

# How much of a comment the task's history quotes.
QUOTED = 80


def _quote(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= QUOTED else line[: QUOTED - 1] + "…"


async def create_comment(
    session: AsyncSession, task_id: str, actor: Person, text: str, client_id: str | None = None
) -> Comment:
    _project, task = await tasks.locked(session, task_id, actor.id)
    if client_id is not None:
        # The task's row is locked: a second post with this clientId waits for the first.
        earlier = await repository.by_client(session, task.id, actor.id, client_id)
        if earlier is not None:
            if earlier.text != text:
                raise ClientIdReused("this clientId was already used for another comment")
            return earlier
    comment = Comment(
        id=new_id("cm"),
        task_id=task.id,
        author_id=actor.id,
        text=text,
        created_at=utcnow(),
        edited_at=None,
        client_id=client_id,
    )
    session.add(comment)
    await session.flush()
    await outbox.record(
        session,
        TaskCommentCreated(task_id=task.id, comment=comment_out(comment), client_id=client_id),
        [task_room(task.id)],
        org_id=task.org_id,
        actor_id=actor.id,
    )
    await tasks.record_activity(session, task, actor.id, "commented", _quote(text))
    return comment


async def update_comment(
    session: AsyncSession, comment_id: str, actor: Person, text: str
) -> Comment:
    """Its author changes a comment's text; the same text again is no write."""
    task, comment = await _locked(session, comment_id, actor)
    policy.require_author(comment, actor.id)
    if comment.text == text:
        return comment
    comment.text = text
    comment.edited_at = utcnow()
    await session.flush()
    await outbox.record(
        session,
        TaskCommentUpdated(task_id=task.id, comment=comment_out(comment)),
        [task_room(task.id)],
        org_id=task.org_id,
        actor_id=actor.id,
    )
    await tasks.record_activity(session, task, actor.id, "comment_edited", _quote(text))
    return comment


async def delete_comment(session: AsyncSession, comment_id: str, actor: Person) -> None:
    task, comment = await _locked(session, comment_id, actor)
    policy.require_remover(
        comment, actor.id, await projects.access(session, task.project_id, actor.id)
    )
    quoted = _quote(comment.text)
    await session.delete(comment)
    await session.flush()
    await outbox.record(
        session,
        TaskCommentDeleted(task_id=task.id, comment_id=comment_id, deleted_by=actor.id),
        [task_room(task.id)],
        org_id=task.org_id,
        actor_id=actor.id,
    )
    await tasks.record_activity(session, task, actor.id, "comment_deleted", quoted)


async def _locked(session: AsyncSession, comment_id: str, actor: Person) -> tuple[Task, Comment]:
    """The comment's task, locked after the caller may change it, and the comment."""
    task_id = await policy.task_of(session, comment_id, actor.id)
    _project, task = await tasks.locked(session, task_id, actor.id)
    comment = await repository.comment(session, comment_id)
    if comment is None or comment.task_id != task.id:
        raise policy.not_found()  # deleted meanwhile
    return task, comment
