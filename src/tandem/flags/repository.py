"""The operator view's reads: the audit trail, an org's people, its rooms' recent events."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.auth.models import User
from tandem.chat.models import Conversation
from tandem.flags.models import FlagChange
from tandem.orgs.models import Membership
from tandem.projects.models import Project
from tandem.realtime.models import EventRecord
from tandem.realtime.rooms import dashboard_room, org_room
from tandem.tasks.models import Task


async def audit(
    session: AsyncSession, org_id: str | None, limit: int
) -> list[tuple[FlagChange, str | None]]:
    """The changes of this org and of the global rules (org_id null), or every change when org_id
    is None, newest first, each with its actor's name."""
    statement = select(FlagChange, User.name).outerjoin(User, User.id == FlagChange.actor_id)
    if org_id is not None:
        statement = statement.where(or_(FlagChange.org_id == org_id, FlagChange.org_id.is_(None)))
    rows = await session.execute(statement.order_by(FlagChange.id.desc()).limit(limit))
    return [(change, name) for change, name in rows.all()]


async def active_member_ids(session: AsyncSession, org_id: str) -> list[str]:
    return list(
        await session.scalars(
            select(Membership.user_id).where(
                Membership.org_id == org_id, Membership.status == "active"
            )
        )
    )


async def events_by_type(session: AsyncSession, org_id: str, since: datetime) -> Counter[str]:
    """Durable events logged since then in the org's rooms (its org, dashboard, projects, tasks and
    conversations; not people's own rooms, which no org owns), by event type."""
    rooms = union_all(
        select(literal(org_room(org_id)).label("room")),
        select(literal(dashboard_room(org_id))),
        select(literal("project:") + Project.id).where(Project.org_id == org_id),
        select(literal("task:") + Task.id).where(Task.org_id == org_id),
        select(literal("chat:") + Conversation.id).where(Conversation.org_id == org_id),
    ).subquery()
    rows = await session.execute(
        select(EventRecord.event, func.count())
        .where(EventRecord.created_at >= since, EventRecord.room.in_(select(rooms.c.room)))
        .group_by(EventRecord.event)
    )
    return Counter({event: int(count) for event, count in rows.all()})
