"""Moved to `tandem.accel.dbapi_statements` (`CursorStatement`); kept while callers move."""

from tandem.accel.dbapi_statements import CursorStatement as Prepared

__all__ = ["Prepared"]
