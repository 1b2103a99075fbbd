"""The dashboard's tables: tallies its metrics are summed from, the emitter's state, the activity feed.

A tally row counts tasks that share a key; each task write adds or takes one from a few rows, so
the rows grow with projects, columns, assignees and days, never with the number of tasks.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tandem.db import Base, UTCDateTime
from tandem.kit.clock import utcnow

# A task without an assignee is tallied under "" (a key column cannot hold NULL).
NO_ASSIGNEE = ""
# The org as a whole (not one project): where the emitter marks a day's rollover.
WHOLE_ORG = ""


class StatusTally(Base):
    """How many tasks of a project sit in a column, per assignee, done or not."""

    __tablename__ = "dashboard_status_tally"
    __table_args__ = (Index("ix_dashboard_status_tally_org", "org_id"),)

    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(40), primary_key=True)
    assignee_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    done: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    count: Mapped[int] = mapped_column(Integer, default=0)


class DayTally(Base):
    """Per project and UTC day: tasks created that day, completed that day, and closed that day.

    `closed` counts a completed task on the later of its creation and completion days, so an open
    count at the end of any day is (created so far) - (closed so far) even for odd timestamps.
    """

    __tablename__ = "dashboard_day_tally"
    __table_args__ = (Index("ix_dashboard_day_tally_org_day", "org_id", "day"),)

    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    created: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[int] = mapped_column(Integer, default=0)


class DueTally(Base):
    """Per project and due date: how many open tasks are due that day."""

    __tablename__ = "dashboard_due_tally"
    __table_args__ = (Index("ix_dashboard_due_tally_org_due", "org_id", "due_date"),)

    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    due_date: Mapped[date] = mapped_column(Date, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    count: Mapped[int] = mapped_column(Integer, default=0)


class DashboardDirty(Base):
    """A project (or the whole org) changed since the org's metrics were last sent.

    `mark` goes up on every write, so the emitter clears only the marks it saw; `since_day` is the
    earliest day whose series points the writes touched."""

    __tablename__ = "dashboard_dirty"

    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    mark: Mapped[int] = mapped_column(Integer, default=1)
    since_day: Mapped[date | None] = mapped_column(Date, nullable=True)


class DashboardEmitted(Base):
    """What was last sent to an audience of an org: when, and the metrics (series diffed against)."""

    __tablename__ = "dashboard_emitted"

    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    audience: Mapped[str] = mapped_column(String(32), primary_key=True)  # "*" or a Guest's id
    emitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    day: Mapped[date] = mapped_column(Date)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)


class Activity(Base):
    """One line of the org's activity feed: who did what to which task or project."""

    __tablename__ = "activities"
    __table_args__ = (
        Index("ix_activities_feed", "org_id", "created_at", "id"),
        Index("ix_activities_project_feed", "project_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    verb: Mapped[str] = mapped_column(String(24))
    target: Mapped[dict[str, Any]] = mapped_column(JSON)  # {kind, id, title}
    detail: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
