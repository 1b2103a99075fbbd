from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from tandem.db import Base, UTCDateTime
from tandem.kit.clock import utcnow


class Flag(Base):
    """One phase's switch: on/off, an org allow-list, a rollout percentage (stable hash of the org id)."""

    __tablename__ = "flags"

    phase: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    allow_orgs: Mapped[list[str]] = mapped_column(JSON, default=list)
    rollout_percent: Mapped[int] = mapped_column(default=100)


class FlagOverride(Base):
    """An Owner's per-organization setting, which wins over the global rule: off, soak (live, with
    the client verifying its state against snapshots) or on."""

    __tablename__ = "flag_overrides"

    phase: Mapped[str] = mapped_column(String(16), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool] = mapped_column()
    soak: Mapped[bool] = mapped_column(default=False, server_default=false())


class FlagChange(Base):
    """The audit trail: one row per change of a rule (org_id null) or of an org's override, written
    in the change's transaction. actor_id null: the automatic rollback, or the terminal."""

    __tablename__ = "flag_changes"
    __table_args__ = (Index("ix_flag_changes_org", "org_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    phase: Mapped[str] = mapped_column(String(16))
    org_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    before: Mapped[str] = mapped_column(String(200))
    after: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(300), default="")
    automatic: Mapped[bool] = mapped_column(default=False)


class RealtimeHealth(Base):
    """What clients of one org saw of one phase in one minute (minutes since the epoch), summed over
        every instance: latency samples (a histogram in milliseconds, and how many were over the p99
        threshold), drift reports, calls that failed on the server's side, and ephemeral events the
    server dropped for its sockets that had fallen behind."""

    __tablename__ = "realtime_health"

    org_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    phase: Mapped[str] = mapped_column(String(16), primary_key=True)
    minute: Mapped[int] = mapped_column(Integer, primary_key=True)
    samples: Mapped[int] = mapped_column(default=0)
    over: Mapped[int] = mapped_column(default=0)
    le_50: Mapped[int] = mapped_column(default=0)
    le_100: Mapped[int] = mapped_column(default=0)
    le_250: Mapped[int] = mapped_column(default=0)
    le_500: Mapped[int] = mapped_column(default=0)
    le_1000: Mapped[int] = mapped_column(default=0)
    le_2500: Mapped[int] = mapped_column(default=0)
    le_5000: Mapped[int] = mapped_column(default=0)
    le_inf: Mapped[int] = mapped_column(default=0)
    drift: Mapped[int] = mapped_column(default=0)
    calls: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)
    drops: Mapped[int] = mapped_column(default=0, server_default="0")
