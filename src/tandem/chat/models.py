from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tandem.db import Base, UTCDateTime
from tandem.kit.clock import utcnow


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # The conversation list: an org's, newest activity first.
        Index("ix_conversations_org_activity", "org_id", "last_activity_at"),
        # One direct conversation per pair of people in an org.
        Index("ix_conversations_direct", "org_id", "direct_key", unique=True),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # direct | group
    title: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # "u_a|u_b", the two ids sorted, for a direct conversation; None for a group.
    direct_key: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The last message's `n`: the next one takes last_n + 1 under the row's lock.
    last_n: Mapped[int] = mapped_column(Integer, default=0)


class ConversationMember(Base):
    """A member and their receipt cursors: every message up to `delivered_n` reached one of their
    devices, every one up to `read_n` was read."""

    __tablename__ = "conversation_members"

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_n: Mapped[int] = mapped_column(Integer, default=0)
    read_n: Mapped[int] = mapped_column(Integer, default=0)
    # The conversation's last message when they joined: every message up to it counts as read.
    joined_n: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_n", "conversation_id", "n", unique=True),
        # A send's clientId is its author's in the conversation: sent twice, it makes one message.
        Index("ix_messages_client", "conversation_id", "author_id", "client_id", unique=True),
        # A receipt's authors, and how far a member's cursors cover one person's messages.
        Index("ix_messages_author_n", "conversation_id", "author_id", "n"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    n: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    text: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
