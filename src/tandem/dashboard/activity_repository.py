"""The activity feed's SQL: a line added with the change it describes; the org's feed (or a
Guest's share of it) newest first, paged by an activity id; one project's lines.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.dashboard.models import Activity
from tandem.dashboard.repository import audiences

_ACTIVITY = Activity.__table__
_INSERT_ACTIVITY = insert(_ACTIVITY)
_FEED_ORDER = (_ACTIVITY.c.created_at.desc(), _ACTIVITY.c.id.desc())
_FEED = audiences(
    select(_ACTIVITY).order_by(*_FEED_ORDER).limit(bindparam("limit")),
    _ACTIVITY,
)
_ANCHOR = select(_ACTIVITY.c.created_at, _ACTIVITY.c.id).where(
    _ACTIVITY.c.org_id == bindparam("org_id"), _ACTIVITY.c.id == bindparam("before")
)
_OLDER = or_(
    _ACTIVITY.c.created_at < bindparam("before_at"),
    and_(_ACTIVITY.c.created_at == bindparam("before_at"), _ACTIVITY.c.id < bindparam("before")),
)
_FEED_BEFORE = (_FEED[0].where(_OLDER), _FEED[1].where(_OLDER))


_PROJECT_FEED = (
    select(_ACTIVITY)
    .where(_ACTIVITY.c.project_id == bindparam("project_id"))
    .order_by(*_FEED_ORDER)
    .limit(bindparam("limit"))
)


async def project_activities(session: AsyncSession, project_id: str, limit: int) -> list[Any]:
    """A project's lines of the feed, newest first."""
    return list(await session.execute(_PROJECT_FEED, {"project_id": project_id, "limit": limit}))


async def add_activity(session: AsyncSession, row: dict[str, Any]) -> None:
    await session.execute(_INSERT_ACTIVITY, row)


async def activities(
    session: AsyncSession, org_id: str, guest_id: str | None, before: str | None, limit: int
) -> list[Any]:
    """The feed, newest first; `before` an activity id of this org (an unknown one: empty page)."""
    which = 0 if guest_id is None else 1
    params: dict[str, Any] = {"org_id": org_id, "guest_id": guest_id, "limit": limit}
    if before is None:
        return list(await session.execute(_FEED[which], params))
    anchor = (await session.execute(_ANCHOR, {"org_id": org_id, "before": before})).first()
    if anchor is None:
        return []
    params.update(before_at=anchor[0], before=anchor[1])
    return list(await session.execute(_FEED_BEFORE[which], params))
