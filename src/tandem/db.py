"""Engine, async sessions, the declarative Base and the unit of work.

Services never commit: the request (or job) scope owns the transaction. After a
commit that recorded events, the unit of work wakes the outbox dispatcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from sqlalchemy import DateTime, MetaData, Table, event, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from tandem import accel
from tandem.accel import fast_session, sqlite_inline, wal_checkpoint
from tandem.kit.clock import aware

if TYPE_CHECKING:
    from tandem.realtime.direct_log import DirectLog

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    __table__: ClassVar[
        Table
    ]  # every model maps one table (typed so Core insert/update/delete accept it)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on both SQLite (which drops the zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return aware(value)


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# JSON columns (the outbox's rooms, data and control; the log's envelopes) in orjson: a few times faster
# than the standard library, and several columns are written for every event.
_JSON: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def make_engine(url: str, *, writer: bool = True) -> AsyncEngine:
    if url.startswith("sqlite"):
        # SQLite has one writer at a time. Queueing writers on one pooled connection (an asyncio wait)
        # beats several connections contending in SQLite's busy handler, which sleeps in steps of
        # milliseconds. Readers (WAL) keep a pool of their own.
        in_memory = ":memory:" in url  # one StaticPool connection already
        # Readers keep enough connections for a reconnect storm's concurrent subscribes: a
        # connection past pool_size is opened (with its pragmas) and closed again for each use.
        pool: dict[str, Any] = (
            {}
            if in_memory
            else {"pool_size": 1, "max_overflow": 0, "pool_timeout": 60}
            if writer
            else {"pool_size": 20, "max_overflow": 20}
        )
        database = make_url(url).database or ":memory:"
        checkpointer = None
        if accel.enabled(sqlite_inline.ACCELERATOR.name):
            # Statements run inline on the event loop, except those that may wait (accel/sqlite_inline.py).
            # The writer's connections leave checkpoints to a thread of their own (a COMMIT then never
            # waits for the disk, so it runs inline too).
            checkpointer = (
                wal_checkpoint.WalCheckpointer(database) if writer and not in_memory else None
            )
            engine = create_async_engine(
                make_url(url).set(drivername="sqlite+tandem_inline"),
                tandem_writer=writer,
                async_creator=lambda: sqlite_inline.connect(
                    database, timeout=30, checkpointer=checkpointer
                ),
                **pool,
                **_JSON,
            )
            if checkpointer is not None:
                checkpointer.writer = engine
            engine.sync_engine.dialect.tandem_checkpointer = checkpointer  # type: ignore[attr-defined]  # dispose() stops it
        else:
            engine = create_async_engine(
                make_url(url).set(drivername="sqlite+aiosqlite"),
                connect_args={"timeout": 30},
                **pool,
                **_JSON,
            )

            @event.listens_for(engine.sync_engine, "begin")
            def _sqlite_begin(conn: Any) -> None:
                # Writers take the lock at BEGIN so they queue instead of failing mid-transaction;
                # readers (WAL) never wait for a writer.
                conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            dbapi_conn.isolation_level = (
                None  # BEGIN comes from the inline dialect or the "begin" hook
            )
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            if checkpointer is not None:
                cur.execute("PRAGMA wal_autocheckpoint=0")
                # when the WAL starts over, its file is cut back to this
                cur.execute(f"PRAGMA journal_size_limit={checkpointer.restart_bytes:d}")
            cur.close()

        return engine
    # `?search_path=name` selects a PostgreSQL schema (one database can host several Tandems, or tests).
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    if "search_path" in parsed.query:
        connect_args["server_settings"] = {"search_path": parsed.query["search_path"]}
        parsed = parsed.difference_update_query(["search_path"])
    return create_async_engine(
        parsed,
        pool_size=20,
        max_overflow=20,
        pool_pre_ping=True,
        connect_args=connect_args,
        **_JSON,
    )


class Database:
    """Owns the engine and hands out units of work."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = make_engine(url)
        # The fast session runs repeated Core statements on the cursor; the stock one when it is off.
        session_class = fast_session.session_class()
        self.sessions = async_sessionmaker(
            self.engine, class_=session_class, expire_on_commit=False, autoflush=True
        )
        self.read_engine = make_engine(url, writer=False) if self.is_sqlite else self.engine
        self.read_sessions = async_sessionmaker(
            self.read_engine, class_=session_class, expire_on_commit=False
        )
        self._after_commit: list[Callable[[AsyncSession], None]] = []
        # When its transactions write the event log themselves (realtime.direct_log.attach).
        self.direct_log: DirectLog | None = None
        self._read_pool = self.read_engine.sync_engine.pool
        self._inline_reads = self.is_sqlite and sqlite_inline.inline_reads(self.read_engine)

    def on_commit(self, hook: Callable[[AsyncSession], None]) -> None:
        """Run hook(session) after each unit of work commits (e.g. wake the dispatcher)."""
        self._after_commit.append(hook)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        session = self.sessions()
        try:
            yield session
            if session.in_transaction() or session.new or session.dirty or session.deleted:
                await (
                    session.commit()
                )  # a unit of work that read and wrote nothing has nothing to commit
        except BaseException:
            try:
                await session.rollback()
            finally:
                await asyncio.shield(session.close())  # as AsyncSession's own `async with` does
            raise
        if session.in_transaction():
            await asyncio.shield(session.close())
        else:
            # Committed: the connection is back in the pool and closing only forgets the session's
            # objects (no I/O), so it needs no greenlet, task or shield.
            session.sync_session.close()
        for hook in self._after_commit:
            hook(session)

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A read-only session (`async with db.read() as session`): never commits, and on SQLite
        never blocks writers."""
        if self._inline_reads:
            return sqlite_inline.ReadSession(self.read_sessions, self._read_pool)
        return self.read_sessions()

    async def dispose(self) -> None:
        checkpointer = getattr(self.engine.sync_engine.dialect, "tandem_checkpointer", None)
        if checkpointer is not None:
            await checkpointer.close()  # closing the last connection checkpoints anyway
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
