"""The Socket.IO gateway as a client meets it: handshake auth, origins, rooms, acks, limits (SPEC §4, §5.8)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from tests.harness import (
    PASSWORD,
    Listener,
    Person,
    connect_outcome,
    listening,
    make_org,
    quick_signup,
    quick_team,
    quiesce,
)

from tandem.realtime import rooms

UNAUTHORIZED = {"message": "unauthorized"}


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def forge(server, **claims) -> str:
    """A token signed with the server's own secret, so only its claims can be wrong."""
    return jwt.encode(claims, server.settings.secret_key, algorithm="HS256")


async def role_change(owner, org_id: str, user_id: str, role: str) -> None:
    async with owner.http() as http:
        r = await http.patch(f"/api/orgs/{org_id}/members/{user_id}", json={"role": role})
        assert r.status_code == 200, r.text


def refusals(server, reason: str) -> float:
    """tandem_connects_refused_total{reason}: the operator's count of connection failures."""
    value = server.runtime.metrics.registry.get_sample_value(
        "tandem_connects_refused_total", {"reason": reason}
    )
    return value or 0.0


# -- handshake ------------------------------------------------------------------


async def test_missing_bad_and_expired_tokens_are_refused_with_unauthorized(sqlite_server):
    person = await quick_signup(sqlite_server)
    good = claims_of(await person.socket_token())
    past = datetime.now(UTC) - timedelta(minutes=1)
    cases = {
        "no auth": None,
        "auth without a token": {},
        "auth that is not an object": "a-token",
        "empty token": {"token": ""},
        "token of the wrong type": {"token": 12345},
        "malformed token": {"token": "not.a.jwt"},
        "signed with another secret": {
            "token": jwt.encode(good, "another-secret-" + "y" * 32, algorithm="HS256")
        },
        "expired socket token": {"token": forge(sqlite_server, **{**good, "exp": past})},
        "expired access token": {
            "token": forge(sqlite_server, **{**claims_of(person.access), "exp": past})
        },
        "refresh token": {"token": person.refresh},
        "unknown login session": {
            "token": forge(sqlite_server, **{**good, "sid": "no-such-login"})
        },
        "someone else's login session": {
            "token": forge(sqlite_server, **{**good, "sub": "u_someone_else"})
        },
        "oversized token": {"token": "x" * 10_000},
    }
    before = refusals(sqlite_server, "unauthorized")
    outcomes = {
        case: await connect_outcome(sqlite_server, auth=auth) for case, auth in cases.items()
    }
    assert outcomes == {case: UNAUTHORIZED for case in cases}
    assert refusals(sqlite_server, "unauthorized") == before + len(cases)  # connection failures
    # The refusals left the gateway healthy.
    assert (
        await connect_outcome(sqlite_server, auth={"token": await person.socket_token()})
        == "connected"
    )


async def test_tokens_of_a_logged_out_login_are_refused_and_its_sockets_closed(sqlite_server):
    person = await quick_signup(sqlite_server)
    async with sqlite_server.client() as http:
        r = await http.post("/api/auth/login", json={"email": person.email, "password": PASSWORD})
        assert r.status_code == 200, r.text
    other_login = Person(
        sqlite_server,
        person.id,
        person.email,
        person.name,
        r.json()["accessToken"],
        r.json()["refreshToken"],
    )
    socket_token = await person.socket_token()
    ended = Listener(sqlite_server, await person.socket_token())
    kept = Listener(sqlite_server, await other_login.socket_token())
    closed = asyncio.Event()
    ended.sio.on("disconnect", lambda *_: closed.set())
    await ended.connect()
    await kept.connect()
    try:
        async with sqlite_server.client() as http:
            r = await http.post("/api/auth/logout", json={"refreshToken": person.refresh})
            assert r.status_code == 204, r.text
        await asyncio.wait_for(closed.wait(), 1.0)
        assert kept.sio.connected
        assert (await kept.subscribe(f"user:{person.id}"))["ok"]
        for token in (socket_token, person.access):
            assert await connect_outcome(sqlite_server, auth={"token": token}) == UNAUTHORIZED
        assert (
            await connect_outcome(sqlite_server, auth={"token": await other_login.socket_token()})
            == "connected"
        )
    finally:
        await ended.close()
        await kept.close()


