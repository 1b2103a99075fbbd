"""A stand-in for the tasks service's writes, for tests of the dashboard on its own: each write
changes the task row, then calls `tally(before, after)` and `record_activity(...)` in the same
transaction, as the tasks service does; timestamps may lie in the past (the REST API cannot make
those), so the burndown and weekly series see history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.dashboard import service
from tandem.dashboard.service import TaskFacts
from tandem.kit.clock import utcnow
from tandem.kit.ids import new_id
from tandem.orgs.models import Membership, Organization
from tandem.projects.models import Project, ProjectMember
from tandem.tasks.models import Task
from tests.harness import Server

COLUMNS = ["To Do", "Doing", "Done"]


@dataclass
class World:
    org_id: str
    projects: list[str]
    people: list[str]
    guest: str
    tasks: list[str] = field(default_factory=list)


async def new_world(server: Server, people: list[str]) -> World:
    """An org of its own per example: its Owner, a Member and a Guest of the first project."""
    owner, member, guest = people
    org_id = new_id("org")
    now = utcnow()
    async with server.runtime.db.unit_of_work() as session:
        session.add(Organization(id=org_id, name="Tallies"))
        await session.flush()
        for user, role in ((owner, "Owner"), (member, "Member"), (guest, "Guest")):
            session.add(Membership(org_id=org_id, user_id=user, role=role, status="active"))
        projects = [new_id("p"), new_id("p")]
        for i, project_id in enumerate(projects):
            session.add(
                Project(
                    id=project_id,
                    org_id=org_id,
                    name=f"P{i}",
                    description="",
                    status="active" if i == 0 else "on_hold",
                    columns=list(COLUMNS),
                    created_at=now,
                    updated_at=now,
                )
            )
        await session.flush()
        session.add(ProjectMember(project_id=projects[0], user_id=guest, role="Viewer"))
    return World(org_id, projects, [owner, member, guest], guest)


async def apply(server: Server, world: World, *ops: tuple[Any, ...], activity: bool = True) -> None:
    """Writes as the tasks service makes them, in one transaction (without their activity lines
    when `activity` is false: a burst that must fit in a second)."""
    async with server.runtime.db.unit_of_work() as session:
        for op in ops:
            await write(session, world, op, activity=activity)


async def write(
    session: AsyncSession, world: World, op: tuple[Any, ...], *, activity: bool = True
) -> None:
    """One write: change the row, then `tally(before, after)` and `record_activity`.

    ("create", project, column, assignee, due in days | None, age in days) · ("move", task, column,
    days ago it was completed) · ("due", task, days | None) · ("assign", task, person | 3: nobody)
    · ("delete", task); a task is named by its index, modulo the tasks there are."""
    now = utcnow()
    if op[0] == "create":
        _, project, column, assignee, due_in, age = op
        created = now - timedelta(days=age, minutes=age)
        task = Task(
            id=new_id("t"),
            project_id=world.projects[project],
            org_id=world.org_id,
            title="x",
            description="",
            status=COLUMNS[column],
            rank="m",
            priority="Medium",
            assignee_id=world.people[assignee] if assignee < 3 else None,
            due_date=(now + timedelta(days=due_in)).date() if due_in is not None else None,
            rev=1,
            field_revs={},
            created_at=created,
            updated_at=created,
            completed_at=created if column == len(COLUMNS) - 1 else None,
        )
        session.add(task)
        await session.flush()
        world.tasks.append(task.id)
        await service.tally(session, None, TaskFacts.of(task))
        if activity:
            await _activity(session, world, task, "created")
        return
    if not world.tasks:
        return
    task_id = world.tasks[op[1] % len(world.tasks)]
    found = await session.get(Task, task_id)
    assert found is not None
    before = TaskFacts.of(found)
    if op[0] == "delete":
        await session.delete(found)
        await session.flush()
        world.tasks.remove(task_id)
        await service.tally(session, before, None)
        if activity:
            await _activity(session, world, found, "deleted")
        return
    if op[0] == "move":
        _, _, column, back = op
        found.status = COLUMNS[column]
        if column == len(COLUMNS) - 1:
            # Sometimes before its creation: odd timestamps must still count right.
            found.completed_at = found.completed_at or now - timedelta(days=back, hours=back)
        else:
            found.completed_at = None
    elif op[0] == "due":
        found.due_date = (now + timedelta(days=op[2])).date() if op[2] is not None else None
    elif op[0] == "assign":
        found.assignee_id = world.people[op[2]] if op[2] < 3 else None
    await session.flush()
    await service.tally(session, before, TaskFacts.of(found))
    if activity:
        await _activity(session, world, found, "moved" if op[0] == "move" else "updated")


async def _activity(session: AsyncSession, world: World, task: Task, verb: Any) -> None:
    await service.record_activity(
        session,
        org_id=world.org_id,
        project_id=task.project_id,
        actor_id=world.people[0],
        verb=verb,
        kind="task",
        target_id=task.id,
        title=task.title,
    )
