"""The WAL's checkpoints off the event loop (accel/wal_checkpoint.py): on a low-priority thread a
moment after commits, and, under writes that never pause, holding the writer a moment so the WAL
starts over."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from itertools import pairwise

import pytest
from sqlalchemy import exc, text

from tandem import accel
from tandem.accel import wal_checkpoint
from tandem.db import Database

# The accelerated path's own behaviour: the stock path lets SQLite checkpoint on commit.
pytestmark = pytest.mark.skipif(
    accel.switched_off(), reason="accelerators are off (TANDEM_ACCEL=off)"
)


async def test_the_wal_reaches_the_database_file_by_a_checkpoint_off_the_event_loop(tmp_path):
    path = tmp_path / "c.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    checkpointer = db.engine.sync_engine.dialect.tandem_checkpointer
    checkpointer.delay = 0.05
    async with db.unit_of_work() as session:
        await session.execute(text("CREATE TABLE t (a INTEGER PRIMARY KEY, b BLOB)"))
    for i in range(20):
        async with db.unit_of_work() as session:
            await session.execute(text("INSERT INTO t VALUES (:a, randomblob(50000))"), {"a": i})
    # The commits did not checkpoint on the loop: the rows are in the WAL, not yet in the file.
    assert os.path.getsize(path) < 200_000 < os.path.getsize(f"{path}-wal")
    for _ in range(100):
        await asyncio.sleep(0.05)
        if checkpointer.checkpoints and os.path.getsize(path) > 1_000_000:
            break
    assert os.path.getsize(path) > 1_000_000  # ~1 MB of rows copied into the database file
    if sys.platform.startswith("linux"):  # its thread yields the core to the event loop's
        loop = asyncio.get_running_loop()
        nice = await loop.run_in_executor(
            checkpointer.executor,
            lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),
        )
        assert (
            nice
            == wal_checkpoint.CHECKPOINT_NICE
            > os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        )
    await db.dispose()


def test_a_failed_checkpoint_is_logged_and_retried_later(tmp_path, caplog):
    checkpointer = wal_checkpoint.WalCheckpointer(str(tmp_path / "missing-dir" / "x.db"))
    checkpointer.checkpoint()  # the database cannot be opened: logged, not raised
    assert checkpointer.failures == 1 and checkpointer.checkpoints == 0
    assert "checkpointing" in caplog.text
    (tmp_path / "missing-dir").mkdir()
    checkpointer.checkpoint()  # the next try, once the cause is gone, succeeds
    assert checkpointer.checkpoints == 1


async def test_the_wal_starts_over_while_writes_never_pause(tmp_path):
    """A checkpoint copies what was committed before it began, but SQLite starts the WAL over only
    when a write begins with all of it copied back: with commits back to back, one always began
    before the checkpoint ended, and the file grew for as long as they went on."""
    path = tmp_path / "w.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    checkpointer = db.engine.sync_engine.dialect.tandem_checkpointer
    checkpointer.delay = 0.02
    checkpointer.restart_bytes = 1_000_000
    async with db.unit_of_work() as session:
        await session.execute(text("CREATE TABLE t (a INTEGER PRIMARY KEY, b BLOB)"))
    loop = asyncio.get_running_loop()
    sizes, ends = [0], loop.time() + 10.0
    while checkpointer.restarts < 3 and loop.time() < ends:
        async with db.unit_of_work() as session:
            await session.execute(text("INSERT INTO t (b) VALUES (randomblob(20000))"))
        sizes.append(os.path.getsize(f"{path}-wal"))
        await asyncio.sleep(0)  # the loop's other callbacks run, the writes hardly pause
    await db.dispose()
    assert checkpointer.restarts >= 3
    # and the file was cut back to about `restart_bytes` when it started over
    assert any(after < before and after < 2_000_000 for before, after in pairwise(sizes))


async def test_a_checkpoint_that_cannot_hold_the_writer_is_logged_and_tried_again(tmp_path, caplog):
    path = tmp_path / "h.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    checkpointer = db.engine.sync_engine.dialect.tandem_checkpointer
    checkpointer.delay, checkpointer.restart_bytes = 0.02, 100_000
    engine = checkpointer.writer

    class Unreachable:
        def connect(self):
            raise exc.TimeoutError("the pool had no connection")

    checkpointer.writer = Unreachable()
    async with db.unit_of_work() as session:
        await session.execute(text("CREATE TABLE t (a INTEGER PRIMARY KEY, b BLOB)"))
        await session.execute(text("INSERT INTO t (b) VALUES (randomblob(500000))"))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if checkpointer.failures:
            break
    assert checkpointer.failures >= 1 and "holding the writer" in caplog.text
    checkpointer.writer = engine  # the next commits' checkpoints hold it and the WAL starts over
    for _ in range(200):
        async with db.unit_of_work() as session:
            await session.execute(text("INSERT INTO t (b) VALUES (randomblob(5000))"))
        await asyncio.sleep(0.005)
        if checkpointer.restarts:
            break
    assert checkpointer.restarts >= 1
    async with db.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() > 1
    await db.dispose()
