"""Parts of the hostile-traffic battery: a `tandem serve` process whose memory is read from /proc,
a well-behaved client whose latency is timed, and the bad clients, each kind counted by how the
server answered it: refused (an HTTP 4xx, a `connect_error`, an error ack), closed (a close frame,
engine.io's CLOSE packet, the session gone, or the TCP connection ended) or left open past its
bound.

The bad clients speak raw Engine.IO / Socket.IO over `websockets` and `aiohttp`, or raw TCP where
the point is to misbehave below HTTP (connections that never send a request head, clients that
never read). Whether the server ended a raw TCP connection is read from the kernel (`TCP_INFO`'s
state: the peer's FIN or RST), so a client that never reads is watched without reading.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import socketio
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.battery import SCALE
from tests.battery.faults import ROOT, Instance, Person, instance_env, invite_and_accept, signup

HEADER_TIMEOUT = 2.0  # TANDEM_HEADER_TIMEOUT_SECONDS given to the server
HANDSHAKE = (
    3.0  # TANDEM_SOCKET_HANDSHAKE_SECONDS: the default 10 s, shortened to keep the run short
)
PING = 3.0  # TANDEM_SOCKET_PING_SECONDS: the default 10 s, shortened to keep the run short
# A socket that answers no ping is ended within two ping periods of its last packet on both layers
# (a ping every PING seconds, PING seconds to answer it).
PING_DEADLINE = 2 * PING + 1
PROMPT = 3.0  # seconds a refusal of a bad packet, frame or body may take
SEPARATOR = "\x1e"
PAYLOAD_LIMIT = 64 * 1024
AVATAR = "https://example.com/avatars/" + "a" * 1500  # each rename's event is about 2 KB
ESTABLISHED, CLOSED, CLOSE_WAIT = 1, 7, 8  # tcpi_state values (include/net/tcp_states.h)


def scaled(count: int) -> int:
    return max(1, int(count * SCALE))


def header_timeout_landed() -> bool:
    """Whether this tree's server knows TANDEM_HEADER_TIMEOUT_SECONDS (else the variable is ignored)."""
    from tandem.config import Settings

    return "header_timeout_seconds" in Settings.model_fields


# -- the server ---------------------------------------------------------------------------------


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    """A process's resident memory (or its peak, key="VmHWM") in MB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {key} for {pid}")


def start_server(data_dir: Path, layer: str, **env: str) -> Instance:
    """`tandem serve` (argon2 at its smallest cost) on SQLite in `data_dir`, on the given socket layer."""
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{data_dir / 'tandem.db'}"
    base = instance_env(url, "", data_dir, "hostile")
    base.update(
        TANDEM_ACCEL="off" if layer == "stock" else "on",
        TANDEM_HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
        TANDEM_SOCKET_HANDSHAKE_SECONDS=str(HANDSHAKE),
        TANDEM_SOCKET_PING_SECONDS=str(PING),
        **env,
    )
    subprocess.run(
        [sys.executable, "-m", "tandem.cli", "migrate"],
        cwd=ROOT,
        env=base,
        check=True,
        capture_output=True,
    )
    return Instance("hostile", base, data_dir)


async def socket_token(server: Instance, person: Person) -> str:
    async with server.client(person.access) as http:
        r = await http.post("/api/auth/socket-token")
        r.raise_for_status()
        return r.json()["token"]


@dataclass
class Cast:
    """Org A: its Owner (the writer) and a Member (the good client). Org B: the attacker's own."""

    writer: Person
    good: Person
    attacker: Person
    org_a: str
    org_b: str
    writer_token: str
    attacker_token: str


async def cast(server: Instance) -> Cast:
    writer, good, attacker = [await signup(server, f"{n} {uuid.uuid4().hex[:4]}") for n in "WGX"]
    orgs = []
    for owner in (writer, attacker):
        async with server.client(owner.access) as http:
            r = await http.post("/api/orgs", json={"name": "Hostile"})
            assert r.status_code == 201, r.text
            orgs.append(r.json()["organization"]["id"])
    await invite_and_accept(server, orgs[0], writer, good, "Member")
    return Cast(
        writer,
        good,
        attacker,
        orgs[0],
        orgs[1],
        await socket_token(server, writer),
        await socket_token(server, attacker),
    )


# -- the well-behaved client --------------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


