"""The dashboard's SQL: tally upserts, sums over tallies, the emitter's marks and state (the
activity feed's is dashboard/activity_repository.py).

Statements are built once, at import, with bind parameters; the upserts once per dialect (SQLite
and PostgreSQL spell `ON CONFLICT` alike, but SQLAlchemy builds them from each dialect's insert).
Every read of metrics sums tally rows of one org, or of the projects a Guest belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    delete,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.dashboard.metrics import Deltas, TaskFacts
from tandem.dashboard.models import (
    DashboardDirty,
    DashboardEmitted,
    DayTally,
    DueTally,
    StatusTally,
)
from tandem.orgs.models import Membership
from tandem.projects.models import Project, ProjectMember
from tandem.tasks.models import Task

_STATUS = StatusTally.__table__
_DAYS = DayTally.__table__
_DUE = DueTally.__table__
_DIRTY = DashboardDirty.__table__
_EMITTED = DashboardEmitted.__table__


# -- tally upserts -------------------------------------------------------------------------


def _adders(dialect_insert: Any) -> dict[str, Any]:
    def adder(table: Any, keys: list[str], counters: list[str]) -> Any:
        statement = dialect_insert(table)
        return statement.on_conflict_do_update(
            index_elements=keys,
            set_={c: table.c[c] + statement.excluded[c] for c in counters},
        )

    dirty = dialect_insert(_DIRTY)
    since, incoming = _DIRTY.c.since_day, dirty.excluded.since_day
    if dialect_insert is postgresql.insert:
        earliest = func.least(since, incoming)  # LEAST skips NULLs
    else:  # SQLite's two-argument min() is NULL if either is: compare the non-NULL ones
        earliest = func.min(func.coalesce(since, incoming), func.coalesce(incoming, since))
    emitted = dialect_insert(_EMITTED)
    return {
        "status": adder(_STATUS, ["project_id", "status", "assignee_id", "done"], ["count"]),
        "days": adder(_DAYS, ["project_id", "day"], ["created", "completed", "closed"]),
        "due": adder(_DUE, ["project_id", "due_date"], ["count"]),
        "dirty": dirty.on_conflict_do_update(
            index_elements=["org_id", "project_id"],
            set_={"mark": _DIRTY.c.mark + 1, "since_day": earliest},
        ),
        "emitted": emitted.on_conflict_do_update(
            index_elements=["org_id", "audience"],
            set_={
                "emitted_at": emitted.excluded.emitted_at,
                "day": emitted.excluded.day,
                "metrics": emitted.excluded.metrics,
            },
        ),
    }


_UPSERTS = {"sqlite": _adders(sqlite.insert), "postgresql": _adders(postgresql.insert)}


def _upserts(session: AsyncSession) -> dict[str, Any]:
    return _UPSERTS[session.get_bind().dialect.name]


async def add_deltas(session: AsyncSession, deltas: Deltas) -> None:
    """Add the deltas to their tally rows and mark the touched projects for the emitter.

    Every table's rows go in key order: two writers locking the same rows in opposite orders
    would deadlock on PostgreSQL."""
    upserts = _upserts(session)
    org_of = deltas.org_of
    if deltas.status:
        rows = [
            {
                "project_id": p,
                "status": s,
                "assignee_id": a,
                "done": d,
                "org_id": org_of[p],
                "count": n,
            }
            for (p, s, a, d), n in sorted(deltas.status.items())
        ]
        await session.execute(upserts["status"], rows)
    if deltas.days:
        rows = [
            {
                "project_id": p,
                "day": day,
                "org_id": org_of[p],
                "created": c,
                "completed": k,
                "closed": x,
            }
            for (p, day), (c, k, x) in sorted(deltas.days.items())
        ]
        await session.execute(upserts["days"], rows)
    if deltas.due:
        rows = [
            {"project_id": p, "due_date": due, "org_id": org_of[p], "count": n}
            for (p, due), n in sorted(deltas.due.items())
        ]
        await session.execute(upserts["due"], rows)
    if deltas.touched:
        await mark(session, [(o, p, since) for (o, p), since in deltas.touched.items()])


async def mark(session: AsyncSession, marks: Sequence[tuple[str, str, date | None]]) -> None:
    """Mark (org, project) as changed since the last update, with the earliest series day touched."""
    ordered = sorted(marks, key=lambda m: (m[0], m[1]))  # key order, as add_deltas
    rows = [{"org_id": o, "project_id": p, "mark": 1, "since_day": s} for o, p, s in ordered]
    await session.execute(_upserts(session)["dirty"], rows)


# -- sums over tallies ---------------------------------------------------------------------

# A Guest's view: only the projects they are a member of.
_GUEST_PROJECTS = select(ProjectMember.project_id).where(
    ProjectMember.user_id == bindparam("guest_id")
)


def audiences(statement: Select[Any], table: Any) -> tuple[Select[Any], Select[Any]]:
    """The statement over the whole org, and over a Guest's projects of it."""
    whole = statement.where(table.c.org_id == bindparam("org_id"))
    return whole, whole.where(table.c.project_id.in_(_GUEST_PROJECTS))


