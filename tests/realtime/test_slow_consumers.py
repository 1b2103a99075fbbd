"""A client that stops reading (or polling) cannot grow the server's memory: once what is queued
for its socket passes the bound, its ephemeral events are dropped, then the socket is closed, and
its client replays the durable events it missed once back. Checked with the accelerated engine.io
sockets and fan-out, and with TANDEM_ACCEL=off, from raw Engine.IO clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.conftest import PG_URL
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
