"""Several instances sharing PostgreSQL and Redis (SPEC §4 eviction, §5, §6, §7): one system to every client.

Instances 'a' and 'b' run in this process, each with its own Socket.IO server,
presence, bus and dispatcher; the flag test also starts a real `tandem serve`
process, since flag caches are per process. Redis is shared between tests, so
every person and org is new (the harness makes unique ids).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.harness import (
    Listener,
    Person,
    Server,
    disconnected_within,
    durable,
    eventually,
    free_port,
    handshake,
    listening,
    login,
    on,
    quick_team,
    rename,
    set_role,
    two_instances,
)

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


@pytest.fixture
async def pair(
    database_url: str, tmp_path: Path, redis_url: str
) -> AsyncIterator[tuple[Server, Server]]:
    async with two_instances(database_url, tmp_path, redis_url) as both:
        yield both


async def members_seen_from(person: Person, org_id: str) -> list[dict[str, Any]]:
    async with person.http() as http:
        r = await http.get(f"/api/orgs/{org_id}/members")
        assert r.status_code == 200, r.text
        return r.json()["members"]


async def barrier(listener: Listener) -> None:
    """A round trip: whatever this instance emitted to the socket before now has arrived."""
    await listener.sio.call("unsubscribe", {"room": "org:barrier"}, timeout=10)


async def settle(*instances: Server) -> None:
    """Wait until the leading dispatcher (whichever instance holds the lock) drained the outbox."""
    await eventually(lambda: any(i.runtime.dispatcher.is_leader for i in instances))
    for instance in instances:
        if instance.runtime.dispatcher.is_leader:
            await instance.settle()


def roles_of(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["member"]["role"] for e in events if e["event"] == "org.member.updated"]


async def test_a_change_through_either_instance_reaches_clients_of_both_exactly_once(pair):
    a, b = pair
    org_id, (owner, member) = await quick_team(a, ["Owner", "Member"])
    room = f"org:{org_id}"
    async with listening(owner, room) as client_a, listening(on(member, b), room) as client_b:
        await set_role(owner, org_id, member.id, "Admin")  # through a
        await set_role(on(owner, b), org_id, member.id, "Guest")  # through b
        await set_role(owner, org_id, member.id, "Member")  # through a, and the last
        for client in (client_a, client_b):
            await client.wait_for(
                lambda e: (
                    e.get("event") == "org.member.updated"
                    and e["data"]["member"]["role"] == "Member"
                )
            )
        await asyncio.sleep(0.2)  # room for a duplicate to show up; the assertion below is exact
        for client in (client_a, client_b):
            await barrier(client)
            got = durable(client.events, room)
            assert roles_of(got) == ["Admin", "Guest", "Member"]
            seqs = [e["seq"] for e in got]
            assert seqs == sorted(set(seqs))
        assert durable(client_a.events, room) == durable(
            client_b.events, room
        )  # the same envelopes


async def test_subscribing_with_after_on_one_instance_while_the_other_writes_repeats_and_loses_nothing(
    pair,
):
    """The replay/live hand-off when live events arrive through Redis from the other instance."""
    a, b = pair
    org_id, people = await quick_team(a, ["Owner", "Member", "Member", "Member"])
    owner, writers = people[0], people[1:]
    room = f"org:{org_id}"
    await settle(a, b)
    async with owner.http() as http:
        cursor = (await http.get(f"/api/orgs/{org_id}/members")).json()["cursor"]
    sockets = [
        await Listener(b, await on(people[i % len(people)], b).socket_token()).connect()
        for i in range(8)
    ]
    rounds = 5

    async def writer(person: Person) -> None:
        for i in range(rounds):
            await rename(person, f"{person.id} v{i}")  # through a

    async def subscriber(listener: Listener, delay: float) -> None:
        await asyncio.sleep(delay)
        assert (await listener.subscribe(room, after=cursor))["ok"]

    try:
        await asyncio.gather(
            *(writer(p) for p in writers), *(subscriber(s, i * 0.03) for i, s in enumerate(sockets))
        )
        total = rounds * len(writers)
        await eventually(
            lambda: all(len(durable(s.events, room)) >= total for s in sockets), timeout=10
        )
        await rename(owner, "Owner, last")  # a marker: everything before it has reached b
        await eventually(
            lambda: all(len(durable(s.events, room)) >= total + 1 for s in sockets), timeout=5
        )
        for s in sockets:
            await barrier(s)
        async with owner.http() as http:
            r = await http.get("/api/events", params={"room": room, "after": cursor})
            expected = r.json()["events"]
        assert len(expected) == total + 1
        for i, listener in enumerate(sockets):
            assert durable(listener.events, room) == expected, f"socket {i}"
    finally:
        for listener in sockets:
            await listener.close()


async def test_patch_to_event_latency_across_instances_is_measured(pair, capsys):
    """Measured, not asserted: from sending a PATCH to instance a until a client of instance b has the event."""
    a, b = pair
    org_id, (owner, member) = await quick_team(a, ["Owner", "Member"])
    room = f"org:{org_id}"
    samples: list[float] = []
    responses: list[float] = []
    async with listening(on(member, b), room) as client, owner.http() as http:
        for i in range(40):
            role = ("Admin", "Guest")[i % 2]
            seen = len(durable(client.events, room))
            started = time.perf_counter()
            r = await http.patch(f"/api/orgs/{org_id}/members/{member.id}", json={"role": role})
            assert r.status_code == 200, r.text
            responses.append(time.perf_counter() - started)
            await eventually(
                lambda seen=seen: len(durable(client.events, room)) > seen,
                timeout=5,
                interval=0.001,
            )
            samples.append(time.perf_counter() - started)
    assert roles_of(durable(client.events, room)) == [("Admin", "Guest")[i % 2] for i in range(40)]
    ms = sorted(s * 1000 for s in samples)
    p50, p99 = statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    with capsys.disabled():
        print(
            f"\n  PATCH on instance a -> event at a client of instance b: p50 {p50:.1f} ms, "
            f"p99 {p99:.1f} ms, max {ms[-1]:.1f} ms over {len(ms)} changes "
            f"(the PATCH's own response: p50 {statistics.median(responses) * 1000:.1f} ms)"
        )


async def test_a_removal_on_one_instance_evicts_the_persons_socket_on_the_other_within_one_second(
    pair,
):
    a, b = pair
    org_id, (owner, member, colleague) = await quick_team(a, ["Owner", "Member", "Member"])
    room = f"org:{org_id}"
    async with (
        listening(on(member, b), room) as removed,
        listening(on(colleague, b), room) as stays,
    ):
        sid = removed.sio.get_sid("/")
        started = time.monotonic()
        async with owner.http() as http:
            r = await http.delete(f"/api/orgs/{org_id}/members/{member.id}")
            assert r.status_code == 204, r.text

        notice = await removed.wait_for(
            lambda e: (
                e.get("event") == "org.member.removed" and e.get("room") == f"user:{member.id}"
            ),
            timeout=1,
        )
        assert notice["data"] == {
            "organizationId": org_id,
            "userId": member.id,
            "removedBy": owner.id,
        }
        await eventually(
            lambda: sid not in b.runtime.gateway.manager.rooms.get("/", {}).get(room, {}), timeout=1
        )
        # The socket leaves the room first, then hears why: the notice is the room's last word.
        await removed.wait_event("room.evicted", timeout=1, room=room)
        assert time.monotonic() - started < 1.0
        marker = len(removed.events)

        # Past the bound, nothing of the org reaches it, durable or ephemeral; its colleague on b hears both.
        await asyncio.sleep(max(0.0, started + 1.0 - time.monotonic()))
        await rename(colleague, "Still Here")
        await stays.wait_for(
            lambda e: (
                e.get("event") == "org.member.updated"
                and e["data"]["member"]["name"] == "Still Here"
            )
        )
        async with listening(owner):  # the owner's presence goes to the org room
            await stays.wait_event("org.member.presence", userId=owner.id, online=True)
            await barrier(removed)
        assert [e for e in removed.events[marker:] if e.get("room") == room] == []
        # Before the bound, the removal itself is the only durable event of the org that may have reached it.
        assert {e["event"] for e in durable(removed.events[:marker], room)} <= {
            "org.member.removed"
        }

        ack = await removed.subscribe(room)
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden"
        assert removed.sio.connected  # evicted from the org, not disconnected


async def test_logout_on_one_instance_closes_that_logins_sockets_on_the_other_within_one_second(
    pair,
):
    a, b = pair
    org_id, (owner, member) = await quick_team(a, ["Owner", "Member"])
    room = f"org:{org_id}"
    other_login = await login(b, member.email)
    first_token = await on(member, b).socket_token()
    async with listening(on(member, b), room) as ending, listening(other_login, room) as staying:
        started = time.monotonic()
        async with a.client() as http:
            r = await http.post("/api/auth/logout", json={"refreshToken": member.refresh})
            assert r.status_code == 204, r.text
        assert await disconnected_within(ending, 1.0 - (time.monotonic() - started)), (
            "still connected after 1 s"
        )

        assert staying.sio.connected  # another login of the same person is untouched
        await set_role(owner, org_id, member.id, "Admin")
        event = await staying.wait_event("org.member.updated")
        assert event["data"]["member"]["role"] == "Admin"
    # The ended login's tokens open nothing on either instance.
    assert await handshake(b, first_token) == "unauthorized"
    assert await handshake(a, first_token) == "unauthorized"


async def test_presence_is_one_across_instances(pair):
    a, b = pair
    org_id, (owner, person) = await quick_team(a, ["Owner", "Member"])
    room = f"org:{org_id}"
    grace = a.settings.presence_grace_seconds

    def presence(listener: Listener, online: bool) -> list[dict[str, Any]]:
        return [
            e
            for e in listener.named("org.member.presence")
            if e["data"]["userId"] == person.id and e["data"]["online"] is online
        ]

    async with listening(owner, room) as watch_a, listening(on(owner, b), room) as watch_b:
        socket_a = await Listener(a, await person.socket_token()).connect()
        for watcher in (watch_a, watch_b):
            await watcher.wait_for(
                lambda e: (
                    e.get("event") == "org.member.presence"
                    and e["data"]["userId"] == person.id
                    and e["data"]["online"]
                ),
                timeout=2,
            )
        socket_b = await Listener(b, await person.socket_token()).connect()
        await socket_a.close()
        await asyncio.sleep(
            grace + 0.7
        )  # well past the grace: a wrong "offline" would have been sent by now

        seen_a, seen_b = (
            await members_seen_from(owner, org_id),
            await members_seen_from(on(owner, b), org_id),
        )
        assert seen_a == seen_b
        assert {m["userId"]: m["online"] for m in seen_a} == {owner.id: True, person.id: True}
        for watcher in (watch_a, watch_b):
            assert presence(watcher, False) == []
            assert len(presence(watcher, True)) == 1  # the second socket, on b, announced nothing

        closed = time.monotonic()
        await socket_b.close()
        for watcher in (watch_a, watch_b):
            offline = await watcher.wait_for(
                lambda e: (
                    e.get("event") == "org.member.presence"
                    and e["data"]["userId"] == person.id
                    and e["data"]["online"] is False
                ),
                timeout=2.5,
            )
            assert offline["room"] == room and "seq" not in offline
            assert offline["data"]["lastActiveAt"]
        assert time.monotonic() - closed < 2.0

        seen_a, seen_b = (
            await members_seen_from(owner, org_id),
            await members_seen_from(on(owner, b), org_id),
        )
        assert seen_a == seen_b
        gone = next(m for m in seen_a if m["userId"] == person.id)
        assert gone["online"] is False and gone["lastActiveAt"]
        for watcher in (watch_a, watch_b):
            assert len(presence(watcher, False)) == 1


# -- a flag change, seen by another process ------------------------------------


@dataclass
class Remote:
    """A Tandem instance in another process: enough of `Server` for `Person` and `Listener`."""

    url: str

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)


@asynccontextmanager
async def tandem_process(
    settings_of: Server, data_dir: Path, instance_id: str
) -> AsyncIterator[Remote]:
    """`tandem serve` with the same database, Redis and secret as an in-process instance."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    s = settings_of.settings
    env.update(
        TANDEM_DATABASE_URL=s.database_url,
        TANDEM_REDIS_URL=s.redis_url,
        TANDEM_SECRET_KEY=s.secret_key,
        TANDEM_REDIS_PREFIX=s.redis_prefix,
        TANDEM_DATA_DIR=str(data_dir),
        TANDEM_INSTANCE_ID=instance_id,
        TANDEM_SERVE_WEB="false",
        TANDEM_JSON_LOGS="false",
        TANDEM_LOG_LEVEL="warning",
        TANDEM_PRESENCE_GRACE_SECONDS="0.3",
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "serve.log", "wb")  # noqa: SIM115 (a subprocess writes it)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tandem.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env=env,
        stdout=log,
        stderr=log,
    )
    remote = Remote(f"http://127.0.0.1:{port}")
    try:
        async with remote.client() as http:
            for _ in range(300):
                if proc.returncode is not None:
                    raise RuntimeError((data_dir / "serve.log").read_text()[-2000:])
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("tandem serve did not start")
        yield remote
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


