"""The real Tandem app, served for the benchmark.

    python bench/tandem_server.py --port 3100 --users 1200 --info /tmp/info.json

Creates a temporary SQLite database, migrates it, seeds one organization of `--users`
people directly with the ORM (one precomputed password hash: argon2 for a thousand
signups would dominate the start-up), mints a socket token per person and an access token
for the owner, writes them to `--info` for the load generator, and serves
`tandem.app.create_app()` under uvicorn exactly as `tandem serve` does (uvloop, httptools,
wsproto, per-message deflate and uvicorn's WebSocket keepalive off). Prints "READY <port>"
when it accepts connections.

Two bench-only Socket.IO events are registered on the app's real AsyncServer here, not in
product code; both publish through `Runtime.publish`, the call the outbox dispatcher
makes for every batch of durable events:

- `bench.fanout {room, count, size}`: publish `count` envelopes to the room, 16 per call
  (as the dispatcher publishes a batch, and the reference yields every 16), then ack;
- `bench.emit {room, size}`: publish one envelope stamped with CLOCK_MONOTONIC (`data.t`).
- `bench.whoami`: the pid of the worker process that holds this socket.

`--workers N` (N > 1) serves N uvicorn worker processes of `create_app()` sharing the port,
as `tandem serve --workers N` does, on PostgreSQL (a fresh schema of `--database-url`,
dropped at exit) and Redis (`--redis-url`; every key and channel of the run starts with a
prefix of its own, so parallel runs do not see each other's traffic, and its keys are deleted at exit). The parent
migrates and seeds once, then starts the workers; each worker registers the bench events,
so a broadcast published in one worker reaches the others' clients through the Redis
manager, like every real event. "READY" comes when every worker has started.
`--redis-publish stock` puts back python-socketio's publish (one awaited PUBLISH round trip
per emit) instead of Tandem's pipelines, for comparison.

`--server granian` (one worker only) serves the same app object under Granian's embedded
ASGI server instead of uvicorn, in this process and event loop: a bench-only comparison
(granian is in the `bench` dependency group: `uv sync --group bench`). FrameFanout's
direct writes need uvicorn's websocket protocols, so there every frame takes engine.io's
queue and writer task.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

EVENT = "kanban.task.moved"
TRACE_ID = "1b4e28ba2fa1466ea1b2c3d4e5f60718"  # the reference server uses the same one


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


def configure_environment(data_dir: Path, args: argparse.Namespace) -> None:
    """Settings the benchmark needs; everything else keeps `tandem serve`'s defaults."""
    os.environ["TANDEM_DATA_DIR"] = str(data_dir)
    os.environ["TANDEM_DATABASE_URL"] = f"sqlite+aiosqlite:///{data_dir / 'tandem.db'}"
    os.environ.setdefault("TANDEM_SECRET_KEY", secrets.token_urlsafe(32))
    os.environ["TANDEM_HOST"] = args.host
    os.environ["TANDEM_PORT"] = str(args.port)
    # A full run restarts the server per workload, but one workload can outlast 5 minutes.
    os.environ["TANDEM_SOCKET_TOKEN_SECONDS"] = "7200"
    os.environ["TANDEM_ACCESS_TOKEN_MINUTES"] = "120"
    os.environ["TANDEM_SERVE_WEB"] = "false"


async def seed(db: Any, tokens: Any, users: int) -> dict[str, Any]:
    """One org: an owner and `users - 1` members, each with a login session and tokens."""
    from argon2 import PasswordHasher

    from tandem.auth.models import LoginSession, User
    from tandem.auth.tokens import ACCESS, REFRESH, SOCKET
    from tandem.kit.clock import utcnow
    from tandem.kit.ids import new_id, new_token
    from tandem.orgs.models import Membership, Organization

    password_hash = PasswordHasher().hash("bench-password")
    org = Organization(id=new_id("org"), name="Bench")
    people, logins = [], []
    async with db.unit_of_work() as session:
        session.add(org)
        await session.flush()
        for i in range(users):
            user = User(
                id=new_id("u"),
                email=f"bench{i}@example.com",
                name=f"Bench {i}",
                password_hash=password_hash,
            )
            people.append(user)
            logins.append(
                LoginSession(
                    id=new_token(18),
                    user_id=user.id,
                    refresh_generation=0,
                    expires_at=utcnow() + tokens.lifetimes[REFRESH],
                )
            )
        session.add_all(people)
        await session.flush()
        session.add_all(logins)
        session.add_all(
            Membership(
                org_id=org.id, user_id=u.id, role="Owner" if i == 0 else "Member", status="active"
            )
            for i, u in enumerate(people)
        )
    socket_tokens = [
        tokens.issue(SOCKET, u.id, login.id)[0] for u, login in zip(people, logins, strict=True)
    ]
    owner_access, _ = tokens.issue(ACCESS, people[0].id, logins[0].id)
    return {
        "orgId": org.id,
        "userIds": [u.id for u in people],
        "socketTokens": socket_tokens,
        "ownerAccessToken": owner_access,
    }


