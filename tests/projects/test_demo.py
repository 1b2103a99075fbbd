"""`tandem demo` loads three projects in the demo org, about sixty tasks across every column, and
one task under way in each with a description, subtasks and comments."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from tandem.auth.models import User
from tandem.auth.service import start_login
from tandem.demo import load_demo
from tandem.kit.clock import aware, utcnow
from tandem.projects.models import ProjectMember
from tandem.tasks.models import Task


async def test_demo_projects_and_tasks(sqlite_server):
    async with sqlite_server.runtime.db.unit_of_work() as session:
        assert await load_demo(session)
    async with sqlite_server.runtime.db.read() as session:
        tasks = list(await session.scalars(select(Task)))
        roles = Counter(await session.scalars(select(ProjectMember.role)))
    assert 55 <= len(tasks) <= 65
    assert len({t.project_id for t in tasks}) == 3
    assert {t.status for t in tasks} == {"To Do", "In Progress", "Review", "Done"}
    assert roles["Viewer"] >= 1 and roles["Lead"] == 3
    today = utcnow().date()
    assert any(t.due_date and t.due_date < today and t.status != "Done" for t in tasks)
    done = [aware(t.completed_at) for t in tasks if t.status == "Done"]
    assert all(done) and all(utcnow() - d <= timedelta(weeks=6) for d in done if d)
    assert max(done) - min(done) > timedelta(weeks=3)  # type: ignore[operator]
    assert all(t.completed_at is None for t in tasks if t.status != "Done")
    assert len({(t.project_id, t.status, t.rank) for t in tasks}) == len(tasks)


async def test_each_demo_project_has_a_task_with_a_description_subtasks_and_comments(
    sqlite_server,
):
    async with sqlite_server.runtime.db.unit_of_work() as session:
        assert await load_demo(session)
        ada = await session.scalar(select(User).where(User.email == "ada@example.com"))
        assert ada is not None
        access, _ = await start_login(session, sqlite_server.runtime.tokens, ada)
    async with sqlite_server.runtime.db.read() as session:
        tasks = list(await session.scalars(select(Task).where(Task.status == "In Progress")))
    pages = []
    async with sqlite_server.client() as http:
        for task in tasks:
            r = await http.get(
                f"/api/tasks/{task.id}", headers={"Authorization": f"Bearer {access}"}
            )
            assert r.status_code == 200, r.text
            pages.append(r.json())
    detailed = [p for p in pages if p["subtasks"] and p["comments"] and p["task"]["description"]]
    assert {p["task"]["projectId"] for p in detailed} == {t.project_id for t in tasks}
    for page in detailed:
        done = sum(s["done"] for s in page["subtasks"])
        assert page["task"]["subtaskCount"] == {"done": done, "total": len(page["subtasks"])}
        assert done == 1 and len({c["authorId"] for c in page["comments"]}) >= 1
        assert page["activity"], "the details were written as people would, with history"
