"""kit/shared_units.py: works handed in together share one transaction, on SQLite and PostgreSQL;
each caller gets its own result or refusal, runs in its own context, and a failing work costs
only itself (what it wrote is gone, what the others wrote is kept)."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateTable

from tandem.db import Database
from tandem.kit.errors import AppError, NotFound
from tandem.kit.shared_units import SharedUnits

meta = MetaData()
notes = Table(
    "shared_unit_notes",
    meta,
    Column("id", String(8), primary_key=True),
    Column("caller", String(16)),
    Column("n", Integer),
)
caller_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("caller", default=None)


@pytest.fixture
async def db(database_url: str):
    database = Database(database_url)
    async with database.engine.begin() as conn:
        await conn.execute(CreateTable(notes))
    commits = []
    database.on_commit(lambda session: commits.append(1))
    database.commits = commits  # type: ignore[attr-defined]
    try:
        yield database
    finally:
        await database.dispose()


async def stored(db: Database) -> dict[str, Any]:
    async with db.read() as session:
        return {row.id: row.caller for row in await session.execute(select(notes))}


def writer(note_id: str, *, refuse: bool = False):  # type: ignore[no-untyped-def]
    """A work that writes a note in its caller's name, then (when told) refuses."""

    async def work(session: Any) -> str:
        await session.execute(insert(notes).values(id=note_id, caller=caller_var.get(), n=1))
        if refuse:
            raise NotFound("no such thing")
        return note_id

    return work


async def called(units: SharedUnits, name: str, work: Any) -> Any:
    caller_var.set(name)
    try:
        return await units.run(work)
    except AppError as exc:
        return exc


async def test_works_handed_in_together_share_one_commit(db: Database) -> None:
    units = SharedUnits(db)
    results = await asyncio.gather(
        *(called(units, f"caller{i}", writer(f"n{i}")) for i in range(10))
    )
    assert results == [f"n{i}" for i in range(10)]
    assert units.batches == 1 and len(db.commits) == 1  # type: ignore[attr-defined]
    assert await stored(db) == {f"n{i}": f"caller{i}" for i in range(10)}  # each in its context


async def test_a_batch_is_no_larger_than_its_limit(db: Database) -> None:
    units = SharedUnits(db, limit=4)
    results = await asyncio.gather(*(called(units, "c", writer(f"n{i}")) for i in range(10)))
    assert results == [f"n{i}" for i in range(10)]
    assert units.batches == 3  # 4 + 4 + 2, in the order they came
    assert set(await stored(db)) == {f"n{i}" for i in range(10)}


@pytest.mark.parametrize("turns", [0, 3])
async def test_a_batch_waits_its_turns_for_more_works(db: Database, turns: int) -> None:
    units = SharedUnits(db, turns=turns)
    first = asyncio.ensure_future(called(units, "a", writer("n1")))
    for _ in range(2):
        await asyncio.sleep(0)  # the first is handed in, and its lane's runner has begun
    second = asyncio.ensure_future(called(units, "b", writer("n2")))
    assert await first == "n1" and await second == "n2"
    assert units.batches == (1 if turns else 2)
    assert await stored(db) == {"n1": "a", "n2": "b"}


async def test_a_refusal_costs_only_its_own_work(db: Database) -> None:
    units = SharedUnits(db)
    results = await asyncio.gather(
        called(units, "a", writer("n1")),
        called(units, "b", writer("n2", refuse=True)),
        called(units, "c", writer("n3")),
    )
    assert results[0] == "n1" and results[2] == "n3"
    assert isinstance(results[1], NotFound)
    assert await stored(db) == {"n1": "a", "n3": "c"}  # the refused work's note is gone


async def test_a_failing_statement_costs_only_its_own_work(db: Database) -> None:
    units = SharedUnits(db)
    outcomes = await asyncio.gather(
        called(units, "a", writer("n1")),
        called(units, "b", writer("n1")),  # the same key again: the database refuses it
        called(units, "c", writer("n2")),
        return_exceptions=True,
    )
    assert outcomes[0] == "n1" and outcomes[2] == "n2"
    assert isinstance(outcomes[1], IntegrityError)
    assert await stored(db) == {"n1": "a", "n2": "c"}


async def test_a_caller_that_gives_up_leaves_the_others_their_results(db: Database) -> None:
    units = SharedUnits(db)
    gone = asyncio.ensure_future(called(units, "a", writer("n1")))
    kept = asyncio.ensure_future(called(units, "b", writer("n2")))
    await asyncio.sleep(0)  # both are waiting
    gone.cancel()
    assert await kept == "n2"
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert "n2" in await stored(db)
    assert await called(units, "c", writer("n3")) == "n3"  # and the next batch still runs


