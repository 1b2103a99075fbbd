"""The Socket.IO server with Tandem's limits at its HTTP door: a long-polling body over the socket
payload limit is answered 413 at once, before it is read and before engine.io sees it.

python-engineio refuses such a body itself by disconnecting the session, and that disconnect waits
for a poll of the session to take its CLOSE packet: a client that sends the body and no poll holds
the request (and the server's shutdown, which waits for every request) forever.
"""

from __future__ import annotations

from typing import Any

import socketio


class SocketServer(socketio.AsyncServer):
    """python-socketio's ASGI server; `handle_request` is the entry point its ASGIApp calls."""

    async def handle_request(self, scope: Any, receive: Any, send: Any) -> Any:
        if scope.get("type") == "http" and scope.get("method") == "POST":
            limit = self.eio.max_http_buffer_size
            body = await _read_at_most(receive, limit)
            if body is None:
                await _too_large(send, limit)
                return None
            receive = _replay(body)
        return await super().handle_request(scope, receive, send)


async def _read_at_most(receive: Any, limit: int) -> bytes | None:
    """The request's body, or None as soon as it passes `limit` bytes (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # the client went away: engine.io sees an empty body
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _too_large(send: Any, limit: int) -> None:
    body = (
        b'{"error":{"code":"too_large","message":"the body is larger than '
        + str(limit).encode()
        + b' bytes"}}'
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
