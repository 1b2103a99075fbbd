"""The server the official Engine.IO and Socket.IO protocol suites expect, on Tandem's socket layer.

`build_app` serves, as the suites' READMEs configure theirs (pings every 300 ms, a 200 ms
ping timeout, payloads up to 1 MB, any origin): an engine.io server at `/engine.io/` that
echoes every message, and a Socket.IO server at `/socket.io/` whose namespace `/` answers
`message` with `message-back` and acks `message-with-ack`, and whose `/` and `/custom` emit
`auth` on connect. Both also disconnect a client that sends `kick`, which the suites never do. Both are built as `tandem serve` builds its own (Tandem's client manager,
engine.io sockets and wsproto connection class), so `TANDEM_ACCEL` decides, as it does there,
whether they run Tandem's accelerators or the stock python-socketio and uvicorn paths. Run as a
script it serves the app and prints one JSON line naming the accelerators that are on:
`python -m tests.protocol.harness --accel off --port 3000`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import socketio
import uvicorn

PING_INTERVAL = 0.3
PING_TIMEOUT = 0.2
MAX_PAYLOAD = 1_000_000
AUTH_DELAY = 0.02
KICK = "kick"  # the message (engine.io) or event (Socket.IO) after which the server disconnects the client

OPTIONS: dict[str, Any] = {
    "async_mode": "asgi",
    "cors_allowed_origins": "*",
    "max_http_buffer_size": MAX_PAYLOAD,
    "ping_interval": PING_INTERVAL,
    "ping_timeout": PING_TIMEOUT,
    "logger": False,
    "engineio_logger": False,
}


def socketio_server() -> socketio.AsyncServer:
    """The Socket.IO suite's server, with Tandem's client manager and JSON adapter."""
    from tandem.realtime.delivery import make_manager
    from tandem.realtime.gateway import OrjsonAdapter

    sio = socketio.AsyncServer(
        client_manager=make_manager(""),  # installs Tandem's engine.io sockets, when they are on
        json=OrjsonAdapter,
        # CONNECT goes out before the connect handler runs, so what it emits follows, as on Node's server
        always_connect=True,
        **OPTIONS,
    )

    # The suite's client (ws 8.5) dispatches the messages of one TCP read synchronously, and its
    # `waitFor` listens again only after the first was handled: `auth`, written right behind
    # CONNECT, would arrive in the same read and be lost. It goes out a moment later instead.
    async def emit_auth(sid: str, auth: Any, namespace: str) -> None:
        await asyncio.sleep(AUTH_DELAY)
        # Node's server gives a client that sent no auth payload an empty one.
        await sio.emit("auth", {} if auth is None else auth, to=sid, namespace=namespace)

    @sio.on("connect")
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        sio.start_background_task(emit_auth, sid, auth, "/")

    @sio.on("message")
    async def message(sid: str, *args: Any) -> None:
        await sio.emit("message-back", args, to=sid)

    @sio.on("message-with-ack")
    async def message_with_ack(sid: str, *args: Any) -> Any:
        return args

    @sio.on("kick")
    async def kick(sid: str, *args: Any) -> None:
        await sio.disconnect(sid)

    @sio.on("connect", namespace="/custom")
    async def connect_custom(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        sio.start_background_task(emit_auth, sid, auth, "/custom")

    return sio


def engineio_server() -> socketio.AsyncServer:
    """The Engine.IO suite's server: Socket.IO's handlers on its engine.io server replaced by an
    echo, then Tandem's engine.io sockets installed around it as around Socket.IO's in Tandem."""
    from tandem.accel import engineio_socket

    sio = socketio.AsyncServer(**OPTIONS)
    eio = sio.eio

    async def connect(eio_sid: str, environ: dict[str, Any]) -> None:
        return None

    async def message(eio_sid: str, data: Any) -> None:
        if data == KICK:
            await eio.disconnect(eio_sid)
        else:
            await eio.send(eio_sid, data)

    async def disconnect(eio_sid: str, reason: Any = None) -> None:
        return None

    eio.on("connect", connect)
    eio.on("message", message)
    eio.on("disconnect", disconnect)
    engineio_socket.install(sio)
    return sio


def build_app(servers: dict[str, socketio.AsyncServer] | None = None) -> socketio.ASGIApp:
    """Both suites' servers in one ASGI app; `servers` receives them by suite name."""
    sio, eio_echo = socketio_server(), engineio_server()
    if servers is not None:
        servers.update(socketio=sio, engineio=eio_echo)
    echo_app = socketio.ASGIApp(eio_echo, socketio_path="engine.io")
    return socketio.ASGIApp(sio, other_asgi_app=echo_app, socketio_path="socket.io")


def uvicorn_config(app: Any, host: str = "127.0.0.1", port: int = 3000) -> uvicorn.Config:
    """uvicorn as `tandem serve` runs it: uvloop, httptools, wsproto (Tandem's connection class
    when its accelerator is on), no per-message deflate, no WebSocket-level pings."""
    from tandem.accel.uvicorn_wsproto import uvicorn_ws

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws=uvicorn_ws("wsproto"),
        ws_per_message_deflate=False,
        ws_ping_interval=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--accel", choices=("on", "off"), help="set TANDEM_ACCEL (default: as the environment says)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)
    if args.accel:
        os.environ["TANDEM_ACCEL"] = args.accel
    from tandem import accel

    app = build_app()
    config = uvicorn_config(app, args.host, args.port)
    print(json.dumps({"accelerators": accel.check()}), flush=True)
    sys.stdout.flush()
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
