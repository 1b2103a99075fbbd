"""The product path without the network: role PATCHes straight through Tandem's ASGI app.

What `bench/run.py`'s product workloads cost the server, minus uvicorn's HTTP parsing and the
sockets: each change is a real `PATCH /api/orgs/{org}/members/{user}` handled by the real app
(authentication, the unit of work, the role rules, the outbox) with the dispatcher running in
the same event loop, moving the events to the log and publishing them. Repeatable enough to
compare two commits on a busy 2-core machine, and cheap to profile:

    uv run python bench/product_inprocess.py                       # CPU-ms per change
    uv run python bench/product_inprocess.py --profile out.prof    # + cProfile, top functions
    uv run python bench/product_inprocess.py --database-url 'postgresql+asyncpg://postgres@127.0.0.1:5432/test?search_path=bench_inprocess'

`--concurrency` PATCHes are in flight at once (each on its own target member), as the load
generator's closed loop keeps them; `--get-me` measures `GET /api/me` instead (the same
authentication and one more query), `--healthz` the bare app. `--floor` measures what the stack
costs before Tandem's own work, on bench-only routes added here: `none` (a FastAPI route with no
dependencies), `session` (+ the request's unit of work, unused), `caller` (+ the authenticated
caller: the token and one query, as every API request does).
"""

import argparse
import asyncio
import cProfile
import faulthandler
import os
import pstats
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
STARTED = time.monotonic()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--changes", type=int, default=3200, help="measured requests (after 200 to warm up)"
    )
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight at once")
    p.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    p.add_argument("--profile", default=None, help="write cProfile stats here and print the top 30")
    p.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="seconds after which a stuck run prints every thread's stack and exits",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("--get-me", action="store_true", help="GET /api/me instead of PATCHes")
    what.add_argument("--healthz", action="store_true", help="GET /healthz instead of PATCHes")
    what.add_argument(
        "--floor",
        choices=["none", "session", "caller"],
        default=None,
        help="a bench-only route: no dependencies / a unit of work / the authenticated caller",
    )
    return p.parse_args(argv)


async def call(app: Any, method: str, path: str, token: str, body: bytes = b"") -> int:
    """One HTTP request through the ASGI app, as uvicorn would make it; returns the status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"authorization", b"Bearer " + token.encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    received = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _schema(url: str, create: bool) -> None:
    """A PostgreSQL URL's `?search_path=` schema, made fresh for the run and dropped after it."""
    from sqlalchemy import make_url, text
    from sqlalchemy.ext.asyncio import create_async_engine

    parsed = make_url(url)
    schema = parsed.query.get("search_path")
    if not parsed.drivername.startswith("postgresql") or not schema:
        return
    engine = create_async_engine(parsed.difference_update_query(["search_path"]))
    async with engine.begin() as conn:
        # A connection of the run left open in a transaction would make the drop wait forever:
        # fail loudly instead.
        await conn.execute(text("SET LOCAL lock_timeout = '20s'"))
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        if create:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await engine.dispose()


