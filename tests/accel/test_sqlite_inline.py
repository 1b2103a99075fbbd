"""The inline SQLite driver: statements, BEGIN and COMMIT run on the event loop's thread; what
may wait (another process's lock, a checkpoint's disk writes) does not."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from sqlalchemy import event, exc, text

from tandem import accel
from tandem.accel import sqlite_inline
from tandem.db import Database

# The accelerated path's own behaviour; the stock path is what the rest of the suite runs under TANDEM_ACCEL=off.
pytestmark = pytest.mark.skipif(
    accel.switched_off(), reason="accelerators are off (TANDEM_ACCEL=off)"
)


def _trace_threads(db: Database) -> list[tuple[int, str]]:
    """(thread, statement) for every statement the writer engine's connections run."""
    seen: list[tuple[int, str]] = []

    @event.listens_for(db.engine.sync_engine, "connect")
    def _trace(dbapi_conn, _):
        dbapi_conn._connection._conn.set_trace_callback(
            lambda sql: seen.append((threading.get_ident(), sql))
        )

    return seen


async def test_statements_begin_and_commit_run_inline_on_the_event_loop_thread(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    seen = _trace_threads(db)
    async with db.unit_of_work() as session:
        await session.execute(text("CREATE TABLE t (a INTEGER)"))
    seen.clear()
    async with db.unit_of_work() as session:
        await session.execute(text("INSERT INTO t VALUES (1)"))
        assert (await session.execute(text("SELECT a FROM t"))).scalar_one() == 1
    statements = [sql for _, sql in seen]
    assert (
        "BEGIN IMMEDIATE" in statements
        and "COMMIT" in statements
        and "INSERT INTO t VALUES (1)" in statements
    )
    assert {thread for thread, _ in seen} == {threading.get_ident()}
    async with db.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
    await db.dispose()


async def test_aiosqlite_calls_that_cannot_wait_run_inline_and_begin_goes_to_the_worker(tmp_path):
    conn = await sqlite_inline.connect(str(tmp_path / "t.db"))
    try:
        await conn.create_function("tid", 0, threading.get_ident)
        loop_thread = threading.get_ident()
        async with conn.execute("SELECT tid()") as cur:
            assert (await cur.fetchone())[0] == loop_thread
        async with conn.execute("BEGIN IMMEDIATE") as cur:
            pass
        async with conn.execute("SELECT tid()") as cur:
            assert (await cur.fetchone())[0] == loop_thread
        await conn.commit()
    finally:
        await conn.close()


def test_what_may_wait():
    raw = sqlite3.connect(":memory:")
    cur = raw.cursor()
    assert sqlite_inline._may_wait(cur.execute, ("BEGIN IMMEDIATE",))
    assert sqlite_inline._may_wait(cur.execute, ("  commit",))
    assert sqlite_inline._may_wait(raw.commit, ())
    assert sqlite_inline._may_wait(raw.close, ())
    assert not sqlite_inline._may_wait(cur.execute, ("SELECT 1",))
    assert not sqlite_inline._may_wait(cur.execute, ("UPDATE t SET a = 1", ()))
    assert not sqlite_inline._may_wait(cur.close, ())  # a cursor's close never waits
    assert not sqlite_inline._may_wait(cur.fetchall, ())
    raw.close()


async def test_a_writer_waiting_for_another_process_lock_does_not_block_the_event_loop(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    seen = _trace_threads(db)
    async with db.unit_of_work() as session:
        await session.execute(text("CREATE TABLE t (a INTEGER)"))
    # Another process (here: a plain sqlite3 connection on its own thread) holds the write lock.
    other = sqlite3.connect(tmp_path / "w.db", check_same_thread=False, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def write() -> None:
        async with db.unit_of_work() as session:  # BEGIN IMMEDIATE waits here for the other writer
            await session.execute(text("INSERT INTO t VALUES (2)"))

    seen.clear()
    tick_task = asyncio.create_task(ticker())
    writer = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not writer.done()  # still waiting for the lock …
    assert ticks >= 10  # … while the event loop kept running
    other.execute("COMMIT")
    await asyncio.wait_for(writer, 10)
    tick_task.cancel()
    begins = [thread for thread, sql in seen if sql == "BEGIN IMMEDIATE"]
    assert begins[0] == threading.get_ident()  # the inline try, which found the lock taken
    assert begins[-1] != threading.get_ident()  # the wait, on aiosqlite's thread
    async with db.read() as session:
        assert (await session.execute(text("SELECT a FROM t ORDER BY a"))).scalars().all() == [1, 2]
        # The inline try set no lasting busy timeout of 0: the connection waits as configured.
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection._conn
        assert raw.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    other.close()
    await db.dispose()


async def test_a_failing_statement_raises_and_the_unit_of_work_loses_nothing(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'e.db'}")
    async with db.unit_of_work() as session:
        await session.execute(text("CREATE TABLE t (a INTEGER PRIMARY KEY)"))
        await session.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(exc.IntegrityError):
        async with db.unit_of_work() as session:
            await session.execute(text("INSERT INTO t VALUES (2)"))
            await session.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(exc.OperationalError):
        async with db.unit_of_work() as session:
            await session.execute(text("SELECT nope FROM t"))
    async with db.unit_of_work() as session:  # the connection is usable and 2 was rolled back
        await session.execute(text("INSERT INTO t VALUES (3)"))
    async with db.read() as session:
        assert (await session.execute(text("SELECT a FROM t ORDER BY a"))).scalars().all() == [1, 3]
    await db.dispose()


async def test_several_rows_in_one_statement_are_written(tmp_path):
    """executemany, as SQLAlchemy runs an INSERT of a list of rows on an AsyncConnection (which failed with
    AwaitRequired: the driver awaited nothing)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (a INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (:a)"), [{"a": 1}, {"a": 2}, {"a": 3}])
        async with db.read() as session:
            assert (await session.execute(text("SELECT sum(a) FROM t"))).scalar_one() == 6
    finally:
        await db.dispose()


async def _table(db: Database, rows: int) -> None:
    async with db.unit_of_work() as session:
        await session.execute(text("CREATE TABLE t (a INTEGER)"))
        for a in range(rows):
            await session.execute(text("INSERT INTO t VALUES (:a)"), {"a": a})


async def test_a_read_session_begins_and_closes_inline_and_hands_its_connection_back(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    await _table(db, 3)
    pool = db.read_engine.sync_engine.pool
    async with db.read() as session:  # the pool's first connection: begun by the first statement
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 3
    assert pool.checkedout() == 0 and pool.checkedin() == 1

    session_of = db.read()
    assert isinstance(session_of, sqlite_inline.ReadSession)
    async with session_of as session:
        # Begun on entry, from the pooled connection, before any statement and without a greenlet.
        assert session.in_transaction() and pool.checkedout() == 1
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 3
    assert pool.checkedout() == 0 and pool.checkedin() == 1

    # A failure inside rolls back and hands the connection back too.
    with pytest.raises(exc.OperationalError):
        async with db.read() as session:
            await session.execute(text("SELECT nothing FROM t"))
    assert pool.checkedout() == 0
    await db.dispose()


async def test_a_read_session_sees_what_was_committed_before_its_first_read(tmp_path):
    """Begun inline on entry, a reader's snapshot still dates from its first read (SQLite's deferred
    BEGIN), as the replay after a hold relies on (realtime/gateway.py)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
    await _table(db, 1)
    async with db.read() as warm:
        await warm.execute(text("SELECT 1"))
    async with db.read() as session:
        async with db.unit_of_work() as writer:
            await writer.execute(text("INSERT INTO t VALUES (7)"))
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2
        async with db.unit_of_work() as writer:
            await writer.execute(text("INSERT INTO t VALUES (8)"))
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2
    await db.dispose()


async def test_read_sessions_past_the_pool_and_cancelled_ones_lose_no_connection(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    await _table(db, 5)
    pool = db.read_engine.sync_engine.pool
    size = pool.size()
    release = asyncio.Event()
    entered = 0

    async def reader() -> int:
        nonlocal entered
        async with db.read() as session:
            count = (await session.execute(text("SELECT count(*) FROM t"))).scalar_one()
            entered += 1
            await release.wait()
            return count

    # More readers at once than the pool keeps: the overflow connections are opened in a greenlet
    # and closed by the stock, shielded close.
    tasks = [asyncio.create_task(reader()) for _ in range(size + 5)]
    while entered < len(tasks):
        await asyncio.sleep(0.01)
    assert pool.checkedout() == size + 5
    release.set()
    assert await asyncio.gather(*tasks) == [5] * (size + 5)
    assert pool.checkedout() == 0 and pool.checkedin() == size

    # A reader cancelled while it holds its session hands the connection back all the same.
    release.clear()
    entered = 0
    waiting = asyncio.create_task(reader())
    while entered < 1:
        await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert pool.checkedout() == 0
    async with db.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 5
    await db.dispose()


async def test_a_pooled_connection_that_must_reconnect_begins_in_a_greenlet(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'i.db'}")
    await _table(db, 2)
    pool = db.read_engine.sync_engine.pool
    async with db.read() as session:
        await session.execute(text("SELECT 1"))
        connection = await session.connection()
        await connection.invalidate()  # it goes back to the pool without its DBAPI connection
    assert pool.checkedin() == 1
    async with db.read() as session:  # reconnecting waits on aiosqlite's thread: not inline
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2
    assert pool.checkedout() == 0
    await db.dispose()
