"""Opaque ids with a type prefix (SPEC §2): u_, org_, p_, t_, st_, c_, att_, conv_, m_."""

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(9).replace('-', 'x').replace('_', 'y')}"


def new_token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)
