"""The real Tandem app, served for the benchmark (`python bench/tandem_server.py --port 3100
--users 1200 --info /tmp/info.json`): a temporary SQLite database, migrated and seeded with one
organization of `--users` people, their tokens written to `--info` for the load generator, and
`tandem.app.create_app()` with the bench-only events and routes of tandem_app.py, under uvicorn
as `tandem serve` runs it (uvloop, httptools, wsproto, per-message deflate and uvicorn's
WebSocket keepalive off). Prints "READY <port>" once it accepts connections. `--workers N` serves
N workers on PostgreSQL and Redis instead (tandem_workers.py); `--server granian` serves the same
app under Granian's embedded server, a bench-only comparison (`uv sync --group bench`) in which
every frame takes engine.io's queue and writer task.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from tandem_app import (
    add_floor_routes,
    cap_sqlite_writers,
    choose_fanout,
    configure_environment,
    load_info,
    register_bench_events,
    seed,
    trace_memory_on_signal,
    uvicorn_options,
)
from tandem_workers import serve_workers


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3100)
    p.add_argument("--users", type=int, default=1200, help="people in the benchmark organization")
    p.add_argument("--info", required=True, help="write tokens and ids here (JSON)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes; more than 1 runs on PostgreSQL and Redis",
    )
    p.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        help="with --workers > 1: the PostgreSQL database the run's schema is created in",
    )
    p.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/0", help="with --workers > 1: Redis"
    )
    p.add_argument(
        "--redis-publish",
        choices=["pipelined", "stock"],
        default="pipelined",
        help="--workers > 1: pipelined (Tandem's manager: one pipeline per event-loop pass, "
        "awaited) or stock (python-socketio's: one awaited PUBLISH per emit), for comparison",
    )
    p.add_argument(
        "--server",
        choices=["uvicorn", "granian"],
        default="uvicorn",
        help="the ASGI server: uvicorn (as `tandem serve`) or Granian's embedded server "
        "(bench-only comparison, --workers 1; --ws/--ws-ping-interval are uvicorn's)",
    )
    p.add_argument(
        "--ws",
        default="wsproto",
        help="uvicorn websocket implementation: wsproto (Tandem's leaner subclass, as `tandem "
        "serve`), wsproto-stock, websockets-sansio, websockets",
    )
    p.add_argument(
        "--ws-ping-interval",
        type=float,
        default=0,
        help="uvicorn's WebSocket-level keepalive ping in seconds (0: off, as `tandem serve`; "
        "engine.io pings anyway)",
    )
    p.add_argument(
        "--fanout",
        choices=["default", "stock", "fast"],
        default="default",
        help="stock: python-socketio's delivery; fast: tandem.realtime.fanout.FrameFanout",
    )
    p.add_argument(
        "--gc",
        choices=["paced", "stock"],
        default="paced",
        help="paced: tandem.gcpacing, as `tandem serve` (full collections examine what is new); "
        "stock: CPython's collector as it comes",
    )
    p.add_argument(
        "--sqlite-writers",
        type=int,
        default=0,
        help="experiment: cap the SQLite writer pool at N connections (0: Tandem's default)",
    )
    p.add_argument(
        "--tracemalloc",
        action="store_true",
        help="SIGUSR1 takes a baseline, the next SIGUSR1 prints what grew since, by file",
    )
    p.add_argument("--keep-db", action="store_true", help="do not delete the database on exit")
    return p.parse_args()


async def serve(args: argparse.Namespace, data_dir: Path) -> None:
    import uvicorn

    from tandem import logs
    from tandem.app import create_app
    from tandem.config import get_settings

    settings = get_settings()
    logs.configure(settings.log_level, settings.json_logs)
    choose_fanout(args.fanout)
    if args.sqlite_writers:
        cap_sqlite_writers(args.sqlite_writers)
    app = create_app(settings)
    if args.fanout == "stock" and hasattr(app.runtime.gateway.manager, "fast_fanout"):
        app.runtime.gateway.manager.fast_fanout = False
    seeded = await seed(app.runtime.db, app.runtime.tokens, args.users)
    register_bench_events(app)
    add_floor_routes(app)
    if args.gc == "paced":
        from tandem.accel import gc_pacing as gcpacing

        gcpacing.install()
    if args.tracemalloc:
        trace_memory_on_signal()
    if args.server == "granian":
        await serve_granian(args, app, seeded)
        return

    config = uvicorn.Config(app, loop="none", **uvicorn_options(args))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    await serve_until_stopped(args, seeded, task, started, "uvicorn")


async def serve_granian(args: argparse.Namespace, app: Any, seeded: dict[str, Any]) -> None:
    """`--server granian`: Granian's embedded server, one ASGI worker (with the lifespan) on
    this event loop, HTTP/1 with websockets; its Rust runtime keeps one thread, as it does by
    default. Granian admits at most `backpressure` requests at a time per worker, and an open
    websocket is one: without a high one, the idle workloads would stall at the backlog."""
    import signal

    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    server = Server(
        app,
        address=args.host,
        port=args.port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        websockets=True,
        backlog=4096,
        backpressure=1_000_000,
        log_level=LogLevels.warning,
        log_access=False,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.stop)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:  # the embedded server has no "started" flag: it answers HTTP
        return await answers_http(args.host, args.port, "/healthz")

    await serve_until_stopped(args, seeded, task, started, "granian")


async def serve_until_stopped(
    args: argparse.Namespace, seeded: dict[str, Any], task: asyncio.Task, started: Any, name: str
) -> None:
    """Once the server runs, write the info file and print READY; then serve until it stops."""
    while not await started():
        if task.done():
            task.result()
            raise SystemExit(f"{name} stopped before it started")
        await asyncio.sleep(0.02)
    Path(args.info).write_text(json.dumps(load_info(args, seeded)))
    print(f"READY {args.port}", flush=True)
    await task


async def answers_http(host: str, port: int, path: str) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1)
    except (TimeoutError, OSError):
        return False
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        status = await asyncio.wait_for(reader.readline(), 2)
        return status.split(b" ")[1:2] == [b"200"]
    except (TimeoutError, OSError):
        return False
    finally:
        writer.close()


def main() -> int:
    args = parse_args()
    if args.server != "uvicorn" and args.workers > 1:
        print("tandem_server.py: --server granian needs --workers 1", file=sys.stderr)
        return 2
    if args.workers > 1:
        return serve_workers(args)
    data_dir = Path(tempfile.mkdtemp(prefix="tandem-bench-db-"))
    configure_environment(data_dir, args)
    # uvicorn re-raises the SIGTERM that stopped it once it has shut down: exit through the
    # `finally` below, which deletes the run's database, rather than die at the default handler.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        from tandem.cli import migrate

        migrate()
        import uvloop

        uvloop.run(serve(args, data_dir))
    except KeyboardInterrupt:
        pass
    finally:
        if not args.keep_db:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
