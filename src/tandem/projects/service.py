"""Projects: create one, change its fields and columns, add and remove its members; the snapshots.

Each operation is one body — lock the project's row, check (projects/policy.py), write, record the
events — and never commits: the request's unit of work does. Project events go to the project's
room and to the `user:` rooms of everyone who may see the project (projects/events.py says why).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic.alias_generators import to_camel
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.attachments import repository as attachments
from tandem.attachments.schemas import project_file
from tandem.auth.models import Profile, User
from tandem.dashboard import service as dashboard
from tandem.dashboard.models import WHOLE_ORG
from tandem.kit.clock import iso, utcnow
from tandem.kit.errors import Conflict, NotFound
from tandem.kit.ids import new_id
from tandem.orgs import repository as orgs
from tandem.projects import policy, repository
from tandem.projects.events import (
    ColumnCount,
    DueDay,
    ProjectCreated,
    ProjectMemberAdded,
    ProjectMemberOut,
    ProjectMemberRemoved,
    ProjectMetrics,
    ProjectMetricsUpdated,
    ProjectOut,
    ProjectUpdated,
)
from tandem.projects.models import DEFAULT_COLUMNS, Project
from tandem.projects.repository import Access, ColumnTally, MemberRow
from tandem.realtime import log as event_log
from tandem.realtime import outbox
from tandem.realtime.rooms import project_room, user_room
from tandem.tasks import repository as tasks
from tandem.tasks.events import TaskOut
from tandem.tasks.models import Task
from tandem.tasks.schemas import task_out

Person = User | Profile


def project_out(project: Project) -> ProjectOut:
    return ProjectOut(
        id=project.id,
        org_id=project.org_id,
        name=project.name,
        description=project.description,
        status=project.status,  # type: ignore[arg-type]
        start_date=_day(project.start_date),
        due_date=_day(project.due_date),
        columns=list(project.columns),
        created_by=project.created_by,
        created_at=iso(project.created_at),  # type: ignore[arg-type]
        updated_at=iso(project.updated_at),  # type: ignore[arg-type]
    )


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _member_out(row: MemberRow) -> ProjectMemberOut:
    return ProjectMemberOut(
        user_id=row.user_id,
        role=row.role,  # type: ignore[arg-type]
        name=row.name,
        avatar_url=row.avatar_url,
    )


async def audience_rooms(session: AsyncSession, project: Project) -> list[str]:
    """The `user:` rooms of everyone who may see the project."""
    return [user_room(u) for u in await repository.audience(session, project.org_id, project.id)]


async def locked(session: AsyncSession, project_id: str) -> Project:
    """The project's row, locked for the rest of the transaction (not found: 404, like a hidden one)."""
    project = await repository.project(session, project_id, lock=True)
    if project is None:
        raise policy.not_found()
    return project


# -- reads ---------------------------------------------------------------------------------


async def list_projects(
    session: AsyncSession, org_id: str, user_id: str
) -> tuple[list[ProjectOut], dict[str, ProjectMetrics], int]:
    """The org's projects this person may see, each one's task counts, and the event cursor."""
    cursor = await event_log.latest_seq(session)  # read before the state: see SPEC §5.4
    held = await orgs.membership(session, org_id, user_id)
    if held is None:
        raise NotFound("organization not found")
    found = await repository.projects(
        session, org_id, user_id, all_of_org=held.role in policy.STAFF
    )
    counts = await repository.column_counts_of(session, [p.id for p in found], utcnow().date())
    return (
        [project_out(p) for p in found],
        {p.id: _metrics(p, counts[p.id]) for p in found},
        cursor,
    )


async def metrics(session: AsyncSession, project: Project) -> ProjectMetrics:
    return _metrics(project, await repository.column_counts(session, project.id, utcnow().date()))


def _metrics(project: Project, counts: dict[str, ColumnTally]) -> ProjectMetrics:
    """The counters, from the same per-column counts the board shows; the last column is done."""
    empty = ColumnTally(0, 0)
    columns = [ColumnCount(name=n, count=counts.get(n, empty).tasks) for n in project.columns]
    total = sum(c.count for c in columns)
    done = columns[-1].count if columns else 0
    last = project.columns[-1] if project.columns else None
    return ProjectMetrics(
        columns=columns,
        total=total,
        done=done,
        open=total - done,
        overdue=sum(t.past_due for name, t in counts.items() if name != last),
        completion_percent=round(done * 100 / total) if total else 0,
    )


