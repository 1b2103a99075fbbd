"""The WAL's checkpoints for the inline SQLite driver (accel/sqlite_inline.py), whose writer
connections do not checkpoint on commit: a checkpoint copies the WAL back into the database file
on a thread of its own a moment after commits, so a COMMIT never waits for the disk. On Linux that
thread runs at a low priority: a second's WAL takes tens of milliseconds to copy, and where the
server has one core the event loop would otherwise share it for that long, and every event in
flight wait. When writes never pause, it holds the writer for a few milliseconds so the WAL can
start over; that step runs on the writer's aiosqlite connection (its private sqlite3 connection
and thread), so this module belongs to the `sqlite_inline` accelerator.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

logger = logging.getLogger("tandem.db")


# The checkpoint thread's nice value on Linux. At 10, Linux's scheduler gives it about a tenth of
# a core it shares with the event loop (at 0, half): less would leave a saturated server's WAL
# growing faster than it is copied back.
CHECKPOINT_NICE = 10


def _low_priority() -> None:
    """Lower the calling thread's priority (Linux: a thread's own nice value)."""
    if sys.platform.startswith("linux"):  # elsewhere the call would name a process, not a thread
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECKPOINT_NICE)
        except OSError:
            logger.debug("could not lower the checkpoint thread's priority", exc_info=True)


class WalCheckpointer:
    """Copies a database's WAL back into its file on a thread of its own, `delay` seconds after
    the first commit it has not yet covered (one checkpoint per `delay` at most, whatever the
    rate of commits). PASSIVE: it copies what no reader still needs and never blocks anyone.

    SQLite starts the WAL over only when a write begins with all of it copied back. Under writes
    that never pause, one always began before a checkpoint ended, and the file grew for as long as
    they went on (about 45 MB a second at 200 chat messages a second). So once the WAL holds more
    than `restart_bytes`, a second checkpoint copies what the first could not, and a third takes
    the writer's connection (`writer`: the engine whose one pooled connection writes) for the few
    frames committed meanwhile: writes wait those milliseconds, then the next one starts the WAL
    over, unless a reader still reads from it."""

    def __init__(
        self, database: str, *, delay: float = 1.0, restart_bytes: int = 128 * 2**20
    ) -> None:
        self.database = database
        self.delay = delay
        self.restart_bytes = restart_bytes
        self.writer: Any = None
        self.checkpoints = 0  # completed, for tests and curiosity
        self.failures = 0
        self.restarts = 0  # times the WAL was seen to have started over
        self._frames = 0  # in the WAL at the last checkpoint
        self._page_size = 0
        self._handle: asyncio.TimerHandle | None = None
        self._cycle: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        # its thread starts with the first checkpoint, and ends when this object goes
        self.executor = ThreadPoolExecutor(
            1, thread_name_prefix="tandem-checkpoint", initializer=_low_priority
        )

    def committed(self) -> None:
        """Called on the event loop after each commit of a writer connection."""
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self.delay, self._run)

    def _run(self) -> None:
        loop = asyncio.get_running_loop()
        if self._cycle is not None and not self._cycle.done():
            self._handle = loop.call_later(self.delay, self._run)  # after the one under way
            return
        self._handle = None
        self._cycle = loop.create_task(self._checkpoints(), name="tandem-checkpoint")

    async def _checkpoints(self) -> None:
        loop = asyncio.get_running_loop()
        size = await loop.run_in_executor(self.executor, self.checkpoint)
        if size is None or size <= self.restart_bytes or self.writer is None:
            return
        if await loop.run_in_executor(self.executor, self.checkpoint) is None:
            return
        try:
            async with self.writer.connect() as held:
                inline = (await held.get_raw_connection()).driver_connection
                await inline.in_thread(self.checkpoint, inline._conn)
        except Exception:
            # Nothing is lost: the WAL keeps growing until a later checkpoint gets the writer.
            self.failures += 1
            logger.warning(
                "holding the writer of %s to checkpoint failed", self.database, exc_info=True
            )

    def checkpoint(self, conn: sqlite3.Connection | None = None) -> int | None:
        """A PASSIVE checkpoint, on `conn` or a connection of its own: the WAL's size in bytes, or
        None when it failed."""
        with self._lock:  # one at a time (a slow disk must not stack them up)
            try:
                if conn is not None:
                    return self._passive(conn)
                own = sqlite3.connect(self.database, timeout=30, isolation_level=None)
                try:
                    return self._passive(own)
                finally:
                    own.close()
            except sqlite3.Error:
                # The WAL keeps the commits (nothing is lost); the next commit schedules another try.
                self.failures += 1
                logger.warning("checkpointing %s failed", self.database, exc_info=True)
                return None

    def _passive(self, conn: sqlite3.Connection) -> int:
        _busy, frames, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames < self._frames:
            self.restarts += 1
        self._frames = frames
        self.checkpoints += 1
        if not self._page_size:
            self._page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int(frames) * self._page_size

    async def close(self) -> None:
        """No more checkpoints; the one under way, if any, ends first (it may hold the writer)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._cycle is not None:
            await asyncio.gather(self._cycle, return_exceptions=True)
            self._cycle = None
