from __future__ import annotations

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from tandem.db import Base


class Flag(Base):
    """One phase's switch: on/off, an org allow-list, a rollout percentage (stable hash of the org id)."""

    __tablename__ = "flags"

    phase: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    allow_orgs: Mapped[list[str]] = mapped_column(JSON, default=list)
    rollout_percent: Mapped[int] = mapped_column(default=100)


class FlagOverride(Base):
    """An Owner's per-organization setting, which wins over the global rule."""

    __tablename__ = "flag_overrides"

    phase: Mapped[str] = mapped_column(String(16), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool] = mapped_column()
