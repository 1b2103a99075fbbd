"""Opaque ids with a type prefix (SPEC §2): u_, org_, p_, t_, st_, c_, att_, conv_, m_."""

import secrets
from typing import Any

from fastapi import Path

# What an id may hold in a path: letters, digits, `_` and `-`. Anything else (a NUL would reach
# PostgreSQL, which refuses it with an error) is a 422 before any query runs.
ID_PATTERN = r"^[A-Za-z0-9_-]+$"


def id_in_path() -> Any:
    """The path parameter of a resource's id."""
    return Path(max_length=32, pattern=ID_PATTERN)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(9).replace('-', 'x').replace('_', 'y')}"


def new_token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)
