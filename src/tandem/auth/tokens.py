"""JWTs: short access tokens, rotating refresh tokens, short socket tokens.

Every token names its login session (`sid`), so logging out revokes the
refresh token and lets every instance close the sockets opened under it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from tandem.kit.clock import utcnow

ALGORITHM = "HS256"
ACCESS, REFRESH, SOCKET = "access", "refresh", "socket"
VERIFIED_CACHE = 4096


@dataclass(frozen=True)
class Claims:
    user_id: str
    session_id: str
    kind: str
    generation: int
    expires_at: datetime


class TokenError(Exception):
    pass


class Tokens:
    def __init__(
        self, secret: str, *, access_minutes: int, refresh_days: int, socket_seconds: int
    ) -> None:
        self.secret = secret
        self.lifetimes = {
            ACCESS: timedelta(minutes=access_minutes),
            REFRESH: timedelta(days=refresh_days),
            SOCKET: timedelta(seconds=socket_seconds),
        }
        # Tokens whose signature checked out, so a client's every request does not re-run HMAC and
        # base64 (the expiry is still checked on each use; revocation is the login session's, in the database).
        self._verified: dict[str, Claims] = {}

    def issue(
        self, kind: str, user_id: str, session_id: str, generation: int = 0
    ) -> tuple[str, datetime]:
        now = utcnow()
        expires = now + self.lifetimes[kind]
        payload = {
            "sub": user_id,
            "sid": session_id,
            "typ": kind,
            "gen": generation,
            "iat": int(now.timestamp()),
            "exp": expires,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(payload, self.secret, algorithm=ALGORITHM), expires

    def verify(self, token: str, *kinds: str) -> Claims:
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise TokenError("missing token")
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            if len(self._verified) >= VERIFIED_CACHE:
                del self._verified[next(iter(self._verified))]  # the oldest
            self._verified[token] = claims
        elif claims.expires_at <= utcnow():
            raise TokenError("token expired")
        if claims.kind not in kinds:
            raise TokenError("wrong kind of token")
        return claims

    def _decode(self, token: str) -> Claims:
        try:
            payload = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "sub", "sid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("invalid token") from exc
        if payload.get("typ") not in (ACCESS, REFRESH, SOCKET):
            raise TokenError("wrong kind of token")
        return Claims(
            user_id=str(payload["sub"]),
            session_id=str(payload["sid"]),
            kind=payload["typ"],
            generation=int(payload.get("gen", 0)),
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
        )
