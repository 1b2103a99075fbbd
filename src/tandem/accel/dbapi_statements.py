"""A Core statement compiled once per dialect and run straight on the connection's DBAPI cursor.

`Connection.execute` costs about four times what a statement costs the database for the
few-µs reads and writes every request makes (80 µs against 20 µs for the signed-in caller's
row, measured here): its cache key, execution context, events and result object. A
`CursorStatement` compiles a statement with SQLAlchemy once per dialect and hands the SQL and
its parameters, in the dialect's order and through the types' bind processors, to the cursor
of the connection SQLAlchemy already holds, in its transaction. `compile_for_cursor` refuses
(TypeError) what it cannot run faithfully: non-positional paramstyles, literal-execute binds,
binds computed at execution, Python-side column defaults, implicit RETURNING, and expanding binds
(`IN` lists) unless asked to take them, when SQLAlchemy renders the SQL once per run of list
lengths. It reads SQLAlchemy's compiled form (`positiontup`, `binds`, the prefetch lists),
so it is an accelerator, pinned to the versions below; when it is off, `CursorStatement` runs
through `Connection.execute`. `accel/fast_session.py` builds on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import Executable, sqltypes
from sqlalchemy.sql.elements import BindParameter

from tandem import accel

ACCELERATOR = accel.register(
    accel.Accelerator(
        name="dbapi_statements",
        summary="hot Core statements run on the DBAPI cursor, compiled once per dialect",
        requires={"sqlalchemy": "2.1.9", "aiosqlite": "0.22.1", "asyncpg": "0.32.0"},
    )
)

GIVEN = object()  # a bind parameter the caller must pass: it has no value of its own

Slot = tuple[
    str, Any, Callable[[Any], Any] | None
]  # (name, its processed value or GIVEN, bind processor)


class CursorCompiled:
    __slots__ = ("_by_name", "_expanded", "compiled", "expanding", "slots", "sql")

    def __init__(
        self,
        sql: str,
        slots: tuple[Slot, ...],
        compiled: Any,
        expanding: tuple[str, ...] = (),
    ) -> None:
        self.sql = sql
        self.slots = slots
        self.compiled = compiled  # SQLAlchemy's own, for its result columns
        # the names of the expanding binds, in order; for each run of their list lengths, the SQL
        # SQLAlchemy renders and where each of its parameters comes from, found once
        self.expanding = expanding
        self._by_name: dict[str, Slot] = dict(zip(compiled.positiontup, slots, strict=True))
        self._expanded: dict[tuple[int, ...], tuple[str, tuple[tuple[str, int], ...]]] = {}

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The cursor's parameters in order, or None when a required one is missing."""
        values = []
        for key, default, processor in self.slots:
            if key in params:
                value = params[key]
                values.append(processor(value) if processor is not None else value)
            elif default is GIVEN:
                return None
            else:
                values.append(default)
        return tuple(values)

    def bind(self, params: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]] | None:
        """The SQL and the cursor's parameters for params, or None when a required one is missing
        or an expanding one is not a list."""
        if not self.expanding:
            plain = self.values(params)
            return None if plain is None else (self.sql, plain)
        by_name = self._by_name
        shape: list[int] = []
        for name in self.expanding:
            items = params.get(by_name[name][0])
            if not isinstance(items, (list, tuple)):
                return None
            shape.append(len(items))
        sql, recipe = self._expanded.get(tuple(shape)) or self._render(tuple(shape))
        values: list[Any] = []
        for name, index in recipe:
            key, default, processor = by_name[name]
            if index >= 0:
                value = params[key][index]
            elif key in params:
                value = params[key]
            elif default is GIVEN:
                return None
            else:
                values.append(default)
                continue
            values.append(processor(value) if processor is not None else value)
        return sql, tuple(values)

    def _render(self, shape: tuple[int, ...]) -> tuple[str, tuple[tuple[str, int], ...]]:
        """SQLAlchemy's own rendering of the statement for lists of these lengths (the empty `IN`
        included), and for each parameter it then takes, its bind's name and the list item (-1:
        not an item)."""
        dummy: dict[str, Any] = {key: None for key, _, _ in self.slots}
        for name, n in zip(self.expanding, shape, strict=True):
            dummy[self._by_name[name][0]] = [None] * n
        state = self.compiled.construct_expanded_state(dummy, escape_names=False)
        items = {
            item: (name, i)
            for name, expanded in state.parameter_expansion.items()
            for i, item in enumerate(expanded)
        }
        recipe = tuple(items.get(name, (name, -1)) for name in state.positiontup)
        done = (state.statement, recipe)
        if len(self._expanded) < 256:  # the usual batch sizes, not every one there could be
            self._expanded[shape] = done
        return done


