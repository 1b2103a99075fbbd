"""Request-scoped dependencies: the runtime, the unit of work, the caller."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import WithJsonSchema
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.auth import repository as accounts
from tandem.auth.models import Profile
from tandem.auth.tokens import ACCESS, TokenError
from tandem.kit import idempotency
from tandem.kit.errors import Unauthenticated
from tandem.runtime import Runtime

logger = logging.getLogger("tandem.auth")


async def get_runtime(request: Request) -> Runtime:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread (a hop per request).
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the handler returns, rolled back if it raises."""
    # The runtime straight from the request rather than through RuntimeDep: FastAPI solves a
    # dependency's sub-dependencies on every use, cached or not.
    async with request.app.state.runtime.db.unit_of_work() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-only session for handlers that change nothing (on SQLite it never holds the write lock)."""
    async with request.app.state.runtime.db.read() as session:
        yield session


ReadSession = Annotated[AsyncSession, Depends(get_read_session, scope="function")]


@dataclass(frozen=True)
class Caller:
    user: Profile  # as read at the start of the request; services that change the person load the User
    session_id: str

    @property
    def id(self) -> str:
        return self.user.id


class _BearerCaller(HTTPBearer):
    """The authenticated caller as one security dependency: HTTP bearer in the OpenAPI document, as
    HTTPBearer itself, but the token is checked and the caller read here, with no dependency of its
    own but the unit of work (each dependency FastAPI solves costs tens of µs a request)."""

    def __init__(self) -> None:
        super().__init__(auto_error=False, scheme_name="HTTPBearer")

    async def credentials(self, request: Request) -> HTTPAuthorizationCredentials | None:
        return await HTTPBearer.__call__(self, request)


class _WritingCaller(_BearerCaller):
    async def __call__(self, request: Request, session: Session) -> Caller:  # type: ignore[override]
        return await _authenticate(session, request, await self.credentials(request))


class _ReadingCaller(_BearerCaller):
    async def __call__(self, request: Request, session: ReadSession) -> Caller:  # type: ignore[override]
        return await _authenticate(session, request, await self.credentials(request))


get_caller = _WritingCaller()
get_reading_caller = _ReadingCaller()


async def _authenticate(
    session: AsyncSession, request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("sign in first: send Authorization: Bearer <accessToken>")
    client = request.client.host if request.client else None
    try:
        claims = request.app.state.runtime.tokens.verify(credentials.credentials, ACCESS)
    except TokenError as exc:
        # The reason and the library's verdict by its class name (its message may quote the
        # token's header); never the token, which a log reader could replay until it expires.
        cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else None
        logger.warning(
            "access token refused",
            extra={"reason": str(exc), "cause": cause, "client": client, "path": request.url.path},
        )
        raise Unauthenticated(str(exc)) from None
    row = await accounts.caller(session, claims.user_id, claims.session_id)
    if row is None or row.revoked:
        logger.warning(
            "access token refused",
            extra={
                "reason": "login ended",
                "cause": None,
                "client": client,
                "path": request.url.path,
                "user_id": claims.user_id,
            },
        )
        raise Unauthenticated("this login has ended; sign in again")
    return Caller(Profile(row.id, row.email, row.name, row.avatar_url), claims.session_id)


CallerDep = Annotated[Caller, Depends(get_caller)]
# For handlers that only read (and must not hold a write transaction, like a waiting long-poll).
ReadingCallerDep = Annotated[Caller, Depends(get_reading_caller)]


# Declared so the OpenAPI document shows it; checked (400) by kit/idempotency.py, not here (422).
IdempotencyKeyHeader = Annotated[
    str | None,
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[^\x00-\x1f\x7f-\x9f]*$"}
    ),
    Header(
        alias=idempotency.HEADER,
        description="Makes a retried create answer once: the same key and body replay the first "
        "response (with Idempotent-Replayed: true); the same key with another body is a 422. "
        "Kept 24 hours; at most 255 characters, no control characters.",
    ),
]


async def _idempotent(
    request: Request, caller: CallerDep, session: Session, key: IdempotencyKeyHeader = None
) -> idempotency.Once:
    return await idempotency.begin(request, session, caller.id, key)


async def _idempotent_signup(
    request: Request, session: Session, key: IdempotencyKeyHeader = None
) -> idempotency.Once:
    caller = idempotency.signup_caller(await request.body())
    return await idempotency.begin(request, session, caller, key)


# A create that honours Idempotency-Key (kit/idempotency.py): by the signed-in caller, or for a
# signup by the address signing up.
Idempotent = Annotated[idempotency.Once, Depends(_idempotent)]
IdempotentSignup = Annotated[idempotency.Once, Depends(_idempotent_signup)]
