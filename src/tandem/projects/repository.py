"""The projects domain's SQL: projects, their members, who may see them, their task counts.

Statements are built once, at import, with bind parameters. A change to a project or its board
first locks the project's row on PostgreSQL (`FOR UPDATE`), so the board's writes run one at a
time; SQLite runs one writer at a time anyway.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from sqlalchemy import and_, bindparam, case, delete, func, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.auth.models import User
from tandem.orgs.models import Membership
from tandem.projects.models import Project, ProjectMember
from tandem.tasks.models import Task


class Access(NamedTuple):
    """A person's standing towards a project: their org role and their project role (if any)."""

    project_id: str
    org_id: str
    org_role: str
    project_role: str | None
    status: str = "active"  # the project's


class MemberRow(NamedTuple):
    user_id: str
    role: str
    name: str
    avatar_url: str | None


_ACCESS = (
    select(Project.id, Project.org_id, Membership.role, ProjectMember.role, Project.status)
    .join(
        Membership,
        and_(
            Membership.org_id == Project.org_id,
            Membership.user_id == bindparam("user_id"),
            Membership.status == "active",
        ),
    )
    .outerjoin(
        ProjectMember,
        and_(
            ProjectMember.project_id == Project.id,
            ProjectMember.user_id == bindparam("user_id"),
        ),
    )
    .where(Project.id == bindparam("project_id"))
)

_ALL_PROJECTS = (
    select(Project)
    .where(Project.org_id == bindparam("org_id"))
    .order_by(Project.created_at, Project.id)
)
_MEMBER_PROJECTS = (
    select(Project)
    .join(ProjectMember, ProjectMember.project_id == Project.id)
    .where(Project.org_id == bindparam("org_id"), ProjectMember.user_id == bindparam("user_id"))
    .order_by(Project.created_at, Project.id)
)

_MEMBER_COLUMNS = (ProjectMember.user_id, ProjectMember.role, User.name, User.avatar_url)
# Only people still in the project's org: leaving the org ends a project membership's effect.
_MEMBERS = (
    select(*_MEMBER_COLUMNS)
    .join(User, User.id == ProjectMember.user_id)
    .join(Project, Project.id == ProjectMember.project_id)
    .join(
        Membership,
        and_(
            Membership.org_id == Project.org_id,
            Membership.user_id == ProjectMember.user_id,
            Membership.status == "active",
        ),
    )
    .where(ProjectMember.project_id == bindparam("project_id"))
    .order_by(func.lower(User.name), User.id)
)
_MEMBER = _MEMBERS.where(ProjectMember.user_id == bindparam("user_id"))

_SET_MEMBER_ROLE = (
    update(ProjectMember.__table__)
    .where(
        ProjectMember.project_id == bindparam("m_project_id"),
        ProjectMember.user_id == bindparam("m_user_id"),
    )
    .values(role=bindparam("m_role"))
)
_DELETE_MEMBER = delete(ProjectMember.__table__).where(
    ProjectMember.project_id == bindparam("m_project_id"),
    ProjectMember.user_id == bindparam("m_user_id"),
)

# Everyone who may see a project: the org's active members but its Guests, and its own members.
_AUDIENCE = union(
    select(Membership.user_id).where(
        Membership.org_id == bindparam("org_id"),
        Membership.status == "active",
        Membership.role != "Guest",
    ),
    select(ProjectMember.user_id)
    .join(
        Membership,
        and_(
            Membership.user_id == ProjectMember.user_id,
            Membership.org_id == bindparam("org_id"),
            Membership.status == "active",
        ),
    )
    .where(ProjectMember.project_id == bindparam("project_id")),
)

# Tasks per (project,) column, and how many of them are past their due date.
_PAST_DUE = func.sum(case((Task.due_date < bindparam("today"), 1), else_=0))
_COLUMN_COUNTS_OF = (
    select(Task.project_id, Task.status, func.count(), _PAST_DUE)
    .where(Task.project_id.in_(bindparam("project_ids", expanding=True)))
    .group_by(Task.project_id, Task.status)
)
_DUE_DAYS = (
    select(Task.due_date, Task.status, func.count())
    .where(Task.project_id == bindparam("project_id"), Task.due_date.is_not(None))
    .group_by(Task.due_date, Task.status)
    .order_by(Task.due_date)
)


