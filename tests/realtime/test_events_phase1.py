"""Phase 1 (Organization Members) events as a subscriber receives them: the exact envelope of each (SPEC §4)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

from tests.conftest import PG_URL
from tests.harness import (
    Listener,
    assert_envelope,
    eventually,
    fresh_database_url,
    launch,
    listening,
    member_data,
    on,
    quick_signup,
    quick_team,
    quiesce,
    set_role,
    start_server,
)


async def accept_invite(org_id: str, inviter, person, role: str):
    async with inviter.http() as http:
        r = await http.post(
            f"/api/orgs/{org_id}/invites", json={"email": person.email, "role": role}
        )
        assert r.status_code == 201, r.text
        token = r.json()["invite"]["token"]
    async with person.http() as http:
        r = await http.post(f"/api/invites/{token}/accept")
        assert r.status_code == 200, r.text
        return r


async def snapshot(person, org_id: str) -> dict:
    async with person.http() as http:
        r = await http.get(f"/api/orgs/{org_id}/members")
        assert r.status_code == 200, r.text
        return r.json()


def presence_of(listener: Listener, user_id: str) -> list[dict]:
    return [e for e in listener.named("org.member.presence") if e["data"]["userId"] == user_id]


# -- durable events ----------------------------------------------------------------------


async def test_member_joined(server):
    org_id, (owner,) = await quick_team(server, ["Owner"])
    newcomer = await quick_signup(server)
    cursor = (await snapshot(owner, org_id))["cursor"]
    async with listening(owner, f"org:{org_id}") as listener:
        r = await accept_invite(org_id, owner, newcomer, "Admin")
        event = await listener.wait_event("org.member.joined")
    assert_envelope(
        event,
        "org.member.joined",
        f"org:{org_id}",
        {"organizationId": org_id, "member": member_data(newcomer, "Admin")},
        actor_id=newcomer.id,
        trace_id=r.headers["x-trace-id"],
    )
    assert event["seq"] > cursor


async def test_member_updated_on_a_role_change(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    async with (
        listening(owner, f"org:{org_id}") as actor,
        listening(member, f"org:{org_id}") as subject,
    ):
        r = await set_role(owner, org_id, member.id, "Admin")
        seen_by_actor = await actor.wait_event("org.member.updated")
        seen_by_subject = await subject.wait_event("org.member.updated")
    assert_envelope(
        seen_by_actor,
        "org.member.updated",
        f"org:{org_id}",
        {"organizationId": org_id, "member": member_data(member, "Admin")},
        actor_id=owner.id,
        trace_id=r.headers["x-trace-id"],
    )
    assert seen_by_subject == seen_by_actor


async def test_member_updated_on_a_profile_change_reaches_every_org_of_that_person(server):
    org_a, (owner_a, person) = await quick_team(server, ["Owner", "Member"], org_name="Acme")
    org_b, (owner_b,) = await quick_team(server, ["Owner"], org_name="Globex")
    await accept_invite(org_b, owner_b, person, "Admin")
    async with (
        listening(owner_a, f"org:{org_a}") as in_a,
        listening(owner_b, f"org:{org_b}") as in_b,
        listening(person, f"org:{org_a}", f"org:{org_b}") as own,
    ):
        async with person.http() as http:
            r = await http.patch(
                "/api/me", json={"name": "Ada Lovelace", "avatarUrl": "https://img.example/ada.png"}
            )
            assert r.status_code == 200, r.text
        event_a = await in_a.wait_event("org.member.updated")
        event_b = await in_b.wait_event("org.member.updated")
        await quiesce(server, own)
    changed = {"name": "Ada Lovelace", "avatarUrl": "https://img.example/ada.png"}
    assert_envelope(
        event_a,
        "org.member.updated",
        f"org:{org_a}",
        {"organizationId": org_a, "member": member_data(person, "Member", **changed)},
        actor_id=person.id,
        trace_id=r.headers["x-trace-id"],
    )
    assert_envelope(
        event_b,
        "org.member.updated",
        f"org:{org_b}",
        {"organizationId": org_b, "member": member_data(person, "Admin", **changed)},
        actor_id=person.id,
        trace_id=r.headers["x-trace-id"],
    )
    # The actor hears its own change too, once per org.
    assert sorted(own.named("org.member.updated"), key=lambda e: e["room"]) == sorted(
        [event_a, event_b], key=lambda e: e["room"]
    )


async def test_member_left(server):
    org_id, (owner, member, other) = await quick_team(server, ["Owner", "Member", "Member"])
    room = f"org:{org_id}"
    async with listening(owner, room) as listener, listening(member, room) as leaver:
        async with member.http() as http:
            r = await http.post(f"/api/orgs/{org_id}/leave")
            assert r.status_code == 204, r.text
        event = await listener.wait_event("org.member.left")
        # The one who left hears no more of the org, and cannot come back in.
        await set_role(owner, org_id, other.id, "Admin")
        await listener.wait_event("org.member.updated")
        await quiesce(server, leaver)
        assert [e for e in leaver.events if e["event"] == "org.member.updated"] == []
        refused = await leaver.subscribe(room)
        assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
    assert_envelope(
        event,
        "org.member.left",
        room,
        {"organizationId": org_id, "userId": member.id},
        actor_id=member.id,
        trace_id=r.headers["x-trace-id"],
    )
    # The leaver's own tabs hear it on their user room, with the same seq, so they can move on.
    own = [e for e in leaver.named("org.member.left") if e["room"] == f"user:{member.id}"]
    assert len(own) == 1 and own[0]["seq"] == event["seq"] and own[0]["data"] == event["data"]


async def test_member_removed_reaches_the_org_and_the_person_who_is_evicted_at_once(server):
    org_id, (owner, member, other) = await quick_team(server, ["Owner", "Member", "Member"])
    room = f"org:{org_id}"
    async with (
        listening(owner, room) as org_side,
        listening(member, room) as removed,
        listening(member, room) as second_tab,
    ):
        sids = {removed.sio.get_sid(), second_tab.sio.get_sid()}
        async with owner.http() as http:
            r = await http.delete(f"/api/orgs/{org_id}/members/{member.id}")
            assert r.status_code == 204, r.text
        started = time.monotonic()  # the removal has committed
        while sids & set(server.runtime.gateway.manager.rooms["/"].get(room, {})):
            assert time.monotonic() - started < 1.0, (
                "a socket of the removed person is still in the org room"
            )
            await asyncio.sleep(0.01)
        to_org = await org_side.wait_event("org.member.removed")
        to_person = await removed.wait_for(
            lambda e: e["event"] == "org.member.removed" and e["room"] == f"user:{member.id}"
        )
        data = {"organizationId": org_id, "userId": member.id, "removedBy": owner.id}
        assert_envelope(
            to_org,
            "org.member.removed",
            room,
            data,
            actor_id=owner.id,
            trace_id=r.headers["x-trace-id"],
        )
        assert_envelope(
            to_person,
            "org.member.removed",
            f"user:{member.id}",
            data,
            actor_id=owner.id,
            trace_id=r.headers["x-trace-id"],
        )
        # Later org events reach the org, not the removed person; nor can they come back in.
        await set_role(owner, org_id, other.id, "Admin")
        await org_side.wait_event("org.member.updated")
        await quiesce(server, removed, second_tab)
        for tab in (removed, second_tab):
            assert tab.named("org.member.updated") == []
            # Told once that it left the org room, then only their own room's events.
            assert [e["room"] for e in tab.named("room.evicted")] == [room]
            heard = [e["room"] for e in tab.events if e["event"] != "room.evicted"]
            assert heard == [f"user:{member.id}"]
        refused = await removed.subscribe(room)
        assert refused["ok"] is False and refused["error"]["code"] == "forbidden"


async def test_seq_strictly_increases_within_a_room_and_matches_the_log(server):
    org_id, (owner, a, b) = await quick_team(server, ["Owner", "Member", "Member"])
    other_org, (other_owner, c) = await quick_team(server, ["Owner", "Member"], org_name="Globex")
    room = f"org:{org_id}"
    await server.settle()  # the joins are in the log, so the cursor is past them
    cursor = (await snapshot(owner, org_id))["cursor"]
    async with listening(owner, room) as listener:
        for role in ("Admin", "Guest", "Member"):
            await set_role(owner, org_id, a.id, role)
            await set_role(other_owner, other_org, c.id, role)  # interleaved seqs of another room
        async with b.http() as http:
            assert (await http.patch("/api/me", json={"name": "Bea"})).status_code == 200
            assert (await http.post(f"/api/orgs/{org_id}/leave")).status_code == 204
        await quiesce(server, listener)
    seqs = [e["seq"] for e in listener.events]
    assert len(seqs) == 5 and seqs[0] > cursor
    assert all(x < y for x, y in itertools.pairwise(seqs))
    async with owner.http() as http:
        log = (await http.get("/api/events", params={"room": room, "after": cursor})).json()[
            "events"
        ]
    assert listener.events == log


# -- presence ----------------------------------------------------------------------------


async def test_presence_online_with_the_first_socket_and_offline_after_the_last(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    async with listening(owner, f"org:{org_id}") as observer:
        started = time.monotonic()
        socket = await Listener(server, await member.socket_token()).connect()
        online = await observer.wait_for(
            lambda e: e["event"] == "org.member.presence" and e["data"]["userId"] == member.id,
            timeout=2,
        )
        assert time.monotonic() - started < 2
        assert_envelope(
            online,
            "org.member.presence",
            f"org:{org_id}",
            {
                "organizationId": org_id,
                "userId": member.id,
                "online": True,
                "lastActiveAt": online["data"]["lastActiveAt"],
            },
            actor_id=member.id,
            durable=False,
        )
        row = {m["userId"]: m for m in (await snapshot(owner, org_id))["members"]}[member.id]
        assert row["online"] is True and row["lastActiveAt"] == online["data"]["lastActiveAt"]

        started = time.monotonic()
        await socket.close()
        offline = await observer.wait_for(
            lambda e: (
                e["event"] == "org.member.presence"
                and e["data"]["userId"] == member.id
                and not e["data"]["online"]
            ),
            timeout=2,
        )
        assert time.monotonic() - started < 2
        assert_envelope(
            offline,
            "org.member.presence",
            f"org:{org_id}",
            {
                "organizationId": org_id,
                "userId": member.id,
                "online": False,
                "lastActiveAt": offline["data"]["lastActiveAt"],
            },
            actor_id=member.id,
            durable=False,
        )
        assert offline["data"]["lastActiveAt"] >= online["data"]["lastActiveAt"]
        row = {m["userId"]: m for m in (await snapshot(owner, org_id))["members"]}[member.id]
        assert row["online"] is False and row["lastActiveAt"] == offline["data"]["lastActiveAt"]
        assert [e["data"]["online"] for e in presence_of(observer, member.id)] == [True, False]


async def test_closing_one_of_two_sockets_keeps_the_person_online(sqlite_server):
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    grace = sqlite_server.settings.presence_grace_seconds
    async with listening(owner, f"org:{org_id}") as observer:
        first = await Listener(sqlite_server, await member.socket_token()).connect()
        second = await Listener(sqlite_server, await member.socket_token()).connect()
        await observer.wait_event("org.member.presence", userId=member.id, online=True, timeout=2)
        await first.close()
        await asyncio.sleep(
            grace + 0.5
        )  # past the grace period: an offline would have been sent by now
        await quiesce(sqlite_server, observer)
        assert [e["data"]["online"] for e in presence_of(observer, member.id)] == [True]
        row = {m["userId"]: m for m in (await snapshot(owner, org_id))["members"]}[member.id]
        assert row["online"] is True
        await second.close()
        await observer.wait_event("org.member.presence", userId=member.id, online=False, timeout=2)
        assert [e["data"]["online"] for e in presence_of(observer, member.id)] == [True, False]


async def test_a_reconnect_within_the_grace_period_does_not_flap(sqlite_server):
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    grace = sqlite_server.settings.presence_grace_seconds
    async with listening(owner, f"org:{org_id}") as observer:
        socket = await Listener(sqlite_server, await member.socket_token()).connect()
        await observer.wait_event("org.member.presence", userId=member.id, online=True, timeout=2)
        token = await member.socket_token()
        await socket.close()  # a page reload: the old socket goes, a new one comes
        socket = await Listener(sqlite_server, token).connect()
        await asyncio.sleep(grace + 0.5)
        await quiesce(sqlite_server, observer)
        assert [e["data"]["online"] for e in presence_of(observer, member.id)] == [True]
        await socket.close()
        await observer.wait_event("org.member.presence", userId=member.id, online=False, timeout=2)


def online_in(members: dict) -> set[str]:
    return {m["userId"] for m in members["members"] if m["online"]}


async def test_a_restart_keeps_who_was_online_and_settles_who_does_not_come_back(tmp_path):
    """One process without Redis: a graceful restart is not everyone leaving and coming back."""
    async with fresh_database_url("sqlite", tmp_path, PG_URL) as url:
        first = await launch(url, tmp_path, presence_restart_grace_seconds=1.5)
        try:
            org_id, (owner, back, gone) = await quick_team(first, ["Owner", "Member", "Member"])
            sockets = [
                await Listener(first, await p.socket_token()).connect() for p in (back, gone)
            ]

            async def both_online() -> bool:
                return {back.id, gone.id} <= online_in(await snapshot(owner, org_id))

            await eventually(both_online)
        finally:
            await first.stop()  # it closes the sockets
        second = await launch(url, tmp_path, presence_restart_grace_seconds=1.5)
        try:
            owner, back = on(owner, second), on(back, second)
            assert {back.id, gone.id} <= online_in(await snapshot(owner, org_id))
            async with listening(owner, f"org:{org_id}") as observer:
                returning = await Listener(second, await back.socket_token()).connect()
                await observer.wait_event(
                    "org.member.presence", userId=gone.id, online=False, timeout=5
                )
                await quiesce(second, observer)
                assert presence_of(observer, back.id) == []  # coming back announced nothing
                online = online_in(await snapshot(owner, org_id))
                assert back.id in online and gone.id not in online
                await returning.close()  # and from then on, presence goes as ever
                await observer.wait_event(
                    "org.member.presence", userId=back.id, online=False, timeout=5
                )
        finally:
            await second.stop()
            for socket in sockets:
                await socket.close()


async def test_an_unreadable_saved_presence_is_logged_and_forgotten(tmp_path, caplog):
    (tmp_path / "presence.json").write_text('{"online": "everyone"}')
    async with fresh_database_url("sqlite", tmp_path, PG_URL) as url:
        with caplog.at_level(logging.WARNING, logger="tandem.presence"):
            async with start_server(url, tmp_path) as srv:
                org_id, (owner,) = await quick_team(srv, ["Owner"])
                assert online_in(await snapshot(owner, org_id)) == set()
                assert not (tmp_path / "presence.json").exists()
    assert any(
        "presence saved at the last stop is unreadable" in r.getMessage() for r in caplog.records
    )


async def test_presence_that_cannot_be_saved_at_stop_is_logged_and_the_stop_goes_on(
    tmp_path, caplog
):
    (tmp_path / "presence.json").mkdir()  # neither readable nor replaceable as a file
    async with fresh_database_url("sqlite", tmp_path, PG_URL) as url:
        with caplog.at_level(logging.WARNING, logger="tandem.presence"):
            async with start_server(url, tmp_path) as srv:
                _org_id, (_owner, member) = await quick_team(srv, ["Owner", "Member"])
                socket = await Listener(srv, await member.socket_token()).connect()
                await eventually(lambda: srv.runtime.presence.online([member.id]), timeout=5)
            await socket.close()
    logged = [r.getMessage() for r in caplog.records]
    assert "presence saved at the last stop is unreadable" in logged
    assert "could not save presence at stop" in logged


async def test_presence_goes_to_every_org_of_the_person(sqlite_server):
    org_a, (owner_a, person) = await quick_team(sqlite_server, ["Owner", "Member"], org_name="Acme")
    org_b, (owner_b,) = await quick_team(sqlite_server, ["Owner"], org_name="Globex")
    await accept_invite(org_b, owner_b, person, "Guest")
    async with (
        listening(owner_a, f"org:{org_a}") as in_a,
        listening(owner_b, f"org:{org_b}") as in_b,
    ):
        socket = await Listener(sqlite_server, await person.socket_token()).connect()
        for org_id, observer in ((org_a, in_a), (org_b, in_b)):
            event = await observer.wait_event(
                "org.member.presence", userId=person.id, online=True, timeout=2
            )
            assert event["room"] == f"org:{org_id}" and event["data"]["organizationId"] == org_id
        await socket.close()
        for org_id, observer in ((org_a, in_a), (org_b, in_b)):
            event = await observer.wait_event(
                "org.member.presence", userId=person.id, online=False, timeout=2
            )
            assert event["room"] == f"org:{org_id}" and event["data"]["organizationId"] == org_id


async def test_a_burst_of_connects_announces_each_person_once_to_their_own_orgs(
    server, monkeypatch
):
    """Connects that come together are announced in batches (one transaction each, not one per
    person): each person still comes online once, with a lastActiveAt, to their orgs and no other."""
    org_a, people_a = await quick_team(server, ["Owner"] + ["Member"] * 6, org_name="Acme")
    org_b, people_b = await quick_team(server, ["Owner"] + ["Member"] * 6, org_name="Globex")
    runtime = server.runtime
    batches: list[int] = []
    announce = runtime._announce

    async def counted(batch: dict[str, bool]) -> None:
        batches.append(len(batch))
        await announce(batch)

    monkeypatch.setattr(runtime, "_announce", counted)
    burst = [*people_a[1:], *people_b[1:]]
    async with (
        listening(people_a[0], f"org:{org_a}") as in_a,
        listening(people_b[0], f"org:{org_b}") as in_b,
    ):
        tokens = [await person.socket_token() for person in burst]
        sockets = await asyncio.gather(*(Listener(server, t).connect() for t in tokens))
        for observer, mine in ((in_a, people_a[1:]), (in_b, people_b[1:])):
            for person in mine:
                await observer.wait_event(
                    "org.member.presence", userId=person.id, online=True, timeout=5
                )
        await quiesce(server)
        for observer, mine, org_id in ((in_a, people_a, org_a), (in_b, people_b, org_b)):
            heard = observer.named("org.member.presence")
            assert sorted(e["data"]["userId"] for e in heard) == sorted(p.id for p in mine[1:])
            assert all(e["data"]["organizationId"] == org_id for e in heard)
            assert all(e["data"]["lastActiveAt"] for e in heard)
        rows = {
            row["userId"]: row
            for org_id, owner in ((org_a, people_a[0]), (org_b, people_b[0]))
            for row in (await snapshot(owner, org_id))["members"]
        }
        assert all(rows[p.id]["online"] and rows[p.id]["lastActiveAt"] for p in burst)
        assert sum(batches) >= len(burst) and len(batches) < len(burst), batches
        for socket in sockets:
            await socket.close()


async def test_someone_online_when_they_join_is_announced_online_to_the_org(sqlite_server):
    org_id, (owner,) = await quick_team(sqlite_server, ["Owner"])
    person = await quick_signup(sqlite_server)
    socket = await Listener(
        sqlite_server, await person.socket_token()
    ).connect()  # online before joining
    try:
        async with listening(owner, f"org:{org_id}") as observer:
            await accept_invite(org_id, owner, person, "Member")
            presence = await observer.wait_event("org.member.presence", userId=person.id, timeout=2)
            row = {m["userId"]: m for m in (await snapshot(owner, org_id))["members"]}[person.id]
        # After the joined event, or a client applying joined (online: false by default) would show them offline.
        assert [e["event"] for e in observer.events] == ["org.member.joined", "org.member.presence"]
        assert_envelope(
            presence,
            "org.member.presence",
            f"org:{org_id}",
            {
                "organizationId": org_id,
                "userId": person.id,
                "online": True,
                "lastActiveAt": row["lastActiveAt"],
            },
            actor_id=person.id,
            durable=False,
        )
        assert row["online"] is True
    finally:
        await socket.close()


# -- isolation ----------------------------------------------------------------------------


async def test_no_event_type_crosses_into_another_org(sqlite_server):
    org_id, (owner, changer, leaver, removed) = await quick_team(
        sqlite_server, ["Owner", "Member", "Member", "Member"]
    )
    other_org, (stranger, colleague) = await quick_team(
        sqlite_server, ["Owner", "Member"], org_name="Globex"
    )
    newcomer = await quick_signup(sqlite_server)
    async with (
        listening(owner, f"org:{org_id}") as insider,
        listening(stranger, f"org:{other_org}") as outsider,
    ):
        await accept_invite(org_id, owner, newcomer, "Member")
        await set_role(owner, org_id, changer.id, "Admin")
        async with changer.http() as http:
            assert (await http.patch("/api/me", json={"name": "Changed"})).status_code == 200
        async with leaver.http() as http:
            assert (await http.post(f"/api/orgs/{org_id}/leave")).status_code == 204
        async with owner.http() as http:
            assert (
                await http.delete(f"/api/orgs/{org_id}/members/{removed.id}")
            ).status_code == 204
        socket = await Listener(sqlite_server, await changer.socket_token()).connect()
        await insider.wait_event("org.member.presence", userId=changer.id, online=True, timeout=2)
        await socket.close()
        await insider.wait_event("org.member.presence", userId=changer.id, online=False, timeout=2)
        # Last, a change in the stranger's own org: it arrives after anything sent before it.
        await set_role(stranger, other_org, colleague.id, "Admin")
        await outsider.wait_event("org.member.updated")
        await quiesce(sqlite_server, insider, outsider)
    assert {e["event"] for e in insider.events} == {
        "org.member.joined",
        "org.member.updated",
        "org.member.left",
        "org.member.removed",
        "org.member.presence",
    }
    assert [e["event"] for e in outsider.events] == ["org.member.updated"]
    assert outsider.events[0]["data"]["organizationId"] == other_org


async def test_a_failed_presence_batch_loses_neither_the_connect_nor_the_next_batch(
    server, monkeypatch, caplog
):
    """When writing a batch of presence changes fails (the database refuses it), the failure is
    logged, the person's socket still connects and works, and the changes that come after are
    announced."""
    org_id, (owner, first, second) = await quick_team(server, ["Owner", "Member", "Member"])
    runtime = server.runtime
    announce, armed, failed = runtime._announce, [], []

    async def failing_once(batch: dict[str, bool]) -> None:
        if armed and not failed:
            failed.append(batch)
            raise RuntimeError("the database refused the batch")
        await announce(batch)

    monkeypatch.setattr(runtime, "_announce", failing_once)
    async with listening(owner, f"org:{org_id}") as observer:
        await quiesce(server)
        armed.append(True)
        with caplog.at_level(logging.ERROR, logger="tandem"):
            one = await Listener(server, await first.socket_token()).connect()
        assert list(failed[0]) == [first.id]
        assert any(r.getMessage() == "announcing 1 presence changes failed" for r in caplog.records)
        ack = await one.subscribe(f"org:{org_id}")
        assert ack["ok"] is True, ack
        two = await Listener(server, await second.socket_token()).connect()
        await observer.wait_event("org.member.presence", userId=second.id, online=True, timeout=5)
        await one.close()
        await two.close()
