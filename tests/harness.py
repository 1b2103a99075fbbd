"""Start real Tandem servers and talk to them as clients would (REST over HTTP, Socket.IO)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
import uvicorn
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from tandem.accel.uvicorn_wsproto import uvicorn_ws
from tandem.app import TandemASGI, create_app
from tandem.config import Settings
from tandem.db import make_engine
from tandem.flags import service as flags

PASSWORD = "correct horse battery"
_TLS_CONTEXT = ssl.create_default_context()
# Every Redis key and channel of this test session's servers starts with this (conftest.py deletes
# them at the end), so sessions sharing one Redis neither see each other's events nor leave keys.
REDIS_PREFIX = f"tandem-test-{uuid.uuid4().hex[:10]}"


def postgres_available(url: str) -> bool:
    async def probe() -> bool:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False
        finally:
            await engine.dispose()

    return _run_sync(probe())


def redis_available(url: str) -> bool:
    import redis

    try:
        return bool(redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


def redis_keys(url: str, prefix: str) -> dict[str, int]:
    """The keys under `prefix:` and the seconds each has left (-1: it never expires)."""
    import redis

    client = redis.from_url(url, socket_connect_timeout=1)
    try:
        return {
            key.decode(): client.ttl(key)
            for key in client.scan_iter(match=f"{prefix}:*", count=1000)
        }
    finally:
        client.close()


def delete_redis_keys(url: str, prefix: str) -> int:
    """Delete every key under `prefix:`; returns how many there were."""
    import redis

    client = redis.from_url(url, socket_connect_timeout=1)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()


def _run_sync(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@asynccontextmanager
async def fresh_database_url(backend: str, tmp_path: Path, pg_url: str) -> AsyncIterator[str]:
    """A database with the whole schema, migrated by Alembic, thrown away afterwards."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / f'tandem-{uuid.uuid4().hex[:6]}.db'}"
        await migrate_database(url)
        yield url
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(pg_url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg_url else "?"
    url = f"{pg_url}{sep}search_path={schema}"
    try:
        await migrate_database(url)
        yield url
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


async def migrate_database(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from tandem.cli import ROOT

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:

            def upgrade(sync_conn: Any) -> None:
                cfg = Config(str(ROOT / "alembic.ini"))
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, "head")

            await conn.run_sync(upgrade)
            await conn.commit()
    finally:
        await engine.dispose()


# Every test signs up and logs in from 127.0.0.1, many times a minute; tests of the limits set their own.
SIGN_IN_LIMITS = {
    "login_limit_per_minute": 100_000,
    "login_ip_limit_per_minute": 100_000,
    "signup_limit_per_hour": 100_000,
    "refresh_limit_per_minute": 100_000,
    "org_create_limit_per_hour": 100_000,
}


_PORTS = random.SystemRandom()  # not the module's generator: Hypothesis seeds that one
_GIVEN: set[int] = set()  # handed out by this process: two servers started together never share one


def free_port() -> int:
    """A port nothing listens on now, below the kernel's ephemeral range: a port from that range
    can be taken by any outgoing connection before the server meant for it binds it. Each
    pytest-xdist worker draws from a share of its own: two workers could otherwise both find a
    port free and start servers on it, and the one that fails to bind would have its tests talk
    to the other's server until that stopped."""
    try:
        lowest = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        lowest = 32768
    low, high = 10_000, max(lowest, 10_001)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    if workers > 1 and worker[2:].isdigit():
        share = (high - low) // workers
        low += int(worker[2:]) % workers * share
        high = low + share
    for _ in range(50):
        port = _PORTS.randrange(low, high)
        if port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    app: TandemASGI
    port: int
    settings: Settings
    _server: uvicorn.Server | None = None
    _task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime(self):
        return self.app.runtime

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # One shared TLS context: building one per client costs ~50 ms, and tests make thousands.
        return httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=30, verify=_TLS_CONTEXT
        )

    async def settle(self) -> None:
        """Wait until every committed event was published (the dispatcher saw an empty outbox)."""
        await self.runtime.dispatcher.wait_idle()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._task is not None:
                await asyncio.wait_for(self._task, 15)
            self._server = None