async def test_a_foreign_origin_is_refused_and_the_servers_own_origin_accepted(sqlite_server):
    person = await quick_signup(sqlite_server)
    own = f"http://127.0.0.1:{sqlite_server.port}"
    evil = "http://evil.example"
    auth = {"token": await person.socket_token()}
    before = refusals(sqlite_server, "origin")
    assert await connect_outcome(sqlite_server, auth=auth, headers={"Origin": evil}) != "connected"
    assert refusals(sqlite_server, "origin") == before + 1
    assert await connect_outcome(sqlite_server, auth=auth, headers={"Origin": own}) == "connected"
    # What a browser sees on the polling handshake: no CORS grant for the foreign origin.
    async with sqlite_server.client() as http:
        refused = await http.get(
            "/socket.io/", params={"EIO": "4", "transport": "polling"}, headers={"Origin": evil}
        )
        accepted = await http.get(
            "/socket.io/", params={"EIO": "4", "transport": "polling"}, headers={"Origin": own}
        )
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert accepted.status_code == 200
    assert accepted.headers["access-control-allow-origin"] == own


async def test_the_page_is_accepted_at_whatever_address_the_server_is_reached(sqlite_server):
    # Served on 0.0.0.0 or another port than the configured one, the page's origin is its own Host.
    person = await quick_signup(sqlite_server)
    auth = {"token": await person.socket_token()}
    alias = f"http://localhost:{sqlite_server.port}"
    assert (
        await connect_outcome(
            sqlite_server,
            auth=auth,
            headers={"Origin": alias, "Host": f"localhost:{sqlite_server.port}"},
        )
        == "connected"
    )
    # Behind a balancer that forwards its public host and scheme.
    public = {
        "Origin": "https://tandem.example",
        "X-Forwarded-Host": "tandem.example",
        "X-Forwarded-Proto": "https",
    }
    assert await connect_outcome(sqlite_server, auth=auth, headers=public) == "connected"
    # A foreign page that merely claims a forwarded host of its own is still another origin.
    spoof = {"Origin": "http://evil.example", "X-Forwarded-Host": "tandem.example"}
    assert await connect_outcome(sqlite_server, auth=auth, headers=spoof) != "connected"


# -- the user room ----------------------------------------------------------------


async def test_the_removed_person_hears_of_it_in_their_user_room_without_subscribing(sqlite_server):
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    async with listening(member) as listener:  # connected, subscribed to nothing
        async with owner.http() as http:
            r = await http.delete(f"/api/orgs/{org_id}/members/{member.id}")
            assert r.status_code == 204, r.text
        event = await listener.wait_event("org.member.removed")
    assert event["room"] == f"user:{member.id}"
    assert event["data"] == {"organizationId": org_id, "userId": member.id, "removedBy": owner.id}


async def test_own_user_room_may_be_subscribed_but_not_left(sqlite_server):
    person = await quick_signup(sqlite_server)
    async with listening(person) as listener:
        ack = await listener.subscribe(f"user:{person.id}")
        assert ack == {"ok": True, "room": f"user:{person.id}", "seq": 0, "replayed": 0}
        left = await listener.sio.call("unsubscribe", {"room": f"user:{person.id}"}, timeout=10)
        assert left["ok"] is False and left["error"]["code"] == "invalid", left


# -- subscribe ------------------------------------------------------------------------


async def test_subscribe_ack_carries_the_rooms_latest_seq_and_the_replay_count(sqlite_server):
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    room = f"org:{org_id}"
    await sqlite_server.settle()  # the joins are in the log, so the cursor is past them
    async with owner.http() as http:
        before = (await http.get(f"/api/orgs/{org_id}/members")).json()["cursor"]
    await role_change(owner, org_id, member.id, "Admin")
    await role_change(owner, org_id, member.id, "Guest")
    await sqlite_server.settle()
    async with owner.http() as http:
        log = (await http.get("/api/events", params={"room": room, "after": 0})).json()["events"]
    latest = log[-1]["seq"]
    async with listening(owner) as listener:
        plain = await listener.subscribe(room)
        assert plain == {"ok": True, "room": room, "seq": latest, "replayed": 0}
        assert listener.named("org.member.updated") == []
    async with listening(owner) as listener:
        replay = await listener.subscribe(room, after=before)
        assert replay == {"ok": True, "room": room, "seq": latest, "replayed": 2}
        # Replayed events arrive before the ack, in order.
        assert [e["data"]["member"]["role"] for e in listener.named("org.member.updated")] == [
            "Admin",
            "Guest",
        ]
    for after in (latest, latest + 1000):
        async with listening(owner) as listener:
            assert await listener.subscribe(room, after=after) == {
                "ok": True,
                "room": room,
                "seq": latest,
                "replayed": 0,
            }
            await quiesce(sqlite_server, listener)
            assert listener.events == []


