"""An accepted ASGI websocket connection seen as engine.io's `WebSocket` wrapper sees it (accept,
wait, send, close), for `accel/engineio_socket.py`'s sockets, which read it without the wrapper."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any


class ASGIWebSocket:
    """What engine.io's ASGI `WebSocket` wrapper offers a socket (accept, wait, send, close), in slots."""

    __slots__ = ("receive", "send_event")

    def __init__(self, receive: Callable[[], Any], send: Callable[[dict[str, Any]], Any]) -> None:
        self.receive = receive
        self.send_event = send

    async def accept(self) -> None:
        await self.send_event({"type": "websocket.accept"})

    async def wait(self) -> Any:
        return asgi_data(await self.receive())

    async def send(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            await self.send_event({"type": "websocket.send", "bytes": message, "text": None})
        else:
            await self.send_event({"type": "websocket.send", "bytes": None, "text": message})

    async def close(self) -> None:
        with contextlib.suppress(
            Exception
        ):  # as the library's: an already closed connection is fine
            await self.send_event({"type": "websocket.close"})


def asgi_data(event: dict[str, Any]) -> Any:
    """The text or bytes of an ASGI websocket event, as engine.io's `WebSocket.wait` returns them."""
    if event["type"] != "websocket.receive":
        raise OSError()
    data = event.get("bytes")
    if data is not None:
        return data
    data = event.get("text")
    if data is not None:
        return data
    raise OSError()  # pragma: no cover
