"""GET /api/events: the long-poll fallback serves the socket's envelopes with the socket's authorization."""

from __future__ import annotations

import asyncio
import time

from tests.harness import (
    Listener,
    Person,
    assert_error,
    durable,
    listening,
    logged,
    quick_signup,
    quick_team,
    quiesce,
    set_role,
    start_server,
)


async def poll(person: Person, **params) -> dict:
    async with person.http() as http:
        r = await http.get("/api/events", params=params)
        assert r.status_code == 200, r.text
        return r.json()


async def test_long_poll_serves_the_same_envelopes_as_the_socket(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    room = f"org:{org_id}"
    await server.settle()
    start = (await poll(member, room=room))["cursor"]
    async with listening(member, room) as client:
        for role in ["Admin", "Guest"]:
            await set_role(owner, org_id, member.id, role)
        async with owner.http() as http:
            assert (await http.patch("/api/me", json={"name": "Owner Renamed"})).status_code == 200
        await quiesce(server, client)
    from_socket = durable(client.events, room)
    assert len(from_socket) == 3

    body = await poll(member, room=room, after=start)
    assert body == {"events": from_socket, "cursor": from_socket[-1]["seq"], "resync": False}
    # Paging on: from the middle, and from the end (nothing new, the cursor stays).
    middle = await poll(member, room=room, after=from_socket[0]["seq"])
    assert middle["events"] == from_socket[1:]
    end = await poll(member, room=room, after=body["cursor"])
    assert end == {"events": [], "cursor": body["cursor"], "resync": False}


async def test_long_poll_waits_and_answers_as_soon_as_an_event_arrives(sqlite_server):
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    room = f"org:{org_id}"
    await sqlite_server.settle()
    cursor = (await poll(member, room=room))["cursor"]

    started = time.monotonic()
    waiting = asyncio.create_task(poll(member, room=room, after=cursor, wait=20))
    await asyncio.sleep(0.4)
    assert not waiting.done()  # nothing yet: it waits
    await set_role(owner, org_id, member.id, "Admin")
    changed = time.monotonic()
    body = await asyncio.wait_for(waiting, 5)
    answered = time.monotonic()
    assert [e["event"] for e in body["events"]] == ["org.member.updated"]
    assert body["events"][0]["data"]["member"]["role"] == "Admin"
    assert body["cursor"] == body["events"][0]["seq"]
    assert answered - changed < 2.0, (
        "the long-poll did not answer promptly"
    )  # SPEC §5.6 board/member bounds
    assert answered - started < 20


async def test_long_poll_without_events_waits_the_asked_time_then_answers_empty(sqlite_server):
    org_id, (owner,) = await quick_team(sqlite_server, ["Owner"])
    room = f"org:{org_id}"
    await sqlite_server.settle()
    cursor = (await poll(owner, room=room))["cursor"]
    started = time.monotonic()
    body = await poll(owner, room=room, after=cursor, wait=0.5)
    elapsed = time.monotonic() - started
    assert body == {"events": [], "cursor": cursor, "resync": False}
    assert 0.45 <= elapsed < 3

    started = time.monotonic()
    assert (await poll(owner, room=room, after=cursor))[
        "events"
    ] == []  # wait defaults to 0: no wait
    assert time.monotonic() - started < 0.5


async def test_long_poll_wait_is_capped_by_the_server_setting(tmp_path):
    from tests.conftest import PG_URL
    from tests.harness import fresh_database_url

    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path, longpoll_max_wait=0.3) as srv,
    ):
        org_id, (owner,) = await quick_team(srv, ["Owner"])
        cursor = (await poll(owner, room=f"org:{org_id}"))["cursor"]
        started = time.monotonic()
        body = await poll(owner, room=f"org:{org_id}", after=cursor, wait=60)
        assert body["events"] == []
        assert time.monotonic() - started < 2.5


async def test_long_poll_without_after_returns_only_the_cursor(sqlite_server):
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    await set_role(owner, org_id, member.id, "Admin")
    await sqlite_server.settle()
    async with member.http() as http:
        snapshot_cursor = (await http.get(f"/api/orgs/{org_id}/members")).json()["cursor"]
    body = await poll(member, room=f"org:{org_id}")
    assert body == {"events": [], "cursor": snapshot_cursor, "resync": False}
    assert snapshot_cursor == (await logged(sqlite_server, f"org:{org_id}"))[-1]["seq"]


async def test_long_poll_admits_exactly_the_rooms_a_socket_may_subscribe_to(server):
    org_id, (_, member) = await quick_team(server, ["Owner", "Member"])
    foreign_org, (stranger,) = await quick_team(server, ["Owner"])
    rooms = {
        f"org:{org_id}": True,
        f"user:{member.id}": True,
        f"org:{foreign_org}": False,
        "org:org_doesnotexist": False,
        f"user:{stranger.id}": False,
        "project:p_doesnotexist": False,
        "bogus:x": False,
        "nocolon": False,
        "org:": False,
    }
    client = await Listener(server, await member.socket_token()).connect()
    refusals = []
    try:
        for room, allowed in rooms.items():
            ack = await client.subscribe(room)
            async with member.http() as http:
                r = await http.get("/api/events", params={"room": room})
            if allowed:
                assert ack["ok"] is True, (room, ack)
                assert r.status_code == 200, (room, r.text)
            else:
                assert ack["ok"] is False and ack["error"]["code"] in ("forbidden", "invalid"), (
                    room,
                    ack,
                )
                assert_error(r, 404, "not_found")
                refusals.append(r.json())
    finally:
        await client.close()
    # A foreign room and a missing one are told apart by nothing.
    assert all(body == refusals[0] for body in refusals), refusals


