"""Re-checking a person's sockets after a membership change: once per room, whatever their socket count.

A person may hold many sockets in the same org room. A role change must cost one room check for
all of them (not one per socket), a name change none at all, and a removal must still take
every one of them out of the room at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from tests.harness import Listener, Person, Server, quick_team, quiesce, rename, set_role

from tandem.realtime import rooms

SOCKETS = 50


@asynccontextmanager
async def counting_org_checks() -> AsyncIterator[list[tuple[str, str]]]:
    """Every (person, org) the `org:` room policy is asked about while the block runs."""
    original = rooms._policies["org"]
    asked: list[tuple[str, str]] = []

    async def counted(session, user_id: str, org_id: str) -> rooms.Grant | None:
        asked.append((user_id, org_id))
        return await original(session, user_id, org_id)

    rooms.room_policy("org")(counted)
    try:
        yield asked
    finally:
        rooms.room_policy("org")(original)


@asynccontextmanager
async def many_sockets(person: Person, room: str, count: int) -> AsyncIterator[list[Listener]]:
    token = await person.socket_token()
    listeners = [Listener(person.server, token) for _ in range(count)]
    try:
        await asyncio.gather(*(listener.connect() for listener in listeners))
        acks = await asyncio.gather(*(listener.subscribe(room) for listener in listeners))
        assert all(ack["ok"] for ack in acks), acks
        yield listeners
    finally:
        await asyncio.gather(*(listener.close() for listener in listeners))


async def test_a_role_change_checks_the_room_once_for_all_of_a_persons_sockets(server: Server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    room = rooms.org_room(org_id)
    async with many_sockets(member, room, SOCKETS) as sockets, counting_org_checks() as asked:
        await set_role(owner, org_id, member.id, "Admin")
        await quiesce(server, *sockets)
        assert asked == [(member.id, org_id)]
        # Still in the room: the new role keeps access.
        await rename(owner, "Owner renamed")
        await quiesce(server, *sockets)
        assert all(
            any(
                e["data"]["member"]["userId"] == owner.id
                for e in listener.named("org.member.updated")
            )
            for listener in sockets
        )


async def test_a_name_change_checks_no_room(server: Server):
    org_id, (_owner, member) = await quick_team(server, ["Owner", "Member"])
    room = rooms.org_room(org_id)
    async with many_sockets(member, room, 5) as sockets, counting_org_checks() as asked:
        await rename(member, "A new name")
        await quiesce(server, *sockets)
        assert asked == []
        assert all(listener.named("org.member.updated") for listener in sockets)


async def test_a_removal_takes_every_socket_out_of_the_room_within_a_second(server: Server):
    org_id, (owner, member, other) = await quick_team(server, ["Owner", "Member", "Member"])
    room = rooms.org_room(org_id)
    async with many_sockets(member, room, SOCKETS) as sockets:
        started = time.monotonic()
        async with owner.http() as http:
            r = await http.delete(f"/api/orgs/{org_id}/members/{member.id}")
            assert r.status_code == 204, r.text
        await asyncio.gather(
            *(listener.wait_event("org.member.removed", timeout=1) for listener in sockets)
        )
        await server.settle()
        took = time.monotonic() - started
        assert took < 1, took
        # The room's next event reaches none of the removed person's sockets.
        await set_role(owner, org_id, other.id, "Admin")
        await quiesce(server, *sockets)
        leaked = [
            e
            for listener in sockets
            for e in listener.events
            if e.get("room") == room and e.get("event") == "org.member.updated"
        ]
        assert leaked == []


async def test_a_recheck_of_every_socket_asks_once_per_person_and_room(server: Server):
    """After a dispatcher takeover every instance re-checks all its sockets; a membership whose
    side effects never ran (its leader died after commit) is enforced then."""
    from tandem.orgs import repository

    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    room = rooms.org_room(org_id)
    async with (
        many_sockets(owner, room, 10) as owners,
        many_sockets(member, room, 10) as members,
    ):
        async with server.runtime.db.unit_of_work() as session:
            await repository.delete_membership(session, org_id, member.id)
        async with counting_org_checks() as asked:
            await server.runtime.bus.publish({"type": "reauthorize_all"})
            assert sorted(asked) == sorted([(owner.id, org_id), (member.id, org_id)])
        await rename(owner, "Owner renamed")
        await quiesce(server, *owners, *members)
        assert all(listener.named("org.member.updated") for listener in owners)
        assert not any(listener.named("org.member.updated") for listener in members)


@pytest.mark.parametrize("removed", [True, False], ids=["removed", "role-changed"])
async def test_a_recheck_while_a_subscribe_is_authorized_decides_it_again(
    server: Server, monkeypatch, removed: bool
):
    """The person's access changes, and their sockets are re-checked, between the subscribe's
    authorization and its socket entering the room: the re-check could not see that socket in the
    room, so the subscribe asks again. Removed: refused, and nothing of the room reaches the
    socket; a role change that keeps access: subscribed, and the room's events arrive."""
    org_id, (owner, member, other) = await quick_team(server, ["Owner", "Member", "Member"])
    room = rooms.org_room(org_id)
    authorize = rooms.authorize
    changed = False

    async def authorize_then_change(session, user_id: str, name: str) -> rooms.Grant | None:
        nonlocal changed
        grant = await authorize(session, user_id, name)
        if name == room and user_id == member.id and not changed:
            changed = True
            if removed:
                async with owner.http() as http:
                    r = await http.delete(f"/api/orgs/{org_id}/members/{member.id}")
                    assert r.status_code == 204, r.text
            else:
                await set_role(owner, org_id, member.id, "Admin")
            await server.settle()  # the change's re-check has run
        return grant

    listener = await Listener(server, await member.socket_token()).connect()
    try:
        monkeypatch.setattr(rooms, "authorize", authorize_then_change)
        checks = server.runtime.gateway.rechecks
        ack = await listener.subscribe(room)
        assert changed and server.runtime.gateway.rechecks > checks
        if removed:
            assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
        else:
            assert ack["ok"], ack
        await set_role(owner, org_id, other.id, "Admin")
        await quiesce(server, listener)
        updates = [e for e in listener.named("org.member.updated") if e.get("room") == room]
        if removed:
            assert [e for e in listener.events if e.get("room") == room] == []
        else:
            assert [e["data"]["member"]["userId"] for e in updates] == [other.id]
    finally:
        await listener.close()