async def test_missing_foreign_and_malformed_rooms_get_one_and_the_same_forbidden(server):
    sqlite_server = server  # and PostgreSQL, which answers a NUL in a query with an error
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    other_org, (stranger,) = await quick_team(sqlite_server, ["Owner"], org_name="Globex")
    rooms = [
        f"org:{other_org}",  # exists, not theirs
        "org:org_doesnotexist00000",  # does not exist
        f"user:{member.id}",  # another person's user room
        f"user:{stranger.id}",
        f"org:{org_id}x",
        f"ORG:{org_id}",
        f"org:{org_id}:extra",
        "org:",
        "user:",
        "nonsense",
        ":::",
        "project:p_doesnotexist",
        "unknown:whatever",
        f"org:{org_id}\x00",
        "task:t_\x00\x01",
        f"org: {org_id}",
        "project:p_é",
        "chat:c_a/b",
    ]
    async with listening(owner) as listener:
        acks = {room: await listener.subscribe(room) for room in rooms}
        reference = acks[f"org:{other_org}"]
        assert reference["ok"] is False and reference["error"]["code"] == "forbidden"
        assert set(reference) == {"ok", "error"} and set(reference["error"]) == {"code", "message"}
        assert acks == {room: reference for room in rooms}
        # The refused room delivers nothing.
        guest = await quick_signup(sqlite_server)
        async with stranger.http() as http:
            r = await http.post(
                f"/api/orgs/{other_org}/invites", json={"email": guest.email, "role": "Member"}
            )
            token = r.json()["invite"]["token"]
        async with guest.http() as http:
            assert (await http.post(f"/api/invites/{token}/accept")).status_code == 200
        await quiesce(sqlite_server, listener)
        assert listener.events == []


INVALID_SUBSCRIBES = {
    "a string": "org:x_y",
    "a list": ["org:x_y"],
    "a number": 42,
    "nothing": None,
    "an empty object": {},
    "no room": {"after": 1},
    "room is a number": {"room": 5},
    "room is null": {"room": None},
    "room is a list": {"room": ["org:x"]},
    "room is an object": {"room": {"id": "org:x"}},
    "room is too short": {"room": "or"},
    "room is too long": {"room": "org:" + "x" * 77},
    "after is a string": {"room": "{room}", "after": "3"},
    "after is a boolean": {"room": "{room}", "after": True},
    "after is a fraction": {"room": "{room}", "after": 1.5},
    "after is negative": {"room": "{room}", "after": -1},
    "after is a list": {"room": "{room}", "after": [1]},
    "an extra field": {"room": "{room}", "after": 0, "limit": 10},
}


def _fill(payload, room: str):
    if isinstance(payload, dict):
        return {k: (room if v == "{room}" else v) for k, v in payload.items()}
    return payload


async def test_bad_subscribe_payloads_are_answered_invalid(sqlite_server):
    org_id, (owner,) = await quick_team(sqlite_server, ["Owner"])
    room = f"org:{org_id}"
    async with listening(owner) as listener:
        acks = {}
        for case, payload in INVALID_SUBSCRIBES.items():
            acks[case] = await listener.sio.call("subscribe", _fill(payload, room), timeout=10)
        codes = {
            case: ack.get("error", {}).get("code") if isinstance(ack, dict) else ack
            for case, ack in acks.items()
        }
        assert codes == {case: "invalid" for case in INVALID_SUBSCRIBES}
        for ack in acks.values():
            assert set(ack) == {"ok", "error"} and ack["ok"] is False
            assert set(ack["error"]) == {"code", "message"} and ack["error"]["message"]
        # Two arguments instead of one payload.
        two = await listener.sio.call("subscribe", (room, 0), timeout=10)
        assert two["ok"] is False and two["error"]["code"] == "invalid", two
        # The socket still works after all that.
        assert (await listener.subscribe(room))["ok"]


async def test_bad_unsubscribe_payloads_are_answered_invalid(sqlite_server):
    org_id, (owner,) = await quick_team(sqlite_server, ["Owner"])
    async with listening(owner, f"org:{org_id}") as listener:
        for payload in (
            "org:x",
            None,
            {},
            {"room": 5},
            {"room": "o"},
            {"room": "org:" + "x" * 77},
            {"room": f"org:{org_id}", "after": 0},
        ):
            ack = await listener.sio.call("unsubscribe", payload, timeout=10)
            assert ack["ok"] is False and ack["error"]["code"] == "invalid", (payload, ack)