class GoodClient:
    """A signed-in Socket.IO client in org A's room, and org A's Owner renaming themself: each
    rename's latency is the time from sending PATCH /api/me to the event's arrival (so it covers
    the commit), keyed by the name."""

    def __init__(self, server: Instance, cast: Cast) -> None:
        self.server = server
        self.cast = cast
        self.room = f"org:{cast.org_a}"
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.sent: dict[str, float] = {}  # name -> when its PATCH was sent
        self.order: list[str] = []  # names acknowledged with 200, in order
        self.failed_writes = 0
        self.disconnects = 0
        self.sio.on("org.member.updated", self._on_updated)
        self.sio.on("disconnect", self._on_disconnect)

    def _on_updated(self, data: Any) -> None:
        self.received.append((time.time(), data))

    def _on_disconnect(self, *args: Any) -> None:
        self.disconnects += 1

    async def connect(self) -> None:
        token = await socket_token(self.server, self.cast.good)
        await self.sio.connect(
            self.server.url, auth={"token": token}, transports=["websocket"], wait_timeout=10
        )
        ack = await self.sio.call("subscribe", {"room": self.room}, timeout=10)
        assert ack["ok"], ack

    async def rename(self, http: httpx.AsyncClient, name: str) -> None:
        self.sent[name] = time.time()
        try:
            r = await http.patch("/api/me", json={"name": name, "avatarUrl": f"{AVATAR}?{name}"})
        except httpx.HTTPError:
            self.failed_writes += 1
            return
        if r.status_code == 200:
            self.order.append(name)
        else:
            self.failed_writes += 1

    async def write(self, phase: str, until: Callable[[int], bool], pace: float = 0.05) -> None:
        async with self.server.client(self.cast.writer.access) as http:
            i = 0
            while not until(i):
                await self.rename(http, f"{phase} {i}")
                i += 1
                await asyncio.sleep(pace)

    def mine(self) -> list[tuple[float, dict[str, Any]]]:
        return [
            (t, e)
            for t, e in self.received
            if e.get("room") == self.room
            and e.get("data", {}).get("member", {}).get("userId") == self.cast.writer.id
        ]

    async def settle(self, timeout: float = 10.0) -> None:
        """Until the last acknowledged rename arrived (or `timeout`)."""
        deadline = time.monotonic() + timeout
        last = self.order[-1] if self.order else None
        while time.monotonic() < deadline:
            if last is None or any(e["data"]["member"]["name"] == last for _, e in self.mine()):
                return
            await asyncio.sleep(0.05)

    def latencies(self, phase: str) -> list[float]:
        arrived = {e["data"]["member"]["name"]: t for t, e in self.mine()}
        return [
            arrived[name] - self.sent[name]
            for name in self.order
            if name.startswith(phase + " ") and name in arrived
        ]

    def delivery_problems(self) -> list[str]:
        """Every acknowledged rename received exactly once, in order, with rising seqs."""
        events = [e for _, e in self.mine()]
        names = [e["data"]["member"]["name"] for e in events]
        seqs = [e["seq"] for e in events]
        problems = []
        if names != self.order:
            missing = [n for n in self.order if n not in names]
            extra = len(names) - len(set(names))
            problems.append(
                f"good client: {len(names)} events for {len(self.order)} renames "
                f"({len(missing)} missing, {extra} duplicated, order kept: "
                f"{[n for n in names if n in self.order] == self.order})"
            )
        if any(b <= a for a, b in itertools.pairwise(seqs)):
            problems.append("good client: seqs not strictly increasing")
        if self.disconnects:
            problems.append(f"good client: disconnected {self.disconnects} times")
        if self.failed_writes:
            problems.append(f"writer: {self.failed_writes} renames failed")
        return problems


# -- counting the bad clients -------------------------------------------------------------------


@dataclass
class Tally:
    """One kind of bad client: how many, how each was answered, how long the slowest took."""

    kind: str
    bound: float  # seconds within which each must be refused or closed
    attempts: int = 0
    refused: int = 0
    closed: int = 0
    open: int = 0
    errors: int = 0  # the test's own client failed: counted against the run
    slowest: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)
    extra: Counter[str] = field(default_factory=Counter)

    async def run(self, client: Callable[[], Awaitable[tuple[str, str]]]) -> None:
        self.attempts += 1
        started = time.monotonic()
        try:
            outcome, reason = await client()
        except (OSError, InvalidHandshake, aiohttp.ClientError) as exc:
            outcome, reason = "refused", f"connection refused ({type(exc).__name__})"
        except Exception as exc:
            outcome, reason = "error", f"{type(exc).__name__}: {exc}"[:120]
        took = time.monotonic() - started
        if outcome in ("refused", "closed") and took > self.bound:
            outcome, reason = "open", f"{outcome} only after {took:.1f} s: {reason}"
        counter = outcome if outcome != "error" else "errors"
        setattr(self, counter, getattr(self, counter) + 1)
        if outcome != "error":
            self.slowest = max(self.slowest, took if outcome != "open" else self.bound)
        self.reasons[reason[:90]] += 1

    @property
    def ended(self) -> int:
        return self.refused + self.closed

    def line(self) -> str:
        reasons = "; ".join(f"{r} ×{n}" for r, n in self.reasons.most_common(4))
        extra = "".join(f", {k} {v}" for k, v in self.extra.items())
        return (
            f"    {self.kind}: {self.attempts} attempts, {self.refused} refused, {self.closed} "
            f"closed, {self.open} left open (bound {self.bound:g} s, slowest {self.slowest:.1f} s)"
            f"{extra}{f', {self.errors} client errors' if self.errors else ''} [{reasons}]"
        )


