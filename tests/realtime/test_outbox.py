"""The transactional outbox and its dispatcher (SPEC §5.1–5.2): commit, then emit; nothing lost, in order."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import distinct, func, select
from tests.harness import (
    Listener,
    Server,
    disconnected_within,
    durable,
    eventually,
    launch,
    listening,
    log_state,
    logged,
    outbox_size,
    quick_team,
    quiesce,
    set_role,
    start_server,
)

from tandem.auth.models import User
from tandem.orgs import service as orgs
from tandem.realtime import leader, outbox
from tandem.realtime.dispatcher import Dispatcher
from tandem.realtime.models import EventRecord, OutboxEntry


class Crash(Exception):
    """The process dies here."""


async def recorded_in(session: Any, seq_before: int) -> int:
    """Events this session's transaction recorded: outbox rows, and events in the log past seq_before."""
    waiting = await session.scalar(select(func.count()).select_from(OutboxEntry))
    logged_now = await session.scalar(
        select(func.count(distinct(EventRecord.seq))).where(EventRecord.seq > seq_before)
    )
    return int(waiting) + int(logged_now)


def roles_of(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["member"]["role"] for e in events if e["event"] == "org.member.updated"]


def assert_consecutive(events: list[dict[str, Any]]) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs


async def test_a_rolled_back_transaction_emits_nothing(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    room = f"org:{org_id}"
    async with listening(owner, room) as watcher, listening(member, room) as target:
        await quiesce(server, watcher, target)
        log_before = await logged(server, room)
        seq_before = (await log_state(server)).get("seq", 0)

        with pytest.raises(Crash):
            async with server.runtime.db.unit_of_work() as session:
                actor = await session.get(User, owner.id)
                await orgs.change_role(session, org_id, actor, member.id, "Admin")
                await orgs.remove_member(session, org_id, actor, member.id)
                # Both events were recorded in this transaction (in the outbox, or on SQLite
                # without Redis in the log itself)...
                assert await recorded_in(session, seq_before) == 2
                raise Crash  # ...which then fails

        await quiesce(server, watcher, target)
        assert await outbox_size(server) == 0
        assert await logged(server, room) == log_before
        assert durable(watcher.events) == []
        assert durable(target.events) == []
        # The rolled-back removal's side effect (eviction) did not run either: the member still hears the org.
        await set_role(owner, org_id, member.id, "Guest")
        for listener in (watcher, target):
            event = await listener.wait_event("org.member.updated")
            assert event["data"]["member"]["role"] == "Guest"
            assert [e["event"] for e in durable(listener.events)] == ["org.member.updated"]

    async with owner.http() as http:
        members = (await http.get(f"/api/orgs/{org_id}/members")).json()["members"]
    assert {m["userId"]: m["role"] for m in members} == {owner.id: "Owner", member.id: "Guest"}


async def test_events_committed_while_no_dispatcher_runs_are_delivered_in_order_when_it_starts(
    server,
):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    room = f"org:{org_id}"
    async with listening(owner, room) as watcher:
        await quiesce(server, watcher)
        await server.runtime.dispatcher.stop()
        # What the log held before: behind Redis its last publish may still reach the watcher.
        before = max((e["seq"] for e in await logged(server, room)), default=0)

        roles = ["Admin", "Guest", "Member", "Admin", "Guest"]
        for role in roles:
            await set_role(owner, org_id, member.id, role)
        async with owner.http() as http:
            r = await http.patch("/api/me", json={"name": "Renamed Owner"})
            assert r.status_code == 200, r.text

        assert await outbox_size(server) == len(roles) + 1
        # nothing committed since can be published without a dispatcher
        assert [e for e in durable(watcher.events) if e["seq"] > before] == []

        server.runtime.dispatcher.start()
        await eventually(
            lambda: len([e for e in durable(watcher.events) if e["seq"] > before]) >= len(roles) + 1
        )
        await quiesce(server, watcher)

    got = [e for e in durable(watcher.events, room) if e["seq"] > before]
    assert len(got) == len(roles) + 1
    assert roles_of(got[:-1]) == roles
    assert (got[-1]["data"]["member"]["userId"], got[-1]["data"]["member"]["name"]) == (
        owner.id,
        "Renamed Owner",
    )
    assert_consecutive(got)
    assert got == await logged(server, room, after=got[0]["seq"] - 1)
    assert await outbox_size(server) == 0


async def test_a_server_started_after_another_died_delivers_what_that_one_committed(
    database_url, tmp_path
):
    """Instance 1 commits with no dispatcher running, then goes away; instance 2 starts on the same database."""
    first = await launch(database_url, tmp_path)
    try:
        org_id, (owner, member) = await quick_team(first, ["Owner", "Member"])
        await first.settle()
        async with owner.http() as http:
            cursor = (await http.get(f"/api/orgs/{org_id}/members")).json()["cursor"]
        await first.runtime.dispatcher.stop()
        for role in ["Admin", "Guest", "Member"]:
            await set_role(replace(owner, server=first), org_id, member.id, role)
        assert await outbox_size(first) == 3
    finally:
        await first.stop()

    async with start_server(database_url, tmp_path) as second:
        listener = Listener(second, await replace(owner, server=second).socket_token())
        await listener.connect()
        try:
            ack = await listener.subscribe(f"org:{org_id}", after=cursor)
            assert ack["ok"], ack
            await eventually(lambda: len(durable(listener.events)) >= 3)
            await quiesce(second, listener)
        finally:
            await listener.close()
        assert await outbox_size(second) == 0
    got = durable(listener.events)
    assert roles_of(got) == ["Admin", "Guest", "Member"]  # each exactly once, in commit order
    assert_consecutive(got)
    assert got[0]["seq"] > cursor


async def test_events_logged_but_not_published_before_a_crash_are_published_when_a_dispatcher_starts(
    server,
):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    room = f"org:{org_id}"
    runtime = server.runtime
    async with listening(owner, room) as watcher:
        await quiesce(server, watcher)
        await runtime.dispatcher.stop()
        for role in ["Admin", "Guest", "Member"]:
            await set_role(owner, org_id, member.id, role)

        # A dispatcher moves the batch into the log, publishes the first event, and dies.
        sent: list[int] = []

        async def publish_then_die(envelopes: list[dict[str, Any]]) -> None:
            env = envelopes[0]
            sent.append(env["seq"])
            await runtime.gateway.publish(env["event"], env, env["room"])
            raise Crash

        doomed = Dispatcher(runtime.db, publish_then_die, runtime.bus.publish)
        doomed.published_seq = (await log_state(server)).get("published", 0)
        with pytest.raises(Crash):
            await doomed.drain_once()

        state = await log_state(server)
        in_log = await logged(server, room, after=state.get("published", 0))
        assert roles_of(in_log) == [
            "Admin",
            "Guest",
            "Member",
        ]  # committed to the log, above the watermark
        assert await outbox_size(server) == 0
        await watcher.wait_for(lambda e: e.get("seq") == sent[0])

        runtime.dispatcher.start()  # the next dispatcher publishes everything past the watermark
        await eventually(
            lambda: {e["seq"] for e in durable(watcher.events)} >= {e["seq"] for e in in_log}
        )
        await quiesce(server, watcher)
        # A client dropping duplicates by seq sees each event once, in order: nothing lost.
        seen: dict[int, dict[str, Any]] = {}
        for event in durable(watcher.events, room):
            assert seen.get(event["seq"], event) == event  # a duplicate is the same envelope
            seen.setdefault(event["seq"], event)
        assert list(seen.values()) == in_log
        delivered = [e["seq"] for e in durable(watcher.events, room)]
        assert delivered == sorted(delivered)

        await eventually(lambda: _published_caught_up(server))
        # And live events carry on after them.
        await set_role(owner, org_id, member.id, "Admin")
        live = await watcher.wait_for(lambda e: e.get("seq", 0) > in_log[-1]["seq"])
        assert live["data"]["member"]["role"] == "Admin"


async def _published_caught_up(server: Server) -> bool:
    state = await log_state(server)
    return state.get("published") == state.get("seq")


async def test_concurrent_writers_give_a_subscriber_gap_free_ordered_events(server):
    org_id, people = await quick_team(server, ["Owner"] + ["Member"] * 6)
    owner, members = people[0], people[1:]
    room = f"org:{org_id}"
    per_person = 5

    async def rename(person, i: int) -> None:
        async with person.http() as http:
            r = await http.patch("/api/me", json={"name": f"{person.id} #{i}"})
            assert r.status_code == 200, r.text

    async with listening(owner, room) as watcher:
        await quiesce(server, watcher)
        await asyncio.gather(*(rename(p, i) for i in range(per_person) for p in members))
        total = per_person * len(members)
        await eventually(lambda: len(durable(watcher.events)) >= total, timeout=15)
        await quiesce(server, watcher)

    got = durable(watcher.events, room)
    assert len(got) == total
    assert_consecutive(got)  # one room, every event in it: no gap, no duplicate, in order
    assert got == await logged(server, room, after=got[0]["seq"] - 1)
    assert sorted(e["data"]["member"]["name"] for e in got) == sorted(
        f"{p.id} #{i}" for i in range(per_person) for p in members
    )
    # Commit order was kept: each person's last event shows the name the database ended with.
    last_seen = {e["data"]["member"]["userId"]: e["data"]["member"]["name"] for e in got}
    async with owner.http() as http:
        snapshot = (await http.get(f"/api/orgs/{org_id}/members")).json()
    assert {
        m["userId"]: m["name"] for m in snapshot["members"] if m["userId"] != owner.id
    } == last_seen
    assert snapshot["cursor"] >= got[-1]["seq"]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_one_dispatcher_leads_on_postgresql_and_another_takes_over_when_it_stops(
    database_url, tmp_path, redis_url
):
    suffix = uuid.uuid4().hex[:6]
    a = await launch(database_url, tmp_path, redis_url=redis_url, instance_id=f"a-{suffix}")
    b = await launch(database_url, tmp_path, redis_url=redis_url, instance_id=f"b-{suffix}")
    try:
        await eventually(lambda: a.runtime.dispatcher.is_leader or b.runtime.dispatcher.is_leader)
        await asyncio.sleep(0.3)  # give a wrongly concurrent second leader the time to appear
        ready = {}
        for srv in (a, b):
            async with srv.client() as http:
                r = await http.get("/readyz")
                assert r.status_code == 200, r.text
                ready[srv.settings.instance_id] = r.json()["dispatcherLeader"]
        assert sorted(ready.values()) == [False, True], ready
        leader, follower = (a, b) if ready[a.settings.instance_id] else (b, a)

        org_id, (owner, member) = await quick_team(follower, ["Owner", "Member"])
        room = f"org:{org_id}"
        async with listening(owner, room) as watcher:
            await set_role(
                replace(owner, server=follower), org_id, member.id, "Admin"
            )  # written here, dispatched by the leader
            first = await watcher.wait_event("org.member.updated")
            assert first["data"]["member"]["role"] == "Admin"

            await leader.stop()
            await set_role(replace(owner, server=follower), org_id, member.id, "Guest")
            second = await watcher.wait_for(
                lambda e: (
                    e.get("event") == "org.member.updated"
                    and e["data"]["member"]["role"] == "Guest"
                ),
                timeout=5,
            )
            assert follower.runtime.dispatcher.is_leader
            assert second["seq"] > first["seq"]
            await quiesce(follower, watcher)
            assert roles_of(durable(watcher.events, room)) == ["Admin", "Guest"]  # each once
    finally:
        await a.stop()
        await b.stop()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_tandems_in_different_schemas_of_one_database_each_run_a_dispatcher(
    database_url, tmp_path
):
    """The dispatcher lock belongs to one Tandem (schema), not the whole PostgreSQL database."""
    from tests.conftest import PG_URL
    from tests.harness import fresh_database_url

    async with (
        fresh_database_url("postgresql", tmp_path, PG_URL) as other_url,
        start_server(database_url, tmp_path) as one,
        start_server(other_url, tmp_path) as two,
    ):
        await eventually(
            lambda: one.runtime.dispatcher.is_leader and two.runtime.dispatcher.is_leader
        )
        for srv in (one, two):
            org_id, (owner, member) = await quick_team(srv, ["Owner", "Member"])
            async with listening(owner, f"org:{org_id}") as watcher:
                await set_role(replace(owner, server=srv), org_id, member.id, "Admin")
                await watcher.wait_event("org.member.updated")


async def test_a_new_leader_redoes_side_effects_a_dead_leader_committed_but_never_ran(server):
    """A removal and a logout whose outbox rows a dying dispatcher took (committed) without acting on them:
    the next leader has every instance re-check its sockets, so the removed member is evicted and the
    logged-out login's socket is closed."""
    org_id, (owner, removed, leaver) = await quick_team(server, ["Owner", "Member", "Member"])
    room = f"org:{org_id}"
    async with listening(removed, room) as evictee, listening(leaver) as logged_out:
        await quiesce(server, evictee, logged_out)
        seen_before = len(durable(evictee.events, room))
        await server.runtime.dispatcher.stop()
        async with owner.http() as http:
            r = await http.delete(f"/api/orgs/{org_id}/members/{removed.id}")
            assert r.status_code == 204, r.text
        async with server.client() as http:
            r = await http.post("/api/auth/logout", json={"refreshToken": leaver.refresh})
            assert r.status_code == 204, r.text
        # The dead leader's batch: rows gone from the outbox, side effects never run.
        async with server.runtime.db.unit_of_work() as session:
            await session.execute(OutboxEntry.__table__.delete())
        assert evictee.sio.connected and logged_out.sio.connected

        server.runtime.dispatcher.start()
        assert await disconnected_within(logged_out, 2.0)
        async with owner.http() as http:  # a later org event must not reach the removed member
            r = await http.patch("/api/me", json={"name": "After the takeover"})
            assert r.status_code == 200, r.text
        await server.settle()
        await quiesce(server, evictee)
    assert len(durable(evictee.events, room)) == seen_before


async def test_record_applies_the_phase_flag_and_keeps_access_changes(database_url):
    """outbox.record writes the event with its rooms when the org's phase is on; when it is off, nothing
    for a plain event, and for an access change its control without rooms (the eviction still runs)."""
    from tandem.db import Database
    from tandem.flags import service as flags
    from tandem.orgs.events import OrgMember, OrgMemberUpdated
    from tandem.realtime.envelope import trace_id_var

    db = Database(database_url)
    flags.cache.clear()
    try:
        async with db.unit_of_work() as session:
            await flags.set_org_override(session, "members", "org_quiet", False)
        trace_id_var.set("trace-record")
        for org_id in ("org_loud", "org_quiet", None):
            member = OrgMember(
                user_id="u_1",
                name="Ada",
                email="ada@example.com",
                role="Admin",
                status="active",
                avatar_url=None,
            )
            data = OrgMemberUpdated(organization_id=org_id or "org_none", member=member)
            control = {"type": "reauthorize", "userId": "u_1", "orgId": org_id}
            for with_control in (True, False):
                flags.cache.clear()
                async with db.unit_of_work() as session:
                    before = await session.scalar(select(func.count()).select_from(OutboxEntry))
                    recorded = await outbox.record(
                        session,
                        data,
                        [f"org:{org_id}"],
                        org_id=org_id,
                        actor_id="u_2",
                        control=control if with_control else None,
                    )
                    assert recorded == (org_id != "org_quiet")
                    count = await session.scalar(select(func.count()).select_from(OutboxEntry))
                    if org_id == "org_quiet" and not with_control:
                        assert count == before
                        assert "tandem_outbox" not in session.info
                        await session.rollback()
                        continue
                    assert count == before + 1 and session.info["tandem_outbox"] is True
                    entry = (
                        await session.scalars(select(OutboxEntry).order_by(OutboxEntry.id.desc()))
                    ).first()
                    assert entry.rooms == ([] if org_id == "org_quiet" else [f"org:{org_id}"])
                    assert (entry.event, entry.actor_id, entry.trace_id) == (
                        "org.member.updated",
                        "u_2",
                        "trace-record",
                    )
                    assert entry.control == (control if with_control else None)
                    assert entry.data["member"]["userId"] == "u_1"
                    await session.rollback()
    finally:
        flags.cache.clear()
        await db.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_leader_jobs_run_on_the_leading_instance_only_and_survive_a_failure(
    database_url, tmp_path, redis_url, monkeypatch
):
    ran: list[Any] = []

    async def job(db: Any) -> None:
        ran.append(db)
        if len(ran) <= 2:
            raise RuntimeError("a job that fails")

    monkeypatch.setattr(leader, "_jobs", [job])
    suffix = uuid.uuid4().hex[:6]
    a = await launch(database_url, tmp_path, redis_url=redis_url, instance_id=f"a-{suffix}")
    b = await launch(database_url, tmp_path, redis_url=redis_url, instance_id=f"b-{suffix}")
    try:
        await eventually(lambda: len(ran) >= 4)
        leading = a if a.runtime.dispatcher.is_leader else b
        assert all(db is leading.runtime.db for db in ran)
        # Dispatching went on through the failures.
        org_id, (owner, member) = await quick_team(leading, ["Owner", "Member"])
        async with listening(owner, f"org:{org_id}") as watcher:
            await set_role(owner, org_id, member.id, "Admin")
            await watcher.wait_event("org.member.updated")
    finally:
        await a.stop()
        await b.stop()
