from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints, WithJsonSchema

from tandem.comments.events import CommentOut
from tandem.comments.models import Comment
from tandem.kit.clock import iso
from tandem.realtime.envelope import Model
from tandem.tasks.schemas import ClientId

# Some character other than an ASCII space, and no NUL (no database stores it in text). Spelled
# out rather than `\s`, whose meaning differs between regex dialects: the document's is this one.
TEXT_PATTERN = r"^[^\x00]*[^\x00\t\n\v\f\r ][^\x00]*$"
_TEXT = re.compile(TEXT_PATTERN)


def _not_blank(text: str) -> str:
    if not _TEXT.match(text):
        raise ValueError("a comment needs some text, and no NUL characters")
    return text  # as sent: spaces and markup are the author's


Text = Annotated[
    str,
    StringConstraints(min_length=1, max_length=10_000),
    AfterValidator(_not_blank),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 10_000, "pattern": TEXT_PATTERN}
    ),
]


def comment_out(comment: Comment) -> CommentOut:
    return CommentOut(
        id=comment.id,
        comment_id=comment.id,
        task_id=comment.task_id,
        author_id=comment.author_id,
        text=comment.text,
        created_at=iso(comment.created_at),  # type: ignore[arg-type]
        edited_at=iso(comment.edited_at),
    )


class CommentIn(Model):
    """A new comment (Markdown). With `clientId`, the same text sent again returns the first one."""

    text: Text
    client_id: ClientId | None = None


class CommentPatch(Model):
    text: Text


class CommentEnvelope(Model):
    comment: CommentOut
