from __future__ import annotations

from fastapi import APIRouter, Response

from tandem.auth import service
from tandem.auth.schemas import (
    AuthOut, LoginIn, MeMembership, MeOut, MePatch, RefreshIn, SignupIn, SocketTokenOut, TokenPair, UserEnvelope,
    UserOut,
)
from tandem.deps import CallerDep, ReadingCallerDep, ReadSession, RuntimeDep, Session

router = APIRouter(tags=["auth"])


@router.post("/auth/signup", status_code=201, response_model=AuthOut)
async def signup(body: SignupIn, session: Session, runtime: RuntimeDep) -> AuthOut:
    """Create an account and sign in."""
    user = await service.create_user(session, email=body.email, password=body.password, name=body.name)
    access, refresh = await service.start_login(session, runtime.tokens, user)
    return AuthOut(user=UserOut.of(user), access_token=access, refresh_token=refresh)


@router.post("/auth/login", response_model=AuthOut)
async def login(body: LoginIn, session: Session, runtime: RuntimeDep) -> AuthOut:
    """Sign in with email and password."""
    user, access, refresh = await service.login(session, runtime.tokens, body.email, body.password)
    return AuthOut(user=UserOut.of(user), access_token=access, refresh_token=refresh)


@router.post("/auth/refresh", response_model=TokenPair)
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
    return MeOut(user=UserOut.of(caller.user),
                 memberships=[MeMembership(org_id=o, org_name=n, role=r) for o, n, r in rows])


@router.patch("/me", response_model=UserEnvelope)
async def update_me(body: MePatch, caller: CallerDep, session: Session) -> UserEnvelope:
    """Change your name or avatar; your organizations see it live."""
    changes = body.model_dump(include=body.model_fields_set)
    user = await service.update_profile(session, caller.id, changes)
    return UserEnvelope(user=UserOut.of(user))
