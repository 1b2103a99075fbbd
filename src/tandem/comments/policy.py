"""Who may see, post, edit and delete comments.

Whoever may see a task sees its comments; whoever may change it (tasks/policy.py) may post. Only
its author edits a comment; its author or an org Owner or Admin deletes it. A comment on a task
the caller may not see answers "not found" exactly like one that does not exist.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.comments import repository
from tandem.comments.models import Comment
from tandem.kit.errors import Forbidden, NotFound
from tandem.kit.ids import id_in_path
from tandem.projects import policy as projects
from tandem.projects.repository import Access
from tandem.tasks import policy as tasks

MODERATORS = ("Owner", "Admin")


def not_found() -> NotFound:
    return NotFound("comment not found")


async def task_of(session: AsyncSession, comment_id: str, user_id: str) -> str:
    """The comment's task, when the person may see it."""
    task_id = await repository.task_of(session, comment_id)
    if task_id is None:
        raise not_found()
    found = await tasks.access(session, task_id, user_id)
    if found is None or not projects.can_see(found):
        raise not_found()
    return task_id


def require_author(comment: Comment, user_id: str) -> None:
    if comment.author_id != user_id:
        raise Forbidden("only its author may edit a comment")


def require_remover(comment: Comment, user_id: str, access: Access | None) -> None:
    if comment.author_id == user_id:
        return
    if access is None or access.org_role not in MODERATORS:
        raise Forbidden("only its author, an Owner or an Admin may delete a comment")


CommentId = id_in_path()