async def launch(database_url: str, data_dir: Path, **overrides: Any) -> Server:
    # The listening socket is bound here and handed to uvicorn: a port found free and bound
    # later can be taken in between (by any connection's ephemeral port), failing the start.
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", overrides.pop("port", None) or 0))
    port = listener.getsockname()[1]
    ws = overrides.pop("ws", "wsproto")  # as `tandem serve --ws`
    overrides.setdefault("redis_prefix", REDIS_PREFIX)
    overrides = {**SIGN_IN_LIMITS, **overrides}
    settings = Settings(
        database_url=database_url,
        data_dir=data_dir,
        port=port,
        secret_key="test-secret-key-" + "x" * 32,
        serve_web=overrides.pop("serve_web", False),
        json_logs=False,
        presence_grace_seconds=0.3,
        **overrides,
    )
    flags.cache.clear()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        # what `tandem serve` runs: the lean wsproto connection, engine.io's pings only
        ws=uvicorn_ws(ws),
        ws_ping_interval=None,
        ws_per_message_deflate=False,
        loop="asyncio",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    for _ in range(200):
        if server.started:
            break
        if task.done():
            listener.close()
            try:
                task.result()
            except SystemExit as exc:  # uvicorn's; as it is, it would break the test runner's loop
                raise RuntimeError(f"server did not start (exit {exc.code})") from None
        await asyncio.sleep(0.02)
    else:
        raise RuntimeError("server did not start")
    return Server(app, port, settings, server, task)


@asynccontextmanager
async def start_server(
    database_url: str, data_dir: Path, **overrides: Any
) -> AsyncIterator[Server]:
    srv = await launch(database_url, data_dir, **overrides)
    try:
        yield srv
    finally:
        await srv.stop()


@asynccontextmanager
async def two_instances(
    database_url: str, data_dir: Path, redis_url: str
) -> AsyncIterator[tuple[Server, Server]]:
    """Instances a and b of one Tandem: the same database, Redis between them."""
    suffix = uuid.uuid4().hex[:6]
    async with (
        start_server(database_url, data_dir, redis_url=redis_url, instance_id=f"a-{suffix}") as a,
        start_server(database_url, data_dir, redis_url=redis_url, instance_id=f"b-{suffix}") as b,
    ):
        yield a, b


# -- people ------------------------------------------------------------------


@dataclass
class Person:
    server: Server
    id: str
    email: str
    name: str
    access: str
    refresh: str
    orgs: dict[str, str] = field(default_factory=dict)

    def http(self) -> httpx.AsyncClient:
        return self.server.client(self.access)

    async def socket_token(self) -> str:
        async with self.http() as http:
            r = await http.post("/api/auth/socket-token")
            r.raise_for_status()
            return r.json()["token"]


def on(person: Person, server: Server) -> Person:
    """The same login, talking to another instance."""
    return replace(person, server=server)


async def signup(server: Server, name: str | None = None, email: str | None = None) -> Person:
    name = name or f"Person {uuid.uuid4().hex[:5]}"
    email = email or f"{uuid.uuid4().hex[:10]}@example.com"
    async with server.client() as http:
        r = await http.post(
            "/api/auth/signup", json={"email": email, "password": PASSWORD, "name": name}
        )
        assert r.status_code == 201, r.text
        body = r.json()
    return Person(
        server, body["user"]["id"], email, name, body["accessToken"], body["refreshToken"]
    )


async def make_org(owner: Person, name: str = "Acme") -> str:
    async with owner.http() as http:
        r = await http.post("/api/orgs", json={"name": name})
        assert r.status_code == 201, r.text
        return r.json()["organization"]["id"]


async def join(org_id: str, inviter: Person, person: Person, role: str = "Member") -> None:
    """Invite and accept: the real path (emits org.member.joined)."""
    async with inviter.http() as http:
        r = await http.post(
            f"/api/orgs/{org_id}/invites", json={"email": person.email, "role": role}
        )
        assert r.status_code == 201, r.text
        token = r.json()["invite"]["token"]
    async with person.http() as http:
        r = await http.post(f"/api/invites/{token}/accept")
        assert r.status_code == 200, r.text


async def team(server: Server, roles: list[str]) -> tuple[str, list[Person]]:
    """An org whose first person is its Owner and the rest hold the given roles."""
    people = [await signup(server, name=f"{role} {i}") for i, role in enumerate(roles)]
    org_id = await make_org(people[0])
    for person, role in zip(people[1:], roles[1:], strict=True):
        await join(org_id, people[0], person, role)
    return org_id, people


# -- sockets -----------------------------------------------------------------


