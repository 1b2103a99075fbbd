"""Events written to the log by their own transaction (SQLite without Redis): in commit order, after
commit only, with the outbox still in charge whenever it holds anything."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from tests.harness import (
    Listener,
    Person,
    Server,
    durable,
    eventually,
    fresh_database_url,
    launch,
    listening,
    log_state,
    logged,
    outbox_size,
    quick_team,
    quiesce,
    set_role,
)

from tandem.auth.models import User
from tandem.orgs import service as orgs
from tandem.realtime.models import EventRecord, OutboxEntry


class Crash(Exception):
    """The process dies here."""


@dataclass
class Scene:
    server: Server
    org_id: str
    owner: Person
    member: Person

    @property
    def room(self) -> str:
        return f"org:{self.org_id}"


@pytest.fixture
async def scene(slow_poll: Server) -> Scene:
    org_id, (owner, member) = await quick_team(slow_poll, ["Owner", "Member"])
    return Scene(slow_poll, org_id, owner, member)


@asynccontextmanager
async def watching(scene: Scene) -> AsyncIterator[tuple[Listener, int]]:
    """The owner listening to the org's room, with everything before settled; and the log's last seq."""
    async with listening(scene.owner, scene.room) as watcher:
        await quiesce(scene.server, watcher)
        yield watcher, (await log_state(scene.server))["seq"]


async def assert_room_got(
    scene: Scene, watcher: Listener, seq_before: int, roles: list[str]
) -> None:
    """The watcher got these role changes, in order, with consecutive seqs, as the log holds them."""
    await eventually(lambda: len(durable(watcher.events)) >= len(roles))
    await quiesce(scene.server, watcher)
    got = durable(watcher.events, scene.room)
    assert roles_of(got) == roles
    assert_consecutive(got)
    assert got == await logged(scene.server, scene.room, after=seq_before)


def roles_of(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["member"]["role"] for e in events if e["event"] == "org.member.updated"]


def assert_consecutive(events: list[dict[str, Any]]) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs


async def outbox_rows(session: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(OutboxEntry)))


async def test_a_transaction_writes_its_events_to_the_log_and_they_are_published_after_commit(
    scene,
):
    server = scene.server
    assert server.runtime.db.direct_log is not None
    async with watching(scene) as (watcher, seq_before):
        async with server.runtime.db.unit_of_work() as session:
            actor = await session.get(User, scene.owner.id)
            await orgs.change_role(session, scene.org_id, actor, scene.member.id, "Admin")
            await orgs.change_role(session, scene.org_id, actor, scene.member.id, "Guest")
            assert await outbox_rows(session) == 0
            in_log = await session.scalars(
                select(EventRecord.envelope)
                .where(EventRecord.room == scene.room, EventRecord.seq > seq_before)
                .order_by(EventRecord.seq)
            )
            assert roles_of(list(in_log)) == ["Admin", "Guest"]
            assert server.runtime.db.direct_log.pending == []  # nothing to publish before commit
        await assert_room_got(scene, watcher, seq_before, ["Admin", "Guest"])
    # The published watermark is saved without any event going through the outbox.
    await server.runtime.dispatcher.wait_idle()
    state = await log_state(server)
    assert state["published"] == state["seq"] == seq_before + 2


async def test_while_the_outbox_holds_events_transactions_record_there_and_commit_order_is_kept(
    scene,
):
    server = scene.server
    async with watching(scene) as (watcher, seq_before):
        # Another process records an event in the outbox (no wake reaches this dispatcher)...
        async with server.runtime.db.unit_of_work() as session:
            await session.execute(
                insert(OutboxEntry),
                {
                    "event": "org.member.updated",
                    "version": 1,
                    "rooms": [scene.room],
                    "data": {"organizationId": scene.org_id, "member": {"role": "Elsewhere"}},
                    "org_id": scene.org_id,
                    "actor_id": None,
                    "trace_id": "t",
                    "control": None,
                },
            )
        # ...so the next transaction records behind it, not in the log ahead of it.
        async with server.runtime.db.unit_of_work() as session:
            actor = await session.get(User, scene.owner.id)
            await orgs.change_role(session, scene.org_id, actor, scene.member.id, "Admin")
            assert await outbox_rows(session) == 2
        await eventually(lambda: len(durable(watcher.events)) >= 2)
        assert await outbox_size(server) == 0
        # With the outbox empty again, the log is written directly once more.
        await set_role(scene.owner, scene.org_id, scene.member.id, "Guest")
        await assert_room_got(scene, watcher, seq_before, ["Elsewhere", "Admin", "Guest"])


async def test_events_of_a_savepoint_go_to_the_outbox_behind_the_transactions_earlier_ones(scene):
    server = scene.server
    async with watching(scene) as (watcher, seq_before):
        async with server.runtime.db.unit_of_work() as session:
            actor = await session.get(User, scene.owner.id)
            await orgs.change_role(session, scene.org_id, actor, scene.member.id, "Admin")
            with pytest.raises(Crash):
                async with session.begin_nested():
                    await orgs.change_role(session, scene.org_id, actor, scene.member.id, "Guest")
                    raise Crash  # this savepoint's event is rolled back with it
            async with session.begin_nested():
                await orgs.change_role(session, scene.org_id, actor, scene.member.id, "Member")
            assert await outbox_rows(session) == 1
        await assert_room_got(scene, watcher, seq_before, ["Admin", "Member"])


async def test_events_in_the_log_but_not_published_when_the_process_died_are_published_at_start(
    scene,
):
    server = scene.server
    runtime = server.runtime
    direct = runtime.db.direct_log
    async with watching(scene) as (watcher, seq_before):
        await runtime.dispatcher.stop()
        # Committed to the log directly, then the process dies before its dispatcher publishes them.
        direct.active = True
        for role in ["Admin", "Guest", "Member"]:
            await set_role(scene.owner, scene.org_id, scene.member.id, role)
        direct.active = False
        assert len(direct.pending) == 3
        assert await outbox_size(server) == 0
        assert durable(watcher.events) == []
        direct.pending.clear()

        runtime.dispatcher.start()
        await assert_room_got(scene, watcher, seq_before, ["Admin", "Guest", "Member"])
        # And the direct log is in use again.
        await set_role(scene.owner, scene.org_id, scene.member.id, "Admin")
        live = await watcher.wait_for(lambda e: e.get("seq", 0) > seq_before + 3)
        assert live["data"]["member"]["role"] == "Admin"
    assert await outbox_size(server) == 0


async def test_the_outbox_is_used_on_sqlite_when_the_direct_log_is_off(tmp_path):
    async with fresh_database_url("sqlite", tmp_path, "") as url:
        server = await launch(url, tmp_path, direct_log=False)
        try:
            assert server.runtime.db.direct_log is None
            org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
            await server.runtime.dispatcher.stop()
            await set_role(owner, org_id, member.id, "Admin")
            assert await outbox_size(server) == 1
        finally:
            await server.stop()
