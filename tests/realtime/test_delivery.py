"""Replay and order as a client sees them (SPEC §4 subscribe, §5.2–5.3): nothing lost, nothing twice, in seq order."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import pytest
from tests.harness import (
    Listener,
    Person,
    durable,
    eventually,
    join,
    listening,
    logged,
    quick_team,
    quiesce,
    rename,
    set_role,
    start_server,
)

from tandem.realtime import rooms


async def snapshot_cursor(person: Person, org_id: str) -> int:
    async with person.http() as http:
        r = await http.get(f"/api/orgs/{org_id}/members")
        assert r.status_code == 200, r.text
        return r.json()["cursor"]


async def connected(person: Person) -> Listener:
    return await Listener(person.server, await person.socket_token()).connect()


def assert_strictly_increasing(events: list[dict[str, Any]]) -> None:
    seqs = [e["seq"] for e in events]
    assert all(a < b for a, b in itertools.pairwise(seqs)), seqs


async def test_reconnect_with_after_replays_exactly_the_missed_events_in_order_before_the_ack_then_live(
    server,
):
    org_id, (owner, member, other) = await quick_team(server, ["Owner", "Member", "Member"])
    room = f"org:{org_id}"
    async with listening(
        owner, room
    ) as steady:  # stays connected throughout: what the room really carried
        client = await connected(member)
        assert (await client.subscribe(room))["ok"]
        await set_role(owner, org_id, other.id, "Admin")
        await rename(other, "Seen Before")
        await eventually(lambda: len(durable(client.events)) == 2)
        last_seen = durable(client.events)[-1]["seq"]
        await client.close()

        await set_role(owner, org_id, other.id, "Guest")
        await rename(owner, "Missed Owner")
        await set_role(owner, org_id, other.id, "Member")
        await rename(other, "Missed Other")
        await quiesce(server, steady)
        missed = [e for e in durable(steady.events, room) if e["seq"] > last_seen]
        assert len(missed) == 4

        back = await connected(member)
        try:
            ack = await back.subscribe(room, after=last_seen)
            before_ack = durable(back.events)
            assert before_ack == missed  # the same envelopes, all of them, in order, before the ack
            assert ack == {"ok": True, "room": room, "seq": missed[-1]["seq"], "replayed": 4}

            await set_role(owner, org_id, other.id, "Admin")
            live = await back.wait_for(lambda e: e.get("seq", 0) > missed[-1]["seq"])
            assert live["data"]["member"]["role"] == "Admin"
            await quiesce(server, back, steady)
            assert durable(back.events) == missed + [live]
            assert durable(steady.events, room)[-1] == live
        finally:
            await back.close()


async def test_subscribe_without_after_replays_nothing(sqlite_server):
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    room = f"org:{org_id}"
    await set_role(owner, org_id, member.id, "Admin")
    await sqlite_server.settle()
    latest = (await logged(sqlite_server, room))[-1]["seq"]

    client = await connected(member)
    try:
        ack = await client.subscribe(room)
        await quiesce(sqlite_server, client)
        assert ack == {"ok": True, "room": room, "seq": latest, "replayed": 0}
        assert durable(client.events) == []
    finally:
        await client.close()


async def test_after_at_or_past_the_latest_seq_replays_nothing_and_acks_normally(sqlite_server):
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    room = f"org:{org_id}"
    await set_role(owner, org_id, member.id, "Admin")
    await sqlite_server.settle()
    latest = (await logged(sqlite_server, room))[-1]["seq"]

    for after in (latest, latest + 1, latest + 10_000):
        client = await connected(member)
        try:
            ack = await client.subscribe(room, after=after)
            await quiesce(sqlite_server, client)
            assert ack == {"ok": True, "room": room, "seq": latest, "replayed": 0}, after
            assert [e["event"] for e in client.events if e.get("room") == room and "seq" in e] == []
            assert client.named("resync.required") == []
            # Live events still arrive, whatever position the client claimed.
            role = "Guest" if after % 2 else "Member"
            await set_role(owner, org_id, member.id, role)
            live = await client.wait_event("org.member.updated")
            assert live["data"]["member"]["role"] == role
            latest = live["seq"]
        finally:
            await client.close()


async def test_after_zero_replays_the_whole_room_log(sqlite_server):
    org_id, (owner, member, guest) = await quick_team(sqlite_server, ["Owner", "Member", "Guest"])
    room = f"org:{org_id}"
    await set_role(owner, org_id, guest.id, "Member")
    await sqlite_server.settle()
    whole = await logged(sqlite_server, room)
    assert [e["event"] for e in whole] == [
        "org.member.joined",
        "org.member.joined",
        "org.member.updated",
    ]

    client = await connected(member)
    try:
        ack = await client.subscribe(room, after=0)
        assert durable(client.events) == whole
        assert ack["replayed"] == 3 and ack["seq"] == whole[-1]["seq"]
    finally:
        await client.close()


async def test_replay_during_a_burst_of_concurrent_changes_loses_duplicates_and_reorders_nothing(
    server,
):
    """Many sockets subscribe with `after` while changes commit concurrently: the replay/live hand-off."""
    org_id, people = await quick_team(server, ["Owner"] + ["Member"] * 4)
    owner, members = people[0], people[1:]
    room = f"org:{org_id}"
    await server.settle()
    cursor = await snapshot_cursor(owner, org_id)
    sockets = [await connected(people[i % len(people)]) for i in range(12)]
    rounds = 6
    rng = random.Random(7)

    async def writer(person: Person) -> None:
        for i in range(rounds):
            await rename(person, f"{person.id} v{i}")
            await asyncio.sleep(rng.random() * 0.02)

    async def subscriber(listener: Listener, delay: float) -> None:
        await asyncio.sleep(delay)
        ack = await listener.subscribe(room, after=cursor)
        assert ack["ok"], ack

    try:
        await asyncio.gather(
            *(writer(p) for p in members),
            *(subscriber(s, i * 0.025) for i, s in enumerate(sockets)),
        )
        total = rounds * len(members)
        await eventually(
            lambda: all(len(durable(s.events, room)) >= total for s in sockets), timeout=15
        )
        await quiesce(server, *sockets)
        expected = await logged(server, room, after=cursor)
        assert len(expected) == total
        for i, listener in enumerate(sockets):
            seqs = [e["seq"] for e in durable(listener.events, room)]
            assert durable(listener.events, room) == expected, f"socket {i} received seqs {seqs}"
    finally:
        for listener in sockets:
            await listener.close()


@pytest.mark.parametrize("in_room", [False, True], ids=["joining", "subscribed-again"])
async def test_an_event_published_while_a_subscribe_is_being_authorized_arrives_once(
    server, monkeypatch, in_room
):
    """A change commits and is published right after the subscribe's authorization read: a socket
    joining the room gets it from the replay; one already in the room gets it once, in order."""
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    room = f"org:{org_id}"
    await server.settle()
    cursor = await snapshot_cursor(owner, org_id)
    authorize = rooms.authorize

    async def authorize_then_change(session: Any, user_id: str, name: str) -> Any:
        grant = await authorize(session, user_id, name)
        if name == room:
            await rename(member, "Renamed meanwhile")
            await server.settle()
        return grant

    listener = await connected(owner)
    try:
        if in_room:
            assert (await listener.subscribe(room))["ok"]
        monkeypatch.setattr(rooms, "authorize", authorize_then_change)
        ack = await listener.subscribe(room, after=cursor)
        assert ack["ok"] and ack["replayed"] == 1, ack
        await quiesce(server, listener)
        got = durable(listener.events, room)
        assert got == await logged(server, room, after=cursor)
        assert [e["data"]["member"]["name"] for e in got] == ["Renamed meanwhile"]
    finally:
        await listener.close()


async def test_seq_strictly_increases_in_every_room_and_one_event_keeps_one_seq_across_rooms(
    sqlite_server,
):
    org_a, (owner_a, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    org_b, (owner_b,) = await quick_team(sqlite_server, ["Owner"])
    await join(org_b, owner_b, member, "Member")
    room_a, room_b, own_room = f"org:{org_a}", f"org:{org_b}", f"user:{member.id}"
    async with listening(owner_a, room_a) as watcher_a, listening(member, room_a, room_b) as client:
        for i in range(3):
            await set_role(owner_a, org_a, member.id, ["Admin", "Guest", "Member"][i])
            await set_role(owner_b, org_b, member.id, ["Admin", "Guest", "Member"][i])
            await rename(member, f"Member v{i}")  # one event per org the person belongs to
        async with owner_a.http() as http:
            r = await http.delete(f"/api/orgs/{org_a}/members/{member.id}")
            assert r.status_code == 204, r.text
        await set_role(owner_b, org_b, member.id, "Admin")
        await quiesce(sqlite_server, watcher_a, client)

        for room in (room_a, room_b, own_room):
            in_log = await logged(sqlite_server, room)
            assert_strictly_increasing(in_log)
            assert_strictly_increasing(durable(client.events, room))
        assert len(durable(client.events, room_b)) == 3 + 3 + 1  # roles, renames, the last role
        assert_strictly_increasing(durable(watcher_a.events, room_a))

        # The removal is one event: the org room and the removed person's room carry it with the same seq.
        in_org = watcher_a.named("org.member.removed")
        in_own = [e for e in client.named("org.member.removed") if e["room"] == own_room]
        assert len(in_org) == 1 and len(in_own) == 1
        assert in_org[0]["room"] == room_a
        assert in_org[0]["seq"] == in_own[0]["seq"]
        assert (
            in_org[0]["data"]
            == in_own[0]["data"]
            == {
                "organizationId": org_a,
                "userId": member.id,
                "removedBy": owner_a.id,
            }
        )
        # The profile change became one event per org, each with its own seq.
        renames = [
            e
            for e in durable(client.events)
            if e["event"] == "org.member.updated"
            and e["meta"]["actorId"] == member.id
            and e["data"]["member"]["name"] == "Member v0"
        ]
        assert sorted(e["room"] for e in renames) == sorted([room_a, room_b])
        assert renames[0]["seq"] != renames[1]["seq"]


async def test_a_position_older_than_the_log_keeps_gets_resync_required_then_the_ack(
    database_url, tmp_path
):
    keep = 2  # events kept per room past the retention: a small log to fall out of
    async with start_server(
        database_url, tmp_path, event_retention_days=0, event_retention_min_per_room=keep
    ) as srv:
        org_id, (owner, member) = await quick_team(srv, ["Owner", "Member"])
        room = f"org:{org_id}"
        await srv.settle()
        old = await snapshot_cursor(owner, org_id)
        for role in ["Admin", "Guest", "Member", "Admin"]:
            await set_role(owner, org_id, member.id, role)
        await srv.settle()
        whole = await logged(srv, room)
        assert await srv.runtime.prune_log() > 0
        kept = await logged(srv, room)
        assert kept == whole[-keep:]
        floor = whole[-keep - 1]["seq"]

        client = await connected(member)
        try:
            ack = await client.subscribe(room, after=old)
            assert [e.get("event") for e in client.events if e.get("room") == room] == [
                "resync.required"
            ]
            resync = client.named("resync.required")[0]
            assert resync["room"] == room and "seq" not in resync
            assert resync["data"]["room"] == room and isinstance(resync["data"]["reason"], str)
            assert resync["data"]["reason"]
            assert set(resync["meta"]) >= {"emittedAt", "producer", "traceId"}
            assert ack == {"ok": True, "room": room, "seq": whole[-1]["seq"], "replayed": 0}

            # Live events still flow to the socket after a resync (it is in the room).
            await set_role(owner, org_id, member.id, "Guest")
            live = await client.wait_event("org.member.updated")
            assert live["seq"] > whole[-1]["seq"]
        finally:
            await client.close()

        # From the floor on, the log still reaches: a normal replay, no resync.
        again = await connected(member)
        try:
            ack = await again.subscribe(room, after=floor)
            assert again.named("resync.required") == []
            assert durable(again.events)[:keep] == kept
            assert ack["replayed"] == keep + 1
        finally:
            await again.close()

        async with member.http() as http:
            r = await http.get("/api/events", params={"room": room, "after": old})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["resync"] is True and body["events"] == []
            r = await http.get("/api/events", params={"room": room, "after": floor})
            assert r.json()["resync"] is False and r.json()["events"][:keep] == kept