_STATUS_SUMS = audiences(
    select(_STATUS.c.status, _STATUS.c.assignee_id, _STATUS.c.done, func.sum(_STATUS.c.count))
    .group_by(_STATUS.c.status, _STATUS.c.assignee_id, _STATUS.c.done)
    .having(func.sum(_STATUS.c.count) != 0),
    _STATUS,
)
_OVERDUE = audiences(
    select(func.coalesce(func.sum(_DUE.c.count), 0)).where(_DUE.c.due_date < bindparam("today")),
    _DUE,
)
_DAY_SUMS = audiences(
    select(
        _DAYS.c.day,
        func.sum(_DAYS.c.created),
        func.sum(_DAYS.c.completed),
        func.sum(_DAYS.c.closed),
    )
    .where(_DAYS.c.day >= bindparam("first_day"))
    .group_by(_DAYS.c.day),
    _DAYS,
)
_ACTIVE_PROJECTS_WHOLE = (
    select(func.count())
    .select_from(Project)
    .where(Project.org_id == bindparam("org_id"), Project.status == "active")
)
_ACTIVE_PROJECTS = (
    _ACTIVE_PROJECTS_WHOLE,
    _ACTIVE_PROJECTS_WHOLE.where(Project.id.in_(_GUEST_PROJECTS)),
)


class Sums(NamedTuple):
    status_rows: list[tuple[str, str, bool, int]]
    overdue: int
    day_rows: list[tuple[date, int, int, int]]
    active_projects: int


async def sums(
    session: AsyncSession, org_id: str, guest_id: str | None, today: date, first_day: date
) -> Sums:
    which = 0 if guest_id is None else 1
    params = {"org_id": org_id, "guest_id": guest_id, "today": today, "first_day": first_day}
    status_rows = [
        (s, a, bool(d), int(n)) for s, a, d, n in await session.execute(_STATUS_SUMS[which], params)
    ]
    overdue = int(await session.scalar(_OVERDUE[which], params) or 0)
    day_rows = [
        (_as_date(d), int(c), int(k), int(x))
        for d, c, k, x in await session.execute(_DAY_SUMS[which], params)
    ]
    active = int(await session.scalar(_ACTIVE_PROJECTS[which], params) or 0)
    return Sums(status_rows, overdue, day_rows, active)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


# -- rebuilding an org's tallies from its tasks --------------------------------------------

_TASK_FACTS = select(
    Task.org_id,
    Task.project_id,
    Task.status,
    Task.assignee_id,
    Task.due_date,
    Task.created_at,
    Task.completed_at,
).where(Task.org_id == bindparam("org_id"))


async def task_facts(session: AsyncSession, org_id: str) -> list[TaskFacts]:
    """Every task of the org, as the tallies see it: reads every task, for a rebuild only."""
    rows = await session.execute(_TASK_FACTS, {"org_id": org_id})
    return [TaskFacts(*row) for row in rows]


async def clear_tallies(session: AsyncSession, org_id: str) -> None:
    for table in (_STATUS, _DAYS, _DUE):
        await session.execute(delete(table).where(table.c.org_id == org_id))


# -- the emitter's marks and state ---------------------------------------------------------


class Mark(NamedTuple):
    org_id: str
    project_id: str
    mark: int
    since_day: date | None


