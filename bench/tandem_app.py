"""What the benchmark adds to the real Tandem app, in one process or in each worker: the
settings it runs with, the seeded organization, the bench-only Socket.IO events and API-floor
routes (registered here, never in product code), the experiments' switches, and what the load
generator is told about the server."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from pathlib import Path
from typing import Any

EVENT = "kanban.task.moved"
TRACE_ID = "1b4e28ba2fa1466ea1b2c3d4e5f60718"  # the reference server uses the same one


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
    # Every client of the load generator comes from 127.0.0.1, standing for thousands of people on
    # addresses of their own: the per-address socket limits would count them all as one.
    for limit in ("SUBSCRIBE", "UNSUBSCRIBE", "HINT", "RECEIPT", "EVENT"):
        os.environ.setdefault(f"TANDEM_SOCKET_{limit}_IP_BURST", "0")


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


def _gated(handler: Any) -> Any:
    """A bench handler(sid, payload) in the inbound gate's shape: handler(sid, payload, extra)."""

    async def run(sid: str, payload: Any, extra: tuple) -> Any:
        return await handler(sid, payload)

    return run


def register_bench_events(app: Any) -> None:
    """The bench-only Socket.IO events, on the app's real AsyncServer, publishing through
    `Runtime.publish` as the outbox dispatcher does for every batch of durable events:
    `bench.fanout {room, count, size}` publishes `count` envelopes, 16 per call (as the
    dispatcher publishes a batch, and the reference yields every 16), then acks; `bench.emit
    {room, size}` publishes one envelope stamped with CLOCK_MONOTONIC (`data.t`); `bench.whoami`
    answers the pid of the worker that holds the socket."""
    import orjson

    from tandem.realtime.envelope import envelope

    runtime = app.runtime
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

    # Through the gateway's inbound gate, as the product's events are: it answers every event and
    # refuses those it has no handler for.
    bench_events = {"bench.fanout": fanout, "bench.emit": emit, "bench.whoami": whoami}
    for name, handler in bench_events.items():
        runtime.gateway.inbound.handlers[name] = _gated(handler)


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
    async def unit_of_work(session: Any = Depends(get_session, scope="function")) -> dict:
        return {}

    @router.get("/caller")
    async def caller(caller: Any = Depends(get_caller)) -> dict:
        return {"id": caller.id}

    # First in the route list: the app answers any other /api path with 404 or 405 (a catch-all).
    routes = app.fastapi.router.routes
    before = len(routes)
    app.fastapi.include_router(router)
    added = routes[before:]
    del routes[before:]
    routes[0:0] = added


def choose_fanout(kind: str) -> None:
    """--fanout fast on a tree whose manager does not use FrameFanout yet: mix it in here."""
    if kind != "fast":
        return
    from tandem.accel.frame_fanout import FrameFanout
    from tandem.realtime import delivery as manager
    from tandem.realtime import gateway

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
    from tandem.connections import GuardedHttp

    return {
        "host": args.host,
        "port": args.port,
        "http": GuardedHttp,
        "ws": uvicorn_ws(args.ws),
        "ws_per_message_deflate": False,
        "ws_ping_interval": args.ws_ping_interval or None,
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
        "backlog": 4096,
    }


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