async def run(args: argparse.Namespace) -> dict[str, float]:
    sys.path.insert(0, str(BENCH))
    import tandem_app  # the benchmark's own seeding: one org, people with logins and tokens

    from tandem.app import create_app
    from tandem.config import get_settings

    app = create_app(get_settings())
    if args.deadline:  # before faulthandler's, which counts from the process's start
        watchdog = asyncio.get_running_loop().call_later(
            max(1.0, args.deadline - 5 - (time.monotonic() - STARTED)),
            _print_tasks,
            "still running",
        )
    if args.floor:
        tandem_app.add_floor_routes(app)
    seeded = await tandem_app.seed(app.runtime.db, app.runtime.tokens, args.concurrency + 2)
    await app.runtime.start()
    try:
        org, token = seeded["orgId"], seeded["ownerAccessToken"]
        targets = seeded["userIds"][1 : 1 + args.concurrency]
        roles = [b'{"role":"Admin"}', b'{"role":"Member"}']  # every target starts as Member

        def request(worker: int, i: int) -> tuple[str, str, bytes]:
            if args.floor:
                return "GET", f"/api/_bench/{args.floor}", b""
            if args.healthz:
                return "GET", "/healthz", b""
            if args.get_me:
                return "GET", "/api/me", b""
            return "PATCH", f"/api/orgs/{org}/members/{targets[worker]}", roles[i % 2]

        done = [0] * args.concurrency  # per worker: requests made, so roles keep alternating

        async def worker(w: int, n: int) -> None:
            for _ in range(n):
                method, path, body = request(w, done[w])
                done[w] += 1
                status = await call(app, method, path, token, body)
                if status != 200:
                    raise RuntimeError(f"{method} {path}: {status}")

        async def batch(total: int) -> None:
            per = max(1, total // args.concurrency)
            await asyncio.gather(*(worker(w, per) for w in range(args.concurrency)))

        stage("warming up")
        await batch(200)
        stage("measuring")
        await asyncio.sleep(0.2)  # the dispatcher catches up before the window
        profiler = cProfile.Profile() if args.profile else None
        n = max(1, args.changes // args.concurrency) * args.concurrency
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        await batch(n)
        stage("waiting for the dispatcher")
        give_up = time.monotonic() + 60
        while app.runtime.dispatcher.published_seq < await _last_seq(app):
            if time.monotonic() > give_up:  # a dispatcher that never leads would spin here forever
                raise RuntimeError(
                    f"events not published after 60 s (leader: {app.runtime.dispatcher.is_leader})"
                )
            await asyncio.sleep(0.001)  # every event of the window published
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        stage("stopping")
        await app.runtime.stop()
        if args.deadline:
            watchdog.cancel()
    if profiler:
        profiler.dump_stats(args.profile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    return {
        "requests": n,
        "cpu_ms_per_request": 1000 * cpu / n,
        "wall_ms_per_request": 1000 * wall / n,
    }


def stage(what: str) -> None:
    """A line on stderr per stage, so a run stopped by --deadline says where it was."""
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


def _print_tasks(why: str) -> None:
    """Every asyncio task's stack on stderr: faulthandler shows only the threads."""
    print(f"{why}; the tasks:", file=sys.stderr)
    for task in asyncio.all_tasks():
        task.print_stack(limit=12, file=sys.stderr)


async def _last_seq(app: Any) -> int:
    from tandem.realtime import log as event_log

    async with app.runtime.db.read() as session:
        return await event_log.latest_seq(session)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.deadline:
        faulthandler.dump_traceback_later(args.deadline, exit=True)
    data_dir = Path(tempfile.mkdtemp(prefix="tandem-inprocess-"))
    os.environ["TANDEM_DATA_DIR"] = str(data_dir)
    os.environ["TANDEM_DATABASE_URL"] = (
        args.database_url or f"sqlite+aiosqlite:///{data_dir / 'tandem.db'}"
    )
    os.environ.setdefault("TANDEM_SECRET_KEY", secrets.token_urlsafe(32))
    os.environ["TANDEM_SERVE_WEB"] = "false"
    import uvloop

    url = os.environ["TANDEM_DATABASE_URL"]
    try:
        asyncio.run(_schema(url, create=True))
        try:
            subprocess.run(
                [sys.executable, "-m", "tandem.cli", "migrate"],
                check=True,
                capture_output=True,
                timeout=120,
            )
            result = uvloop.run(run(args))
        finally:
            asyncio.run(_schema(url, create=False))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    what = (
        f"GET /api/_bench/{args.floor}"
        if args.floor
        else "GET /healthz"
        if args.healthz
        else "GET /api/me"
        if args.get_me
        else "PATCH role"
    )
    print(
        f"{what}: {result['requests']} requests, {args.concurrency} in flight: "
        f"{result['cpu_ms_per_request']:.2f} CPU-ms per request, {result['wall_ms_per_request']:.2f} ms wall"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