class Listener:
    """A real Socket.IO client that records every event it receives, in order."""

    def __init__(self, server: Server, token: str, **client_kwargs: Any) -> None:
        self.server = server
        self.token = token
        self.events: list[dict[str, Any]] = []
        self.sio = socketio.AsyncClient(reconnection=False, **client_kwargs)
        self._arrived = asyncio.Condition()

        @self.sio.on("*")
        async def _any(event: str, data: Any = None) -> None:
            self.events.append(data if isinstance(data, dict) else {"event": event, "data": data})
            async with self._arrived:
                self._arrived.notify_all()

    async def connect(self, url: str | None = None) -> Listener:
        await self.sio.connect(
            url or self.server.url,
            auth={"token": self.token},
            transports=["websocket"],
            wait_timeout=10,
        )
        return self

    async def subscribe(self, room: str, after: int | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"room": room}
        if after is not None:
            payload["after"] = after
        return await self.sio.call("subscribe", payload, timeout=10)

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        async def find() -> dict[str, Any]:
            async with self._arrived:
                while True:
                    for event in self.events:
                        if predicate(event):
                            return event
                    await self._arrived.wait()

        return await asyncio.wait_for(find(), timeout)

    async def wait_event(self, name: str, timeout: float = 5.0, **data: Any) -> dict[str, Any]:
        return await self.wait_for(
            lambda e: (
                e.get("event") == name
                and all(e.get("data", {}).get(k) == v for k, v in data.items())
            ),
            timeout,
        )

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == name]

    async def close(self) -> None:
        await self.sio.disconnect()


@asynccontextmanager
async def listening(person: Person, *rooms: str, url: str | None = None) -> AsyncIterator[Listener]:
    listener = Listener(person.server, await person.socket_token())
    await listener.connect(url)
    try:
        for room in rooms:
            ack = await listener.subscribe(room)
            assert ack["ok"], ack
        yield listener
    finally:
        await listener.close()


# -- REST errors, second logins, handshakes, the CLI ---------------------------


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The SPEC's error shape {"error": {"code", "message"}} with this status; returns the error."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], body
    assert isinstance(error.get("message"), str) and error["message"], body
    if code is not None:
        assert error["code"] == code, body
    return error


