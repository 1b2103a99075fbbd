"""`bench/tandem_server.py --workers N`: N uvicorn workers of the real app sharing the port, on
a PostgreSQL schema and a Redis prefix of the run's own, both deleted at exit. The parent
migrates and seeds once, then starts the workers; each registers the bench events, so a
broadcast published in one worker reaches the others' clients through the Redis manager."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from tandem_app import (
    add_floor_routes,
    choose_fanout,
    configure_environment,
    load_info,
    register_bench_events,
    seed,
    uvicorn_options,
)

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
