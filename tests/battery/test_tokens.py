"""Tokens and sessions as an attacker would try them, over REST and the socket handshake.

Forged signatures, expired tokens, `alg: none`, a token of the wrong kind (refresh as access,
socket token as a REST bearer, access token as refresh), tokens of a login that logged out, and
sockets opened from another site's page (WebSocket and polling): every one refused, and no token
written to the server's log records, while each refusal there is recorded once, at warning level,
with its reason.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import orjson

from tandem.auth.tokens import ACCESS, REFRESH, SOCKET, Tokens
from tests.harness import Person, Server, assert_error, connect_outcome, handshake, quick_signup


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        """Every record as a log sink would see it: its message, its extra fields, its traceback."""
        parts = []
        for record in self.records:
            parts.append(record.getMessage())
            parts.append(repr({k: v for k, v in record.__dict__.items() if k != "msg"}))
            if record.exc_info:
                parts.append(logging.Formatter().formatException(record.exc_info))
        return "\n".join(parts)


@contextmanager
def server_logs() -> Iterator[Recorder]:
    """Every record Tandem's loggers and the libraries' (propagating to the root) write meanwhile."""
    recorder = Recorder()
    tandem = logging.getLogger("tandem")
    level = tandem.level
    tandem.setLevel(logging.DEBUG)
    tandem.addHandler(recorder)
    logging.getLogger().addHandler(recorder)
    try:
        yield recorder
    finally:
        tandem.removeHandler(recorder)
        logging.getLogger().removeHandler(recorder)
        tandem.setLevel(level)


REFUSALS = {"rest": "access token refused", "socket": "socket handshake refused"}


def refusals(recorder: Recorder, where: str) -> list[logging.LogRecord]:
    """The refusals logged there, each once (the recorder hears a propagating record twice)."""
    found = {id(r): r for r in recorder.records if r.getMessage() == REFUSALS[where]}
    return list(found.values())


def leaked(written: str, token: str) -> list[str]:
    """The token, or any of its parts long enough to mean something, found in the logs."""
    parts = [token, *(part for part in token.split(".") if len(part) >= 8)]
    return [part for part in parts if part in written]


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def forged(token: str) -> str:
    """The same claims, signed with another key."""
    return jwt.encode(claims_of(token), "not-the-server-secret-" + "z" * 32, algorithm="HS256")


def unsigned(token: str) -> str:
    """The same claims with `alg: none` and no signature, as the classic JWT attack sends them."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims_of(token))}."


def expired(server: Server, kind: str, token: str) -> str:
    """A correctly signed token of this login whose lifetime is already over."""
    claims = claims_of(token)
    tokens = Tokens(
        server.settings.secret_key, access_minutes=-5, refresh_days=-1, socket_seconds=-60
    )
    issued, expires = tokens.issue(kind, claims["sub"], claims["sid"])
    assert expires < datetime.now(UTC)
    return issued


def tampered(token: str) -> str:
    """A real token with another person's id put in, its signature left as it was."""
    header, _, signature = token.split(".")
    claims = claims_of(token) | {"sub": "u_someoneelse"}
    body = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


async def socket_token_of(person: Person) -> str:
    return await person.socket_token()


async def attacks(server: Server, person: Person) -> dict[str, tuple[str, str]]:
    """name -> (where it is sent, the token): every token here must be refused there."""
    socket = await socket_token_of(person)
    access, refresh = person.access, person.refresh
    far_future = datetime.now(UTC) + timedelta(days=365)
    long_lived = jwt.encode(
        claims_of(access) | {"exp": far_future}, "a-guessed-secret-" + "g" * 32, algorithm="HS256"
    )
    found: dict[str, tuple[str, str]] = {}
    for where, token, kind in [
        ("rest", access, ACCESS),
        ("refresh", refresh, REFRESH),
        ("socket", socket, SOCKET),
    ]:
        found[f"{where}: forged signature"] = (where, forged(token))
        found[f"{where}: alg none"] = (where, unsigned(token))
        found[f"{where}: expired"] = (where, expired(server, kind, token))
        found[f"{where}: claims edited"] = (where, tampered(token))
        found[f"{where}: garbage"] = (where, "not.a.jwt")
    found["rest: long-lived, guessed secret"] = ("rest", long_lived)
    found["rest: refresh token as access"] = ("rest", refresh)
    found["rest: socket token as bearer"] = ("rest", socket)
    found["refresh: access token as refresh"] = ("refresh", access)
    found["refresh: socket token as refresh"] = ("refresh", socket)
    found["socket: refresh token as socket token"] = ("socket", refresh)
    found["socket: forged access token"] = ("socket", forged(access))
    found["socket: access token, alg none"] = ("socket", unsigned(access))
    found["socket: expired access token"] = ("socket", expired(server, ACCESS, access))
    return found


