"""Once engine.io ends a session, the server closes its WebSocket: after the client's CLOSE packet,
after a ping timeout while the client keeps sending, and after a server-side disconnect (eviction,
logout). Checked on a served app with its engine.io sockets accelerated and with TANDEM_ACCEL=off,
from a raw WebSocket client speaking Engine.IO by hand, as the protocol's compliance suites do."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from engineio.async_socket import AsyncSocket
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tandem import accel
from tandem.accel.engineio_socket import ClockedSocket
from tests.conftest import PG_URL
from tests.harness import Server, eventually, fresh_database_url, quick_team, start_server

# Pings every 0.3 s, each to be answered within a second: short enough for a test, long enough
# that a busy test machine's event loop does not time out a client that answers.
PING_INTERVAL, PING_TIMEOUT = 0.3, 1.0
CLOSE_WITHIN = 2.0  # seconds, past a ping's timeout where that ends the session


@pytest.fixture(params=["accelerated", "stock"])
async def served(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Server]:
    if request.param == "stock":
        monkeypatch.setenv(accel.ENV, "off")
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path) as server,
    ):
        eio = server.runtime.sio.eio
        eio.ping_interval, eio.ping_timeout = PING_INTERVAL, PING_TIMEOUT
        yield server


async def connected(server: Server) -> tuple[ClientConnection, str]:
    """A raw Engine.IO websocket with its Socket.IO connect to `/` accepted; and the Socket.IO sid."""
    _, (person,) = await quick_team(server, ["Owner"])
    token = await person.socket_token()
    ws = await ws_connect(
        f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket", ping_interval=None
    )
    assert (await ws.recv()).startswith("0")  # engine.io OPEN
    await ws.send("40" + json.dumps({"token": token}))
    accepted = await ws.recv()
    while accepted == "2":  # a ping before the connect was answered: pong, as a client does
        await ws.send("3")
        accepted = await ws.recv()
    assert accepted.startswith("40"), accepted
    (socket,) = server.runtime.sio.eio.sockets.values()
    assert type(socket) is (AsyncSocket if accel.switched_off() else ClockedSocket)
    return ws, json.loads(accepted[2:])["sid"]


async def closed_within(ws: ClientConnection, seconds: float) -> list[str]:
    """What the server sent until it closed the connection; fails if it is still open after `seconds`."""
    received: list[str] = []
    async with asyncio.timeout(seconds):
        try:
            while True:
                received.append(await ws.recv())
        except ConnectionClosed:
            return received


async def test_the_clients_close_packet_closes_the_websocket(served):
    ws, _ = await connected(served)
    async with ws:
        await ws.send("1")  # engine.io CLOSE
        await closed_within(ws, CLOSE_WITHIN)
    await eventually(
        lambda: not served.runtime.sio.eio.sockets and not served.runtime.gateway.sockets
    )


async def test_a_ping_timeout_closes_the_websocket_of_a_client_that_keeps_sending(served):
    ws, _ = await connected(served)

    async def talk() -> None:  # messages, never the PONG the server waits for
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.send('42["chatter"]')
                await asyncio.sleep(0.05)

    async with ws:
        talking = asyncio.create_task(talk())
        try:
            received = await closed_within(ws, PING_INTERVAL + PING_TIMEOUT + CLOSE_WITHIN)
        finally:
            talking.cancel()
        assert "2" in received  # pinged, never answered, then the connection closed
    await eventually(
        lambda: not served.runtime.sio.eio.sockets and not served.runtime.gateway.sockets
    )


async def test_a_server_side_disconnect_closes_the_websocket(served):
    ws, sid = await connected(served)
    async with ws:
        await served.runtime.sio.disconnect(sid)  # eviction and logout end a session this way
        received = await closed_within(ws, CLOSE_WITHIN)
        assert "41" in received  # Socket.IO DISCONNECT, then the connection closed
    await eventually(
        lambda: not served.runtime.sio.eio.sockets and not served.runtime.gateway.sockets
    )
