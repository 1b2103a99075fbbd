"""aiosqlite, minus most of its thread hops.

aiosqlite runs every call — cursor(), execute(), fetchall(), close() — on a worker
thread and wakes the event loop for each result: four thread hops per statement,
which the product-path profile (issue 4) showed costing more CPU than the SQL.
SQLite executes a statement of Tandem's in microseconds and never waits, except
for a lock held by another process (BEGIN IMMEDIATE) and for the disk (COMMIT,
when a checkpoint writes the WAL back). So this connection runs calls inline on
the event loop and sends only those two kinds to aiosqlite's thread. Calls on a
connection never overlap (SQLAlchemy awaits each one), so order is kept.
"""

from __future__ import annotations

import sqlite3
from functools import partial
from typing import Any

import aiosqlite

# Statements that may wait: for another process's write lock, or for the disk.
_MAY_WAIT = ("BEGIN", "COMMIT", "END", "VACUUM", "PRAGMA WAL_CHECKPOINT")


def _may_wait(fn: Any, args: tuple) -> bool:
    name = getattr(fn, "__name__", "")
    if name in ("commit", "close", "backup") and isinstance(getattr(fn, "__self__", None), sqlite3.Connection):
        return True
    if name == "executescript":
        return True
    if name in ("execute", "executemany") and args and isinstance(args[0], str):
        return args[0].lstrip()[:32].upper().startswith(_MAY_WAIT)
    return False


class InlineConnection(aiosqlite.Connection):
    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if _may_wait(fn, args):
            return await super()._execute(fn, *args, **kwargs)
        return fn(*args, **kwargs)


def connect(database: str, **kwargs: Any) -> InlineConnection:
    """Like aiosqlite.connect: an awaitable connection (SQLAlchemy's `async_creator`)."""
    # The sqlite3 connection is made on aiosqlite's thread and also used from the event loop's; calls
    # never overlap, which is what sqlite3's same-thread check guards against.
    kwargs["check_same_thread"] = False
    conn = InlineConnection(partial(sqlite3.connect, database, **kwargs), 64)
    conn._thread.daemon = True  # as SQLAlchemy's own aiosqlite dialect does
    return conn
