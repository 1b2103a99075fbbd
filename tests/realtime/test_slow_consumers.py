"""A client that stops reading (or polling) cannot grow the server's memory: once what is queued
for its socket passes the bound, its ephemeral events are dropped, then the socket is closed, and
its client replays the durable events it missed once back. Checked with the accelerated engine.io
sockets and fan-out, and with TANDEM_ACCEL=off, from raw Engine.IO clients. With the accelerated
layer, a newer ephemeral value (a person's presence) takes the place of an older one of the same
thing still queued for a socket that has fallen behind."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.conftest import PG_URL
from tests.flags.rollout import operator_view
from tests.harness import (
    Listener,
    Person,
    Server,
    durable,
    eventually,
    fresh_database_url,
    logged,
    quick_team,
    rename,
    start_server,
)
from tests.protocol.wire import open_polling, poll, post
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from tandem import accel

MAX_PACKETS = 1000
MAX_BYTES = 1024 * 1024
EVENTS = 10_000  # about 2 KB each: 20 MB for a client that reads none of them
PAD = "x" * 2000
DISCONNECT_WITHIN = 5.0  # seconds after the flood


# Every WebSocket implementation `tandem serve --ws` offers, on the accelerated socket layer, and
# the stock layer (TANDEM_ACCEL=off) on the default one.
LAYERS = {
    "accelerated": "wsproto",
    "wsproto-stock": "wsproto-stock",
    "websockets-sansio": "websockets-sansio",
    "websockets": "websockets",
    "stock": "wsproto",
}


async def serve(
    layer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Server]:
    if layer == "stock":
        monkeypatch.setenv(accel.ENV, "off")
    else:  # the accelerated layer even in a run with every accelerator off
        monkeypatch.delenv(accel.ENV, raising=False)
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(
            url,
            tmp_path,
            ws=LAYERS[layer],
            socket_max_buffer_packets=MAX_PACKETS,
            socket_max_buffer_bytes=MAX_BYTES,
        ) as server,
    ):
        yield server


@pytest.fixture(params=list(LAYERS))
async def served(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Server]:
    async for server in serve(request.param, tmp_path, monkeypatch):
        yield server


@pytest.fixture(params=["accelerated", "stock"])
async def polled(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Server]:
    """Long-polling never meets a WebSocket implementation: the two socket layers only."""
    async for server in serve(request.param, tmp_path, monkeypatch):
        yield server


async def stalled_websocket(
    server: Server, person: Person, room: str
) -> tuple[ClientConnection, str]:
    """A raw WebSocket client subscribed to `room` that reads nothing more; and its Socket.IO sid."""
    token = await person.socket_token()
    # max_queue=1: the client library stops reading its connection once one message waits
    ws = await ws_connect(
        f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket",
        ping_interval=None,
        max_size=None,
        max_queue=1,
        compression=None,
    )
    assert (await ws.recv()).startswith("0")
    await ws.send("40" + json.dumps({"token": token}))
    accepted = await ws.recv()
    assert isinstance(accepted, str) and accepted.startswith("40"), accepted
    await ws.send('421["subscribe",' + json.dumps({"room": room}) + "]")
    async with asyncio.timeout(5):
        while True:
            message = await ws.recv()
            if isinstance(message, str) and message.startswith("431"):
                assert json.loads(message[3:])[0]["ok"], message
                break
    return ws, json.loads(accepted[2:])["sid"]


def metric(server: Server, name: str, **labels: str) -> float:
    return server.runtime.metrics.registry.get_sample_value(name, labels or None) or 0.0


async def flood(server: Server, room: str, steady: Listener, count: int = EVENTS) -> None:
    """`count` events to `room`, every other one ephemeral (no seq), at the pace a reading client
    keeps up with: `steady` must receive every one."""
    manager = server.runtime.gateway.manager
    before = len(steady.events)
    for i in range(count):
        if i % 2:
            data: dict[str, Any] = {"event": "test.filler", "seq": 10**9 + i, "data": PAD}
        else:
            data = {"event": "org.member.presence", "data": PAD}
        await manager.emit(data["event"], data, "/", room=room)
        if i % 500 == 499:
            sent = before + i + 1
            await eventually(lambda sent=sent: len(steady.events) >= sent, timeout=10)


async def test_a_websocket_client_that_stops_reading_is_dropped_then_closed_and_replays(
    served: Server,
) -> None:
    org_id, (owner, member) = await quick_team(served, ["Owner", "Member"])
    room = f"org:{org_id}"
    steady = await Listener(served, await owner.socket_token()).connect()
    assert (await steady.subscribe(room))["ok"]
    await rename(owner, "Before")
    first = await steady.wait_for(lambda e: "seq" in e)
    ws, sid = await stalled_websocket(served, member, room)
    gateway = served.runtime.gateway
    assert sid in gateway.sockets
    try:
        await rename(owner, "During")  # durable events the stalled client misses
        await flood(served, room, steady)
        await rename(owner, "After")
        await eventually(lambda: sid not in gateway.sockets, timeout=DISCONNECT_WITHIN)
        assert metric(served, "tandem_slow_consumer_disconnects_total") == 1
        # ephemeral events went first
        assert metric(served, "tandem_dropped_events_total", event="org.member.presence") > 0
        assert metric(served, "tandem_dropped_events_total", event="test.filler") == 0
        # and counted toward the org on its operator page, as the members phase's drops
        await served.runtime.flush_drops()
        view = (await operator_view(owner, org_id)).json()
        drops = {p["phase"]: p["figures"]["drops"] for p in view["phases"]}
        assert (
            0
            < drops["members"]
            <= metric(served, "tandem_dropped_events_total", event="org.member.presence")
        )
        assert drops["chat"] == 0
        # what the server still holds for it is bounded
        for socket in served.runtime.sio.eio.sockets.values():
            packets, nbytes = gateway.manager.backlog(socket.sid, socket)
            assert packets <= MAX_PACKETS and nbytes <= MAX_BYTES + len(PAD) * 2
        # the reading client got everything, in order
        await served.settle()
        await eventually(lambda: len(durable(steady.events, room)) >= 3, timeout=10)
        fillers = [e for e in steady.events if e.get("event") == "test.filler"]
        assert len(fillers) == EVENTS // 2
        assert [e["seq"] for e in fillers] == sorted(e["seq"] for e in fillers)
        presence = [e for e in steady.events if e.get("event") == "org.member.presence"]
        assert len([e for e in presence if e.get("data") == PAD]) == EVENTS // 2
    finally:
        await ws.close()
        await steady.close()

    back = await Listener(served, await member.socket_token()).connect()
    try:
        ack = await back.subscribe(room, after=first["seq"])
        assert ack["ok"], ack
        missed = await logged(served, room, after=first["seq"])
        assert len(missed) >= 2
        assert durable(back.events, room) == missed
    finally:
        await back.close()


async def test_a_polling_client_that_stops_polling_is_closed(polled: Server) -> None:
    org_id, (owner, member) = await quick_team(polled, ["Owner", "Member"])
    room = f"org:{org_id}"
    steady = await Listener(polled, await owner.socket_token()).connect()
    assert (await steady.subscribe(room))["ok"]
    url = f"{polled.url}/socket.io/?EIO=4"
    gateway = polled.runtime.gateway
    async with aiohttp.ClientSession() as http:
        sid = (await open_polling(http, url))["sid"]
        token = await member.socket_token()
        assert (await post(http, url, sid, "40" + json.dumps({"token": token})))[0] == 200
        status, packets = await poll(http, url, sid)
        assert status == 200 and packets[0].startswith("40"), packets
        socket_sid = json.loads(packets[0][2:])["sid"]
        await post(http, url, sid, '421["subscribe",' + json.dumps({"room": room}) + "]")
        status, packets = await poll(http, url, sid)
        assert status == 200 and any(p.startswith("431") for p in packets), packets
        assert socket_sid in gateway.sockets
        # no more polls
        await flood(polled, room, steady, count=4 * MAX_PACKETS)
        await eventually(lambda: socket_sid not in gateway.sockets, timeout=DISCONNECT_WITHIN)
        assert sid not in polled.runtime.sio.eio.sockets
        assert metric(polled, "tandem_slow_consumer_disconnects_total") == 1
        assert metric(polled, "tandem_dropped_events_total", event="org.member.presence") > 0
        status, _ = await poll(http, url, sid)
        assert status == 400  # the session is gone: the client reconnects
    await steady.close()


def presence(org_id: str, user_id: str, online: bool, at: int) -> dict[str, Any]:
    return {
        "event": "org.member.presence",
        "room": f"org:{org_id}",
        "data": {
            "organizationId": org_id,
            "userId": user_id,
            "online": online,
            "lastActiveAt": f"2026-12-06T00:00:{at:02d}.000Z",
        },
    }


def frames_of(message: str | bytes) -> list[Any]:
    """The Socket.IO events of one WebSocket message ("42[...]")."""
    if isinstance(message, str) and message.startswith("42"):
        return [json.loads(message[2:])]
    return []


async def test_a_newer_presence_replaces_the_older_one_queued_for_a_socket_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async for served in serve("accelerated", tmp_path, monkeypatch):
        org_id, (_owner, member) = await quick_team(served, ["Owner", "Member"])
        room = f"org:{org_id}"
        manager = served.runtime.gateway.manager
        ws, _sid = await stalled_websocket(served, member, room)
        try:
            # Durable filler until the connection's buffers are full and packets wait in the queue.
            socket = next(iter(served.runtime.sio.eio.sockets.values()))
            for i in range(EVENTS):
                data = {"event": "test.filler", "seq": 10**9 + i, "data": PAD}
                await manager.emit("test.filler", data, "/", room=room)
                await asyncio.sleep(0.001 if i % 50 == 49 else 0)
                if len(socket.queue._queue) > 10:
                    break
            assert len(socket.queue._queue) > 10
            people = ["u_ada", "u_bob", "u_cy"]
            for step in range(30):
                for person in people:
                    env = presence(org_id, person, online=step % 2 == 0, at=step)
                    await manager.emit(env["event"], env, "/", room=room)
            queued = [p for p in socket.queue._queue if getattr(p, "key", None)]
            assert len(queued) == len(people)  # one value each: the newest
            coalesced = metric(served, "tandem_coalesced_events_total", event="org.member.presence")
            assert coalesced == 29 * len(people)
            await manager.emit(
                "test.filler", {"event": "test.filler", "seq": 2 * 10**9}, "/", room=room
            )

            # Once it reads again, each person's last word is the newest value, and came once.
            heard: list[Any] = []
            async with asyncio.timeout(20):
                while not any(
                    e[0] == "test.filler" and e[1].get("seq") == 2 * 10**9 for e in heard
                ):
                    heard.extend(frames_of(await ws.recv()))
            said = [e[1]["data"] for e in heard if e[0] == "org.member.presence"]
            assert sorted(d["userId"] for d in said) == sorted(people)
            assert all(
                d["online"] is False and d["lastActiveAt"].endswith(":29.000Z") for d in said
            )
        finally:
            await ws.close()


def test_every_ephemeral_event_says_what_its_value_is_of() -> None:
    from tandem.realtime.envelope import load_all_contracts, superseding_key

    ephemeral = {n: cls for n, cls in load_all_contracts().items() if not cls.event_durable}
    assert {"org.member.presence", "chat.typing", "kanban.lock"} <= set(ephemeral)
    for name, cls in ephemeral.items():
        wire = {field.alias or field_name for field_name, field in cls.model_fields.items()}
        assert cls.event_supersedes and set(cls.event_supersedes) <= wire, name
    env = presence("o_1", "u_1", online=True, at=1)
    assert superseding_key("org.member.presence", env) == superseding_key(
        "org.member.presence", presence("o_1", "u_1", online=False, at=2)
    )
    assert superseding_key("org.member.presence", env) != superseding_key(
        "org.member.presence", presence("o_1", "u_2", online=True, at=1)
    )
    assert superseding_key("org.member.presence", {"data": "x"}) is None
    assert superseding_key("org.member.joined", env) is None