async def test_a_flag_change_on_one_instance_applies_on_another_process_within_two_seconds(
    pair, tmp_path
):
    a, _ = pair
    org_id, (owner, member) = await quick_team(a, ["Owner", "Member"])
    room = f"org:{org_id}"
    async with tandem_process(a, tmp_path / "c", f"c-{uuid.uuid4().hex[:6]}") as c:
        owner_c = on(owner, c)

        async def members_flag_on_c() -> bool:
            async with owner_c.http() as http:
                r = await http.get(f"/api/orgs/{org_id}/flags")
                assert r.status_code == 200, r.text
                return r.json()["flags"]["members"]

        assert await members_flag_on_c() is True  # c has read (and cached) the flags
        async with listening(owner, room) as client_a, listening(on(member, c), room) as client_c:
            async with owner.http() as http:
                r = await http.put(f"/api/orgs/{org_id}/flags/members", json={"enabled": False})
                assert r.status_code == 200, r.text
                assert r.json()["flags"]["members"] is False
            took = await eventually(lambda: _not(members_flag_on_c()), timeout=2.0)
            assert took < 2.0
            await set_role(
                owner_c, org_id, member.id, "Admin"
            )  # through c, with members off: no event

            async with owner.http() as http:
                r = await http.put(f"/api/orgs/{org_id}/flags/members", json={"enabled": None})
                assert r.status_code == 200, r.text
            await eventually(members_flag_on_c, timeout=2.0)
            await set_role(owner_c, org_id, member.id, "Guest")  # through c, back on: an event
            for client in (client_a, client_c):
                await client.wait_for(
                    lambda e: (
                        e.get("event") == "org.member.updated"
                        and e["data"]["member"]["role"] == "Guest"
                    )
                )
                assert roles_of(durable(client.events, room)) == ["Guest"]


async def _not(value: Any) -> bool:
    return not await value
