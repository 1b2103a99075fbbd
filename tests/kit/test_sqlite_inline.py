"""The inline SQLite driver: statements run on the event loop's thread; what may wait does not."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

from sqlalchemy import text

from tandem.db import Database
from tandem.kit import sqlite_inline


async def test_statements_run_on_the_event_loop_thread_and_begin_and_commit_on_the_worker(tmp_path):
    conn = await sqlite_inline.connect(str(tmp_path / "t.db"))
    try:
        await conn.create_function("tid", 0, threading.get_ident)
        loop_thread = threading.get_ident()
        async with conn.execute("SELECT tid()") as cur:
            assert (await cur.fetchone())[0] == loop_thread
        # BEGIN may wait for another process's lock: it goes to aiosqlite's thread.
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
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    db = Database(url)
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

    tick_task = asyncio.create_task(ticker())
    writer = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not writer.done()  # still waiting for the lock …
    assert ticks >= 10  # … while the event loop kept running
    other.execute("COMMIT")
    await asyncio.wait_for(writer, 10)
    tick_task.cancel()
    async with db.read() as session:
        assert (await session.execute(text("SELECT a FROM t ORDER BY a"))).scalars().all() == [1, 2]
    other.close()
    await db.dispose()
