"""SQLite for SQLAlchemy's asyncio engine, without thread hops or greenlet switches per call.

SQLAlchemy's aiosqlite dialect runs every DBAPI call — cursor(), execute(), fetchall(),
close() — as a coroutine on aiosqlite's worker thread, and reaches each one from its greenlet
by switching out to the event loop and back: for a statement that SQLite runs in a few
microseconds, about 100 µs of CPU (the product path's profile in bench/README.md). Yet
SQLite only ever waits for two things:

- another process's write lock, at BEGIN IMMEDIATE (Tandem's writers take the lock at
  BEGIN; readers in WAL mode never wait for writers);
- the disk, when a checkpoint copies the WAL back into the database file. With
  `synchronous=NORMAL` in WAL mode a COMMIT appends to the WAL and does not sync; only a
  checkpoint syncs.

So this adaptation runs statements, COMMIT and ROLLBACK synchronously, inline, in the
greenlet SQLAlchemy already runs in (no await, no switch), and keeps the two waits off the
event loop:

- BEGIN IMMEDIATE is tried inline with SQLite's busy timeout at zero; only when another
  process holds the lock does it go to aiosqlite's thread and wait there (the loop runs on);
- the writer's connections do not checkpoint on commit (`wal_autocheckpoint=0`, set in
  db.py); a `WalCheckpointer` (accel/wal_checkpoint.py) checkpoints the WAL on a thread of its
  own, at a low priority, a moment after commits (PASSIVE: it never blocks readers, and the
  writer only for a few milliseconds when the WAL must start over).

Connecting, closing and anything else that may wait (VACUUM, an explicit checkpoint) still go
through aiosqlite's thread. Calls on one connection never overlap (SQLAlchemy awaits each
one), which is what sqlite3's same-thread check guards against. It subclasses SQLAlchemy's
aiosqlite adaptation and reads aiosqlite's private connection, so it is an accelerator: when it
is off, db.py uses the stock `sqlite+aiosqlite` dialect.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
from functools import partial
from typing import TYPE_CHECKING, Any

import aiosqlite
from sqlalchemy import exc
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

from tandem import accel

if TYPE_CHECKING:
    from tandem.accel.wal_checkpoint import WalCheckpointer

ACCELERATOR = accel.register(
    accel.Accelerator(
        name="sqlite_inline",
        summary="SQLite statements, BEGIN and COMMIT inline on the event loop, checkpoints on a thread",
        requires={"sqlalchemy": "2.1.9", "aiosqlite": "0.22.1"},
    )
)

# Statements that may wait: for another process's write lock, or for the disk.
_MAY_WAIT = ("BEGIN", "COMMIT", "END", "VACUUM", "PRAGMA WAL_CHECKPOINT")
_TAKES_WRITE_LOCK = ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")


def _may_wait(fn: Any, args: tuple) -> bool:
    name = getattr(fn, "__name__", "")
    if name in ("commit", "close", "backup") and isinstance(
        getattr(fn, "__self__", None), sqlite3.Connection
    ):
        return True
    if name == "executescript":
        return True
    if name in ("execute", "executemany") and args and isinstance(args[0], str):
        return args[0].lstrip()[:32].upper().startswith(_MAY_WAIT)
    return False


async def _nothing() -> None:
    return None


def _head(operation: str) -> str:
    return operation.lstrip()[:32].upper()


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's connection (its thread opens, closes and waits), with calls that cannot wait
    made inline. `busy_timeout_ms` is the wait for another process's lock; `checkpointer`,
    when set, is told of every commit."""

    busy_timeout_ms: int = 30_000
    checkpointer: WalCheckpointer | None = None

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if _may_wait(fn, args):
            return await super()._execute(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    async def in_thread(self, fn: Any, *args: Any) -> Any:
        """Run fn on aiosqlite's thread (a call that may wait)."""
        return await super()._execute(fn, *args)


class InlineCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's cursor adaptation on a plain sqlite3 cursor, called synchronously."""

    __slots__ = ()

    def __init__(self, adapt_connection: InlineAdaptedConnection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = self._connection._conn.cursor()
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    async def _async_soft_close(self) -> None:
        if not self._soft_closed_memoized:
            self._soft_closed_memoized = self._soft_closed_memoized.union(
                {"description": self._cursor.description}
            )
            self._cursor.close()

    def close(self) -> None:
        self._rows.clear()
        if not self._soft_closed_memoized:
            self._cursor.close()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        cursor = self._cursor
        try:
            head = _head(operation)
            if head.startswith(_TAKES_WRITE_LOCK):
                self._adapt_connection.take_write_lock(cursor, operation)
            elif head.startswith(_MAY_WAIT):
                await_(self._connection.in_thread(self._run, operation, parameters))
            else:
                self._run(operation, parameters)
                # SQLAlchemy's AsyncConnection.execute insists that an async driver awaited something
                # (AwaitRequired otherwise); a finished coroutine costs about a microsecond.
                await_(_nothing())
        except Exception as error:  # re-raised, as SQLAlchemy's adapter does
            self._adapt_connection._handle_exception(error)

    def _run(self, operation: str, parameters: Any) -> None:
        cursor = self._cursor
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        if cursor.description:
            self._rows = collections.deque(cursor.fetchall())

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            result = self._cursor.executemany(operation, seq_of_parameters)
            await_(
                _nothing()
            )  # as execute(): AsyncConnection.execute of several rows insists on an await
            return result
        except Exception as error:  # re-raised, as SQLAlchemy's adapter does
            self._adapt_connection._handle_exception(error)


class InlineAdaptedConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = InlineCursor
    _connection: InlineConnection

    def begin(self, *, write: bool) -> None:
        """Open a transaction: a writer takes the write lock now (BEGIN IMMEDIATE), so writers queue
        at BEGIN instead of failing mid-transaction; a reader (WAL) never waits for a writer."""
        cursor = self._connection._conn.cursor()
        try:
            if write:
                self.take_write_lock(cursor, "BEGIN IMMEDIATE")
            else:
                cursor.execute("BEGIN")
        except Exception as error:  # re-raised, as SQLAlchemy's adapter does
            self._handle_exception(error)
        finally:
            cursor.close()

    def take_write_lock(self, cursor: sqlite3.Cursor, operation: str) -> None:
        """BEGIN IMMEDIATE inline when the lock is free; on aiosqlite's thread, waiting up to the
        connection's busy timeout, when another process holds it."""
        timeout = self._connection.busy_timeout_ms
        cursor.execute("PRAGMA busy_timeout = 0")
        try:
            cursor.execute(operation)
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {timeout:d}")
        await_(self._connection.in_thread(cursor.execute, operation))

    def commit(self) -> None:
        if self._end("commit") and self._connection.checkpointer is not None:
            self._connection.checkpointer.committed()

    def rollback(self) -> None:
        self._end("rollback")

    def _end(self, how: str) -> bool:
        """COMMIT or ROLLBACK inline; False when the connection is already closed."""
        conn = self._connection
        if not conn._connection:
            return False
        try:
            getattr(conn._conn, how)()
        except Exception as error:  # re-raised, as SQLAlchemy's adapter does
            self._handle_exception(error)
        return True


class InlineDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module of InlineSQLiteDialect: aiosqlite's, with connections adapted inline."""

    def connect(self, *arg: Any, **kw: Any) -> InlineAdaptedConnection:
        creator_fn = kw.pop("async_creator_fn", None)
        connection = creator_fn(*arg, **kw) if creator_fn else connect(*arg, **kw)
        return InlineAdaptedConnection(self, await_(connection))


class InlineSQLiteDialect(SQLiteDialect_aiosqlite):
    """SQLAlchemy's aiosqlite dialect on the inline adaptation; it opens each transaction itself
    (a writer engine with BEGIN IMMEDIATE) instead of through a "begin" event and a statement
    execution of SQLAlchemy's. URL: sqlite+tandem_inline:///path (db.py picks it for sqlite)."""

    driver = "tandem_inline"
    supports_statement_cache = True

    def __init__(self, tandem_writer: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tandem_writer = tandem_writer

    @classmethod
    def import_dbapi(cls) -> InlineDBAPI:
        return InlineDBAPI(aiosqlite, sqlite3)

    def do_begin(self, dbapi_connection: Any) -> None:
        dbapi_connection.begin(write=self.tandem_writer)


registry.register("sqlite.tandem_inline", __name__, "InlineSQLiteDialect")


def connect(
    database: str,
    *,
    timeout: float = 30,
    checkpointer: WalCheckpointer | None = None,
    **kwargs: Any,
) -> InlineConnection:
    """Like aiosqlite.connect: an awaitable connection (SQLAlchemy's `async_creator`)."""
    # The sqlite3 connection is made on aiosqlite's thread and also used from the event loop's; calls
    # never overlap, which is what sqlite3's same-thread check guards against.
    kwargs["check_same_thread"] = False
    conn = InlineConnection(partial(sqlite3.connect, database, timeout=timeout, **kwargs), 64)
    conn.busy_timeout_ms = int(timeout * 1000)
    conn.checkpointer = checkpointer
    conn._thread.daemon = True  # as SQLAlchemy's own aiosqlite dialect does
    return conn


class ReadSession:
    """`async with ReadSession(sessions, pool) as session`: a read session whose BEGIN and close run
    inline, without a greenlet switch or a task, when they cannot wait.

    An `AsyncSession` begins in a greenlet (`greenlet_spawn(Session.connection)`) and closes in a task
    shielded from cancellation; for a reader of this dialect both only take a pooled connection, run
    BEGIN or ROLLBACK inline and put it back, about 65 of the 105 µs a one-statement read session
    costs. So: BEGIN inline when the pool holds an idle connection (a pooled connection that must
    reconnect raises `MissingGreenlet` before anything is taken, and the first statement then begins
    in a greenlet as usual); close inline when the pool has room to keep the connection (past it the
    pool closes the connection, which waits on aiosqlite's thread: the stock shielded close). Code
    that runs in between cannot suspend, so no cancellation lands in the middle of either.
    """

    __slots__ = ("_pool", "_sessions", "session")

    def __init__(self, sessions: Any, pool: Any) -> None:
        self._sessions = sessions
        self._pool = pool
        self.session: Any = None

    async def __aenter__(self) -> Any:
        session = self.session = self._sessions()
        if self._pool.checkedin():
            try:
                session.sync_session.connection()
            except exc.MissingGreenlet:
                pass
        return session

    async def __aexit__(self, *exc_info: Any) -> None:
        session, self.session = self.session, None
        pool = self._pool
        if pool.checkedin() < pool.size():
            session.sync_session.close()
        else:
            await asyncio.shield(asyncio.ensure_future(session.close()))


def inline_reads(engine: Any) -> bool:
    """Whether `engine` is a reader of this dialect with a queue pool (what `ReadSession` needs)."""
    sync = engine.sync_engine
    return (
        isinstance(sync.dialect, InlineSQLiteDialect)
        and not sync.dialect.tandem_writer
        and hasattr(sync.pool, "checkedin")
        and hasattr(sync.pool, "size")
    )