def notice(message: str) -> str:
    """The reason in a Socket.IO CONNECT_ERROR packet ("44{...}")."""
    try:
        data = json.loads(message[message.index("{") if "{" in message else 2 :])
    except (ValueError, IndexError):
        return message[:60]
    return str(data.get("message", data)) if isinstance(data, dict) else str(data)


async def until_end(ws: ClientConnection, within: float, pong: bool = True) -> tuple[str, str]:
    """Read (answering pings unless `pong` is False) until the server ends the session: its CLOSE
    packet or the connection closing. ("closed", why) or ("open", what it said) after `within`.

    The stock engine.io socket closes the connection itself only at its next receive timeout after
    sending CLOSE; the session is over at once, so CLOSE counts."""
    said = ""
    try:
        async with asyncio.timeout(within):
            while True:
                message = await ws.recv()
                if message == "2" and pong:
                    await ws.send("3")
                elif message == "1":
                    return "closed", said or "engine.io CLOSE"
                elif isinstance(message, str) and message.startswith("44"):
                    said = notice(message)
    except ConnectionClosed as exc:
        if exc.rcvd is not None:
            return "closed", said or f"close {exc.rcvd.code} {exc.rcvd.reason}".strip()
        return "closed", said or "TCP closed without a close frame"
    except TimeoutError:
        return "open", said or "nothing"
    finally:
        await ws.close()


async def eio_websocket(port: int, token: str | None = None, query: str = "") -> ClientConnection:
    """A raw Engine.IO WebSocket session, with its Socket.IO connect accepted when `token` is given."""
    ws = await ws_connect(
        f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket{query}",
        ping_interval=None,
        max_size=None,
        compression=None,
        open_timeout=10,
    )
    if not query:
        opening = await asyncio.wait_for(ws.recv(), 5)
        assert isinstance(opening, str) and opening.startswith("0"), opening
    if token is not None:
        await ws.send("40" + json.dumps({"token": token}))
        async with asyncio.timeout(5):
            while (accepted := await ws.recv()) == "2":
                await ws.send("3")
        assert isinstance(accepted, str) and accepted.startswith("40{"), accepted
    return ws


async def acks(ws: ClientConnection, ids: set[int], within: float) -> dict[int, Any]:
    """The acks with these ids (id -> payload), answering pings, until all came or `within`."""
    found: dict[int, Any] = {}
    with contextlib.suppress(TimeoutError, ConnectionClosed):
        async with asyncio.timeout(within):
            while not ids <= found.keys():
                message = await ws.recv()
                if message == "2":
                    await ws.send("3")
                elif isinstance(message, str) and message.startswith("43"):
                    body = message[2:]
                    start = body.index("[")
                    found[int(body[:start])] = json.loads(body[start:])[0]
    return found


class Polling:
    """Engine.IO long-polling sessions over one aiohttp session (no connection cap)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def open(self, token: str | None = None) -> str:
        async with self.http.get(self.base) as r:
            body = await r.text()
        assert r.status == 200 and body.startswith("0"), (r.status, body)
        sid = json.loads(body[1:])["sid"]
        if token is not None:
            assert (await self.post(sid, "40" + json.dumps({"token": token})))[0] == 200
            status, packets = await self.poll(sid)
            assert status == 200 and packets[0].startswith("40{"), packets
        return sid

    async def post(self, sid: str, body: str | bytes, within: float = 10.0) -> tuple[int, str]:
        async with self.http.post(
            f"{self.base}&sid={sid}", data=body, timeout=aiohttp.ClientTimeout(total=within)
        ) as r:
            return r.status, await r.text()

    async def poll(self, sid: str, within: float = 10.0) -> tuple[int, list[str]]:
        async with self.http.get(
            f"{self.base}&sid={sid}", timeout=aiohttp.ClientTimeout(total=within)
        ) as r:
            body = await r.text()
            return r.status, body.split(SEPARATOR) if r.status == 200 else [body]

    async def until_end(self, sid: str, within: float) -> tuple[str, str]:
        """Poll until the session ends (CLOSE, or 400 for a session already gone)."""
        said = ""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                status, packets = await self.poll(sid, within=left)
            except TimeoutError:
                break
            if status != 200:
                return "closed", said or f"HTTP {status}: the session is gone"
            for p in packets:
                if p.startswith("44"):
                    said = notice(p)
                elif p == "1":
                    return "closed", said or "engine.io CLOSE"
                elif p == "2":
                    await self.post(sid, "3")
        return "open", said or "nothing"

    async def close(self) -> None:
        await self.http.close()


# -- raw TCP ------------------------------------------------------------------------------------


def tcp_state(sock: socket.socket) -> int:
    """The kernel's state of our end: ESTABLISHED until the server sends FIN (CLOSE_WAIT) or RST (CLOSE)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