_MARKS = select(_DIRTY.c.org_id, _DIRTY.c.project_id, _DIRTY.c.mark, _DIRTY.c.since_day)
# Only the mark that was read: a write since then raised it, and its row stays for the next pass.
_CLEAR_MARK = delete(_DIRTY).where(
    _DIRTY.c.org_id == bindparam("m_org_id"),
    _DIRTY.c.project_id == bindparam("m_project_id"),
    _DIRTY.c.mark == bindparam("m_mark"),
)
_LAST_EMITTED = select(_EMITTED.c.org_id, _EMITTED.c.emitted_at).where(_EMITTED.c.audience == "*")
_EMITTED_OF_ORG = select(_EMITTED.c.audience, _EMITTED.c.day, _EMITTED.c.metrics).where(
    _EMITTED.c.org_id == bindparam("org_id")
)
_STALE_ORGS = select(_EMITTED.c.org_id).where(
    _EMITTED.c.audience == "*", _EMITTED.c.day < bindparam("today")
)


async def marks(session: AsyncSession) -> list[Mark]:
    return [
        Mark(o, p, int(m), _as_date(s) if s is not None else None)
        for o, p, m, s in await session.execute(_MARKS)
    ]


async def clear_marks(session: AsyncSession, seen: Sequence[Mark]) -> None:
    await session.execute(
        _CLEAR_MARK,
        [{"m_org_id": m.org_id, "m_project_id": m.project_id, "m_mark": m.mark} for m in seen],
    )


async def last_emitted(session: AsyncSession) -> dict[str, datetime]:
    """When each org's metrics were last sent (its whole-org audience)."""
    return {org: at for org, at in await session.execute(_LAST_EMITTED)}


async def emitted(session: AsyncSession, org_id: str) -> dict[str, tuple[date, dict[str, Any]]]:
    rows = await session.execute(_EMITTED_OF_ORG, {"org_id": org_id})
    return {audience: (_as_date(day), metrics) for audience, day, metrics in rows}


async def save_emitted(
    session: AsyncSession,
    org_id: str,
    audience: str,
    at: datetime,
    day: date,
    metrics: dict[str, Any],
) -> None:
    await session.execute(
        _upserts(session)["emitted"],
        {"org_id": org_id, "audience": audience, "emitted_at": at, "day": day, "metrics": metrics},
    )


async def forget_audiences(session: AsyncSession, org_id: str, keep: Sequence[str]) -> None:
    """Drop the state of audiences that are gone (a Guest who left or became a Member)."""
    await session.execute(
        delete(_EMITTED).where(_EMITTED.c.org_id == org_id, _EMITTED.c.audience.not_in(keep))
    )


async def stale_orgs(session: AsyncSession, today: date) -> list[str]:
    """Orgs whose metrics were last sent on an earlier day: their series' window moved since."""
    return list(await session.scalars(_STALE_ORGS, {"today": today}))


# -- who is a Guest where ------------------------------------------------------------------

_ORG_GUESTS = (
    select(Membership.user_id)
    .where(
        Membership.org_id == bindparam("org_id"),
        Membership.role == "Guest",
        Membership.status == "active",
    )
    .order_by(Membership.user_id)
)
_PROJECT_GUESTS = (
    select(ProjectMember.user_id)
    .join(
        Membership,
        and_(
            Membership.user_id == ProjectMember.user_id,
            Membership.org_id == bindparam("org_id"),
            Membership.role == "Guest",
            Membership.status == "active",
        ),
    )
    .where(ProjectMember.project_id == bindparam("project_id"))
    .order_by(ProjectMember.user_id)
)
_GUEST_PROJECT_IDS = (
    select(ProjectMember.project_id)
    .join(Project, Project.id == ProjectMember.project_id)
    .where(ProjectMember.user_id == bindparam("guest_id"), Project.org_id == bindparam("org_id"))
)


async def org_guests(session: AsyncSession, org_id: str) -> list[str]:
    return list(await session.scalars(_ORG_GUESTS, {"org_id": org_id}))


async def project_guests(session: AsyncSession, org_id: str, project_id: str) -> list[str]:
    params = {"org_id": org_id, "project_id": project_id}
    return list(await session.scalars(_PROJECT_GUESTS, params))


async def guest_projects(session: AsyncSession, org_id: str, guest_id: str) -> set[str]:
    params = {"org_id": org_id, "guest_id": guest_id}
    return set(await session.scalars(_GUEST_PROJECT_IDS, params))
