from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tandem.db import Base, UTCDateTime
from tandem.kit.clock import utcnow


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_task", "task_id", "created_at"),
        # A create's clientId is its author's on the task: sent twice, it makes one comment.
        Index("ix_comments_client", "task_id", "author_id", "client_id", unique=True),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    author_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
