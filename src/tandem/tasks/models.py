from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tandem.db import Base, UTCDateTime
from tandem.kit.clock import utcnow

# Ranks compare byte by byte (kit/rank.py): PostgreSQL's "C" collation, SQLite's default BINARY.
RankString = String(64).with_variant(String(64, collation="C"), "postgresql")


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_board", "project_id", "status", "rank"),
        # A create's clientId is its creator's in the project: sent twice, it makes one task.
        Index("ix_tasks_client", "project_id", "created_by", "client_id", unique=True),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # The project's org, copied: org-wide counts (the dashboard) read tasks without the join.
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(40))
    rank: Mapped[str] = mapped_column(RankString)
    priority: Mapped[str] = mapped_column(String(8), default="Medium")
    assignee_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    rev: Mapped[int] = mapped_column(Integer, default=1)
    # Each field's last change: {field: [rev, userId]} (a bare rev in rows written before writers
    # were kept). A write from an older rev is told who changed those fields meanwhile.
    field_revs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The creating client's id for the task, and a digest of what it sent: a retry finds the task.
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Kept with every subtask or attachment write, so a board shows them without a join.
    subtasks_done: Mapped[int] = mapped_column(Integer, default=0)
    subtasks_total: Mapped[int] = mapped_column(Integer, default=0)
    attachment_count: Mapped[int] = mapped_column(Integer, default=0)


class TaskActivity(Base):
    """One line of a task page's history: who did what to the task (tasks/timeline.py)."""

    __tablename__ = "task_activity"
    __table_args__ = (Index("ix_task_activity_task", "task_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    actor_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    verb: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
