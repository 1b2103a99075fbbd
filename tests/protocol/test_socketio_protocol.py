"""Socket.IO protocol v5 at the harness's Socket.IO server, over a raw WebSocket, with Tandem's
accelerators on and off: the checks of the official Socket.IO suite where Tandem's socket layer
could differ from the stock one, and a server-side disconnect."""

from __future__ import annotations

import json

from websockets.asyncio.client import ClientConnection

from tests.protocol.conftest import Harness
from tests.protocol.harness import KICK, PING_INTERVAL
from tests.protocol.wire import closed_by_server, open_websocket, receive

PATH = "socket.io"


async def connected(
    harness: Harness, namespace: str = "", auth: str = ""
) -> tuple[ClientConnection, str | bytes]:
    """A WebSocket connected to `namespace` ("" is `/`), past its CONNECT and `auth` packets."""
    ws, _ = await open_websocket(harness.ws(PATH))
    prefix = f"{namespace}," if namespace else ""
    await ws.send(f"40{prefix}{auth}")
    answer = await receive(ws)
    assert isinstance(answer, str) and answer.startswith(f"40{prefix}")
    assert set(json.loads(answer[len(f"40{prefix}") :])) == {"sid"}
    return ws, await receive(ws)


async def test_connect_to_the_main_namespace(harness: Harness) -> None:
    ws, auth = await connected(harness)
    async with ws:
        assert auth == '42["auth",{}]'


async def test_connect_to_the_main_namespace_with_a_payload(harness: Harness) -> None:
    ws, auth = await connected(harness, auth='{"token":"123"}')
    async with ws:
        assert auth == '42["auth",{"token":"123"}]'


async def test_connect_to_a_custom_namespace_with_a_payload(harness: Harness) -> None:
    ws, auth = await connected(harness, "/custom", auth='{"token":"abc"}')
    async with ws:
        assert auth == '42/custom,["auth",{"token":"abc"}]'


async def test_connect_to_an_unknown_namespace_is_refused(harness: Harness) -> None:
    ws, _ = await open_websocket(harness.ws(PATH))
    async with ws:
        await ws.send("40/random")
        answer = await receive(ws)
        assert isinstance(answer, str) and answer.startswith("44/random,")


async def test_event_is_answered(harness: Harness) -> None:
    ws, _ = await connected(harness)
    async with ws:
        await ws.send('42["message",1,"2",{"3":[true]}]')
        assert await receive(ws) == '42["message-back",1,"2",{"3":[true]}]'


async def test_event_with_an_ack(harness: Harness) -> None:
    ws, _ = await connected(harness)
    async with ws:
        await ws.send('42456["message-with-ack",1,"2",{"3":[false]}]')
        assert await receive(ws) == '43456[1,"2",{"3":[false]}]'


async def test_binary_event_is_answered_with_its_attachment(harness: Harness) -> None:
    ws, _ = await connected(harness)
    async with ws:
        await ws.send('451-["message",{"_placeholder":true,"num":0}]')
        await ws.send(b"\x01\x02\x03")
        assert await receive(ws) == '451-["message-back",{"_placeholder":true,"num":0}]'
        assert await receive(ws) == b"\x01\x02\x03"


async def test_binary_event_with_an_ack(harness: Harness) -> None:
    ws, _ = await connected(harness)
    async with ws:
        await ws.send('451-789["message-with-ack",{"_placeholder":true,"num":0}]')
        await ws.send(b"\x01\x02\x03")
        assert await receive(ws) == '461-789[{"_placeholder":true,"num":0}]'
        assert await receive(ws) == b"\x01\x02\x03"


async def test_disconnect_from_the_main_namespace_keeps_the_connection(harness: Harness) -> None:
    ws, _ = await connected(harness)
    async with ws:
        await ws.send("41")
        assert await receive(ws, timeout=PING_INTERVAL * 3, pings=True) == "2"


async def test_disconnect_from_a_custom_namespace_keeps_the_main_one(harness: Harness) -> None:
    ws, _ = await connected(harness)
    async with ws:
        await ws.send("40/custom,")
        assert (await receive(ws)).startswith("40/custom,")
        assert await receive(ws) == '42/custom,["auth",{}]'
        await ws.send("41/custom,")
        await ws.send('42["message","to the main namespace"]')
        assert await receive(ws) == '42["message-back","to the main namespace"]'


async def test_close_packet_closes_the_websocket(harness: Harness) -> None:
    ws, _ = await connected(harness)
    async with ws:
        await ws.send("1")
        assert await closed_by_server(ws)


async def test_invalid_packet_closes_the_websocket(harness: Harness) -> None:
    ws, _ = await connected(harness)
    async with ws:
        await ws.send("4abc")
        assert await closed_by_server(ws)


async def test_server_side_disconnect_closes_the_websocket(harness: Harness) -> None:
    ws, _ = await connected(harness)
    async with ws:
        await ws.send(f'42["{KICK}"]')
        assert await receive(ws) == "41"
        assert await closed_by_server(ws)
