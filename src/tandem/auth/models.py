from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tandem.db import Base, UTCDateTime
from tandem.kit.clock import utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(100))
    avatar_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Profile(NamedTuple):
    """A person as others see them: a User's public columns, read without loading the ORM object
    (the caller of every API request)."""

    id: str
    email: str
    name: str
    avatar_url: str | None


class LoginSession(Base):
    """One login: its refresh token rotates; logout revokes it and closes its sockets."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    refresh_generation: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