def register_bench_events(app: Any) -> None:
    """bench.fanout and bench.emit on the real AsyncServer, publishing like the dispatcher."""
    import orjson

    from tandem.realtime.envelope import envelope

    runtime = app.runtime
    sio = runtime.sio
    seqs: dict[str, int] = {}

    def bench_envelope(room: str, seq: int, size: int, t: float = 0) -> dict[str, Any]:
        data = {
            "projectId": "p_bench",
            "taskId": f"t_{seq}",
            "fromColumn": "In Progress",
            "toColumn": "Review",
            "position": 3,
            "movedBy": "u_bench",
            "t": t,
            "pad": "",
        }
        env = envelope(
            data, event=EVENT, version=1, room=room, seq=seq, actor_id="u_bench", trace_id=TRACE_ID
        )
        missing = size - len(orjson.dumps(env))
        if missing > 0:
            data["pad"] = "x" * missing
        return env

    async def fanout(sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        room, count, size = payload["room"], int(payload["count"]), int(payload.get("size") or 350)
        t0 = time_ms()
        seq = seqs.get(room, 0)
        for start in range(0, count, 16):
            batch = [bench_envelope(room, seq + 1 + i, size) for i in range(min(16, count - start))]
            seq += len(batch)
            seqs[room] = seq
            await runtime.publish(batch)
            await asyncio.sleep(0)  # as the reference does: let other work in now and then
        return {"ok": True, "sent": count, "emitMs": time_ms() - t0}

    async def emit(sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        room, size = payload["room"], int(payload.get("size") or 350)
        seq = seqs.get(room, 0) + 1
        seqs[room] = seq
        await runtime.publish([bench_envelope(room, seq, size, time_ms())])
        return {"ok": True}

    async def whoami(sid: str, payload: Any = None) -> dict[str, Any]:
        return {"ok": True, "pid": os.getpid()}

    sio.on("bench.fanout", fanout)
    sio.on("bench.emit", emit)
    sio.on("bench.whoami", whoami)


def add_floor_routes(app: Any) -> None:
    """Bench-only routes with what every Tandem API request pays and nothing of a change: `none` (a
    FastAPI route with no dependencies), `session` (+ the request's unit of work, unused), `caller`
    (+ the signed-in caller: the token and one query). product_inprocess.py --floor and run.py's
    api-floor workload measure them."""
    from fastapi import APIRouter, Depends

    from tandem.deps import get_caller, get_session

    router = APIRouter(prefix="/api/_bench")

    # Depends() as defaults, not Annotated aliases: this module's annotations are strings
    # (`from __future__ import annotations`), which FastAPI cannot resolve for a local import.
    @router.get("/none")
    async def bare() -> dict:
        return {}

    @router.get("/session")
    async def unit_of_work(session: Any = Depends(get_session, scope="function")) -> dict:  # noqa: B008
        return {}

    @router.get("/caller")
    async def caller(caller: Any = Depends(get_caller)) -> dict:  # noqa: B008
        return {"id": caller.id}

    app.fastapi.include_router(router)


def choose_fanout(kind: str) -> None:
    """--fanout fast on a tree whose manager does not use FrameFanout yet: mix it in here."""
    if kind != "fast":
        return
    from tandem.realtime import delivery as manager
    from tandem.realtime import gateway
    from tandem.accel.frame_fanout import FrameFanout

    if issubclass(manager.TandemManager, FrameFanout):
        return

    class FastManager(manager.TandemManager, FrameFanout):
        pass

    gateway.make_manager = lambda redis_url, prefix="tandem": FastManager()


def cap_sqlite_writers(n: int) -> None:
    """Experiment: writers wait for one of `n` pooled connections (an asyncio wait) instead of
    sleeping in SQLite's busy handler inside a driver thread while another holds the lock."""
    from tandem import db

    original = db.make_engine

    def make_engine(url: str, *, writer: bool = True):
        if not (url.startswith("sqlite") and writer):
            return original(url, writer=writer)
        create = db.create_async_engine
        db.create_async_engine = lambda u, **kw: create(u, pool_size=n, max_overflow=0, **kw)
        try:
            return original(url, writer=writer)
        finally:
            db.create_async_engine = create

    db.make_engine = make_engine


def trace_memory_on_signal() -> None:
    """Where per-connection memory goes: SIGUSR1 once before connecting clients, once after."""
    import signal
    import tracemalloc

    tracemalloc.start(1)
    baseline: list[tracemalloc.Snapshot] = []

    def dump() -> None:
        snapshot = tracemalloc.take_snapshot()
        if not baseline:
            baseline.append(snapshot)
            print("tracemalloc: baseline taken", file=sys.stderr, flush=True)
            return
        stats = snapshot.compare_to(baseline.pop(), "filename")
        total = sum(s.size_diff for s in stats)
        print(f"tracemalloc: {total / 1024:.0f} KiB more than the baseline", file=sys.stderr)
        for stat in stats[:25]:
            name = stat.traceback[0].filename.split("site-packages/")[-1]
            print(
                f"  {stat.size_diff / 1024:9.0f} KiB {stat.count_diff:8d} blocks  {name}",
                file=sys.stderr,
            )
        sys.stderr.flush()

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)


def time_ms() -> float:
    import time

    return time.monotonic_ns() / 1e6  # CLOCK_MONOTONIC, as the Node load generator reads it


def uvicorn_options(args: argparse.Namespace) -> dict[str, Any]:
    """uvicorn's settings as `tandem serve` uses them (one process or several workers)."""
    from tandem.accel.uvicorn_wsproto import uvicorn_ws

    return {
        "host": args.host,
        "port": args.port,
        "http": "httptools",
        "ws": uvicorn_ws(args.ws),
        "ws_per_message_deflate": False,
        "ws_ping_interval": args.ws_ping_interval or None,
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
        "backlog": 4096,
    }


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


async def serve_until_stopped(args: argparse.Namespace, seeded: dict[str, Any], task: asyncio.Task,
                              started: Any, name: str) -> None:
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


def load_info(args: argparse.Namespace, seeded: dict[str, Any]) -> dict[str, Any]:
    """What the load generator needs: the URL, socket tokens, the room, the REST API."""
    base = f"http://{args.host}:{args.port}"
    members = seeded["userIds"][1:]
    return {
        "url": base,
        "tokens": seeded["socketTokens"],
        "room": f"org:{seeded['orgId']}",
        "api": {
            "base": base,
            "orgId": seeded["orgId"],
            "token": seeded["ownerAccessToken"],
            # Role changes go to the last members; the first ones are the subscribers.
            "targets": members[-min(200, len(members) // 2) :],
        },
        "pid": os.getpid(),
        "workers": args.workers,
    }


# ---------------------------------------------------------------- several workers

# What the parent tells its workers (they are spawned, so they read it from the environment).
ENV_RUN = "TANDEM_BENCH_RUN"  # the run's id: its PostgreSQL schema and Redis prefix
ENV_FANOUT = "TANDEM_BENCH_FANOUT"
ENV_GC = "TANDEM_BENCH_GC"
ENV_READY = "TANDEM_BENCH_READY_DIR"  # each worker writes a file named by its pid once started
ENV_REDIS_PUBLISH = "TANDEM_BENCH_REDIS_PUBLISH"


def stock_redis_publishes() -> None:
    """--redis-publish stock: python-socketio's AsyncRedisManager publish, one awaited PUBLISH
    round trip per message (emit_many emits one by one), in place of TandemRedisManager's
    pipeline per event-loop pass. For comparison only."""
    from socketio.async_pubsub_manager import AsyncPubSubManager
    from socketio.async_redis_manager import AsyncRedisManager

    from tandem.realtime.delivery import TandemRedisManager

    async def emit_many(self: Any, items: Any, namespace: str = "/") -> None:
        for event, data, room in items:
            await AsyncPubSubManager.emit(self, event, data, namespace, room=room)

    TandemRedisManager._publish = AsyncRedisManager._publish
    TandemRedisManager.emit_many = emit_many


class ReadyOnStartup:
    """The worker's ASGI app: Tandem's, plus a file in the ready directory once its lifespan
    started (database pool, control bus and dispatcher up)."""

    def __init__(self, app: Any, ready_dir: Path) -> None:
        self.app = app
        self.runtime = app.runtime
        self.ready_dir = ready_dir

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_and_mark(message: Any) -> None:
            await send(message)
            if message["type"] == "lifespan.startup.complete":
                # python-socketio subscribes its manager to Redis at the first connection;
                # subscribe now, so a worker's first clients cannot miss a broadcast that
                # the Redis subscription has not caught yet (the product's clients replay).
                sio = self.runtime.sio
                if not sio.manager_initialized:
                    sio.manager_initialized = True
                    sio.manager.initialize()
                (self.ready_dir / str(os.getpid())).write_text("ready")

        await self.app(scope, receive, send_and_mark)


def worker_app() -> ReadyOnStartup:
    """uvicorn's factory in each worker process: `create_app()` with the bench events."""
    from tandem import logs
    from tandem.app import create_app
    from tandem.config import get_settings

    settings = get_settings()
    logs.configure(settings.log_level, settings.json_logs)
    fanout = os.environ.get(ENV_FANOUT, "default")
    choose_fanout(fanout)
    if os.environ.get(ENV_REDIS_PUBLISH) == "stock":
        stock_redis_publishes()
    app = create_app(settings)
    if fanout == "stock" and hasattr(app.runtime.gateway.manager, "fast_fanout"):
        app.runtime.gateway.manager.fast_fanout = False
    register_bench_events(app)
    add_floor_routes(app)
    if os.environ.get(ENV_GC) == "paced":
        from tandem.accel import gc_pacing as gcpacing

        gcpacing.install()
    return ReadyOnStartup(app, Path(os.environ[ENV_READY]))


def delete_redis_keys(url: str, prefix: str) -> int:
    """Delete every key under `prefix:` (what the workers' presence left if they were killed)."""
    import redis

    client = redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        return client.delete(*keys) if keys else 0
    except redis.RedisError:
        return 0
    finally:
        client.close()


async def create_schema(database_url: str, schema: str, *, drop: bool = False) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            if drop:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            else:
                await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        await engine.dispose()


async def seed_database(users: int) -> dict[str, Any]:
    from tandem.auth.tokens import Tokens
    from tandem.config import get_settings
    from tandem.db import Database

    settings = get_settings()
    db = Database(settings.effective_database_url)
    tokens = Tokens(
        settings.secret_key_value(),
        access_minutes=settings.access_token_minutes,
        refresh_days=settings.refresh_token_days,
        socket_seconds=settings.socket_token_seconds,
    )
    try:
        return await seed(db, tokens, users)
    finally:
        await db.dispose()


def announce_when_ready(args: argparse.Namespace, ready_dir: Path, seeded: dict[str, Any]) -> None:
    """In a thread of the parent: READY once every worker has written its file."""
    import threading
    import time

    def watch() -> None:
        while len(list(ready_dir.iterdir())) < args.workers:
            time.sleep(0.05)
        info = {**load_info(args, seeded), "run": os.environ[ENV_RUN]}
        Path(args.info).write_text(json.dumps(info))
        print(f"READY {args.port}", flush=True)

    threading.Thread(target=watch, name="bench-ready", daemon=True).start()


def serve_workers(args: argparse.Namespace) -> int:
    """`--workers N`: migrate and seed once, then N uvicorn workers, as `tandem serve` runs."""
    import uvicorn

    if args.sqlite_writers or args.tracemalloc:
        print("tandem_server.py: --sqlite-writers/--tracemalloc need --workers 1", file=sys.stderr)
        return 2
    run_id = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    data_dir = Path(tempfile.mkdtemp(prefix="tandem-bench-db-"))
    ready_dir = data_dir / "ready"
    ready_dir.mkdir()
    configure_environment(data_dir, args)
    sep = "&" if "?" in args.database_url else "?"
    os.environ["TANDEM_DATABASE_URL"] = f"{args.database_url}{sep}search_path={run_id}"
    os.environ["TANDEM_REDIS_URL"] = args.redis_url
    # The run's Redis keys and channels: parallel runs on one Redis do not see each other's.
    os.environ.setdefault("TANDEM_REDIS_PREFIX", f"tandem-{run_id}")
    os.environ[ENV_RUN] = run_id
    os.environ[ENV_FANOUT] = args.fanout
    os.environ[ENV_GC] = args.gc
    os.environ[ENV_READY] = str(ready_dir)
    os.environ[ENV_REDIS_PUBLISH] = args.redis_publish
    created = False
    try:
        asyncio.run(create_schema(args.database_url, run_id))
        created = True
        from tandem.cli import migrate

        migrate()
        seeded = asyncio.run(seed_database(args.users))
        announce_when_ready(args, ready_dir, seeded)
        # The workers import this file by name: it is on sys.path as the script's directory.
        uvicorn.run(
            f"{Path(__file__).stem}:worker_app",
            factory=True,
            workers=args.workers,
            loop="uvloop",
            **uvicorn_options(args),
        )
    except KeyboardInterrupt:
        pass
    finally:
        if created and not args.keep_db:
            asyncio.run(create_schema(args.database_url, run_id, drop=True))
        delete_redis_keys(args.redis_url, os.environ["TANDEM_REDIS_PREFIX"])
        if not args.keep_db:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


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
