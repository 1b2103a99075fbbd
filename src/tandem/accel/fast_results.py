"""The results `accel/fast_session.py` returns for a statement run on the DBAPI cursor: the part of
SQLAlchemy's `Result` and `ScalarResult` that repository code uses, with real `Row` objects; any
other method is answered by a stock result built from the same rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.engine.row import Row

NOT_ROWS = "This result object does not return rows. It has been closed automatically."
CLOSED = "This result object is closed."


class FastResult:
    """The buffered result of a fast statement: what repository code calls on a `Result`. Anything else
    (mappings(), partitions(), ...) is answered by a stock `Result` over the remaining rows."""

    __slots__ = ("_inserted", "_keys", "_rows", "rowcount")

    def __init__(
        self,
        keys: tuple[str, ...],
        rows: list[Row] | None,
        rowcount: int,
        inserted: Row | None = None,
    ) -> None:
        self._keys = keys
        self._rows = rows  # None: a statement that returns no rows; [] once consumed
        self.rowcount = rowcount
        self._inserted = inserted

    @property
    def inserted_primary_key(self) -> Row:
        if self._inserted is None:
            raise exc.InvalidRequestError(
                "inserted_primary_key of a fast statement: only an INSERT that "
                "returned its generated key has one here"
            )
        return self._inserted

    @property
    def returns_rows(self) -> bool:
        return self._rows is not None or bool(self._keys)

    def _take(self) -> list[Row]:
        rows = self._rows
        if rows is None:
            raise exc.ResourceClosedError(NOT_ROWS if not self._keys else CLOSED)
        self._rows = None  # consumed: the stock result is closed after all(), first(), one() ...
        return rows

    def keys(self) -> list[str]:
        return list(self._keys)

    def all(self) -> list[Row]:
        rows = self._take()
        self._rows = []  # all() leaves a result that is exhausted, not closed
        return rows

    fetchall = all

    def __iter__(self) -> Iterator[Row]:
        return iter(self.all())

    def first(self) -> Row | None:
        rows = self._take()
        return rows[0] if rows else None

    def one_or_none(self) -> Row | None:
        rows = self._take()
        if len(rows) > 1:
            raise exc.MultipleResultsFound("Multiple rows were found when one or none was required")
        return rows[0] if rows else None

    def one(self) -> Row:
        rows = self._take()
        if not rows:
            raise exc.NoResultFound("No row was found when one was required")
        if len(rows) > 1:
            raise exc.MultipleResultsFound("Multiple rows were found when exactly one was required")
        return rows[0]

    def scalar(self) -> Any:
        row = self.first()
        return row[0] if row is not None else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return row[0] if row is not None else None

    def scalars(self, index: int = 0) -> Any:
        if index != 0:
            return self._stock().scalars(index)
        return FastScalars([row[0] for row in self._take()])

    def _stock(self) -> IteratorResult[Any]:
        rows = self._take()
        return IteratorResult(SimpleResultMetaData(self._keys), iter([tuple(row) for row in rows]))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._stock(), name)


class FastScalars:
    """`ScalarResult` for a fast statement: all(), first(), one(), one_or_none(), iteration."""

    __slots__ = ("_values",)

    def __init__(self, values: list[Any]) -> None:
        self._values: list[Any] | None = values

    def _take(self) -> list[Any]:
        values = self._values
        if values is None:
            raise exc.ResourceClosedError(CLOSED)
        self._values = None
        return values

    def all(self) -> list[Any]:
        values = self._take()
        self._values = []
        return values

    def __iter__(self) -> Iterator[Any]:
        return iter(self.all())

    def first(self) -> Any:
        values = self._take()
        return values[0] if values else None

    def one_or_none(self) -> Any:
        values = self._take()
        if len(values) > 1:
            raise exc.MultipleResultsFound("Multiple rows were found when one or none was required")
        return values[0] if values else None

    def one(self) -> Any:
        values = self._take()
        if not values:
            raise exc.NoResultFound("No row was found when one was required")
        if len(values) > 1:
            raise exc.MultipleResultsFound("Multiple rows were found when exactly one was required")
        return values[0]