async def test_an_oversized_payload_closes_that_socket_and_harms_nothing_else(sqlite_server):
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    room = f"org:{org_id}"
    limit = sqlite_server.settings.max_socket_payload
    assert limit == 64 * 1024
    async with listening(member, room) as bystander, listening(owner) as offender:
        # Just under the limit is an ordinary (invalid) request.
        near = await offender.sio.call("subscribe", {"room": "x" * (limit - 100)}, timeout=10)
        assert near["ok"] is False and near["error"]["code"] == "invalid"
        closed = asyncio.Event()
        offender.sio.on("disconnect", lambda *_: closed.set())
        await offender.sio.emit("subscribe", {"room": "x" * (limit + 1024)})
        await asyncio.wait_for(closed.wait(), 5)
        assert not offender.sio.connected
        # The server goes on: others keep receiving, newcomers connect and subscribe.
        await role_change(owner, org_id, member.id, "Admin")
        event = await bystander.wait_event("org.member.updated")
        assert event["data"]["member"]["role"] == "Admin"
        async with listening(owner, room) as newcomer:
            assert newcomer.sio.connected


# -- unsubscribe and isolation ------------------------------------------------------------


async def test_unsubscribe_stops_the_rooms_events(sqlite_server):
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    room = f"org:{org_id}"
    async with listening(member, room) as listener:
        await role_change(owner, org_id, member.id, "Admin")
        await listener.wait_event("org.member.updated")
        assert await listener.sio.call("unsubscribe", {"room": room}, timeout=10) == {"ok": True}
        await role_change(owner, org_id, member.id, "Guest")
        await quiesce(sqlite_server, listener)
        assert [e["data"]["member"]["role"] for e in listener.named("org.member.updated")] == [
            "Admin"
        ]
        # Unsubscribing from a room one is not in is harmless.
        assert await listener.sio.call("unsubscribe", {"room": room}, timeout=10) == {"ok": True}


async def test_a_person_of_another_org_never_receives_the_orgs_events(sqlite_server):
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    other_org, (stranger, colleague) = await quick_team(
        sqlite_server, ["Owner", "Member"], org_name="Globex"
    )
    async with listening(stranger, f"org:{other_org}") as listener:
        refused = await listener.subscribe(f"org:{org_id}")
        assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
        await role_change(owner, org_id, member.id, "Admin")
        async with member.http() as http:
            assert (await http.patch("/api/me", json={"name": "Renamed"})).status_code == 200
        # Last, a change in the stranger's own org: once it arrives, the others would have too.
        await role_change(stranger, other_org, colleague.id, "Admin")
        await listener.wait_event("org.member.updated")
        await quiesce(sqlite_server, listener)
        assert {e["room"] for e in listener.events} == {f"org:{other_org}"}
        assert {e["data"]["organizationId"] for e in listener.events} == {other_org}
        assert all(org_id not in str(e) for e in listener.events)


async def test_an_org_created_after_connecting_can_be_subscribed_at_once(sqlite_server):
    person = await quick_signup(sqlite_server)
    async with listening(person) as listener:
        started = time.monotonic()
        org_id = await make_org(person, "Fresh")
        ack = await listener.subscribe(f"org:{org_id}")
        assert ack == {"ok": True, "room": f"org:{org_id}", "seq": 0, "replayed": 0}
        assert time.monotonic() - started < 5


@pytest.mark.parametrize("kind", ["socket", "access"])
async def test_the_user_room_is_joined_whatever_the_token_kind(sqlite_server, kind):
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    token = await member.socket_token() if kind == "socket" else member.access
    listener = await Listener(sqlite_server, token).connect()
    try:
        async with owner.http() as http:
            assert (await http.delete(f"/api/orgs/{org_id}/members/{member.id}")).status_code == 204
        event = await listener.wait_event("org.member.removed")
        assert event["room"] == f"user:{member.id}"
    finally:
        await listener.close()


async def test_a_refused_subscribe_keeps_what_a_socket_in_the_room_was_sent_meanwhile(
    sqlite_server, monkeypatch
):
    """A subscribe holds the room's live events for its socket while it checks the room; when the
    check refuses a socket already in the room, what was held still reaches it."""
    org_id, (owner,) = await quick_team(sqlite_server, ["Owner"])
    room = f"org:{org_id}"
    listener = await Listener(sqlite_server, await owner.socket_token()).connect()
    try:
        assert (await listener.subscribe(room))["ok"]
        manager = sqlite_server.runtime.gateway.manager

        async def refuse_after_an_event(session, user_id, asked):
            await manager.emit(
                "test.filler", {"event": "test.filler", "seq": 10**9}, "/", room=room
            )
            return None

        monkeypatch.setattr(rooms, "authorize", refuse_after_an_event)
        ack = await listener.subscribe(room)
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
        await listener.wait_for(lambda e: e.get("event") == "test.filler")
    finally:
        await listener.close()
