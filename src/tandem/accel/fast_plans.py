"""What `accel/fast_session.py` knows of each statement object it has seen: whether it may run on
the DBAPI cursor (a `select()` of columns, or an `insert` / `update` / `delete` on a table, with no
execution options), the keys of its stock result, and its compilation for each dialect and set of
parameter names. A statement is planned at its second execution, so one built per call never
costs a plan; the plans are held weakly, and go with their statements.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import BindTyping
from sqlalchemy.engine.result import SimpleResultMetaData
from sqlalchemy.sql.dml import Delete, Insert, Update
from sqlalchemy.sql.selectable import Select
from sqlalchemy.types import TypeEngine

from tandem.accel import dbapi_statements
from tandem.accel.dbapi_statements import CursorCompiled

KINDS = (Select, Insert, Update, Delete)
DML = (Insert, Update, Delete)
UNSET: Any = object()


class Plan:
    """What is known of one statement object: seen once, eligible, its result keys, its compilations."""

    __slots__ = (
        "__weakref__",
        "by_params",
        "eligible",
        "keys",
        "metadata",
        "orm_dml",
        "runs",
        "width",
    )

    def __init__(self) -> None:
        self.eligible: bool | None = None  # decided at the second execution
        self.keys: tuple[str, ...] | None = None  # the stock result's keys, from a stock execution
        self.metadata: Any = None  # SimpleResultMetaData(keys), for the rows
        self.width = 0  # result columns
        self.runs = 0  # fast executions, for tests
        self.orm_dml = (
            False  # an ORM-enabled INSERT/UPDATE/DELETE: fast only while no object is loaded
        )
        # (dialect, the parameter names for INSERT/UPDATE, whose SQL depends on them) -> compiled or None
        self.by_params: dict[Any, Cursor | None] = {}


class Cursor:
    __slots__ = ("compiled", "lastrowid", "primary_key", "processors", "scalar_processor")

    def __init__(self, compiled: CursorCompiled, primary_key: Sequence[Any] = ()) -> None:
        self.compiled = compiled
        # An INSERT whose primary key the database generates: SQLAlchemy adds RETURNING of it (PostgreSQL)
        # or reads the cursor's lastrowid (SQLite). The metadata of `inserted_primary_key`, whose row is
        # no row of the result.
        implicit = getattr(compiled.compiled, "implicit_returning", None)
        self.lastrowid = bool(compiled.compiled.postfetch_lastrowid) and not implicit
        columns = implicit or (primary_key if self.lastrowid else ())
        self.primary_key = (
            SimpleResultMetaData([column.key for column in columns]) if columns else None
        )
        self.processors: Any = (
            UNSET  # decided from the first run's cursor description, as SQLAlchemy does
        )
        self.scalar_processor: Any = None


plans: weakref.WeakKeyDictionary[Any, Plan] = weakref.WeakKeyDictionary()


def fast_runs(statement: Any) -> int:
    """How many times the statement took the fast path (for tests)."""
    plan = plans.get(statement)
    return plan.runs if plan is not None else 0


def eligible(statement: Any, plan: Plan) -> bool:
    if (
        statement._execution_options
        or getattr(statement, "_with_options", ())
        or getattr(statement, "_with_context_options", ())
    ):
        return False
    orm = statement._propagate_attrs.get("compile_state_plugin") == "orm"
    if isinstance(statement, Select):
        if orm and not all(
            isinstance(d["type"], TypeEngine) for d in statement.column_descriptions
        ):
            return False  # entities load objects into the identity map: the ORM's job
        plan.width = len(statement.selected_columns)
        return True
    # DML that names ORM attributes (`Model.__table__.update().where(Model.id == ...)`) is ORM-enabled: the
    # stock session then brings the objects it matched in the identity map up to date, which is nothing
    # to do while the identity map is empty.
    plan.orm_dml = orm
    plan.width = len(statement.exported_columns)
    return True


def compile_cursor(
    statement: Any, dialect: Dialect, column_keys: list[str] | None, width: int
) -> Cursor | None:
    if dialect.bind_typing is BindTyping.SETINPUTSIZES:
        return None
    try:
        compiled = dbapi_statements.compile_for_cursor(
            statement, dialect, column_keys, implicit_returning=True, expanding=True
        )
    except TypeError:
        return None
    if getattr(compiled.compiled, "implicit_returning", None):
        if width or not isinstance(statement, Insert):
            return None
    elif len(compiled.compiled._result_columns) != width:
        return None  # columns the ORM adds or drops: its own result handling
    primary_key = tuple(statement.table.primary_key) if isinstance(statement, Insert) else ()
    if compiled.compiled.postfetch_lastrowid and len(primary_key) != 1:
        return None  # a composite key, part given and part generated: SQLAlchemy's to assemble
    return Cursor(compiled, primary_key)