class ColumnTally(NamedTuple):
    tasks: int
    past_due: int


async def access(session: AsyncSession, project_id: str, user_id: str) -> Access | None:
    """None when the project does not exist or the person is not an active member of its org."""
    row = (await session.execute(_ACCESS, {"project_id": project_id, "user_id": user_id})).first()
    return Access(*row) if row is not None else None


async def project(session: AsyncSession, project_id: str, *, lock: bool = False) -> Project | None:
    return await session.get(Project, project_id, with_for_update=lock, populate_existing=lock)


async def project_ids_of(session: AsyncSession, org_id: str) -> list[str]:
    return list(await session.scalars(select(Project.id).where(Project.org_id == org_id)))


async def projects(
    session: AsyncSession, org_id: str, user_id: str, *, all_of_org: bool
) -> list[Project]:
    statement = _ALL_PROJECTS if all_of_org else _MEMBER_PROJECTS
    return list(await session.scalars(statement, {"org_id": org_id, "user_id": user_id}))


async def members(session: AsyncSession, project_id: str) -> list[MemberRow]:
    rows = await session.execute(_MEMBERS, {"project_id": project_id})
    return [MemberRow(*row) for row in rows]


async def member(session: AsyncSession, project_id: str, user_id: str) -> MemberRow | None:
    row = (await session.execute(_MEMBER, {"project_id": project_id, "user_id": user_id})).first()
    return MemberRow(*row) if row is not None else None


async def project_role(session: AsyncSession, project_id: str, user_id: str) -> str | None:
    """The person's row in the project's members, whether or not they are still in its org."""
    return await session.scalar(
        select(ProjectMember.role).where(
            ProjectMember.project_id == project_id, ProjectMember.user_id == user_id
        )
    )


async def add_member(session: AsyncSession, project_id: str, user_id: str, role: str) -> None:
    session.add(ProjectMember(project_id=project_id, user_id=user_id, role=role))
    await session.flush()


async def set_member_role(session: AsyncSession, project_id: str, user_id: str, role: str) -> None:
    await session.execute(
        _SET_MEMBER_ROLE, {"m_project_id": project_id, "m_user_id": user_id, "m_role": role}
    )


async def delete_member(session: AsyncSession, project_id: str, user_id: str) -> None:
    await session.execute(_DELETE_MEMBER, {"m_project_id": project_id, "m_user_id": user_id})


async def audience(session: AsyncSession, org_id: str, project_id: str) -> list[str]:
    rows = await session.scalars(_AUDIENCE, {"org_id": org_id, "project_id": project_id})
    return sorted(rows)


async def column_counts_of(
    session: AsyncSession, project_ids: list[str], today: date
) -> dict[str, dict[str, ColumnTally]]:
    """Tasks per column of each project (and those past due), in one query."""
    counts: dict[str, dict[str, ColumnTally]] = {pid: {} for pid in project_ids}
    if project_ids:
        rows = await session.execute(
            _COLUMN_COUNTS_OF, {"project_ids": project_ids, "today": today}
        )
        for project_id, status, count, past_due in rows:
            counts[project_id][status] = ColumnTally(int(count), int(past_due or 0))
    return counts


async def column_counts(
    session: AsyncSession, project_id: str, today: date
) -> dict[str, ColumnTally]:
    return (await column_counts_of(session, [project_id], today))[project_id]


async def due_days(session: AsyncSession, project_id: str) -> list[tuple[date, str, int]]:
    """(due date, column, tasks) for the project's tasks that have a due date, by date."""
    rows = await session.execute(_DUE_DAYS, {"project_id": project_id})
    return [(_as_date(day), status, int(count)) for day, status, count in rows]


def _as_date(value: date | str | None) -> date:
    assert value is not None  # the query keeps only tasks with a due date
    return value if isinstance(value, date) else date.fromisoformat(value)