async def raw_connect(port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # before connect, so the window offered is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


class ServerSide:
    """The server's end of each of our connections to `port`, as /proc/net/tcp lists it (the
    server runs in this network namespace). A server that closes a connection whose client never
    reads cannot get its FIN through (it waits behind the unread data), so our end still looks
    open; the server's end shows it let go. Read at most every `every` seconds for all watchers."""

    def __init__(self, port: int, every: float = 0.2) -> None:
        self.port = port
        self.every = every
        self._at = 0.0
        self._states: dict[int, int] = {}

    def state(self, client_port: int) -> int | None:
        now = time.monotonic()
        if now - self._at > self.every:
            self._at = now
            states = {}
            for table in ("/proc/net/tcp", "/proc/net/tcp6"):
                with contextlib.suppress(OSError):
                    for line in Path(table).read_text().splitlines()[1:]:
                        fields = line.split()
                        if int(fields[1].rsplit(":", 1)[1], 16) == self.port:
                            states[int(fields[2].rsplit(":", 1)[1], 16)] = int(fields[3], 16)
            self._states = states
        return self._states.get(client_port)


async def watch_tcp(
    sock: socket.socket, within: float, server: ServerSide, every: float = 0.2
) -> tuple[str, str]:
    """("closed", how) once the server ended the connection (our end got its FIN or RST, or its end
    left ESTABLISHED), ("open", ...) if not within `within`."""
    deadline = time.monotonic() + within
    client_port = sock.getsockname()[1]
    try:
        while time.monotonic() < deadline:
            state = tcp_state(sock)
            if state != ESTABLISHED:
                answer = b""
                with contextlib.suppress(OSError):
                    answer = sock.recv(200)  # what it said first, if anything (never blocks)
                how = "reset" if state == CLOSED else "closed"
                said = answer.split(b"\r\n", 1)[0].decode(errors="replace")
                return "closed", f"TCP {how}{f' after {said!r}' if said else ''}"
            if server.state(client_port) not in (ESTABLISHED, None):
                return "closed", "closed by the server (its FIN waits behind unread data)"
            await asyncio.sleep(every)
        return "open", "TCP still established"
    finally:
        sock.close()


def mask_frame(payload: bytes, opcode: int = 0x1, length: int | None = None) -> bytes:
    """A client's WebSocket frame (RFC 6455 §5.2), masked; `length` may announce more than is sent."""
    n = len(payload) if length is None else length
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + body


def upgrade_head(port: int, complete: bool = True) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    head = (
        f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
    )
    return (head + "\r\n").encode() if complete else head.encode()


async def raw_websocket(port: int, rcvbuf: int | None = None) -> socket.socket:
    """A WebSocket opened over a raw socket: the 101 and the engine.io OPEN read, nothing more."""
    loop = asyncio.get_running_loop()
    sock = await raw_connect(port, rcvbuf)
    await loop.sock_sendall(sock, upgrade_head(port))
    seen = b""
    async with asyncio.timeout(10):
        while b'"sid"' not in seen:
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                raise ConnectionResetError("closed during the upgrade")
            seen += chunk
    assert seen.startswith(b"HTTP/1.1 101"), seen[:80]
    return sock


async def read_until(sock: socket.socket, marker: bytes, within: float) -> None:
    loop = asyncio.get_running_loop()
    seen = b""
    async with asyncio.timeout(within):
        while marker not in seen:
            chunk = await loop.sock_recv(sock, 65536)
            if not chunk:
                raise ConnectionResetError("closed")
            seen = seen[-len(marker) :] + chunk


@dataclass
class Sampler:
    """The server's RSS every `every` seconds while running: the first, the peak, the last."""

    pid: int
    every: float = 0.25
    samples: list[float] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.samples.append(rss_mb(self.pid))
            await asyncio.sleep(self.every)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> float:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return max(self.samples, default=rss_mb(self.pid))