async def login(server: Server, email: str, password: str = PASSWORD) -> Person:
    """A further login of an existing account (its own login session and tokens)."""
    async with server.client() as http:
        r = await http.post("/api/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        body = r.json()
    user = body["user"]
    return Person(
        server, user["id"], user["email"], user["name"], body["accessToken"], body["refreshToken"]
    )


async def handshake(server: Server, token: Any) -> str | None:
    """Open a socket with `auth: {token}` and close it: None when accepted, else the connect_error message."""
    sio = socketio.AsyncClient(reconnection=False)
    refused: list[Any] = []

    @sio.on("connect_error")
    async def _refused(data: Any = None) -> None:
        refused.append(data)

    try:
        await sio.connect(
            server.url, auth={"token": token}, transports=["websocket"], wait_timeout=10
        )
    except socketio.exceptions.ConnectionError:
        assert refused, "the connection failed without a connect_error"
        data = refused[0]
        return data.get("message") if isinstance(data, dict) else str(data)
    await sio.disconnect()
    return None


async def until_refused(
    send: Callable[[], Awaitable[dict[str, Any]]], most: int = 200
) -> tuple[int, dict[str, Any], float]:
    """Send one at a time until an answer is a refusal: how many passed before it, the refusal,
    and the seconds it all took. A limit's test then holds on a machine of any speed (a fixed
    count can all pass when each round trip is slower than the bucket's refill)."""
    started = time.monotonic()
    for passed in range(most):
        answer = await send()
        if not answer.get("ok"):
            return passed, answer, time.monotonic() - started
    raise AssertionError(f"{most} sent, none refused")


async def disconnected_within(listener: Listener, seconds: float) -> bool:
    """True as soon as the server has closed this listener's socket; False if still open after `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while listener.sio.connected:
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def run_tandem(*args: str, database_url: str, data_dir: Path) -> tuple[int, str]:
    """`uv run tandem <args>` in a subprocess against this database; returns (exit code, stdout + stderr)."""
    import os

    from tandem.cli import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(
        TANDEM_DATABASE_URL=database_url, TANDEM_DATA_DIR=str(data_dir), TANDEM_JSON_LOGS="false"
    )
    proc = await asyncio.create_subprocess_exec(
        "uv",
        "run",
        "--frozen",
        "--project",
        str(ROOT),
        "tandem",
        *args,
        cwd=str(data_dir),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


# -- quick people, refusals and barriers (socket tests) ------------------------


@functools.lru_cache(maxsize=1)
def _password_hash() -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash(PASSWORD)


async def quick_signup(server: Server, name: str | None = None, email: str | None = None) -> Person:
    """A real account and login made by the auth service, reusing one argon2 hash of PASSWORD.

    Hashing costs about half a second per signup; tests whose subject is not signup use this
    so the suite stays fast. The person logs in with PASSWORD like any other.
    """
    from tandem.auth import service as auth_service

    name = name or f"Person {uuid.uuid4().hex[:5]}"
    email = email or f"{uuid.uuid4().hex[:10]}@example.com"
    async with server.runtime.db.unit_of_work() as session:
        user = await auth_service.create_user(
            session, email=email, password=PASSWORD, name=name, password_hash=_password_hash()
        )
        access, refresh = await auth_service.start_login(session, server.runtime.tokens, user)
    return Person(server, user.id, user.email, user.name, access, refresh)


async def quick_team(
    server: Server, roles: list[str], org_name: str = "Acme"
) -> tuple[str, list[Person]]:
    """Like `team`, with `quick_signup` people; members still join through invite and accept."""
    people = [
        await quick_signup(server, name=f"{role} {i} {uuid.uuid4().hex[:4]}")
        for i, role in enumerate(roles)
    ]
    org_id = await make_org(people[0], org_name)
    for person, role in zip(people[1:], roles[1:], strict=True):
        await join(org_id, people[0], person, role)
    return org_id, people


async def connect_outcome(
    server: Server,
    auth: Any = None,
    headers: dict[str, str] | None = None,
    transports: list[str] | None = None,
) -> str | dict[str, Any]:
    """Try to open a socket: "connected", or what the client's `connect_error` handler received."""
    sio = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []

    @sio.event
    async def connect_error(data: Any = None) -> None:
        errors.append(data)

    try:
        await sio.connect(
            server.url,
            auth=auth,
            headers=headers or {},
            transports=transports or ["websocket"],
            wait_timeout=10,
        )
    except socketio.exceptions.ConnectionError as exc:
        return errors[0] if errors else {"message": str(exc)}
    await sio.disconnect()
    return "connected"


async def quiesce(server: Server, *listeners: Listener) -> None:
    """Every committed event was published, and every listener received what was sent to it.

    A socket's packets leave in order, so an ack answered after the publish arrives after
    everything the publish sent to that socket.
    """
    await server.settle()
    for listener in listeners:
        if listener.sio.connected:
            await listener.sio.call("unsubscribe", {"room": "org:quiesce"}, timeout=10)


# -- the outbox and the event log as the database holds them (delivery tests) --


def durable(events: list[dict[str, Any]], room: str | None = None) -> list[dict[str, Any]]:
    """The durable events (those with a seq) among what a client received, optionally of one room."""
    return [e for e in events if "seq" in e and (room is None or e.get("room") == room)]


async def logged(server: Server, room: str, after: int = 0) -> list[dict[str, Any]]:
    """The envelopes the durable log holds for a room after `after`, in seq order."""
    from sqlalchemy import select

    from tandem.realtime.models import EventRecord

    async with server.runtime.db.read() as session:
        rows = await session.scalars(
            select(EventRecord.envelope)
            .where(EventRecord.room == room, EventRecord.seq > after)
            .order_by(EventRecord.seq)
        )
        return list(rows)


async def outbox_size(server: Server) -> int:
    """How many recorded events wait in the outbox for a dispatcher."""
    from sqlalchemy import func, select

    from tandem.realtime.models import OutboxEntry

    async with server.runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxEntry)) or 0)


async def log_state(server: Server) -> dict[str, int]:
    """The log's counters: `seq` (last assigned) and `published` (the watermark)."""
    from sqlalchemy import select

    from tandem.realtime.models import LogState

    async with server.runtime.db.read() as session:
        return {row.name: row.value for row in await session.scalars(select(LogState))}


async def eventually(predicate: Any, timeout: float = 5.0, interval: float = 0.01) -> float:
    """Wait until predicate() (sync or async) is true; returns the seconds it took, fails after timeout."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return loop.time() - start
        if loop.time() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def assert_envelope(
    env: dict[str, Any],
    event: str,
    room: str,
    data: dict[str, Any],
    *,
    actor_id: str | None,
    trace_id: str | None = None,
    durable: bool = True,
) -> None:
    """SPEC §4's envelope, exactly: its keys, its meta, and the given data (durable events carry a seq)."""
    keys = (
        {"event", "version", "seq", "room", "data", "meta"}
        if durable
        else {"event", "version", "room", "data", "meta"}
    )
    assert set(env) == keys, env
    assert (env["event"], env["version"], env["room"]) == (event, 1, room), env
    if durable:
        assert type(env["seq"]) is int and env["seq"] > 0, env
    assert env["data"] == data, env
    meta = env["meta"]
    assert set(meta) == {"emittedAt", "producer", "traceId", "actorId"}, meta
    assert ISO_MS.match(meta["emittedAt"]), meta
    emitted = datetime.fromisoformat(meta["emittedAt"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - emitted).total_seconds()) < 60, meta
    assert meta["producer"] == "server", meta
    assert isinstance(meta["traceId"], str) and meta["traceId"], meta
    if trace_id is not None:
        assert meta["traceId"] == trace_id, meta
    assert meta["actorId"] == actor_id, meta


