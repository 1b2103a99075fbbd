"""The Socket.IO server with Tandem's limits at its door, before engine.io sees a request or frame.

A long-polling body over the socket payload limit is answered 413 at once, before it is read.
python-engineio refuses such a body itself by disconnecting the session, and that disconnect waits
for a poll of the session to take its CLOSE packet: a client that sends the body and no poll holds
the request (and the server's shutdown, which waits for every request) forever.

Engine.IO packets a client has no business sending end its session with a reason: over polling
only CLOSE, PONG and MESSAGE (engine.io answers a NOOP or PING there never, and an unknown type
with a silent 200); over WebSocket those and the upgrade's PING and UPGRADE (engine.io ignores an
unknown type, and an empty or undecodable frame escapes it as an exception). A WebSocket that
upgrades a polling session must send UPGRADE within the handshake deadline, or it is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import parse_qs

import socketio

logger = logging.getLogger("tandem.gateway")

POLLING_TYPES = frozenset(
    "134b"
)  # CLOSE, PONG, MESSAGE, a binary MESSAGE (refused later, with a reason)
WEBSOCKET_TYPES = frozenset("12345")  # and the upgrade's PING ("2probe") and UPGRADE
CLOSE_WAIT_SECONDS = 5.0


class SocketServer(socketio.AsyncServer):
    """python-socketio's ASGI server; `handle_request` is the entry point its ASGIApp calls."""

    upgrade_seconds: float = 10.0  # the gateway sets its handshake deadline

    async def handle_request(self, scope: Any, receive: Any, send: Any) -> Any:
        if scope.get("type") == "http" and scope.get("method") == "POST":
            limit = self.eio.max_http_buffer_size
            body = await _read_at_most(receive, limit)
            if body is None:
                await _too_large(send, limit)
                return None
            if (bad := _bad_polling_packet(body)) is not None:
                await _invalid(send, bad)
                self._end_session(_sid_of(scope), bad)
                return None
            receive = _replay(body)
        elif scope.get("type") == "websocket":
            receive = self._checked_frames(scope, receive, send)
        return await super().handle_request(scope, receive, send)

    def _checked_frames(self, scope: Any, receive: Any, send: Any) -> Any:
        """`receive`, ending the connection at a packet a client may not send, or (upgrading a
        polling session) at no UPGRADE within the deadline."""
        upgrading = _sid_of(scope) is not None
        deadline = asyncio.get_running_loop().time() + self.upgrade_seconds

        async def checked() -> dict[str, Any]:
            nonlocal upgrading
            if upgrading:
                left = deadline - asyncio.get_running_loop().time()
                try:
                    message = await asyncio.wait_for(receive(), max(left, 0))
                except TimeoutError:
                    return await _refuse_frame(send, "no UPGRADE within the handshake deadline")
            else:
                message = await receive()
            if message.get("type") != "websocket.receive":
                return message
            text = message.get("text")
            if text is None:
                return message  # binary: Socket.IO's gate refuses it with a reason
            if not text or text[0] not in WEBSOCKET_TYPES:
                return await _refuse_frame(send, "an engine.io packet a client may not send")
            if upgrading and text[0] == "5":
                upgrading = False
            return message

        return checked

    def _end_session(self, sid: str | None, reason: str) -> None:
        logger.warning("session closed: %s", reason)  # logs.RepeatLimit bounds a flood of these
        if sid is None:
            return
        task = asyncio.ensure_future(self._disconnect(sid))
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def _disconnect(self, sid: str) -> None:
        # engine.io's disconnect waits for a poll to take its CLOSE packet; none may come.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.eio.disconnect(sid), CLOSE_WAIT_SECONDS)


_closing: set[asyncio.Future[None]] = set()


def _sid_of(scope: Any) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    sids = query.get("sid")
    return sids[0] if sids else None


def _bad_polling_packet(body: bytes) -> str | None:
    """Why a polling POST's payload is refused, or None: every packet a type a client may send."""
    for encoded in body.split(b"\x1e"):
        if not encoded or chr(encoded[0]) not in POLLING_TYPES:
            return "an engine.io packet a client may not send over polling"
    return None


async def _refuse_frame(send: Any, reason: str) -> dict[str, Any]:
    """Close the WebSocket (1002: protocol error) and tell engine.io it is gone."""
    logger.warning("websocket closed: %s", reason)
    with contextlib.suppress(Exception):  # already closing
        await send({"type": "websocket.close", "code": 1002, "reason": reason[:120]})
    return {"type": "websocket.disconnect", "code": 1002}


async def _invalid(send: Any, reason: str) -> None:
    body = b'{"error":{"code":"invalid","message":"' + reason.encode() + b'"}}'
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


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
