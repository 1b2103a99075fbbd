"""accel/dbapi_statements.py: a Core statement run on the DBAPI cursor gives what Connection.execute gives, in the
unit of work's transaction, on SQLite and PostgreSQL; what it cannot run faithfully, it refuses."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select
from sqlalchemy.schema import CreateTable
from sqlalchemy.types import TypeDecorator

from tandem.accel.dbapi_statements import CursorStatement as Prepared
from tandem.db import Database


class Shouted(TypeDecorator):
    """A type with a bind processor: what Prepared sends must go through it, as SQLAlchemy's would."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else value.upper()


meta = MetaData()
things = Table(
    "prepared_things",
    meta,
    Column("id", String(8), primary_key=True),
    Column("kind", String(8)),
    Column("label", Shouted()),
    Column("n", Integer),
)
stamped = Table(
    "prepared_stamped",
    meta,
    Column("id", String(8), primary_key=True),
    Column("n", Integer, onupdate=lambda: 1),
)

BY_KIND = Prepared(
    select(things.c.id, things.c.label, things.c.n)
    .where(
        things.c.kind == bindparam("kind"), things.c.n >= 2
    )  # a constant of the statement, and a parameter
    .order_by(things.c.id)
    .with_for_update()
)
ONE = Prepared(select(things.c.id, things.c.n).where(things.c.id == bindparam("id")))
RELABEL = Prepared(
    things.update().where(things.c.id == bindparam("t_id")).values(label=bindparam("t_label"))
)
ADD = Prepared(
    insert(things).values(
        id=bindparam("i_id"), kind="a", label=bindparam("i_label"), n=bindparam("i_n")
    )
)


@pytest.fixture
async def db(database_url: str):
    database = Database(database_url)
    async with database.engine.begin() as conn:
        for table in meta.sorted_tables:
            await conn.execute(CreateTable(table))
        await conn.execute(
            things.insert(),
            [
                {"id": "t1", "kind": "a", "label": "one", "n": 1},
                {"id": "t2", "kind": "a", "label": "two", "n": 2},
                {"id": "t3", "kind": "b", "label": "three", "n": 3},
                {"id": "t4", "kind": "a", "label": "four", "n": 4},
            ],
        )
    yield database
    await database.dispose()


def _both(session, statement: Prepared, params: dict) -> tuple[list, list]:
    conn = session.connection()
    return (
        [tuple(r) for r in statement.rows(conn, params)],
        [tuple(r) for r in conn.execute(statement.statement, params)],
    )


async def test_a_select_gives_the_rows_connection_execute_gives(db):
    async with db.unit_of_work() as session:
        prepared, executed = await session.run_sync(_both, BY_KIND, {"kind": "a"})
        assert prepared == executed == [("t2", "TWO", 2), ("t4", "FOUR", 4)]
        again, _ = await session.run_sync(
            _both, BY_KIND, {"kind": "b"}
        )  # compiled once, other values
        assert again == [("t3", "THREE", 3)]
        assert await session.run_sync(lambda s: ONE.first(s.connection(), {"id": "t9"})) is None
        assert tuple(await session.run_sync(lambda s: ONE.first(s.connection(), {"id": "t1"}))) == (
            "t1",
            1,
        )


async def test_writes_go_through_the_bind_processors_and_belong_to_the_unit_of_work(db):
    async with db.unit_of_work() as session:
        matched = await session.run_sync(
            lambda s: RELABEL.run(s.connection(), {"t_id": "t1", "t_label": "uno"})
        )
        assert matched == 1
        await session.run_sync(
            lambda s: ADD.run(s.connection(), {"i_id": "t5", "i_label": "five", "i_n": 5})
        )
        # Seen by SQLAlchemy's own statements in the same transaction.
        assert (
            await session.execute(select(things.c.label).where(things.c.id == "t1"))
        ).scalar_one() == "UNO"
    async with db.unit_of_work() as session:  # and committed with it
        rows = (
            await session.execute(select(things.c.id, things.c.label).order_by(things.c.id))
        ).all()
        assert tuple(rows[0]) == ("t1", "UNO") and ("t5", "FIVE") in rows
        assert (
            await session.run_sync(
                lambda s: RELABEL.run(s.connection(), {"t_id": "nope", "t_label": "x"})
            )
            == 0
        )


async def test_a_unit_of_work_that_fails_rolls_back_what_it_ran(db):
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as session:
            await session.run_sync(
                lambda s: RELABEL.run(s.connection(), {"t_id": "t2", "t_label": "gone"})
            )
            raise RuntimeError("the handler failed")
    async with db.read() as session:
        assert (
            await session.execute(select(things.c.label).where(things.c.id == "t2"))
        ).scalar_one() == "TWO"