async def test_shutting_down_refuses_what_is_still_waiting(db: Database) -> None:
    units = SharedUnits(db, limit=1)
    first = asyncio.ensure_future(called(units, "a", writer("n1")))
    waiting = asyncio.ensure_future(called(units, "b", writer("n2")))
    await asyncio.sleep(0)
    runner = units.lanes[0].runner
    assert runner is not None
    runner.cancel()  # as the loop's shutdown cancels every task
    outcomes = await asyncio.gather(first, waiting, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
    assert await called(units, "c", writer("n3")) == "n3"


async def test_shutting_down_mid_batch_refuses_it_and_what_waits(db: Database) -> None:
    units = SharedUnits(db, limit=2)
    started = asyncio.Event()

    async def slow(session: Any) -> str:
        started.set()
        await asyncio.sleep(30)
        return "never"

    running = [asyncio.ensure_future(called(units, "a", slow)) for _ in range(2)]
    waiting = asyncio.ensure_future(called(units, "b", writer("n2")))
    await started.wait()
    runner = units.lanes[0].runner
    assert runner is not None
    runner.cancel()
    outcomes = await asyncio.gather(*running, waiting, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
    assert await stored(db) == {}
    assert await called(units, "c", writer("n3")) == "n3"


async def test_keys_pick_lanes_that_run_side_by_side(db: Database) -> None:
    units = SharedUnits(db, lanes=2)
    candidates = [f"person{i}" for i in range(200)]  # str hashes differ from run to run
    first_key = next(k for k in candidates if hash(k) % 2 == 0)
    other = next(k for k in candidates if hash(k) % 2 == 1)
    inside, release = 0, asyncio.Event()
    both_inside = asyncio.Event()

    def held(note_id: str):  # type: ignore[no-untyped-def]
        async def work(session: Any) -> str:
            nonlocal inside
            await session.execute(insert(notes).values(id=note_id, caller="x", n=1))
            inside += 1
            if inside == 2:
                both_inside.set()
            await release.wait()
            return note_id

        return work

    first = asyncio.ensure_future(units.run(held("n1"), first_key))
    await asyncio.sleep(0.05)  # the first lane's batch holds n1 and waits
    second = asyncio.ensure_future(units.run(held("n2"), other))
    if db.is_sqlite:
        # One writer: the second lane's transaction waits for the first's to end.
        await asyncio.sleep(0.2)
        assert not both_inside.is_set()
    else:
        await asyncio.wait_for(both_inside.wait(), 10)  # both transactions are open at once
    release.set()
    assert await asyncio.gather(first, second) == ["n1", "n2"]
    assert set(await stored(db)) == {"n1", "n2"}


async def test_one_key_keeps_one_lane_and_its_order(db: Database) -> None:
    units = SharedUnits(db, lanes=4)
    order: list[str] = []

    def noted(note_id: str):  # type: ignore[no-untyped-def]
        async def work(session: Any) -> str:
            await session.execute(insert(notes).values(id=note_id, caller="k", n=1))
            order.append(note_id)
            return note_id

        return work

    ids = [f"n{i}" for i in range(12)]
    assert await asyncio.gather(*(units.run(noted(i), "same") for i in ids)) == ids
    assert order == ids
    assert units.batches == 1  # all in one lane, one transaction


async def test_a_write_of_its_own_gets_the_batch_then_each_item_alone_after_a_failure(
    db: Database,
) -> None:
    seen: list[list[str]] = []

    async def write(session: Any, entries: list[tuple[Any, contextvars.Context]]) -> list[str]:
        items = [item for item, _context in entries]
        seen.append(items)
        rows = [
            {"id": item, "caller": context.get(caller_var), "n": 1} for item, context in entries
        ]
        await session.execute(insert(notes), rows)
        if "bad" in items:
            raise NotFound("no such thing")
        return [f"wrote {item}" for item in items]

    units = SharedUnits(db, write=write)
    results = await asyncio.gather(called(units, "ada", "n1"), called(units, "bo", "n2"))
    assert results == ["wrote n1", "wrote n2"] and seen == [["n1", "n2"]]
    assert units.batches == 1 and len(db.commits) == 1  # type: ignore[attr-defined]
    seen.clear()
    results = await asyncio.gather(called(units, "cy", "n3"), called(units, "di", "bad"))
    assert results[0] == "wrote n3" and isinstance(results[1], NotFound)
    assert seen == [["n3", "bad"], ["n3"], ["bad"]]
    assert await stored(db) == {"n1": "ada", "n2": "bo", "n3": "cy"}
