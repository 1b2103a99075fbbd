"""An instance whose Redis subscription broke catches up before it delivers anything again.

Redis pub/sub keeps nothing for a subscriber that is away, so an instance closes its sockets once
it is subscribed again and their clients replay from their last seq (realtime/delivery.py's
TandemRedisManager, the gateway's `catch_up_after_outage`). Until then the instance must not
deliver a later event to a socket that missed an earlier one: the client's cursor would pass the
gap and its replay would start after it. Two instances in this process share PostgreSQL and Redis,
as in test_redis_publish.py; a restart needs a Redis of the test's own.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
from tests.battery.faults import PrivateRedis
from tests.harness import (
    Listener,
    Person,
    Server,
    disconnected_within,
    durable,
    eventually,
    free_port,
    logged,
    on,
    outbox_size,
    quick_team,
    rename,
    two_instances,
)

from tandem.realtime.delivery import TandemRedisManager

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def manager_of(server: Server) -> TandemRedisManager:
    manager = server.runtime.gateway.manager
    assert isinstance(manager, TandemRedisManager)
    return manager


async def cut_subscription(redis_url: str, manager: TandemRedisManager) -> None:
    """Close the connection `manager` listens on, from Redis's side (`CLIENT KILL`)."""
    client = redis.from_url(redis_url)
    try:
        for entry in await client.client_list():
            if entry.get("name") == manager.listener_name:
                await client.client_kill_filter(_id=entry["id"])
                return
        raise AssertionError(f"no connection named {manager.listener_name} in CLIENT LIST")
    finally:
        await client.aclose()


async def subscribed(
    person: Person, server: Server, room: str, after: int | None = None
) -> Listener:
    listener = await Listener(server, await on(person, server).socket_token()).connect()
    ack = await listener.subscribe(room, after=after)
    assert ack["ok"], ack
    return listener


def renamed_to(event: dict[str, Any], name: str) -> bool:
    return event.get("event") == "org.member.updated" and event["data"]["member"]["name"] == name


async def test_an_instance_cut_off_from_its_subscription_delivers_nothing_until_its_clients_replayed(
    database_url: str, tmp_path: Path, redis_url: str
):
    async with two_instances(database_url, tmp_path, redis_url) as (a, b):
        await b.runtime.dispatcher.stop()
        await eventually(lambda: a.runtime.dispatcher.is_leader, timeout=10)
        org_id, (owner, member) = await quick_team(a, ["Owner", "Member"])
        room = f"org:{org_id}"
        manager = manager_of(b)
        first = await subscribed(member, b, room)
        try:
            await rename(owner, "Before the cut")
            await first.wait_for(lambda e: renamed_to(e, "Before the cut"))
            cursor = durable(first.events, room)[-1]["seq"]

            # b's subscription breaks and cannot come back (its Redis address now leads nowhere),
            # while the connection it publishes on still works.
            manager.redis_url = f"redis://127.0.0.1:{free_port()}/0"
            await cut_subscription(redis_url, manager)
            await eventually(lambda: not manager.caught_up, timeout=10)

            await rename(owner, "Missed by b")  # a publishes it; b does not hear it
            await a.settle()
            # The lead passes to b, which could now deliver a later event to b's sockets.
            await a.runtime.dispatcher.stop()
            b.runtime.dispatcher.start()
            await rename(owner, "After the cut")
            await asyncio.sleep(1.5)  # b's dispatcher would have published it by now
            assert durable(first.events, room)[-1]["seq"] == cursor
            assert not b.runtime.dispatcher.is_leader
            assert await outbox_size(b) == 1  # it waits; it is not lost

            manager.redis_url = redis_url  # b reaches Redis again: it subscribes, then catches up
            assert await disconnected_within(first, 15)
        finally:
            await first.close()
        last = durable(first.events, room)[-1]["seq"]
        assert last == cursor
        again = await subscribed(member, b, room, after=last)  # as the SDK does after a drop
        try:
            await eventually(
                lambda: manager.caught_up and b.runtime.dispatcher.is_leader, timeout=15
            )
            await b.settle()
            expected = await logged(b, room, after=cursor)
            names = [e["data"]["member"]["name"] for e in expected]
            assert names == ["Missed by b", "After the cut"]
            await eventually(lambda: len(durable(again.events, room)) >= len(expected))
            assert durable(again.events, room) == expected  # each once, in seq order
        finally:
            await again.close()


class Warnings(logging.Handler):
    """The warnings of one logger, whatever the "tandem" logger's propagation."""

    def __init__(self, logger: str) -> None:
        super().__init__(logging.WARNING)
        self.logger = logging.getLogger(logger)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def left_to_expire(self) -> int:
        return sum(
            m == "presence unreachable; a socket's entry is left to expire" for m in self.messages
        )

    def __enter__(self) -> Warnings:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)


async def test_after_a_redis_restart_one_pass_closes_every_socket_and_each_leaves_its_rooms(
    database_url: str, tmp_path: Path
):
    private = PrivateRedis(tmp_path / "redis")
    await private.start()
    try:
        async with two_instances(database_url, tmp_path, private.url) as (a, b):
            org_id, (_owner, *people) = await quick_team(
                a, ["Owner", "Member", "Member", "Member", "Member"]
            )
            room = f"org:{org_id}"
            manager = manager_of(b)
            listeners = [await subscribed(p, b, room) for p in people]
            assert len(list(manager.get_participants("/", room))) == len(listeners)

            with Warnings("tandem.presence") as presence:
                private.kill()
                await eventually(lambda: not manager.caught_up, timeout=10)
                # Back, with none of the connections pooled before: each fails its next command
                # once, and the command goes again on a new connection.
                await private.start()
                for listener in listeners:
                    assert await disconnected_within(listener, 15)
                    await listener.close()
                await eventually(lambda: manager.caught_up, timeout=15)
                assert manager.resubscriptions == 1  # one pass closed them all
                assert not list(manager.get_participants("/", room))
                assert presence.left_to_expire() == 0

                # A socket closing while presence's Redis is down still leaves its rooms here.
                last = await subscribed(people[0], b, room)
                private.kill()
                await eventually(lambda: not manager.caught_up, timeout=10)
                await last.close()
                await eventually(lambda: not list(manager.get_participants("/", room)))
                assert presence.left_to_expire() == 1
    finally:
        private.kill()
