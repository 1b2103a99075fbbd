"""Idempotent REST creates: an `Idempotency-Key` header makes a retried create answer once.

A route takes the dependency `Idempotent` (or `IdempotentSignup`, keyed by the address signing up;
both in tandem/deps.py, which call `begin`) and returns `once.replay` when it is set; otherwise it
does its work and hands its response to `once.respond`. The key's row is inserted before the work
and completed with the response, in the request's unit of work: it commits with the created record
or not at all, so a retry after a lost response replays it and a failed request leaves no key
behind. Keys are scoped to (caller, method, path) and kept 24 hours; the same key with another body
is refused with 422 `validation`. Two concurrent requests with one key create one record: on
PostgreSQL the second insert waits for the first transaction and then replays its response; SQLite
runs one writer at a time anyway. Callers, keys and request bodies are stored only as HMACs under the
server's secret (a signup's body holds a password); responses are stored as sent, for the replay.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import JSON, Integer, String, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from tandem.db import Base, UTCDateTime
from tandem.kit.clock import utcnow
from tandem.kit.errors import AppError, Conflict, Invalid

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEEP_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255

M = TypeVar("M", bound=BaseModel)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    # HMAC of (caller, method, path, key): fixed width, and no address or key readable at rest.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    body: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class KeyReused(AppError):
    status, code = 422, "validation"


@dataclass
class Once:
    """One request's idempotency: the stored response to replay, or where to store this one."""

    session: AsyncSession | None = None
    row_id: str | None = None
    replay: JSONResponse | None = None

    async def respond(self, status_code: int, response: M) -> M:
        """Store this response with the key (in the request's transaction) and return it."""
        if self.row_id is not None and self.session is not None:
            body = response.model_dump(mode="json", by_alias=True)
            await self.session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.id == self.row_id)
                .values(status_code=status_code, body=body)
            )
        return response


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Invalid(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in key):
        raise Invalid(f"{HEADER} must not contain control characters")


def _digest(secret: str, *parts: bytes) -> str:
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    for part in parts:
        mac.update(len(part).to_bytes(8, "big"))
        mac.update(part)
    return mac.hexdigest()


def _canonical(raw: bytes) -> bytes:
    # The same JSON in another key order or spacing is the same request.
    try:
        return orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS) if raw else b""
    except orjson.JSONDecodeError:
        return raw


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def signup_caller(raw_body: bytes) -> str:
    """Whom a signup's key belongs to: nobody is signed in yet, so the address, normalised as
    accounts' addresses are."""
    try:
        body = orjson.loads(raw_body)
    except orjson.JSONDecodeError:
        body = None
    email = body.get("email") if isinstance(body, dict) else None
    return "signup:" + (email.strip().lower() if isinstance(email, str) else "")


async def begin(request: Request, session: AsyncSession, caller: str, key: str | None) -> Once:
    """Claim the request's key for this caller, or find the response to replay."""
    if key is None:
        return Once()
    _check_key(key)
    secret = request.app.state.runtime.tokens.secret
    row_id = _digest(
        secret, caller.encode(), request.method.encode(), request.url.path.encode(), key.encode()
    )
    request_hash = _digest(secret, _canonical(await request.body()))
    now = utcnow()
    claimed = await session.execute(
        _insert(session)(IdempotencyKey)
        .values(id=row_id, request_hash=request_hash, created_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(IdempotencyKey.id)
    )
    if claimed.scalar_one_or_none() is not None:
        return Once(session, row_id)
    # Taken: on PostgreSQL the insert waited for the transaction that took it, so it is complete.
    row = (
        await session.execute(select(IdempotencyKey).where(IdempotencyKey.id == row_id))
    ).scalar_one()
    if row.created_at < now - KEEP_FOR:  # expired but not yet pruned: a new key
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == row_id)
            .values(request_hash=request_hash, created_at=now, status_code=None, body=None)
        )
        return Once(session, row_id)
    if not hmac.compare_digest(row.request_hash, request_hash):
        raise KeyReused(f"this {HEADER} was already used with a different request body")
    if row.status_code is None:
        raise Conflict("a request with this key is in progress")
    return Once(
        replay=JSONResponse(
            row.body, status_code=row.status_code, headers={REPLAYED_HEADER: "true"}
        )
    )


async def prune(session: AsyncSession) -> int:
    """Forget keys older than 24 hours."""
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - KEEP_FOR)
    )
    return int(getattr(result, "rowcount", 0) or 0)