async def refused(server: Server, where: str, token: str) -> None:
    async with server.client() as http:
        if where == "rest":
            assert_error(
                await http.get("/api/me", headers={"Authorization": f"Bearer {token}"}),
                401,
                "unauthenticated",
            )
        elif where == "refresh":
            assert_error(
                await http.post("/api/auth/refresh", json={"refreshToken": token}),
                401,
                "unauthenticated",
            )
        else:
            assert await handshake(server, token) == "unauthorized"


async def test_every_forged_expired_or_misused_token_is_refused_and_never_logged(
    server: Server,
) -> None:
    person = await quick_signup(server)
    tried = await attacks(server, person)
    with server_logs() as logs:
        for name, (where, token) in tried.items():
            try:
                await refused(server, where, token)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {exc}") from None
    written = logs.text()
    assert [name for name, (_, token) in tried.items() if leaked(written, token)] == []
    for where in REFUSALS:
        records = refusals(logs, where)
        assert len(records) == sum(1 for w, _ in tried.values() if w == where), where
        assert {r.levelno for r in records} == {logging.WARNING}
        assert all(r.client == "127.0.0.1" for r in records if where in ("rest", "socket"))
        assert all(r.reason for r in records)
    reasons = {(r.reason, r.cause) for r in refusals(logs, "rest") + refusals(logs, "socket")}
    assert {
        ("token expired", "ExpiredSignatureError"),
        ("invalid token", "InvalidSignatureError"),
        ("wrong kind of token", None),
    } <= reasons


async def test_a_logged_out_logins_tokens_are_refused_everywhere(server: Server) -> None:
    person = await quick_signup(server)
    socket = await socket_token_of(person)
    with server_logs() as logs:
        async with server.client() as http:
            r = await http.post("/api/auth/logout", json={"refreshToken": person.refresh})
            assert r.status_code == 204, r.text
        await refused(server, "rest", person.access)
        await refused(server, "refresh", person.refresh)
        await refused(server, "socket", socket)
        await refused(server, "socket", person.access)
        async with server.client(person.access) as http:
            assert_error(await http.post("/api/auth/socket-token"), 401, "unauthenticated")
    written = logs.text()
    for token in (person.access, person.refresh, socket):
        assert leaked(written, token) == []
    assert [r.reason for r in refusals(logs, "rest")] == ["login ended"] * 2
    assert [r.reason for r in refusals(logs, "socket")] == ["login ended"] * 2


async def test_a_page_of_another_site_cannot_open_a_socket(server: Server) -> None:
    person = await quick_signup(server)
    token = await socket_token_of(person)
    foreign = ["https://evil.example", "null", f"{server.url}.evil.example", "http://127.0.0.1:1"]
    outcomes = {}
    with server_logs() as logs:
        for origin in foreign:
            for transport in ("websocket", "polling"):
                outcomes[(origin, transport)] = await connect_outcome(
                    server, {"token": token}, headers={"Origin": origin}, transports=[transport]
                )
        own = await connect_outcome(
            server, {"token": token}, headers={"Origin": server.url}, transports=["websocket"]
        )
    assert [key for key, outcome in outcomes.items() if outcome == "connected"] == []
    assert own == "connected"  # the same token from the server's own page is let in
    assert token not in logs.text()