def member_data(person: Person, role: str, **changes: Any) -> dict[str, Any]:
    """A member as phase-1 events carry it."""
    return {
        "userId": person.id,
        "name": person.name,
        "email": person.email,
        "role": role,
        "status": "active",
        "avatarUrl": None,
        **changes,
    }


# argon2 at its production cost takes ~0.5 s a hash on two cores, so signups and logins would
# dominate a test's time. This fixture keeps the real argon2id, at its smallest work factor; a
# directory opts in by importing `fast_password_hashing` from tests.harness in its conftest.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    from tandem.auth import service as auth_service

    monkeypatch.setattr(auth_service, "hasher", FAST_HASHER)


# -- common actions ---------------------------------------------------------------


async def set_role(actor: Person, org_id: str, user_id: str, role: str) -> httpx.Response:
    """Change a member's role through the REST API, as an Owner or Admin would; it must succeed."""
    async with actor.http() as http:
        r = await http.patch(f"/api/orgs/{org_id}/members/{user_id}", json={"role": role})
        assert r.status_code == 200, r.text
        return r


async def rename(person: Person, name: str) -> httpx.Response:
    """Change one's own name through PATCH /api/me; it must succeed."""
    async with person.http() as http:
        r = await http.patch("/api/me", json={"name": name})
        assert r.status_code == 200, r.text
        return r


async def wait_ready(proc: asyncio.subprocess.Process, log: Path, timeout: float = 90) -> None:
    """Until a server subprocess (bench/tandem_server.py) prints READY; its log if it exits first."""
    assert proc.stdout is not None

    async def read() -> None:
        while line := await proc.stdout.readline():
            if line.startswith(b"READY"):
                return
        raise AssertionError(f"the server exited: {log.read_text()[-3000:]}")

    await asyncio.wait_for(read(), timeout)


@contextmanager
def tandem_serve(
    data_dir: Path, *serve_args: str, **env_overrides: str
) -> Iterator[tuple[str, int, subprocess.Popen[bytes]]]:
    """`tandem serve` as a new user runs it, in a subprocess: nothing of the test's TANDEM_*
    environment but the accelerator switch, a migrated SQLite database in `data_dir`, a free port
    (unless `--port` is given) and `env_overrides`. Yields (url, port, process); killed at the end.
    The server's output is in `data_dir / "server.log"`."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("TANDEM_") or k == "TANDEM_ACCEL"
    }
    env.update({"TANDEM_DATA_DIR": str(data_dir), "TANDEM_LOG_LEVEL": "warning", **env_overrides})
    subprocess.run(
        [sys.executable, "-m", "tandem.cli", "migrate"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    args = list(serve_args)
    if "--port" in args:
        port = int(args[args.index("--port") + 1])
    else:
        args += ["--port", str(port)]
    log_path = data_dir / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandem.cli", "serve", *args],
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,  # its own process group: spawned workers go with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, "tandem serve did not start"
            time.sleep(0.1)
        yield url, port, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # workers a killed supervisor left behind
        log.close()


async def schema_exists(name: str) -> bool:
    """Whether the tests' PostgreSQL has a schema of that name: a bench run on a schema of its own
    drops it at exit."""
    from tests.conftest import PG_URL  # conftest imports this module

    engine = create_async_engine(PG_URL)
    try:
        async with engine.connect() as conn:
            query = text("SELECT count(*) FROM pg_namespace WHERE nspname = :n")
            return bool(await conn.scalar(query, {"n": name}))
    finally:
        await engine.dispose()


async def open_socket(person: Person) -> ClientConnection:
    """A raw WebSocket with its Socket.IO connect accepted."""
    token = await person.socket_token()
    ws = await ws_connect(
        f"ws://127.0.0.1:{person.server.port}/socket.io/?EIO=4&transport=websocket",
        ping_interval=None,
        max_size=None,
    )
    assert (await ws.recv()).startswith("0")
    await ws.send("40" + json.dumps({"token": token}))
    accepted = await ws.recv()
    assert isinstance(accepted, str) and accepted.startswith("40"), accepted
    return ws
