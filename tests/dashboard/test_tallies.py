"""The tallies always equal plain SQL: random writes (creates, moves in and out of the last column,
due-date and assignee changes, deletions), with timestamps spread over past days, each counted by
`tally` in its own transaction as the tasks service does; then every metric, for the whole org and
for a Guest, is compared with the same metric counted task by task (tests/dashboard/plain.py)."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tandem.dashboard import repository, service
from tandem.dashboard.metrics import TaskFacts, deltas_of
from tandem.dashboard.models import DayTally, StatusTally
from tandem.kit.clock import utcnow
from tests.dashboard.plain import plain_metrics
from tests.dashboard.writer import COLUMNS, World, apply, new_world
from tests.harness import Server, quick_team

EXAMPLES = 12

create = st.tuples(
    st.just("create"),
    st.integers(0, 1),  # project
    st.integers(0, len(COLUMNS) - 1),  # column
    st.integers(0, 3),  # assignee (3: nobody)
    st.one_of(st.none(), st.integers(-40, 10)),  # due, days from today
    st.integers(0, 100),  # age in days
)
move = st.tuples(
    st.just("move"), st.integers(0, 50), st.integers(0, len(COLUMNS) - 1), st.integers(0, 100)
)
due = st.tuples(st.just("due"), st.integers(0, 50), st.one_of(st.none(), st.integers(-40, 10)))
assign = st.tuples(st.just("assign"), st.integers(0, 50), st.integers(0, 3))
delete = st.tuples(st.just("delete"), st.integers(0, 50))
programs = st.lists(
    st.one_of(create, create, move, move, due, assign, delete), min_size=1, max_size=30
)


async def compare(server: Server, world: World) -> None:
    async with server.runtime.db.read() as session:
        today = utcnow().date()
        for guest in (None, world.guest):
            kept = (await service.metrics(session, world.org_id, guest, today)).wire()
            counted = await plain_metrics(session, world.org_id, guest, today)
            assert kept == counted, (guest, kept, counted)


async def test_tallies_equal_plain_sql_after_random_writes(server: Server) -> None:
    _, people = await quick_team(server, ["Owner", "Member", "Guest"])
    ids = [p.id for p in people]
    loop = asyncio.get_running_loop()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(programs)
    def one(program: list[tuple[Any, ...]]) -> None:
        world = run(new_world(server, ids))
        for op in program:
            run(apply(server, world, op))
        run(compare(server, world))

    await asyncio.to_thread(one)


async def test_a_rebuild_counts_what_the_writes_counted(server: Server) -> None:
    _, people = await quick_team(server, ["Owner", "Member", "Guest"])
    world = await new_world(server, [p.id for p in people])
    for i in range(40):
        await apply(server, world, ("create", i % 2, i % 3, i % 4, (i % 7) - 3, i * 2))
    for i in range(0, 40, 3):
        await apply(server, world, ("move", i, (i + 1) % 3, i))
    async with server.runtime.db.unit_of_work() as session:
        await service.rebuild_tallies(session, world.org_id)
    await compare(server, world)


async def test_writers_adding_the_same_rows_in_any_order_all_commit(server: Server) -> None:
    """Writers whose changes touch the same tally rows, each listing them in another order, all
    commit (no deadlock on PostgreSQL) and every one is counted."""
    _, people = await quick_team(server, ["Owner", "Member", "Guest"])
    world = await new_world(server, [p.id for p in people])
    now = utcnow()
    facts = [
        TaskFacts(
            world.org_id,
            world.projects[i % 2],
            COLUMNS[i % 3],
            None,
            None,
            now - timedelta(days=i),
            None,
        )
        for i in range(40)
    ]
    writers, rounds = 6, 4

    async def writer(seed: int) -> None:
        shuffled = random.Random(seed).sample(facts, len(facts))
        for _ in range(rounds):
            async with server.runtime.db.unit_of_work() as session:
                await repository.add_deltas(session, deltas_of((None, f) for f in shuffled))

    await asyncio.gather(*(writer(seed) for seed in range(writers)))
    async with server.runtime.db.read() as session:
        days = await session.scalar(
            select(func.sum(DayTally.created)).where(DayTally.org_id == world.org_id)
        )
        statuses = await session.scalar(
            select(func.sum(StatusTally.count)).where(StatusTally.org_id == world.org_id)
        )
    assert (days, statuses) == (len(facts) * writers * rounds,) * 2
