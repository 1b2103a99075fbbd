"""Publishing a batch through Redis (realtime/delivery.py's TandemRedisManager.emit_many).

A batch leaves in one pipeline, in order, and the call returns once Redis accepted every
message; the dispatcher counts a batch as published only then, so an event Redis did not
take stays above the `published` watermark and is published again (SPEC §5.1–5.2).
Two instances in this process share PostgreSQL and Redis, as in test_cluster.py.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.harness import (
    Server,
    durable,
    eventually,
    free_port,
    listening,
    log_state,
    logged,
    on,
    outbox_size,
    quick_team,
    rename,
    set_role,
    two_instances,
)

from tandem.realtime.delivery import TandemRedisManager

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

EVENT = "kanban.task.moved"


@pytest.fixture
async def pair(
    database_url: str, tmp_path: Path, redis_url: str
) -> AsyncIterator[tuple[Server, Server]]:
    """Instances a and b; only a's dispatcher runs, so a publishes every durable event."""
    async with two_instances(database_url, tmp_path, redis_url) as (a, b):
        await b.runtime.dispatcher.stop()
        await eventually(lambda: a.runtime.dispatcher.is_leader, timeout=10)
        yield a, b


class Errors(logging.Handler):
    """The dispatcher's error records, whatever the "tandem" logger's propagation."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def count(self, prefix: str) -> int:
        return sum(m.startswith(prefix) for m in self.messages)


def env(room: str, seq: int) -> dict[str, Any]:
    return {
        "event": EVENT,
        "version": 1,
        "seq": seq,
        "room": room,
        "data": {"taskId": f"t_{seq}"},
        "meta": {
            "emittedAt": "2026-11-26T12:00:00.000Z",
            "producer": "server",
            "traceId": "t",
            "actorId": None,
        },
    }


async def test_the_dispatchers_batch_reaches_a_client_of_the_other_instance_complete_and_in_seq_order(
    pair,
):
    a, b = pair
    org_id, (owner, member) = await quick_team(a, ["Owner", "Member"])
    room = f"org:{org_id}"
    async with listening(on(member, b), room) as client:
        await a.settle()
        cursor = (await log_state(a))["seq"]
        await a.runtime.dispatcher.stop()
        for i in range(
            40
        ):  # committed while no dispatcher runs: the next one takes them as one batch
            await rename(owner, f"Owner {i}")
        assert await outbox_size(a) == 40
        a.runtime.dispatcher.start()
        await a.settle()
        expected = await logged(a, room, after=cursor)
        assert len(expected) == 40
        await eventually(lambda: len(durable(client.events, room)) >= 40)
        assert durable(client.events, room) == expected  # each once, in seq order
        assert a.runtime.dispatcher.published_seq == expected[-1]["seq"]


async def test_batches_from_several_coroutines_keep_each_rooms_order_across_instances(pair):
    a, b = pair
    org_id, (_, member) = await quick_team(a, ["Owner", "Member"])
    org, user = f"org:{org_id}", f"user:{member.id}"
    manager = a.runtime.gateway.manager
    assert isinstance(manager, TandemRedisManager)
    n = 300
    async with listening(on(member, b), org) as client:

        async def batches(room: str, size: int) -> None:
            for first in range(1, n + 1, size):
                await manager.emit_many(
                    [(EVENT, env(room, s), room) for s in range(first, first + size)]
                )

        async def one_by_one(room: str) -> None:  # python-socketio's emit, through the same queue
            for seq in range(1, n + 1):
                await a.runtime.gateway.publish(EVENT, env(room, seq), room)

        await asyncio.gather(
            batches(org, 25), batches(f"project:{uuid.uuid4().hex}", 7), one_by_one(user)
        )
        await eventually(
            lambda: len(durable(client.events, org)) >= n and len(durable(client.events, user)) >= n
        )
        assert [e["seq"] for e in durable(client.events, org)] == list(range(1, n + 1))
        assert [e["seq"] for e in durable(client.events, user)] == list(range(1, n + 1))


async def test_a_batch_redis_did_not_take_stays_above_the_watermark_and_is_published_later(
    pair, redis_url
):
    a, b = pair
    org_id, (owner, member) = await quick_team(a, ["Owner", "Member"])
    room = f"org:{org_id}"
    manager = a.runtime.gateway.manager
    dispatcher = a.runtime.dispatcher
    async with listening(on(member, b), room) as client:
        await set_role(owner, org_id, member.id, "Admin")
        await client.wait_event("org.member.updated")
        await a.settle()
        watermark = dispatcher.published_seq
        assert (await log_state(a))["published"] == watermark

        # a's Socket.IO manager now publishes to a port nothing listens on: every PUBLISH fails for real.
        manager.redis_url, manager.connected = f"redis://127.0.0.1:{free_port()}/0", False
        errors = Errors()
        logging.getLogger("tandem.outbox").addHandler(errors)
        try:
            for role in ["Guest", "Member", "Admin"]:
                await set_role(owner, org_id, member.id, role)
            # the batch failed, and so did the republish after it
            await eventually(lambda: errors.count("dispatcher error") >= 2, timeout=15)
        finally:
            logging.getLogger("tandem.outbox").removeHandler(errors)
        # The batch is in the log (later changes may still wait in the outbox): above the watermark.
        assert [e["data"]["member"]["role"] for e in await logged(a, room, after=watermark)][
            :1
        ] == ["Guest"]
        assert dispatcher.published_seq == watermark
        assert (await log_state(a))["published"] == watermark
        assert [e["seq"] for e in durable(client.events, room) if e["seq"] > watermark] == []

        manager.redis_url, manager.connected = redis_url, False  # Redis is reachable again
        await eventually(lambda: len(durable(client.events, room)) >= 4, timeout=15)
        await a.settle()
        in_log = await logged(a, room, after=watermark)
        assert [e["data"]["member"]["role"] for e in in_log] == ["Guest", "Member", "Admin"]
        assert durable(client.events, room)[1:] == in_log  # each once, in seq order
        assert dispatcher.published_seq == in_log[-1]["seq"]
