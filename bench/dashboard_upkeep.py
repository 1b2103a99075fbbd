"""What keeping the dashboard current costs, with many tasks: CPU per task write spent in `tally`,
and the time of a dashboard snapshot, on SQLite.

Makes one org with N tasks (bulk insert over 10 projects, creation dates over the last 120 days,
a third completed, most with due dates), counts its tallies once (`rebuild_tallies`), then makes
2,000 task writes (moves between columns, completing and reopening, due-date and assignee
changes), each in its own transaction as the tasks service does, timing only `tally` with
time.process_time; then takes the snapshot 50 times. Run at two sizes to see the cost stay flat.

    uv run --frozen python bench/dashboard_upkeep.py [--tasks 100000] [--writes 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from tandem.auth.models import User
from tandem.cli import migrate
from tandem.dashboard import service
from tandem.dashboard.policy import Viewer
from tandem.dashboard.service import TaskFacts
from tandem.db import Database
from tandem.kit.clock import utcnow
from tandem.orgs.models import Membership, Organization
from tandem.projects.models import DEFAULT_COLUMNS, Project
from tandem.tasks.models import Task

PROJECTS = 10
PEOPLE = 8


async def populate(db: Database, tasks: int, rng: random.Random) -> tuple[str, list[str]]:
    now = utcnow()
    org_id = "org_bench"
    people = [f"u_bench{i}" for i in range(PEOPLE)]
    async with db.unit_of_work() as session:
        await session.execute(
            insert(User.__table__),
            [
                {"id": u, "email": f"{u}@example.com", "name": u, "password_hash": "x"}
                for u in people
            ],
        )
        session.add(Organization(id=org_id, name="Bench"))
        await session.flush()
        for u in people:
            session.add(Membership(org_id=org_id, user_id=u, role="Member", status="active"))
        for p in range(PROJECTS):
            session.add(
                Project(
                    id=f"p_bench{p}",
                    org_id=org_id,
                    name=f"P{p}",
                    description="",
                    status="active",
                    columns=list(DEFAULT_COLUMNS),
                    created_at=now,
                    updated_at=now,
                )
            )
        await session.flush()
        rows = []
        for i in range(tasks):
            created = now - timedelta(minutes=rng.randrange(120 * 24 * 60))
            done = rng.random() < 1 / 3
            status = DEFAULT_COLUMNS[-1] if done else rng.choice(DEFAULT_COLUMNS[:-1])
            rows.append(
                {
                    "id": f"t_bench{i}",
                    "project_id": f"p_bench{i % PROJECTS}",
                    "org_id": org_id,
                    "title": "task",
                    "description": "",
                    "status": status,
                    "rank": f"{i:08d}",
                    "priority": "Medium",
                    "assignee_id": rng.choice([*people, None]),
                    "due_date": (now + timedelta(days=rng.randint(-30, 60))).date()
                    if rng.random() < 0.8
                    else None,
                    "rev": 1,
                    "field_revs": {},
                    "created_at": created,
                    "updated_at": created,
                    "completed_at": created + (now - created) * rng.random() if done else None,
                }
            )
            if len(rows) == 10_000:
                await session.execute(insert(Task.__table__), rows)
                rows = []
        if rows:
            await session.execute(insert(Task.__table__), rows)
    return org_id, people


async def measure(url: str, tasks: int, writes: int) -> dict[str, float]:
    rng = random.Random(20261203)
    db = Database(url)
    try:
        org_id, people = await populate(db, tasks, rng)
        started = time.perf_counter()
        async with db.unit_of_work() as session:
            await service.rebuild_tallies(session, org_id)
        fill = time.perf_counter() - started

        spent: list[float] = []
        for _ in range(writes):
            task_id = f"t_bench{rng.randrange(tasks)}"
            async with db.unit_of_work() as session:
                task = await session.get(Task, task_id)
                assert task is not None
                before = TaskFacts.of(task)
                roll = rng.random()
                if roll < 0.6:
                    task.status = rng.choice(DEFAULT_COLUMNS)
                    done = task.status == DEFAULT_COLUMNS[-1]
                    task.completed_at = (task.completed_at or utcnow()) if done else None
                elif roll < 0.8:
                    task.due_date = (utcnow() + timedelta(days=rng.randint(-10, 30))).date()
                else:
                    task.assignee_id = rng.choice([*people, None])
                await session.flush()
                cpu = time.process_time()
                await service.tally(session, before, TaskFacts.of(task))
                spent.append(time.process_time() - cpu)

        snapshots: list[float] = []
        for _ in range(50):
            async with db.read() as session:
                started = time.perf_counter()
                await service.dashboard(session, Viewer(org_id, None), None, 20)
                snapshots.append(time.perf_counter() - started)
        # For scale: one count of open tasks over the tasks table, what the tallies stand in for
        # (the burndown alone would be 30 such counts).
        plain: list[float] = []
        open_tasks = (
            select(func.count())
            .select_from(Task)
            .where(Task.org_id == org_id, Task.completed_at.is_(None))
        )
        for _ in range(10):
            async with db.read() as session:
                started = time.perf_counter()
                await session.scalar(open_tasks)
                plain.append(time.perf_counter() - started)
        return {
            "tasks": tasks,
            "fill_s": fill,
            "tally_cpu_us_mean": statistics.fmean(spent) * 1e6,
            "tally_cpu_us_median": statistics.median(spent) * 1e6,
            "snapshot_ms_median": statistics.median(snapshots) * 1e3,
            "snapshot_ms_max": max(snapshots) * 1e3,
            "plain_count_ms": statistics.median(plain) * 1e3,
        }
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--writes", type=int, default=2_000)
    args = parser.parse_args()
    for tasks in args.tasks:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            migrate(url)
            found = asyncio.run(measure(url, tasks, args.writes))
        print(
            f"{found['tasks']:>7} tasks: tally {found['tally_cpu_us_mean']:.0f} CPU-µs a write "
            f"(median {found['tally_cpu_us_median']:.0f}) over {args.writes} writes; "
            f"snapshot {found['snapshot_ms_median']:.2f} ms median "
            f"({found['snapshot_ms_max']:.2f} ms max) over 50; "
            f"first fill of the tallies {found['fill_s']:.2f} s; one plain count of open tasks "
            f"{found['plain_count_ms']:.2f} ms"
        )


if __name__ == "__main__":
    main()
