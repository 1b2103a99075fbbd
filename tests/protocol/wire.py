"""Raw Engine.IO clients for the protocol tests: long-polling over aiohttp, WebSocket over websockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

SEPARATOR = "\x1e"  # between the packets of one long-polling payload
CLOSED_WITHIN = 2.0  # seconds the server has to close a WebSocket once the session ended


async def open_polling(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """A long-polling handshake: the OPEN packet's fields."""
    async with http.get(url + "&transport=polling") as response:
        assert response.status == 200
        body = await response.text()
    assert body.startswith("0")
    return json.loads(body[1:])


async def poll(http: aiohttp.ClientSession, url: str, sid: str) -> tuple[int, list[str]]:
    async with http.get(f"{url}&transport=polling&sid={sid}") as response:
        body = await response.text()
        return response.status, body.split(SEPARATOR) if response.status == 200 else [body]


async def post(
    http: aiohttp.ClientSession, url: str, sid: str, *packets: str, timeout: float | None = None
) -> tuple[int, str]:
    limit = {"timeout": aiohttp.ClientTimeout(total=timeout)} if timeout else {}
    async with http.post(
        f"{url}&transport=polling&sid={sid}", data=SEPARATOR.join(packets), **limit
    ) as response:
        return response.status, await response.text()


async def open_websocket(url: str) -> tuple[ClientConnection, dict[str, Any]]:
    """A WebSocket session opened without polling first: the connection and its OPEN packet's fields."""
    ws = await connect(url, max_size=None, ping_interval=None, compression=None)
    opening = await asyncio.wait_for(ws.recv(), 2)
    assert isinstance(opening, str) and opening.startswith("0")
    return ws, json.loads(opening[1:])


async def receive(ws: ClientConnection, timeout: float = 2.0, pings: bool = False) -> str | bytes:
    """The next message, skipping the server's PINGs unless `pings`."""
    while True:
        message = await asyncio.wait_for(ws.recv(), timeout)
        if pings or message != "2":
            return message


async def closed_by_server(ws: ClientConnection, within: float = CLOSED_WITHIN) -> bool:
    """Whether the server closes the connection within `within` seconds (the client never does)."""

    async def drain() -> None:  # read on: a full receive buffer would hold the close frame back
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv()

    try:
        await asyncio.wait_for(drain(), within)
    except TimeoutError:
        return False
    return True
