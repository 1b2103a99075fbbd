from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, WithJsonSchema
from pydantic.alias_generators import to_camel

from tandem.chat.events import ChatMemberOut, ChatMessageOut, ConversationOut
from tandem.chat.models import Message
from tandem.kit.clock import iso
from tandem.realtime.envelope import Model

MAX_TEXT = 4000
MAX_TITLE = 100
MAX_MEMBERS = 50  # a group's, its creator included
MAX_PAGE = 100
DEFAULT_PAGE = 50

# Some character other than an ASCII space, and no NUL (no database stores it in text).
TEXT_PATTERN = r"^[^\x00]*[^\x00\t\n\v\f\r ][^\x00]*$"
_NUL = re.compile(r"\x00")


# What trimming takes off both ends: the ASCII spaces of TEXT_PATTERN, so the document's bounds and
# ours agree (str.strip would also take Unicode spaces the pattern counts as text).
SPACES = " \t\n\v\f\r"


def _message_text(text: str) -> str:
    if _NUL.search(text):
        raise ValueError("a message cannot contain NUL characters")
    text = text.strip(SPACES)
    if not text:
        raise ValueError("a message needs some text")
    if len(text) > MAX_TEXT:
        raise ValueError(
            f"a message is at most {MAX_TEXT} characters (after trimming); this one has {len(text)}"
        )
    return text


def _title(text: str) -> str:
    if _NUL.search(text):
        raise ValueError("a title cannot contain NUL characters")
    text = text.strip(SPACES)
    if not text or len(text) > MAX_TITLE:
        raise ValueError(f"a title is 1 to {MAX_TITLE} characters (after trimming)")
    return text


# Its length is checked after trimming (a clear message past 4000), so the raw string is bounded
# only by the body limit; the document states the trimmed bounds.
Text = Annotated[
    str,
    StringConstraints(max_length=64 * 1024),
    AfterValidator(_message_text),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "pattern": TEXT_PATTERN}
    ),
]
Title = Annotated[
    str,
    StringConstraints(max_length=1024),
    AfterValidator(_title),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": MAX_TITLE, "pattern": TEXT_PATTERN}
    ),
]
# Ids are letters, digits, `_` and `-` (kit/ids.py): anything else names nothing and never reaches
# a query (PostgreSQL refuses a NUL in text with an error, not a miss).
Id = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]


def message_out(message: Message) -> ChatMessageOut:
    return ChatMessageOut(
        message_id=message.id,
        conversation_id=message.conversation_id,
        n=message.n,
        author_id=message.author_id,
        text=message.text,
        client_id=message.client_id,
        sent_at=iso(message.sent_at),  # type: ignore[arg-type]
        edited_at=iso(message.edited_at),
        deleted_at=iso(message.deleted_at),
    )


class ChatReceipt(Model):
    user_id: str
    delivered_n: int
    read_n: int


class ConversationView(ConversationOut):
    """A conversation as one member's list shows it: with their own cursors and unread count."""

    unread_count: int
    read_n: int
    delivered_n: int


class ConversationIn(Model):
    """Exactly one other person and no title: their direct conversation (made once per pair).
    Otherwise a group: a title, and up to 49 others."""

    member_ids: list[Id] = Field(max_length=MAX_MEMBERS)
    title: Title | None = None


class ConversationPatch(Model):
    title: Title


class ConversationMemberIn(Model):
    user_id: Id


class ChatMessageIn(Model):
    """With `clientId`, the same text sent again returns the first message (another text: 422)."""

    text: Text
    client_id: ClientId | None = None


class ChatMessagePatch(Model):
    text: Text


class ChatDeliveredIn(Model):
    message_ids: list[Id] = Field(min_length=1, max_length=MAX_PAGE)


class ChatReadIn(Model):
    message_id: Id


class ConversationOnly(Model):
    conversation: ConversationView


class ConversationEnvelope(Model):
    conversation: ConversationView
    cursor: int


class ConversationList(Model):
    conversations: list[ConversationView]
    cursor: int


class ChatMessageEnvelope(Model):
    message: ChatMessageOut


class ConversationMemberAdded(Model):
    member: ChatMemberOut
    conversation: ConversationOut


class ChatHistory(Model):
    messages: list[ChatMessageOut]  # oldest first
    receipts: list[ChatReceipt]
    has_more: bool
    cursor: int


# -- socket payloads: strict (`"text": 5` is a client bug, not a message) ------------------------


class SocketPayload(Model):
    model_config = ConfigDict(
        extra="forbid", strict=True, alias_generator=to_camel, populate_by_name=False
    )


class SendIn(SocketPayload):
    conversation_id: Id
    client_id: ClientId
    text: Text


class SocketDeliveredIn(SocketPayload):
    conversation_id: Id
    message_ids: list[Id] = Field(min_length=1, max_length=MAX_PAGE)


class SocketReadIn(SocketPayload):
    conversation_id: Id
    message_id: Id
