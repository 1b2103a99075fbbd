"""The websocket transport of the clocked engine.io sockets (accel/engineio_socket.py's
`ClockedSocket`): the receive loop on the ASGI connection itself, without engine.io's `WebSocket`
wrapper or a task per receive, and, where the server offers `DETACH`, from outside the request's
call stack. The upgrade from polling is the library's, as it is in python-engineio 4.15.1.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from engineio import exceptions, packet
from engineio.async_drivers import asgi as engineio_asgi

from tandem.accel.asgi_websocket import ASGIWebSocket, asgi_data
from tandem.accel.socket_clock import SocketClock

# The ASGI extension a server offers (accel/uvicorn_wsproto.py's DetachableWSProtocol) when an app may hand it
# the rest of an accepted websocket connection: `await send({"type": DETACH, "run": f})`, then return;
# the server keeps the connection open and awaits `f()` instead.
DETACH = "tandem.websocket.detach"


class WebSocketTransport:
    """A mixin for `ClockedSocket` (before engine.io's `AsyncSocket` in its bases), whose state
    and writer it uses."""

    server: Any
    sid: str
    queue: Any
    connected: bool
    upgraded: bool
    upgrading: bool
    closed: bool
    _ws: Any
    _writer: asyncio.Task | None
    _task: asyncio.Task | None
    _waiting_since: float | None
    _stopping: bool
    _stop_cancelled: bool

    async def _upgrade_websocket(self, environ: dict[str, Any]) -> Any:
        """As the library's, on the ASGI connection itself: with engine.io's ASGI `WebSocket`
        wrapper, every idle connection's task would also hold its object and two more
        suspended coroutines (its `__call__` and `wait`). When the server offers `DETACH`,
        the receive loop runs from the connection's task once the request has returned."""
        server = self.server
        if (
            server._async.get("websocket") is not engineio_asgi.WebSocket
            or "asgi.receive" not in environ
        ):
            return await super()._upgrade_websocket(
                environ
            )  # pragma: no cover - another async mode
        if self.upgraded:
            raise OSError("Socket has been upgraded already")
        ws = ASGIWebSocket(environ["asgi.receive"], environ["asgi.send"])
        await ws.accept()
        scope = environ.get("asgi.scope") or {}
        if DETACH in (scope.get("extensions") or ()):
            # Leave the request's stack: engine.io and Socket.IO return now (a websocket's
            # response is empty), and the server runs the rest of the connection.
            await ws.send_event(
                {"type": DETACH, "run": functools.partial(self._websocket_detached, ws)}
            )
            return ""
        await self._websocket_handler(ws)
        return ""  # send nothing as response

    async def _websocket_detached(self, ws: ASGIWebSocket) -> None:
        await self._websocket_handler(ws)
        # what engine.io's request handling does once the handler returns
        server = self.server
        if self.closed and server.sockets.get(self.sid) is self:
            del server.sockets[self.sid]

    async def _websocket_upgraded(self, ws: Any) -> bool:
        """The socket was already connected on polling: the upgrade's probe and UPGRADE (as the library)."""
        server = self.server
        max_size = server.max_http_buffer_size

        async def websocket_wait() -> Any:
            data = await ws.wait()
            if data and len(data) > max_size:
                raise ValueError("packet is too large")
            return data

        self.upgrading = True  # hold packet sends during the upgrade
        try:
            pkt = await websocket_wait()
        except OSError:  # pragma: no cover
            return False
        decoded = packet.Packet(encoded_packet=pkt)
        if decoded.packet_type != packet.PING or decoded.data != "probe":
            server.logger.info("%s: Failed websocket upgrade, no PING packet", self.sid)
            self.upgrading = False
            return False
        await ws.send(packet.Packet(packet.PONG, data="probe").encode())
        await self.queue.put(packet.Packet(packet.NOOP))  # end the pending poll
        try:
            pkt = await websocket_wait()
        except OSError:  # pragma: no cover
            self.upgrading = False
            return False
        decoded = packet.Packet(encoded_packet=pkt)
        if decoded.packet_type != packet.UPGRADE:
            self.upgraded = False
            server.logger.info(
                "%s: Failed websocket upgrade, expected UPGRADE packet, received %s instead.",
                self.sid,
                pkt,
            )
            self.upgrading = False
            return False
        self.upgraded = True
        self.upgrading = False
        return True

    async def _websocket_handler(self, ws: Any) -> None:
        server = self.server
        max_size = server.max_http_buffer_size
        if self.connected:
            if not await self._websocket_upgraded(ws):
                return
        else:
            self.connected = True
            self.upgraded = True

        self._ws = ws
        queue = self.queue
        queue.on_put = self._kick
        if queue._queue:
            self._kick()
        else:
            queue.idle = True
        server.logger.info("%s: Upgrade to websocket successful", self.sid)

        # Each receive is timed out after ping_interval + ping_timeout by the server's clock.
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        loop = asyncio.get_running_loop()
        self._task = task
        receive = ws.receive if type(ws) is ASGIWebSocket else None
        SocketClock.of(server).watch_receives(self)  # type: ignore[arg-type]  # a ClockedSocket
        cancelled = False
        try:
            while True:
                self._waiting_since = loop.time()
                try:
                    # engine.io's websocket_wait() and WebSocket.wait(), inline: no suspended
                    # coroutine of theirs for an idle connection to hold
                    p = await receive() if receive is not None else await ws.wait()
                    if receive is not None:
                        p = asgi_data(p)
                    if p and len(p) > max_size:
                        raise ValueError("packet is too large")
                except asyncio.CancelledError:
                    if self._stop_cancelled and task.uncancel() <= cancelling:
                        break  # the clock's timeout (as asyncio.timeout's TimeoutError) or the session's end
                    cancelled = (
                        True  # the library ends the connection as below, then lets the task end
                    )
                    break
                except Exception:
                    break
                finally:
                    self._waiting_since = None
                if p is None:  # closed by the client
                    break
                pkt, p = (
                    packet.Packet(encoded_packet=p),
                    None,
                )  # an idle socket keeps no last message
                try:
                    await self.receive(pkt)
                except exceptions.UnknownPacketError:  # pragma: no cover
                    pass
                except exceptions.SocketIsClosedError:  # pragma: no cover
                    server.logger.info("Receive error -- socket is closed")
                    break
                except Exception:  # pragma: no cover
                    server.logger.exception("Unknown receive error")
                pkt = None
                if (
                    self._stopping
                ):  # the packet ended the session (a CLOSE), or a close came meanwhile
                    break
        finally:
            self._task = None

        writer = self._writer
        if cancelled:
            if writer is not None:
                writer.cancel()
            self._end_writer()
        else:
            queue.put_nowait(None)  # the writer writes what is queued, then closes the connection
            writer = self._writer
            if writer is not None:
                await writer
        await self.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
