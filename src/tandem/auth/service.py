"""Accounts and logins: signup, login, token refresh and rotation, logout, password change, profile."""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.auth import repository
from tandem.auth.models import LoginSession, User
from tandem.auth.tokens import ACCESS, REFRESH, SOCKET, TokenError, Tokens
from tandem.kit.clock import utcnow
from tandem.kit.errors import Conflict, Forbidden, Unauthenticated
from tandem.kit.ids import new_id, new_token
from tandem.orgs import service as orgs
from tandem.realtime import outbox

hasher = PasswordHasher()
# Verifying against this keeps a login for an unknown email as slow as one with a wrong password.
# Made by the first such login, not at import: a hash costs a tenth of a second of every start.
_dummy_hash: str | None = None


async def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = await hash_password("not-a-real-password")
    return _dummy_hash


# argon2 is CPU-bound: more hashes at once than cores only makes every one of them slower, so
# they queue here, one per core, and a login waits behind at most what the rate limits let in.
_password_work = ThreadPoolExecutor(
    max_workers=os.cpu_count() or 1, thread_name_prefix="tandem-argon2"
)


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_password_work, hasher.hash, password)


async def _verify_password(password_hash: str, password: str) -> bool:
    try:
        return await asyncio.get_running_loop().run_in_executor(
            _password_work, hasher.verify, password_hash, password
        )
    except (VerificationError, InvalidHashError):
        return False


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await repository.user_by_email(session, normalize_email(email))


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    name: str,
    avatar_url: str | None = None,
    password_hash: str | None = None,
) -> User:
    email = normalize_email(email)
    if await repository.email_taken(session, email):
        raise Conflict("an account with this email already exists")
    user = User(
        id=new_id("u"),
        email=email,
        name=name.strip(),
        avatar_url=avatar_url,
        password_hash=password_hash or await hash_password(password),
    )
    try:
        # A savepoint: two signups racing with one address (PostgreSQL) end in 409, not 500.
        async with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise Conflict("an account with this email already exists") from None
    return user


async def start_login(session: AsyncSession, tokens: Tokens, user: User) -> tuple[str, str]:
    login = LoginSession(
        id=new_token(18),
        user_id=user.id,
        refresh_generation=0,
        expires_at=utcnow() + tokens.lifetimes[REFRESH],
    )
    session.add(login)
    await session.flush()
    access, _ = tokens.issue(ACCESS, user.id, login.id)
    refresh, _ = tokens.issue(REFRESH, user.id, login.id, generation=0)
    return access, refresh


async def login(
    session: AsyncSession, tokens: Tokens, email: str, password: str
) -> tuple[User, str, str]:
    user = await find_user_by_email(session, email)
    ok = await _verify_password(user.password_hash if user else await _dummy(), password)
    if user is None or not ok:
        raise Unauthenticated("wrong email or password")
    access, refresh = await start_login(session, tokens, user)
    return user, access, refresh


async def _login_of(
    session: AsyncSession, tokens: Tokens, refresh_token: str
) -> tuple[LoginSession, int]:
    try:
        claims = tokens.verify(refresh_token, REFRESH)
    except TokenError as exc:
        raise Unauthenticated(str(exc)) from None
    login = await session.get(LoginSession, claims.session_id, with_for_update=True)
    if login is None or login.revoked_at is not None or login.user_id != claims.user_id:
        raise Unauthenticated("this login has ended; sign in again")
    return login, claims.generation


async def refresh(session: AsyncSession, tokens: Tokens, refresh_token: str) -> tuple[str, str]:
    """Rotate the refresh token. The one just replaced still works once more, so two tabs that
    refresh at the same moment both succeed; anything older is refused."""
    login, generation = await _login_of(session, tokens, refresh_token)
    if generation < login.refresh_generation - 1 or generation > login.refresh_generation:
        raise Unauthenticated("this refresh token was replaced; sign in again")
    login.refresh_generation += 1
    access, _ = tokens.issue(ACCESS, login.user_id, login.id)
    new_refresh, _ = tokens.issue(
        REFRESH, login.user_id, login.id, generation=login.refresh_generation
    )
    return access, new_refresh


def socket_token(tokens: Tokens, user_id: str, session_id: str) -> tuple[str, str]:
    token, expires = tokens.issue(SOCKET, user_id, session_id)
    return token, expires.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def logout(session: AsyncSession, tokens: Tokens, refresh_token: str) -> None:
    login, _ = await _login_of(session, tokens, refresh_token)
    login.revoked_at = utcnow()
    await outbox.record_control(session, {"type": "disconnect_session", "sessionId": login.id})


async def change_password(
    session: AsyncSession, user_id: str, this_login: str, current: str, new: str
) -> int:
    """Set a new password after checking the current one; every other login of the person ends
    (its refresh token stops working and its sockets close), this one goes on. Returns how many
    logins ended."""
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:  # deleted since the request was authenticated
        raise Unauthenticated("this login has ended; sign in again")
    if not await _verify_password(user.password_hash, current):
        raise Forbidden("the current password is wrong")
    user.password_hash = await hash_password(new)
    ended = await repository.end_other_logins(session, user_id, this_login, utcnow())
    for login_id in ended:
        await outbox.record_control(session, {"type": "disconnect_session", "sessionId": login_id})
    return len(ended)


async def memberships(session: AsyncSession, user_id: str) -> list[tuple[str, str, str]]:
    """(org id, org name, role) of every org the person belongs to, by name."""
    return await repository.memberships(session, user_id)


async def socket_identity(
    session: AsyncSession, tokens: Tokens, token: object, client: str | None = None
) -> tuple[str, str] | None:
    """(user id, login id) of a socket handshake's token, or None when it does not sign anyone in.

    A refusal is logged with its reason and the client's address (`client`, where the caller
    knows it), never with the token: a log reader could replay it until it expires."""
    refused = logging.getLogger("tandem.auth").warning
    try:
        claims = tokens.verify(token, SOCKET, ACCESS)  # type: ignore[arg-type]
    except TokenError as exc:
        cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else None
        refused(
            "socket handshake refused", extra={"reason": str(exc), "cause": cause, "client": client}
        )
        return None
    if not await repository.login_is_live(session, claims.user_id, claims.session_id):
        refused(
            "socket handshake refused",
            extra={
                "reason": "login ended",
                "cause": None,
                "client": client,
                "user_id": claims.user_id,
            },
        )
        return None
    return claims.user_id, claims.session_id


async def ended_logins(session: AsyncSession, login_ids: set[str]) -> set[str]:
    """Which of these logins have been revoked (their sockets must close)."""
    return await repository.revoked_logins(session, login_ids)


async def update_profile(session: AsyncSession, user_id: str, changes: dict) -> User:
    """Change name and/or avatar; every org the person belongs to hears org.member.updated."""
    user = await session.get(User, user_id)
    if user is None:  # deleted since the request was authenticated
        raise Unauthenticated("this login has ended; sign in again")
    changed = False
    for field in ("name", "avatar_url"):
        if field in changes and getattr(user, field) != changes[field]:
            if field == "name" and changes[field] is None:
                continue
            setattr(user, field, changes[field])
            changed = True
    if not changed:
        return user
    await session.flush()
    # Share-locked (PostgreSQL): a concurrent removal, leave or role change of one of these memberships
    # either commits before we read it or waits for us, so no org hears of this change out of order
    # (an update after the removal would put the person back in every client's table).
    for org_id, _, _ in await repository.memberships(session, user.id, lock=True):
        await orgs.announce_member_updated(session, org_id, user.id, actor_id=user.id)
    return user
