from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from tandem.auth import service
from tandem.auth.schemas import (
    AuthOut,
    LoginIn,
    MeMembership,
    MeOut,
    MePatch,
    PasswordChanged,
    PasswordChangeIn,
    RefreshIn,
    SignupIn,
    SocketTokenOut,
    TokenPair,
    UserEnvelope,
    UserOut,
)
from tandem.auth.tokens import REFRESH, TokenError
from tandem.deps import (
    CallerDep,
    IdempotentSignup,
    ReadingCallerDep,
    ReadSession,
    RuntimeDep,
    Session,
)
from tandem.realtime.limits import enforce

router = APIRouter(tags=["auth"])


def client_address(request: Request) -> str:
    # The ASGI peer: uvicorn replaces it from X-Forwarded-For only for proxies its
    # --forwarded-allow-ips names, so a client cannot pick its own address.
    return request.client.host if request.client else "unknown"


async def _body_text(request: Request, name: str) -> str | None:
    # FastAPI has already parsed the body, so this reads its cached copy; validation happens later.
    try:
        body = await request.json()
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


async def login_budget(request: Request, runtime: RuntimeDep) -> None:
    """Refuse a login past its address's or its account's attempts, before any password is hashed.

    Every attempt counts against the account, so someone guessing a person's password also holds
    that person off while the guessing goes on; the account frees a slot every 60 / limit seconds
    (6 s by default), so the person gets in at most that long after it stops.
    """
    settings = runtime.settings
    await enforce(
        runtime.limiter, "login-ip", client_address(request), settings.login_ip_limit_per_minute, 60
    )
    email = await _body_text(request, "email")
    if email:
        account = service.normalize_email(email)
        await enforce(
            runtime.limiter, "login-account", account, settings.login_limit_per_minute, 60
        )


async def signup_budget(request: Request, runtime: RuntimeDep) -> None:
    """Refuse a signup past its address's allowance, before the password is hashed."""
    await enforce(
        runtime.limiter,
        "signup-ip",
        client_address(request),
        runtime.settings.signup_limit_per_hour,
        3600,
    )


async def refresh_budget(request: Request, runtime: RuntimeDep) -> None:
    """Refuse refreshes past the allowance of their login, or of their address when the token is not ours."""
    token = await _body_text(request, "refreshToken")
    try:
        bucket, key = "refresh-login", runtime.tokens.verify(token or "", REFRESH).session_id
    except TokenError:
        bucket, key = "refresh-ip", client_address(request)
    await enforce(runtime.limiter, bucket, key, runtime.settings.refresh_limit_per_minute, 60)


@router.post(
    "/auth/signup", status_code=201, response_model=AuthOut, dependencies=[Depends(signup_budget)]
)
async def signup(
    body: SignupIn, session: Session, runtime: RuntimeDep, once: IdempotentSignup
) -> AuthOut | Response:
    """Create an account and sign in."""
    if once.replay is not None:
        return once.replay
    user = await service.create_user(
        session, email=body.email, password=body.password, name=body.name
    )
    access, refresh = await service.start_login(session, runtime.tokens, user)
    return await once.respond(
        201, AuthOut(user=UserOut.of(user), access_token=access, refresh_token=refresh)
    )


@router.post("/auth/login", response_model=AuthOut, dependencies=[Depends(login_budget)])
async def login(body: LoginIn, session: Session, runtime: RuntimeDep) -> AuthOut:
    """Sign in with email and password."""
    user, access, refresh = await service.login(session, runtime.tokens, body.email, body.password)
    return AuthOut(user=UserOut.of(user), access_token=access, refresh_token=refresh)


@router.post("/auth/refresh", response_model=TokenPair, dependencies=[Depends(refresh_budget)])
async def refresh(body: RefreshIn, session: Session, runtime: RuntimeDep) -> TokenPair:
    """Trade a refresh token for a new access token and refresh token."""
    access, new_refresh = await service.refresh(session, runtime.tokens, body.refresh_token)
    return TokenPair(access_token=access, refresh_token=new_refresh)


@router.post("/auth/socket-token", response_model=SocketTokenOut)
async def socket_token(caller: ReadingCallerDep, runtime: RuntimeDep) -> SocketTokenOut:
    """A short-lived token for the Socket.IO handshake."""
    token, expires_at = service.socket_token(runtime.tokens, caller.id, caller.session_id)
    return SocketTokenOut(token=token, expires_at=expires_at)


@router.post("/auth/logout", status_code=204)
async def logout(body: RefreshIn, session: Session, runtime: RuntimeDep) -> Response:
    """End this login: its refresh token stops working and its sockets close."""
    await service.logout(session, runtime.tokens, body.refresh_token)
    return Response(status_code=204)


@router.get("/me", response_model=MeOut)
async def me(caller: ReadingCallerDep, session: ReadSession) -> MeOut:
    """The signed-in person and their organizations."""
    rows = await service.memberships(session, caller.id)
    return MeOut(
        user=UserOut.of(caller.user),
        memberships=[MeMembership(org_id=o, org_name=n, role=r) for o, n, r in rows],
    )


@router.patch("/me", response_model=UserEnvelope)
async def update_me(body: MePatch, caller: CallerDep, session: Session) -> UserEnvelope:
    """Change your name or avatar; your organizations see it live."""
    changes = body.model_dump(include=body.model_fields_set)
    user = await service.update_profile(session, caller.id, changes)
    return UserEnvelope(user=UserOut.of(user))


async def password_budget(caller: CallerDep, runtime: RuntimeDep) -> None:
    """A stolen access token must not become a way to guess the password: attempts count per person."""
    await enforce(
        runtime.limiter, "password-user", caller.id, runtime.settings.login_limit_per_minute, 60
    )


@router.post(
    "/me/password", response_model=PasswordChanged, dependencies=[Depends(password_budget)]
)
async def change_password(
    body: PasswordChangeIn, caller: CallerDep, session: Session
) -> PasswordChanged:
    """Change your password; every other login of yours ends at once, on every device."""
    ended = await service.change_password(
        session, caller.id, caller.session_id, body.current_password, body.new_password
    )
    return PasswordChanged(ended_logins=ended)
