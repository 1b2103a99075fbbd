from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tandem.db import Base, UTCDateTime
from tandem.kit.clock import utcnow
from tandem.tasks.models import RankString


class Subtask(Base):
    __tablename__ = "subtasks"
    __table_args__ = (
        Index("ix_subtasks_task", "task_id", "rank"),
        # A create's clientId is its creator's on the task: sent twice, it makes one subtask.
        Index("ix_subtasks_client", "task_id", "created_by", "client_id", unique=True),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    rank: Mapped[str] = mapped_column(RankString)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