def compile_for_cursor(
    statement: Executable,
    dialect: Dialect,
    column_keys: Sequence[str] | None = None,
    *,
    implicit_returning: bool = False,
    expanding: bool = False,
) -> CursorCompiled:
    """SQLAlchemy's compilation of statement for dialect, as the cursor will run it. `implicit_returning`
    accepts the RETURNING of generated primary keys that SQLAlchemy adds to an INSERT on PostgreSQL;
    `expanding`, expanding binds of plain types (`IN` lists), which `CursorCompiled.bind` has
    SQLAlchemy render once for each run of list lengths."""
    compiled = statement.compile(dialect=dialect, column_keys=column_keys)  # type: ignore[attr-defined]
    if compiled.positiontup is None:
        raise TypeError(
            f"a cursor statement needs a positional paramstyle; {dialect.name} has {dialect.paramstyle}"
        )
    if (
        compiled.insert_prefetch or compiled.update_prefetch
    ):  # Python-side defaults: SQLAlchemy's job
        raise TypeError(
            "a cursor statement cannot run a statement whose columns take Python-side defaults"
        )
    if (
        getattr(compiled, "implicit_returning", None) and not implicit_returning
    ) or compiled.escaped_bind_names:
        raise TypeError("a cursor statement cannot run implicit RETURNING or escaped bind names")
    slots: list[Slot] = []
    expanded: list[str] = []
    for name in compiled.positiontup:
        bind: BindParameter = compiled.binds[name]
        if (
            expanding
            and bind.expanding
            and not bind.literal_execute
            and not bind.type._is_tuple_type
            and bind.callable is None
        ):
            if name not in expanded:
                expanded.append(name)
            # the caller passes the list; `CursorCompiled.bind` takes its items by the recipe
            slots.append((bind.key, GIVEN, bind.type._cached_bind_processor(dialect)))
            continue
        if bind.expanding or bind.literal_execute:
            raise TypeError(f"a cursor statement cannot run {name!r}: it is rendered at execution")
        if bind.callable is not None:
            raise TypeError(
                f"a cursor statement cannot run {name!r}: its value is computed at execution"
            )
        processor = _remembering(bind.type, bind.type._cached_bind_processor(dialect))
        # A bind with a value (a literal of the statement) sends it unless the caller passes its own.
        default = GIVEN if bind.required else (processor(bind.value) if processor else bind.value)
        slots.append((bind.key, default, processor))
    return CursorCompiled(compiled.string, tuple(slots), compiled, tuple(expanded))


def _remembering(type_: Any, processor: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """A timestamp's bind processor (SQLite's formats a string) that answers again what it
    answered last when given the same object: a batch's rows mostly share one `now`."""
    if processor is None or type_._type_affinity is not sqltypes.DateTime:
        return processor
    last: list[Any] = [None, None]  # the datetime (immutable) last given, and its answer

    def process(value: Any) -> Any:
        if value is last[0] and value is not None:
            return last[1]
        answer = processor(value)
        last[0], last[1] = value, answer
        return answer

    return process


class CursorStatement:
    """A Core statement, compiled once per dialect, run on the DBAPI cursor (see the module's note).
    Rows come back as the driver returns them, with no result processing: for statements whose
    result columns need none (text, numbers, booleans). Call it from SQLAlchemy's greenlet (inside
    `Session.run_sync`), as any synchronous statement."""

    __slots__ = ("_by_dialect", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._by_dialect: dict[Dialect, CursorCompiled] = {}

    def _compiled(self, dialect: Dialect) -> CursorCompiled:
        done = self._by_dialect.get(dialect)
        if done is None:
            done = self._by_dialect[dialect] = compile_for_cursor(self.statement, dialect)
        return done

    def _values(
        self, conn: Connection, params: Mapping[str, Any]
    ) -> tuple[CursorCompiled, tuple[Any, ...]]:
        compiled = self._compiled(conn.dialect)  # refuses what the cursor cannot run, on both paths
        values = compiled.values(params)
        if values is None:
            raise KeyError(
                next(
                    key
                    for key, default, _ in compiled.slots
                    if default is GIVEN and key not in params
                )
            )
        return compiled, values

    def _cursor(self, conn: Connection, compiled: CursorCompiled, values: tuple[Any, ...]) -> Any:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.sql, values)
        except Exception:
            cursor.close()
            raise
        except BaseException as exit_:
            # Cancelled (or interrupted) mid-statement, perhaps mid-BEGIN: asyncpg may hold a
            # transaction SQLAlchemy never saw, which a return to the pool would keep open. As
            # Connection.execute does, invalidate the connection; this closes the cursor and re-raises.
            conn._handle_dbapi_exception(exit_, compiled.sql, values, cursor, None)
            raise
        return cursor

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> Sequence[Any]:
        """Every row, as the driver returns it (index it: row[0])."""
        compiled, values = self._values(conn, params)
        if not accel.enabled(ACCELERATOR.name):
            result = conn.execute(self.statement, dict(params))
            return result.all() if result.returns_rows else ()
        cursor = self._cursor(conn, compiled, values)
        try:
            return cursor.fetchall() if cursor.description else ()
        finally:
            cursor.close()

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """The first row, or None."""
        rows = self.rows(conn, params)
        return rows[0] if rows else None

    def run(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """A statement that returns no rows (UPDATE, DELETE, INSERT); returns the rows it matched."""
        compiled, values = self._values(conn, params)
        if not accel.enabled(ACCELERATOR.name):
            return conn.execute(self.statement, dict(params)).rowcount
        cursor = self._cursor(conn, compiled, values)
        try:
            return cursor.rowcount
        finally:
            cursor.close()