async def test_a_database_error_propagates_and_the_next_unit_of_work_runs(db):
    with pytest.raises(Exception) as raised:
        async with db.unit_of_work() as session:  # t1 exists: a primary key violation
            await session.run_sync(
                lambda s: ADD.run(s.connection(), {"i_id": "t1", "i_label": "x", "i_n": 0})
            )
    assert "unique" in str(raised.value).lower() or "duplicate" in str(raised.value).lower()
    async with db.unit_of_work() as session:
        await session.run_sync(
            lambda s: ADD.run(s.connection(), {"i_id": "t6", "i_label": "six", "i_n": 6})
        )
    async with db.read() as session:
        assert (
            await session.execute(select(things.c.label).where(things.c.id == "t6"))
        ).scalar_one() == "SIX"


async def test_a_named_parameter_with_a_value_takes_the_callers_own(db):
    by_n = Prepared(
        select(things.c.id).where(things.c.n >= bindparam("at_least", 3)).order_by(things.c.id)
    )
    async with db.unit_of_work() as session:
        kept = await session.run_sync(lambda s: [r[0] for r in by_n.rows(s.connection(), {})])
        given = await session.run_sync(
            lambda s: [r[0] for r in by_n.rows(s.connection(), {"at_least": 2})]
        )
    assert kept == ["t3", "t4"] and given == ["t2", "t3", "t4"]


async def test_a_missing_parameter_is_an_error_before_anything_runs(db):
    async with db.unit_of_work() as session:
        with pytest.raises(KeyError, match="t_label"):
            await session.run_sync(lambda s: RELABEL.run(s.connection(), {"t_id": "t1"}))
        assert (
            await session.execute(select(things.c.label).where(things.c.id == "t1"))
        ).scalar_one() == "ONE"


@pytest.mark.parametrize(
    "statement, why",
    [
        (
            select(things.c.id).where(things.c.id.in_(bindparam("ids", expanding=True))),
            "rendered at execution",
        ),
        (
            stamped.update().where(stamped.c.id == bindparam("s_id")).values(id=bindparam("s_new")),
            "Python-side defaults",
        ),
        (
            select(things.c.id).where(things.c.id == bindparam("later", callable_=lambda: "t1")),
            "computed at execution",
        ),
    ],
)
async def test_what_it_cannot_run_faithfully_it_refuses(db, statement, why):
    async with db.unit_of_work() as session:
        with pytest.raises(TypeError, match=why):
            await session.run_sync(
                lambda s: Prepared(statement).rows(
                    s.connection(), {"ids": ["t1"], "s_id": "x", "s_new": "y"}
                )
            )


async def test_a_unit_of_work_cancelled_on_its_first_statement_leaves_no_transaction_behind(
    db, database_url
):
    """Cancelled while the cursor statement's implicit BEGIN is on the wire, the connection must not
    go back to the pool believing it is idle: the next unit of work on it would run inside a
    transaction nobody commits, holding its locks, its writes seen by no one else."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the driver's implicit BEGIN is asyncpg's")

    async def first_statement() -> None:
        async with db.unit_of_work() as session:
            await session.run_sync(lambda s: ONE.first(s.connection(), {"id": "t1"}))

    other = Database(database_url)  # its own connections: sees only what was committed
    try:
        for attempt in range(80):
            # Cancel at 0–1.6 ms: some land before the statement, some on BEGIN, some after.
            task = asyncio.create_task(first_statement())
            await asyncio.sleep(0.00002 * attempt)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            label = f"w{attempt}"
            async with db.unit_of_work() as session:
                await session.run_sync(
                    lambda s, label=label: RELABEL.run(
                        s.connection(), {"t_id": "t3", "t_label": label}
                    )
                )
            async with other.read() as session:
                seen = (
                    await session.execute(select(things.c.label).where(things.c.id == "t3"))
                ).scalar_one()
            assert seen == label.upper(), (
                f"after a cancel at {attempt * 20} µs, a commit went nowhere"
            )
    finally:
        await other.dispose()


def test_a_timestamp_bind_answers_each_value_as_its_own_processor_does():
    from datetime import UTC, datetime, timedelta

    from sqlalchemy.dialects import sqlite

    from tandem.accel.dbapi_statements import compile_for_cursor
    from tandem.db import UTCDateTime

    when = Table("prepared_when", MetaData(), Column("id", String(8)), Column("at", UTCDateTime))
    compiled = compile_for_cursor(insert(when), sqlite.dialect(), ["id", "at"])
    processor = UTCDateTime()._cached_bind_processor(sqlite.dialect())
    assert processor is not None  # SQLite formats timestamps as text
    now = datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC)
    later = now + timedelta(microseconds=1)
    rows = [{"id": "a", "at": now}, {"id": "b", "at": now}, {"id": "c", "at": later}]
    rows += [{"id": "d", "at": None}, {"id": "e", "at": now}]
    got = [compiled.values(row) for row in rows]
    assert got == [(row["id"], processor(row["at"])) for row in rows]
    assert got[2][1] != got[1][1] and got[3][1] is None
