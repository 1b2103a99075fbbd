"""Engine.IO protocol v4 at the harness's echo server, with Tandem's accelerators on and off:
the checks of the official Engine.IO suite where Tandem's socket layer could differ from the stock one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.protocol.conftest import Harness
from tests.protocol.harness import KICK, MAX_PAYLOAD, PING_INTERVAL, PING_TIMEOUT
from tests.protocol.wire import closed_by_server, open_polling, open_websocket, poll, post, receive

PATH = "engine.io"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


async def test_polling_handshake_announces_the_session(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    opening = await open_polling(http, harness.http(PATH))
    assert set(opening) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert isinstance(opening["sid"], str) and opening["sid"]
    assert opening["upgrades"] == ["websocket"]
    assert opening["pingTimeout"] == int(PING_TIMEOUT * 1000)
    assert opening["maxPayload"] == MAX_PAYLOAD
    assert isinstance(opening["pingInterval"], int)


async def test_websocket_handshake_announces_the_session(harness: Harness) -> None:
    ws, opening = await open_websocket(harness.ws(PATH))
    async with ws:
        assert set(opening) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
        assert opening["upgrades"] == []
        assert opening["pingTimeout"] == int(PING_TIMEOUT * 1000)
        assert opening["maxPayload"] == MAX_PAYLOAD


@pytest.mark.parametrize(
    "query",
    [
        "&transport=foo",  # an unknown transport
        "&transport=polling&sid=no-such-session",
    ],
)
async def test_bad_polling_requests_are_refused(
    harness: Harness, http: aiohttp.ClientSession, query: str
) -> None:
    async with http.get(harness.http(PATH, query)) as response:
        assert response.status == 400


async def test_an_unsupported_protocol_version_is_refused(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    url = harness.http(PATH).replace("EIO=4", "EIO=3") + "&transport=polling"
    async with http.get(url) as response:
        assert response.status == 400


async def test_polling_carries_text_and_binary_packets(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    url = harness.http(PATH)
    sid = (await open_polling(http, url))["sid"]
    status, _ = await post(http, url, sid, "4hello", "4€ and more", "bAQIDBA==")
    assert status == 200
    received: list[str] = []
    while len(received) < 3:
        status, packets = await poll(http, url, sid)
        assert status == 200
        received += [p for p in packets if p != "2"]
    assert received == ["4hello", "4€ and more", "bAQIDBA=="]


async def test_websocket_carries_text_and_binary_messages(harness: Harness) -> None:
    ws, _ = await open_websocket(harness.ws(PATH))
    async with ws:
        await ws.send("4hello")
        assert await receive(ws) == "4hello"
        await ws.send(b"\x01\x02\x03")
        assert await receive(ws) == b"\x01\x02\x03"


async def test_a_polling_payload_over_the_limit_ends_the_session(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    url = harness.http(PATH)
    sid = (await open_polling(http, url))["sid"]
    try:
        status, _ = await post(http, url, sid, "4" + "a" * MAX_PAYLOAD, timeout=1)
        assert status != 200
    except (aiohttp.ClientError, TimeoutError):
        pass  # python-engineio drops the session without reading the body or answering
    status, _ = await poll(http, url, sid)
    assert status == 400


async def test_a_websocket_message_over_the_limit_closes_the_connection(harness: Harness) -> None:
    ws, _ = await open_websocket(harness.ws(PATH))
    async with ws:
        await ws.send("4" + "a" * MAX_PAYLOAD)
        assert await closed_by_server(ws)


async def test_polling_heartbeat(harness: Harness, http: aiohttp.ClientSession) -> None:
    url = harness.http(PATH)
    sid = (await open_polling(http, url))["sid"]
    for _ in range(2):
        status, packets = await poll(http, url, sid)  # held until the server's PING
        assert (status, packets) == (200, ["2"])
        assert (await post(http, url, sid, "3"))[0] == 200


async def test_websocket_heartbeat(harness: Harness) -> None:
    ws, _ = await open_websocket(harness.ws(PATH))
    async with ws:
        for _ in range(4):  # a client that answers every PING stays connected through several
            assert await receive(ws, timeout=PING_INTERVAL * 3, pings=True) == "2"
            await ws.send("3")
        await ws.send("4still here")
        assert await receive(ws) == "4still here"


async def test_websocket_ping_timeout_closes_the_connection(harness: Harness) -> None:
    ws, _ = await open_websocket(harness.ws(PATH))
    async with ws:
        assert await closed_by_server(ws, within=(PING_INTERVAL + PING_TIMEOUT) * 2 + 1)


async def test_ping_timeout_closes_the_connection_while_the_client_keeps_sending(
    harness: Harness,
) -> None:
    """A client that sends messages but never answers PING is still timed out, and its WebSocket closed."""
    ws, _ = await open_websocket(harness.ws(PATH))
    async with ws:

        async def chatter() -> None:
            while True:
                await ws.send("4still here")
                await asyncio.sleep(0.05)

        sender = asyncio.create_task(chatter())
        try:
            assert await closed_by_server(ws, within=(PING_INTERVAL + PING_TIMEOUT) * 2 + 1.5)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)


async def test_polling_session_ends_on_close_packet(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    url = harness.http(PATH)
    sid = (await open_polling(http, url))["sid"]
    (status, _), (post_status, _) = await asyncio.gather(
        poll(http, url, sid), post(http, url, sid, "1")
    )
    assert post_status == 200
    assert status in (200, 400)  # the pending poll ends (the reference server answers NOOP)
    status, _ = await poll(http, url, sid)
    assert status == 400


async def test_close_packet_closes_the_websocket(harness: Harness) -> None:
    ws, _ = await open_websocket(harness.ws(PATH))
    async with ws:
        await ws.send("1")
        assert await closed_by_server(ws)


async def test_server_side_disconnect_closes_the_websocket(harness: Harness) -> None:
    ws, _ = await open_websocket(harness.ws(PATH))
    async with ws:
        await ws.send("4" + KICK)
        assert await closed_by_server(ws)


async def test_upgrade_from_polling_to_websocket(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    from websockets.asyncio.client import connect

    url = harness.http(PATH)
    sid = (await open_polling(http, url))["sid"]
    pending_poll = asyncio.create_task(poll(http, url, sid))
    async with connect(harness.ws(PATH, f"&sid={sid}"), ping_interval=None, compression=None) as ws:
        await ws.send("2probe")
        assert await receive(ws) == "3probe"
        status, packets = await pending_poll  # the pending poll ends with NOOP
        assert status == 200 and packets[-1] == "6"
        await ws.send("5")
        await ws.send("4hello")
        assert await receive(ws) == "4hello"
        status, _ = await poll(http, url, sid)  # polling is over for this session
        assert status == 400
        await ws.send("1")
        assert await closed_by_server(ws)
