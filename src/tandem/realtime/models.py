from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tandem.db import Base, UTCDateTime
from tandem.kit.clock import utcnow

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class OutboxEntry(Base):
    """An event recorded in the same transaction as its change, waiting for the dispatcher."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    rooms: Mapped[list[str]] = mapped_column(JSON)
    data: Mapped[dict] = mapped_column(JSON)
    org_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    trace_id: Mapped[str] = mapped_column(String(64))
    # Side effects the dispatcher performs before publishing, e.g. evicting a user from rooms.
    control: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventRecord(Base):
    """The durable log: one row per (room, seq). seq is one global, strictly increasing number."""

    __tablename__ = "event_log"
    __table_args__ = (Index("ix_event_log_created_at", "created_at"),)

    room: Mapped[str] = mapped_column(String(80), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event: Mapped[str] = mapped_column(String(64))
    envelope: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LogState(Base):
    """Single-row counters: the last seq assigned, and up to where the log was pruned per room."""

    __tablename__ = "log_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class RoomFloor(Base):
    """Events of a room at or below `floor_seq` were pruned: asking for them means resync."""

    __tablename__ = "room_floors"

    room: Mapped[str] = mapped_column(String(80), primary_key=True)
    floor_seq: Mapped[int] = mapped_column(BigInteger, default=0)