async def test_long_poll_forgets_a_removed_member_but_their_own_room_tells_them(sqlite_server):
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    room, own_room = f"org:{org_id}", f"user:{member.id}"
    await sqlite_server.settle()
    own_cursor = (await poll(member, room=own_room))["cursor"]
    async with owner.http() as http:
        assert (await http.delete(f"/api/orgs/{org_id}/members/{member.id}")).status_code == 204
    await sqlite_server.settle()
    async with member.http() as http:
        r = await http.get("/api/events", params={"room": room, "after": 0})
        assert_error(r, 404, "not_found")
        r2 = await http.get("/api/events", params={"room": "org:org_doesnotexist", "after": 0})
        assert r.json() == r2.json()
    body = await poll(member, room=own_room, after=own_cursor)
    assert [(e["event"], e["data"]) for e in body["events"]] == [
        (
            "org.member.removed",
            {"organizationId": org_id, "userId": member.id, "removedBy": owner.id},
        ),
    ]


async def test_long_poll_needs_a_valid_access_token(sqlite_server):
    org_id, (owner,) = await quick_team(sqlite_server, ["Owner"])
    params = {"room": f"org:{org_id}"}
    async with sqlite_server.client() as http:
        assert_error(await http.get("/api/events", params=params), 401, "unauthenticated")
        for token in (
            "not-a-jwt",
            owner.access[:-4] + "AAAA",
            await owner.socket_token(),
            owner.refresh,
        ):
            r = await http.get(
                "/api/events", params=params, headers={"Authorization": f"Bearer {token}"}
            )
            assert_error(r, 401, "unauthenticated")
    expired = sqlite_server.runtime.tokens
    import jwt

    claims = jwt.decode(owner.access, options={"verify_signature": False})
    claims["exp"] = int(time.time()) - 60
    stale = jwt.encode(claims, expired.secret, algorithm="HS256")
    async with sqlite_server.client(stale) as http:
        assert_error(await http.get("/api/events", params=params), 401, "unauthenticated")
    async with owner.http() as http:  # after logout, the login's access token is refused too
        assert (
            await http.post("/api/auth/logout", json={"refreshToken": owner.refresh})
        ).status_code == 204
        assert_error(await http.get("/api/events", params=params), 401, "unauthenticated")


BAD_PARAMETERS = {
    "no room": {},
    "no room, with after": {"after": 0},
    "negative after": {"after": -1},
    "text after": {"after": "latest"},
    "fractional after": {"after": 1.5},
    "empty after": {"after": ""},
    "negative wait": {"wait": -1},
    "wait over a minute": {"wait": 61},
    "text wait": {"wait": "soon"},
    "room over 80 characters": {"room": "o" * 81},
}


async def test_long_poll_bad_parameters_answer_422_in_the_error_shape(sqlite_server):
    org_id, (owner,) = await quick_team(sqlite_server, ["Owner"])
    async with owner.http() as http:
        for case, params in BAD_PARAMETERS.items():
            query = (
                params
                if case.startswith("no room") or "room" in params
                else {"room": f"org:{org_id}", **params}
            )
            r = await http.get("/api/events", params=query)
            assert r.status_code == 422, (case, r.text)
            assert_error(r, 422, "validation")


async def test_an_after_beyond_any_possible_seq_is_a_validation_error_not_a_crash(server):
    """seq is a 64-bit integer in both databases; a bigger `after` must not reach the query."""
    org_id, (owner,) = await quick_team(server, ["Owner"])
    room = f"org:{org_id}"
    async with owner.http() as http:
        assert_error(
            await http.get("/api/events", params={"room": room, "after": 2**63}), 422, "validation"
        )
        r = await http.get("/api/events", params={"room": room, "after": 2**63 - 1})
        assert r.status_code == 200, r.text
        assert r.json()["events"] == []
    client = await Listener(server, await owner.socket_token()).connect()
    try:
        ack = await client.subscribe(room, after=2**63)
        assert ack["ok"] is False and ack["error"]["code"] == "invalid", ack
        ack = await client.subscribe(room, after=2**63 - 1)
        assert ack["ok"] is True and ack["replayed"] == 0, ack
    finally:
        await client.close()


async def test_a_person_without_an_org_can_poll_their_own_room(sqlite_server):
    loner = await quick_signup(sqlite_server)
    body = await poll(loner, room=f"user:{loner.id}", after=0)
    assert body["events"] == [] and body["resync"] is False
