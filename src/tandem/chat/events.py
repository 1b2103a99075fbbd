"""The messages page's events (docs/chat.md). Message and receipt events go to `chat:{id}`; the
conversation events go there and to every member's `user:{id}` room (and a removed member's),
where the conversation list hears of conversations it does not show yet. All are the chat phase's.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from tandem.realtime.envelope import EventData, Model


class ChatMessageOut(Model):
    message_id: str
    conversation_id: str
    n: int  # 1, 2, 3… in the conversation
    author_id: str | None
    text: str  # empty once deleted
    client_id: str | None  # the sender's temporary id for it, if it gave one
    sent_at: str
    edited_at: str | None
    deleted_at: str | None


class ChatMemberOut(Model):
    user_id: str
    name: str
    avatar_url: str | None


class ConversationOut(Model):
    """A conversation as every member sees it (the list adds each reader's own counts)."""

    id: str
    org_id: str
    kind: Literal["direct", "group"]
    title: str | None
    created_by: str | None
    created_at: str
    members: list[ChatMemberOut]
    last_message: ChatMessageOut | None
    last_n: int
    last_activity_at: str


class ChatMessageCreated(EventData):
    event_name: ClassVar[str] = "chat.message.created"
    event_phase: ClassVar[str | None] = "chat"
    event_summary: ClassVar[str] = (
        "A message was sent; `clientId` is its sender's temporary id, to reconcile an optimistic "
        "send. Its author's read and delivered cursors are now at its `n`."
    )

    conversation_id: str
    message: ChatMessageOut
    client_id: str | None = None


class ChatMessageUpdated(EventData):
    event_name: ClassVar[str] = "chat.message.updated"
    event_phase: ClassVar[str | None] = "chat"
    event_summary: ClassVar[str] = "Its author edited a message: replace it."

    conversation_id: str
    message: ChatMessageOut


class ChatMessageDeleted(EventData):
    event_name: ClassVar[str] = "chat.message.deleted"
    event_phase: ClassVar[str | None] = "chat"
    event_summary: ClassVar[str] = (
        "A message was deleted (by its author, an Owner or an Admin): it stays in the history, "
        "text emptied and `deletedAt` set, and counts as unread for no one."
    )

    conversation_id: str
    message_id: str
    n: int
    deleted_by: str
    message: ChatMessageOut


class ChatMessageDelivered(EventData):
    event_name: ClassVar[str] = "chat.message.delivered"
    event_phase: ClassVar[str | None] = "chat"
    event_summary: ClassVar[str] = (
        "Messages up to `n` reached one of the recipient's devices: their delivered cursor moved "
        "there (it never moves back). Sent to the `user:` room of each author of the messages it "
        "covers, with `messageId`/`n` that author's latest one among them, and to the "
        "recipient's own, with the cursor's new position."
    )

    conversation_id: str
    message_id: str
    n: int
    recipient_id: str
    delivered_at: str


class ChatMessageRead(EventData):
    event_name: ClassVar[str] = "chat.message.read"
    event_phase: ClassVar[str | None] = "chat"
    event_summary: ClassVar[str] = (
        "The reader read every message up to `n`: their read cursor (and their delivered one, if "
        "behind) moved there; `unreadCount` is what the reader has left unread in it. Sent as "
        "chat.message.delivered is: to each covered author's `user:` room with their latest "
        "message read, and to the reader's own with the cursor's new position."
    )

    conversation_id: str
    message_id: str
    n: int
    reader_id: str
    read_at: str
    unread_count: int


class ChatConversationCreated(EventData):
    event_name: ClassVar[str] = "chat.conversation.created"
    event_phase: ClassVar[str | None] = "chat"
    event_summary: ClassVar[str] = "A conversation was started; sent to each member's user room."

    conversation: ConversationOut


class ChatConversationUpdated(EventData):
    event_name: ClassVar[str] = "chat.conversation.updated"
    event_phase: ClassVar[str | None] = "chat"
    event_summary: ClassVar[str] = "A group was renamed: replace the conversation."

    conversation: ConversationOut
    updated_by: str


class ChatMemberAdded(EventData):
    event_name: ClassVar[str] = "chat.member.added"
    event_phase: ClassVar[str | None] = "chat"
    event_summary: ClassVar[str] = (
        "Someone was added to a group; `conversation` is the group now. The new member starts "
        "with every earlier message read."
    )

    conversation_id: str
    member: ChatMemberOut
    added_by: str
    conversation: ConversationOut


class ChatMemberRemoved(EventData):
    event_name: ClassVar[str] = "chat.member.removed"
    event_phase: ClassVar[str | None] = "chat"
    event_summary: ClassVar[str] = (
        "Someone left a group or was removed (`removedBy` is themselves when they left); their "
        "sockets leave the room, and their list drops the conversation."
    )

    conversation_id: str
    user_id: str
    removed_by: str
    conversation: ConversationOut


class ChatPresence(EventData):
    event_name: ClassVar[str] = "chat.presence"
    event_phase: ClassVar[str | None] = "chat"
    event_durable: ClassVar[bool] = False
    event_supersedes: ClassVar[tuple[str, ...]] = ("conversationId", "userId")
    event_summary: ClassVar[str] = (
        "A member of the conversation came online or went offline: `org.member.presence` for a "
        "client that follows only the conversation's room (ephemeral: no seq, never replayed)."
    )

    conversation_id: str
    user_id: str
    online: bool
    last_active_at: str | None


class ChatTyping(EventData):
    event_name: ClassVar[str] = "chat.typing"
    event_phase: ClassVar[str | None] = "chat"
    event_durable: ClassVar[bool] = False
    event_supersedes: ClassVar[tuple[str, ...]] = ("conversationId", "userId")
    event_summary: ClassVar[str] = (
        "Someone is writing in the conversation, or stopped; alive `expiresInMs` after its last "
        "refresh, ended (`typing: false`) when it lapses, is withdrawn or its sender leaves "
        "(ephemeral: no seq, never replayed)."
    )

    conversation_id: str
    user_id: str
    typing: bool
    expires_in_ms: int
