"""An `AsyncSession` whose `execute` / `scalar` / `scalars` run repeated Core statements on the DBAPI cursor.

Repository code executes module-level statements (`await session.execute(_MEMBER, params)`) through
the stock session: its ORM execution state, the connection's cache key, execution context and
cursor result cost several times what the few-µs statement costs the database. `FastSession`
notices a statement object executed a second time and, when it is eligible — a `select()` of
columns (Core, or ORM attributes, never entities), an `insert` / `update` / `delete` on a table,
no execution options, binds `accel/dbapi_statements.py` can send — and the session is already in
its transaction on one connection with no events to run and nothing pending to flush, runs it on
that connection's cursor with SQLAlchemy's own compilation, bind and result processors, returning
`FastResult` (real `Row` objects). With the inline SQLite driver the statement runs without a
greenlet switch; otherwise in SQLAlchemy's greenlet. Anything else, a statement's first execution
included, takes the stock path, so a statement built per call never pays for a plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.engine.result import SimpleResultMetaData
from sqlalchemy.engine.row import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import greenlet_spawn

from tandem import accel
from tandem.accel import dbapi_statements, sqlite_inline
from tandem.accel.fast_plans import (
    DML,
    KINDS,
    UNSET,
    Cursor,
    Plan,
    compile_cursor,
    eligible,
    fast_runs,
    plans,
)
from tandem.accel.fast_results import NOT_ROWS, FastResult, FastScalars

ACCELERATOR = dbapi_statements.ACCELERATOR
__all__ = ["FastSession", "fast_runs", "session_class"]
_BEGIN: Any = object()

Ran = tuple[Any, "list[Any] | None", int, Any]  # description, rows, rowcount, lastrowid


def _run_on_cursor(cursor: Any, sql: str, values: Sequence[Any], lastrowid: bool) -> Ran:
    cursor.execute(sql, values)
    description = cursor.description
    rows = cursor.fetchall() if description else None
    return description, rows, cursor.rowcount, cursor.lastrowid if lastrowid else None


def _in_greenlet(conn: Connection, sql: str, values: Sequence[Any], lastrowid: bool) -> Ran:
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        done = _run_on_cursor(cursor, sql, values, lastrowid)
    except BaseException as error:  # wrapped and raised as Connection.execute does
        # Closes the cursor; invalidates the connection if it is gone, or if the statement was
        # cancelled (perhaps mid-BEGIN, leaving asyncpg a transaction SQLAlchemy never saw).
        conn._handle_dbapi_exception(error, sql, values, cursor, None)
    cursor.close()
    return done


class FastSession(AsyncSession):
    """`AsyncSession` with the fast path for repeated eligible statements (see the module's note)."""

    def _plan_for(
        self, statement: Any, params: Any, scalar: bool
    ) -> tuple[Plan, Connection, Cursor, tuple[str, tuple[Any, ...]]] | None:
        """The connection, compilation and cursor parameters of a fast run, or None for the stock path.
        Reads the session's and connection's private state: no I/O, no greenlet."""
        if not isinstance(statement, KINDS):
            return None
        plan = plans.get(statement)
        if plan is None:
            plans[statement] = (
                Plan()
            )  # first execution: stock; a statement built per call stops here
            return None
        if not plan.eligible:
            if plan.eligible is False:
                return None
            plan.eligible = eligible(statement, plan)
            if not plan.eligible:
                return None
        if (not plan.width) if scalar else (plan.keys is None):
            return (
                None  # scalar() of a statement with no columns; execute() before the keys are known
            )
        sync = self.sync_session
        if (
            sync._new
            or sync._deleted
            or sync.identity_map._modified
            or sync.dispatch.do_orm_execute
            or sync.binds
        ):
            return None  # autoflush and ORM execution events: the stock path's work
        if plan.orm_dml and len(sync.identity_map):
            return None
        transaction, bind = sync._transaction, sync.bind
        if bind is None:
            return None
        if transaction is None:
            # The session's first statement: begin as the stock path would (`Session.connection()`, which
            # may wait for SQLite's write lock, in the greenlet), then run the statement fast.
            return _BEGIN if sync.autobegin else None
        entry = transaction._connections.get(bind)
        if entry is None or not transaction.is_active:
            return None
        conn: Connection = entry[0]
        if (
            conn._has_events
            or conn.engine._has_events
            or conn._execution_options
            or conn._dbapi_connection is None
        ):
            return None
        dialect: Dialect = conn.dialect
        keyed = isinstance(statement, (Insert, Update))
        key = (dialect, frozenset(params)) if keyed else dialect
        cursor = plan.by_params.get(key, UNSET)
        if cursor is UNSET:
            cursor = plan.by_params[key] = compile_cursor(
                statement, dialect, sorted(params) if keyed else None, plan.width
            )
        if cursor is None:
            return None
        bound = cursor.compiled.bind(params)
        if bound is None:
            return None  # a missing parameter (the stock path raises its own error) or an empty IN
        return plan, conn, cursor, bound

    async def _run(
        self, conn: Connection, cursor: Cursor, bound: tuple[str, tuple[Any, ...]]
    ) -> Ran:
        sql, values = bound
        adapted = conn._dbapi_connection.dbapi_connection  # type: ignore[union-attr]
        if (
            isinstance(adapted, sqlite_inline.InlineAdaptedConnection)
            and adapted._connection._connection is not None
        ):
            # SELECT / INSERT / UPDATE / DELETE never wait on SQLite (see accel/sqlite_inline.py): run inline.
            raw = adapted._connection._conn.cursor()
            try:
                return _run_on_cursor(raw, sql, values, cursor.lastrowid)
            except Exception as error:
                await greenlet_spawn(conn._handle_dbapi_exception, error, sql, values, None, None)
                raise  # unreachable: _handle_dbapi_exception raises
            finally:
                raw.close()
        return await greenlet_spawn(_in_greenlet, conn, sql, values, cursor.lastrowid)

    @staticmethod
    def _processors(cursor: Cursor, dialect: Dialect, description: Any) -> Any:
        processors = cursor.processors
        if processors is UNSET:
            columns = cursor.compiled.compiled._result_columns
            found = [
                column.type._cached_result_processor(dialect, described[1])
                for column, described in zip(columns, description, strict=True)
            ]
            processors = cursor.processors = found if any(found) else None
            cursor.scalar_processor = found[0] if found else None
        return processors

    async def _fast_plan(
        self,
        statement: Any,
        params: Any,
        execution_options: Any,
        bind_arguments: Any,
        kw: dict[str, Any],
        scalar: bool,
    ) -> Any:
        """The fast path's plan for a call, or None for the stock path (options the fast path does
        not take, several parameter sets, or a statement that is not eligible)."""
        if execution_options or bind_arguments is not None or kw:
            return None
        if params is not None and type(params) is not dict:
            return None
        fast = self._plan_for(statement, params or EMPTY_DICT, scalar)
        if fast is _BEGIN:
            await greenlet_spawn(self.sync_session.connection)
            fast = self._plan_for(statement, params or EMPTY_DICT, scalar)
        if fast is not None:
            fast[0].runs += 1
        return fast

    async def _many(self, statement: Any, rows: list[Any]) -> Any:
        """A repeated INSERT, UPDATE or DELETE of several parameter sets (the same keys in every
        one) on the inline SQLite driver, as one `executemany` on the cursor; None for the stock
        path (another driver keeps SQLAlchemy's batched statements, with its round trips in mind)."""
        first = rows[0]
        if type(first) is not dict or any(
            type(row) is not dict or row.keys() != first.keys() for row in rows
        ):
            return None
        fast = self._plan_for(statement, first, False)
        if fast is _BEGIN:
            await greenlet_spawn(self.sync_session.connection)
            fast = self._plan_for(statement, first, False)
        if fast is None:
            return None
        plan, conn, cursor, _ = fast
        compiled = cursor.compiled
        if (
            getattr(compiled.compiled, "implicit_returning", None)
            or compiled.compiled.returning
            or compiled.expanding
        ):
            return None
        adapted = conn._dbapi_connection.dbapi_connection  # type: ignore[union-attr]
        if (
            not isinstance(adapted, sqlite_inline.InlineAdaptedConnection)
            or adapted._connection._connection is None
        ):
            return None
        values: list[tuple[Any, ...]] = []
        for row in rows:
            one = compiled.values(row)
            if one is None:
                return None  # a missing parameter: the stock path raises its own error
            values.append(one)
        plan.runs += 1
        raw = adapted._connection._conn.cursor()
        try:
            raw.executemany(compiled.sql, values)
            return FastResult((), None, raw.rowcount)
        except Exception as error:
            await greenlet_spawn(
                conn._handle_dbapi_exception, error, compiled.sql, values, None, None
            )
            raise  # unreachable: _handle_dbapi_exception raises
        finally:
            raw.close()

    async def execute(
        self,
        statement: Any,
        params: Any = None,
        *,
        execution_options: Any = EMPTY_DICT,
        bind_arguments: Any = None,
        **kw: Any,
    ) -> Any:
        if (
            type(params) is list
            and params
            and isinstance(statement, DML)
            and not execution_options
            and bind_arguments is None
            and not kw
        ):
            many = await self._many(statement, params)
            if many is not None:
                return many
        fast = await self._fast_plan(
            statement, params, execution_options, bind_arguments, kw, False
        )
        if fast is not None:
            plan, conn, cursor, bound = fast
            description, rows, rowcount, lastrowid = await self._run(conn, cursor, bound)
            if cursor.primary_key is not None:
                key = cursor.primary_key
                if cursor.lastrowid:
                    return FastResult(
                        (), None, rowcount, Row(key, None, key._key_to_index, (lastrowid,))
                    )
                inserted: Row | None = Row(key, None, key._key_to_index, rows[0]) if rows else None
                return FastResult((), None, rowcount, inserted)
            if rows is None:
                return FastResult((), None, rowcount)
            keys = plan.keys or ()
            processors = self._processors(cursor, conn.dialect, description)
            metadata = plan.metadata
            key_to_index = metadata._key_to_index
            return FastResult(
                keys, [Row(metadata, processors, key_to_index, row) for row in rows], rowcount
            )
        result = await super().execute(
            statement,
            params,
            execution_options=execution_options,
            bind_arguments=bind_arguments,
            **kw,
        )
        plan = plans.get(statement) if isinstance(statement, KINDS) else None
        if plan is not None and plan.keys is None and plan.eligible is not False:
            try:
                plan.keys = tuple(result.keys())
            except exc.ResourceClosedError:  # a statement that returns no rows
                plan.keys = ()
            plan.metadata = SimpleResultMetaData(plan.keys)
        return result

    async def scalar(
        self,
        statement: Any,
        params: Any = None,
        *,
        execution_options: Any = EMPTY_DICT,
        bind_arguments: Any = None,
        **kw: Any,
    ) -> Any:
        fast = await self._fast_plan(statement, params, execution_options, bind_arguments, kw, True)
        if fast is not None:
            _, conn, cursor, bound = fast
            description, rows, _, _ = await self._run(conn, cursor, bound)
            if not rows:
                return None
            self._processors(cursor, conn.dialect, description)
            value = rows[0][0]
            return cursor.scalar_processor(value) if cursor.scalar_processor is not None else value
        return await super().scalar(
            statement,
            params,
            execution_options=execution_options,
            bind_arguments=bind_arguments,
            **kw,
        )

    async def scalars(
        self,
        statement: Any,
        params: Any = None,
        *,
        execution_options: Any = EMPTY_DICT,
        bind_arguments: Any = None,
        **kw: Any,
    ) -> Any:
        fast = await self._fast_plan(statement, params, execution_options, bind_arguments, kw, True)
        if fast is not None:
            _, conn, cursor, bound = fast
            description, rows, _, _ = await self._run(conn, cursor, bound)
            if rows is None:
                raise exc.ResourceClosedError(NOT_ROWS)
            self._processors(cursor, conn.dialect, description)
            processor = cursor.scalar_processor
            return FastScalars(
                [processor(row[0]) for row in rows] if processor else [row[0] for row in rows]
            )
        return await super().scalars(
            statement,
            params,
            execution_options=execution_options,
            bind_arguments=bind_arguments,
            **kw,
        )


def session_class() -> type[AsyncSession]:
    """FastSession when the accelerator is on, else the stock AsyncSession."""
    return FastSession if accel.enabled(ACCELERATOR.name) else AsyncSession
