"""Changing one's password: the current one is checked, the new one works, and every other login of
the person ends at once (its tokens stop working and its sockets close); this login goes on."""

from tests.auth.test_throttling import assert_rate_limited, limited_server
from tests.harness import (
    PASSWORD,
    Listener,
    assert_error,
    disconnected_within,
    handshake,
    login,
    quick_signup,
    team,
)

NEW = "a-new-passphrase-42"


async def change(person, current: str, new: str):
    async with person.http() as http:
        return await http.post(
            "/api/me/password", json={"currentPassword": current, "newPassword": new}
        )


async def test_a_new_password_ends_every_other_login_and_keeps_this_one(server):
    org_id, (_owner, member) = await team(server, ["Owner", "Member"])
    laptop = await login(server, member.email)  # the same person on another device
    phone = Listener(server, await laptop.socket_token())
    here = Listener(server, await member.socket_token())
    await phone.connect()
    await here.connect()
    try:
        assert (await phone.subscribe(f"org:{org_id}"))["ok"]
        assert (await here.subscribe(f"org:{org_id}"))["ok"]
        spare = await laptop.socket_token()

        r = await change(member, PASSWORD, NEW)
        assert r.status_code == 200, r.text
        assert r.json() == {"endedLogins": 1}
        assert await disconnected_within(phone, 1.0), "the other login's socket is still open"
        assert here.sio.connected, "the login that changed the password lost its socket"

        async with laptop.http() as http:
            assert_error(await http.get("/api/me"), 401, "unauthenticated")
        async with server.client() as http:
            refreshed = await http.post("/api/auth/refresh", json={"refreshToken": laptop.refresh})
            assert_error(refreshed, 401, "unauthenticated")
            old = await http.post(
                "/api/auth/login", json={"email": member.email, "password": PASSWORD}
            )
            assert_error(old, 401, "unauthenticated")
        assert await handshake(server, spare) == "unauthorized"
        async with member.http() as http:
            assert (await http.get("/api/me")).status_code == 200
        assert (await login(server, member.email, NEW)).id == member.id
    finally:
        await phone.close()
        await here.close()


async def test_a_wrong_current_password_changes_nothing(sqlite_server):
    _, (person,) = await team(sqlite_server, ["Owner"])
    other = await login(sqlite_server, person.email)
    assert_error(await change(person, "not-the-password", NEW), 403, "forbidden")
    async with other.http() as http:  # no login ended
        assert (await http.get("/api/me")).status_code == 200
    assert (await login(sqlite_server, person.email, PASSWORD)).id == person.id


async def test_bad_bodies_are_422_and_change_nothing(sqlite_server):
    _, (person,) = await team(sqlite_server, ["Owner"])
    for body in (
        {},
        {"currentPassword": PASSWORD},
        {"currentPassword": PASSWORD, "newPassword": "short"},
        {"currentPassword": PASSWORD, "newPassword": "x" * 129},
        {"currentPassword": "", "newPassword": NEW},
        {"currentPassword": PASSWORD, "newPassword": NEW, "extra": 1},
        [PASSWORD, NEW],
    ):
        async with person.http() as http:
            assert_error(await http.post("/api/me/password", json=body), 422, "validation")
    async with sqlite_server.client() as http:
        r = await http.post(
            "/api/me/password", json={"currentPassword": PASSWORD, "newPassword": NEW}
        )
        assert_error(r, 401, "unauthenticated")
    assert (await login(sqlite_server, person.email, PASSWORD)).id == person.id


async def test_guessing_through_a_stolen_token_is_throttled(tmp_path):
    async with limited_server(
        tmp_path, login_limit_per_minute=3, login_ip_limit_per_minute=100
    ) as server:
        person = await quick_signup(server)
        for _ in range(3):
            assert_error(await change(person, "a-guess", NEW), 403, "forbidden")
        assert_rate_limited(await change(person, PASSWORD, NEW), 60)