async def due_timeline(session: AsyncSession, project: Project) -> list[DueDay]:
    """Per due date, the project's tasks due that day: open, and done (in the last column)."""
    last = project.columns[-1] if project.columns else None
    days: dict[date, DueDay] = {}
    for day, status, count in await repository.due_days(session, project.id):
        row = days.setdefault(day, DueDay(date=day.isoformat(), open=0, done=0))
        if status == last:
            row.done += count
        else:
            row.open += count
    return list(days.values())


async def project_page(session: AsyncSession, access: Access) -> dict[str, Any]:
    cursor = await event_log.latest_seq(session)
    project = await repository.project(session, access.project_id)
    if project is None:
        raise policy.not_found()
    return {
        "project": project_out(project),
        "members": [_member_out(row) for row in await repository.members(session, project.id)],
        "metrics": await metrics(session, project),
        "due": await due_timeline(session, project),
        "files": [
            project_file(row, title, name)
            for row, title, name in await attachments.of_project(session, project.id)
        ],
        "activity": await dashboard.project_activity(session, project.id),
        "cursor": cursor,
    }


async def board(
    session: AsyncSession, access: Access, hints: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The board's snapshot; `hints` (tasks/hints.py) are the instance's to read, not the database's."""
    cursor = await event_log.latest_seq(session)
    project = await repository.project(session, access.project_id)
    if project is None:
        raise policy.not_found()
    by_column: dict[str, list[TaskOut]] = {name: [] for name in project.columns}
    for task in await tasks.board(session, project.id):
        by_column.setdefault(task.status, []).append(task_out(task))
    return {
        "project": project_out(project),
        "columns": [
            {"name": name, "count": len(by_column[name]), "tasks": by_column[name]}
            for name in project.columns
        ],
        "hints": hints or {"locks": [], "typing": []},
        "cursor": cursor,
    }


# -- changes -------------------------------------------------------------------------------


@dashboard.also_emit
async def emit_metrics(session: AsyncSession, org_id: str, project_ids: set[str]) -> None:
    """Send `project.metrics.updated` to each changed project's room, on the dashboard's beat.

    Each project's row is locked while it is counted, so no write to its board commits between
    the count and this event: the event's counters are the board's at its place in the log. The
    locks come last in the emitter's transaction, in id order, and writers lock one project
    before anything else: no deadlock."""
    if WHOLE_ORG in project_ids:
        project_ids = set(await repository.project_ids_of(session, org_id))
    for project_id in sorted(project_ids):  # one lock order: no deadlock between two emitters
        project = await repository.project(session, project_id, lock=True)
        if project is None or project.org_id != org_id:
            continue
        await outbox.record(
            session,
            ProjectMetricsUpdated(
                project_id=project.id,
                metrics=await metrics(session, project),
                due=await due_timeline(session, project),
            ),
            [project_room(project.id)],
            org_id=org_id,
        )


async def create_project(
    session: AsyncSession,
    org_id: str,
    actor: Person,
    *,
    name: str,
    description: str,
    columns: list[str] | None,
    start_date: date | None,
    due_date: date | None,
) -> Project:
    """Start a project in an org; its creator becomes its Lead."""
    held = await orgs.membership(session, org_id, actor.id)
    policy.require_creator(held.role if held is not None else None)
    now = utcnow()
    project = Project(
        id=new_id("p"),
        org_id=org_id,
        name=name,
        description=description,
        status="active",
        start_date=start_date,
        due_date=due_date,
        columns=list(columns or DEFAULT_COLUMNS),
        created_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(project)
    await session.flush()
    await repository.add_member(session, project.id, actor.id, "Lead")
    await dashboard.mark_dirty(session, org_id, project.id)  # active projects
    await dashboard.record_activity(
        session,
        org_id=org_id,
        project_id=project.id,
        actor_id=actor.id,
        verb="created",
        kind="project",
        target_id=project.id,
        title=project.name,
    )
    await outbox.record(
        session,
        ProjectCreated(organization_id=org_id, project=project_out(project), created_by=actor.id),
        await audience_rooms(session, project),
        org_id=org_id,
        actor_id=actor.id,
    )
    return project


# A null in a PATCH clears these; for any other field it means "leave as it is".
CLEARABLE = ("start_date", "due_date")


async def update_project(
    session: AsyncSession, project_id: str, actor: Person, changes: dict[str, Any]
) -> Project:
    """Change a project's fields (its Leads, the org's Owners and Admins)."""
    project = await locked(session, project_id)
    policy.require_manager(await repository.access(session, project_id, actor.id))
    changed: dict[str, object] = {}
    for field, value in changes.items():
        if value is None and field not in CLEARABLE:
            continue
        if getattr(project, field) != value:
            setattr(project, field, value)
            changed[to_camel(field)] = value.isoformat() if isinstance(value, date) else value
    if changed:
        project.updated_at = utcnow()
        await session.flush()
        await record_updated(session, project, actor.id, changed, [])
        if "status" in changed:  # active projects
            await dashboard.mark_dirty(session, project.org_id, project.id)
            await dashboard.record_activity(
                session,
                org_id=project.org_id,
                project_id=project.id,
                actor_id=actor.id,
                verb="updated",
                kind="project",
                target_id=project.id,
                title=project.name,
                detail={"status": project.status},
            )
    return project


async def record_updated(
    session: AsyncSession,
    project: Project,
    actor_id: str,
    changed: dict[str, object],
    moved: list[Task],
) -> None:
    await outbox.record(
        session,
        ProjectUpdated(
            organization_id=project.org_id,
            project_id=project.id,
            changes=changed,
            project=project_out(project),
            updated_by=actor_id,
            tasks=[task_out(t) for t in moved],
        ),
        [project_room(project.id), *await audience_rooms(session, project)],
        org_id=project.org_id,
        actor_id=actor_id,
    )


async def add_member(
    session: AsyncSession, project_id: str, actor: Person, user_id: str, role: str
) -> ProjectMemberOut:
    """Add one of the org's people to the project with a role."""
    project = await locked(session, project_id)
    policy.require_manager(await repository.access(session, project_id, actor.id))
    held = await orgs.membership(session, project.org_id, user_id)
    if not policy.may_belong(held.role if held is not None else None):
        raise NotFound("no such person in this organization")
    if await repository.project_role(session, project_id, user_id) is not None:
        raise Conflict("already a member of this project: change their role instead")
    await repository.add_member(session, project_id, user_id, role)
    # A Guest's dashboard now counts this project: their whole series may change.
    await dashboard.mark_dirty(session, project.org_id, every_point=True)
    return await _announce_member(session, project, user_id, actor.id)


async def change_member_role(
    session: AsyncSession, project_id: str, actor: Person, user_id: str, role: str
) -> ProjectMemberOut:
    """Change a project member's role; announced as `project.member.added` with the new role."""
    project = await locked(session, project_id)
    policy.require_manager(await repository.access(session, project_id, actor.id))
    current = await repository.member(session, project_id, user_id)
    if current is None:
        raise NotFound("member not found")
    if current.role == role:
        return _member_out(current)
    await repository.set_member_role(session, project_id, user_id, role)
    return await _announce_member(session, project, user_id, actor.id)


async def _announce_member(
    session: AsyncSession, project: Project, user_id: str, actor_id: str
) -> ProjectMemberOut:
    row = await repository.member(session, project.id, user_id)
    if row is None:
        raise NotFound("member not found")
    member = _member_out(row)
    await outbox.record(
        session,
        ProjectMemberAdded(
            project_id=project.id, member=member, added_by=actor_id, project=project_out(project)
        ),
        [project_room(project.id), user_room(user_id)],
        org_id=project.org_id,
        actor_id=actor_id,
    )
    return member


async def remove_member(
    session: AsyncSession, project_id: str, actor: Person, user_id: str
) -> None:
    """Take someone off the project; a Guest loses sight of it, and their sockets leave its rooms."""
    project = await locked(session, project_id)
    policy.require_manager(await repository.access(session, project_id, actor.id))
    if await repository.project_role(session, project_id, user_id) is None:
        raise NotFound("member not found")
    await repository.delete_member(session, project_id, user_id)
    await dashboard.mark_dirty(session, project.org_id, every_point=True)  # a Guest's dashboard
    await outbox.record(
        session,
        ProjectMemberRemoved(project_id=project.id, user_id=user_id, removed_by=actor.id),
        [project_room(project.id), user_room(user_id)],
        org_id=project.org_id,
        actor_id=actor.id,
        control=outbox.reauthorize(user_id, project.org_id),
    )
