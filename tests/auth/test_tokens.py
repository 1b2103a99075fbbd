"""Refresh rotation, socket tokens, logout, and the Authorization header (SPEC §3, §4)."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tandem.auth import tokens as tokens_module
from tandem.auth.tokens import ACCESS, REFRESH, SOCKET, TokenError, Tokens
from tandem.kit.clock import utcnow
from tests.harness import (
    Listener,
    assert_error,
    disconnected_within,
    handshake,
    login,
    signup,
    team,
)


def expired_token(server, kind: str, user_id: str, session_id: str) -> str:
    """A correctly signed token of this login whose lifetime is already over."""
    tokens = Tokens(
        server.settings.secret_key, access_minutes=-5, refresh_days=-1, socket_seconds=-60
    )
    token, expires = tokens.issue(kind, user_id, session_id)
    assert expires < datetime.now(UTC)
    return token


def session_of(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sid"]


async def refresh(http, token):
    return await http.post("/api/auth/refresh", json={"refreshToken": token})


async def test_refresh_rotates_and_the_replaced_token_works_once_more(server):
    person = await signup(server)
    async with server.client() as http:
        r0 = person.refresh
        first = await refresh(http, r0)
        assert first.status_code == 200, first.text
        assert set(first.json()) == {"accessToken", "refreshToken"}
        r1, a1 = first.json()["refreshToken"], first.json()["accessToken"]
        assert r1 != r0
        me = await http.get("/api/me", headers={"Authorization": f"Bearer {a1}"})
        assert me.status_code == 200 and me.json()["user"]["id"] == person.id

        # Two tabs refreshing at once: the token just replaced is honoured once more...
        grace = await refresh(http, r0)
        assert grace.status_code == 200, grace.text
        # ...and the new pair keeps working.
        second = await refresh(http, r1)
        assert second.status_code == 200, second.text
        r2 = second.json()["refreshToken"]
        # r0 is now two generations old: refused.
        assert_error(await refresh(http, r0), 401, "unauthenticated")
        third = await refresh(http, r2)
        assert third.status_code == 200, third.text
        r3 = third.json()["refreshToken"]
        assert_error(await refresh(http, r1), 401, "unauthenticated")
        assert (await refresh(http, r3)).status_code == 200


async def test_refresh_refuses_garbage_expired_and_wrong_kind_tokens(sqlite_server):
    person = await signup(sqlite_server)
    sid = session_of(person.refresh)
    forged = jwt.encode(
        {
            "sub": person.id,
            "sid": sid,
            "typ": REFRESH,
            "gen": 0,
            "exp": datetime.now(UTC) + timedelta(hours=1),
        },
        "not-the-secret-" + "y" * 32,
        algorithm="HS256",
    )
    unknown_login = Tokens(
        sqlite_server.settings.secret_key, access_minutes=5, refresh_days=1, socket_seconds=60
    ).issue(REFRESH, person.id, "no-such-login")[0]
    async with sqlite_server.client() as http:
        for token in (
            "garbage",
            "a.b.c",
            forged,
            unknown_login,
            person.access,
            expired_token(sqlite_server, REFRESH, person.id, sid),
        ):
            assert_error(await refresh(http, token), 401, "unauthenticated")
        for body in ({}, {"refreshToken": ""}, {"refreshToken": 42}, {"refreshToken": "x" * 5000}):
            assert_error(await http.post("/api/auth/refresh", json=body), 422, "validation")
        # None of that harmed the real login.
        assert (await refresh(http, person.refresh)).status_code == 200


async def test_socket_token_is_short_lived_and_opens_a_socket(sqlite_server):
    person = await signup(sqlite_server)
    async with person.http() as http:
        r = await http.post("/api/auth/socket-token")
        assert r.status_code == 200, r.text
        body = r.json()
    assert set(body) == {"token", "expiresAt"}
    assert body["expiresAt"].endswith("Z")
    expires = datetime.fromisoformat(body["expiresAt"])
    now = datetime.now(UTC)
    assert now < expires <= now + timedelta(minutes=5, seconds=2)
    assert (
        jwt.decode(body["token"], options={"verify_signature": False})["exp"]
        <= (now + timedelta(minutes=5, seconds=2)).timestamp()
    )

    assert await handshake(sqlite_server, body["token"]) is None
    assert await handshake(sqlite_server, person.access) is None  # an access token is accepted too
    sid = session_of(person.access)
    for bad in (
        expired_token(sqlite_server, SOCKET, person.id, sid),
        "garbage",
        "",
        None,
        12,
        person.refresh,
    ):
        assert await handshake(sqlite_server, bad) == "unauthorized", bad

    async with sqlite_server.client() as http:  # no caller, no socket token
        assert_error(await http.post("/api/auth/socket-token"), 401, "unauthenticated")
        # A socket token is for the handshake only, not for REST.
        assert_error(
            await http.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"}),
            401,
            "unauthenticated",
        )


async def test_logout_ends_that_login_only(server):
    org_id, (owner, member) = await team(server, ["Owner", "Member"])
    other = await login(server, member.email)  # the same person on another device
    ended = Listener(server, await member.socket_token())
    kept = Listener(server, await other.socket_token())
    await ended.connect()
    await kept.connect()
    try:
        assert (await ended.subscribe(f"org:{org_id}"))["ok"]
        assert (await kept.subscribe(f"org:{org_id}"))["ok"]
        spare_socket_token = await member.socket_token()

        async with server.client() as http:
            r = await http.post("/api/auth/logout", json={"refreshToken": member.refresh})
            assert r.status_code == 204, r.text
            assert r.content == b""
        assert await disconnected_within(ended, 1.0), (
            "the logged-out login's socket is still open after 1 s"
        )

        async with server.client() as http:
            assert_error(await refresh(http, member.refresh), 401, "unauthenticated")
            assert_error(
                await http.post("/api/auth/logout", json={"refreshToken": member.refresh}),
                401,
                "unauthenticated",
            )
        async with member.http() as http:
            assert_error(await http.get("/api/me"), 401, "unauthenticated")
            assert_error(await http.get(f"/api/orgs/{org_id}/members"), 401, "unauthenticated")
        assert await handshake(server, spare_socket_token) == "unauthorized"

        # The other login of the same person is untouched: REST, refresh and its live socket.
        assert kept.sio.connected
        async with other.http() as http:
            assert (await http.get("/api/me")).status_code == 200
        async with server.client() as http:
            assert (await refresh(http, other.refresh)).status_code == 200
        async with owner.http() as http:
            r = await http.patch(f"/api/orgs/{org_id}/members/{member.id}", json={"role": "Admin"})
            assert r.status_code == 200, r.text
        event = await kept.wait_event("org.member.updated")
        assert event["data"]["member"]["role"] == "Admin"
    finally:
        await ended.close()
        await kept.close()


async def test_logout_bad_input(sqlite_server):
    person = await signup(sqlite_server)
    async with sqlite_server.client() as http:
        assert_error(
            await http.post("/api/auth/logout", json={"refreshToken": "garbage"}),
            401,
            "unauthenticated",
        )
        assert_error(
            await http.post("/api/auth/logout", json={"refreshToken": person.access}),
            401,
            "unauthenticated",
        )
        assert_error(await http.post("/api/auth/logout", json={}), 422, "validation")
        assert_error(
            await http.post("/api/auth/logout", json={"refreshToken": None}), 422, "validation"
        )
    async with person.http() as http:  # still signed in
        assert (await http.get("/api/me")).status_code == 200


async def test_requests_without_a_valid_access_token_are_401(sqlite_server):
    person = await signup(sqlite_server)
    sid = session_of(person.access)
    expired = expired_token(sqlite_server, ACCESS, person.id, sid)
    forged = jwt.encode(
        {
            "sub": person.id,
            "sid": sid,
            "typ": ACCESS,
            "exp": datetime.now(UTC) + timedelta(hours=1),
        },
        "not-the-secret-" + "y" * 32,
        algorithm="HS256",
    )
    unsigned = jwt.encode(
        {
            "sub": person.id,
            "sid": sid,
            "typ": ACCESS,
            "exp": datetime.now(UTC) + timedelta(hours=1),
        },
        None,
        algorithm="none",
    )
    headers = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {person.access}"},
        {"Authorization": person.access},
        {"Authorization": "Bearer garbage"},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": f"Bearer {unsigned}"},
        {"Authorization": f"Bearer {person.refresh}"},
        {"Authorization": f"Bearer {'x' * 5000}"},
    ]
    async with sqlite_server.client() as http:
        for h in headers:
            for method, path in (
                ("GET", "/api/me"),
                ("PATCH", "/api/me"),
                ("POST", "/api/orgs"),
                ("POST", "/api/auth/socket-token"),
            ):
                r = await http.request(method, path, headers=h, json={"name": "x"})
                assert_error(r, 401, "unauthenticated")
        expired_error = assert_error(
            await http.get("/api/me", headers={"Authorization": f"Bearer {expired}"}), 401
        )
        assert "expired" in expired_error["message"]
        assert (
            await http.get("/api/me", headers={"Authorization": f"Bearer {person.access}"})
        ).status_code == 200


def test_a_token_verified_once_still_expires_and_keeps_its_kind(monkeypatch):
    # The clock stands still until the test moves it: a loaded machine cannot expire it early.
    now = [utcnow()]
    monkeypatch.setattr(tokens_module, "utcnow", lambda: now[0])
    tokens = Tokens("k" * 32, access_minutes=5, refresh_days=1, socket_seconds=1)
    token, _ = tokens.issue(SOCKET, "u_1", "s_1")
    assert tokens.verify(token, SOCKET).user_id == "u_1"
    assert (
        tokens.verify(token, SOCKET).session_id == "s_1"
    )  # the second time from what was verified
    with pytest.raises(TokenError, match="wrong kind"):
        tokens.verify(token, ACCESS)
    now[0] += timedelta(seconds=1.1)
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(token, SOCKET)
    # A token signed with another key is refused whatever was verified before.
    forged, _ = Tokens("x" * 32, access_minutes=5, refresh_days=1, socket_seconds=60).issue(
        ACCESS, "u_1", "s_1"
    )
    with pytest.raises(TokenError, match="invalid"):
        tokens.verify(forged, ACCESS)
