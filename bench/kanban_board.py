"""What the Kanban workloads share: the bench server on a database of the run's choosing, one
project board with its people and cards, a board client (the board's snapshot, a socket
subscribed to `project:{id}` after the snapshot's cursor, and a small reducer applying every
event it receives, kanban_reducer.py), and the check that every client's board equals the
server's. The clients are python-socketio's AsyncClient, as in phase1_latency.py and the tests.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import os
import random
import shutil
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from kanban_reducer import Board, differences
from servers import BENCH, TandemServer

PRIORITIES = ["Low", "Medium", "High", "Urgent"]


@dataclass
class KanbanServer(TandemServer):
    """bench/tandem_server.py as run.py starts it (pinned with taskset, READY on stdout), through
    kanban_server.py, which puts it on a PostgreSQL schema of its own when `database` is set."""

    database: str = ""

    def command(self, info_file: Any) -> list[str]:
        cmd = super().command(info_file)
        cmd[1] = str(BENCH / "kanban_server.py")
        return cmd + (["--database", self.database] if self.database else [])


def prioritize(nice: int) -> None:
    """Run this process and what it starts at `nice`. With the kernel's autogroup scheduling a nice
    level only ranks a process within its session's group, and each session's group gets an equal
    share against the others: a busy machine's other jobs (each a session) took most of the cores
    from a run at nice -10 (p50 250 ms from emittedAt to a client at 50 changes/s, 5 ms in a
    session of its own with its group at -10). So the run gets a session and a group of its own."""
    if not nice:
        return
    try:
        os.setsid()
    except OSError:  # already a session's leader: its group is its own
        pass
    try:
        Path("/proc/self/autogroup").write_text(str(nice))
    except OSError:  # no autogroup scheduling here, or no right to raise it
        pass
    os.nice(nice)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Measure = Callable[[dict, int], Awaitable[dict[str, Any]]]  # (server info, server pid) -> result
Report = Callable[[dict[str, Any]], tuple[str, bool]]  # result -> (text, ok)


def add_server_options(p: Any) -> None:
    """The options every page workload takes for its server and its own process."""
    p.add_argument("--database-url", default="", help="as kanban_burst.py's")
    p.add_argument("--server-cpus", default="0", help="cores for the server (taskset -c)")
    p.add_argument("--nice", type=int, default=0, help="as kanban_burst.py's")
    p.add_argument("--deadline", type=float, default=0, help="print every stack and exit after")


async def join(sio: Any, url: str, token: str, room: str) -> None:
    """Connect a Socket.IO client over the WebSocket transport and subscribe it to `room`."""
    await sio.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=30)
    ack = await sio.call("subscribe", {"room": room}, timeout=30)
    if not ack or not ack.get("ok"):
        raise RuntimeError(f"subscribe {room}: {ack}")


def run_once(
    args: Any, name: str, users: int, measure: Measure, report: Report, client_cpus: str = ""
) -> int:
    """One run of a workload against the bench server: start it (pinned to `args.server_cpus`, on
    `args.database_url` when set, for `users` bench people), measure, stop it, print the report,
    write the result to `args.json` when asked; exit status 0 when the report says ok, else the
    server's log is kept. The workload's process runs at `args.nice` and, with `client_cpus`, on
    those cores; with `args.deadline` it prints every stack and exits when that many seconds have
    passed."""
    if getattr(args, "deadline", 0):
        faulthandler.dump_traceback_later(args.deadline, exit=True)
    prioritize(args.nice)
    workdir = Path(tempfile.mkdtemp(prefix=f"tandem-{name}-"))
    server = KanbanServer(
        "tandem", free_port(), args.server_cpus, workdir, users=users, database=args.database_url
    )
    ok = False
    try:
        running = server.start(name)
        try:
            if client_cpus:
                os.sched_setaffinity(0, {int(c) for c in client_cpus.split(",")})
            result = asyncio.run(measure(running.info, running.pid))
        finally:
            running.stop()
        text, ok = report(result)
        print(text, flush=True)
    finally:
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"  the server's log is kept in {workdir}", flush=True)
    if getattr(args, "json", ""):
        Path(args.json).write_text(json.dumps({**result, "ok": ok}, indent=1))
    return 0 if ok else 1


class RequestFailed(RuntimeError):
    pass


class Api:
    """REST as one person, as the web client calls it: JSON bodies, a bearer token."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base, self.token = http, base, token

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"authorization": f"Bearer {self.token}"}
        async with self.http.request(method, self.base + path, json=body, headers=headers) as r:
            data = await r.json(content_type=None) if r.status != 204 else None
            return r.status, data

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, data = await self.call(method, path, body)
        if status >= 300:
            raise RequestFailed(f"{method} {path}: {status} {data}")
        return data


@dataclass
class Person:
    user_id: str
    api: Api


@dataclass
class Setup:
    project_id: str
    owner: Api
    people: list[Person]  # Contributors, signed in: they make the changes
    viewers: list[tuple[str, str]]  # (user id, socket token): Viewers, read only
    columns: list[str]
    accepts: dict[str, bool]  # which optional body fields the server takes (see probe())


async def sign_in(http: aiohttp.ClientSession, base: str, email: str) -> Person:
    async with http.post(
        base + "/api/auth/login", json={"email": email, "password": "bench-password"}
    ) as r:
        if r.status != 200:
            raise RequestFailed(f"login {email}: {r.status} {await r.text()}")
        body = await r.json()
    return Person(body["user"]["id"], Api(http, base, body["accessToken"]))


async def setup_board(
    http: aiohttp.ClientSession, info: dict, people: int, viewers: int, cards: int, seed: int
) -> Setup:
    """The bench organization's owner starts a project, adds `people` members (bench1..) as
    Contributors and the next `viewers` as Viewers, and puts `cards` cards on the board."""
    base, org = info["api"]["base"], info["api"]["orgId"]
    owner = Api(http, base, info["api"]["token"])
    members = (await owner.ok("GET", f"/api/orgs/{org}/members"))["members"]
    by_email = {m["email"]: m["userId"] for m in members}
    project = (await owner.ok("POST", f"/api/orgs/{org}/projects", {"name": "Burst board"}))[
        "project"
    ]
    pid = project["id"]
    signed = [await sign_in(http, base, f"bench{i}@example.com") for i in range(1, people + 1)]
    for p in signed:
        await owner.ok("POST", f"/api/projects/{pid}/members", {"userId": p.user_id})
    watching = []
    for i in range(people + 1, people + 1 + viewers):
        uid = by_email[f"bench{i}@example.com"]
        await owner.ok("POST", f"/api/projects/{pid}/members", {"userId": uid, "role": "Viewer"})
        watching.append((uid, info["tokens"][i]))
    columns = project["columns"]
    accepts = await probe(owner, pid, columns)
    rng = random.Random(seed)
    for n in range(cards):
        body = {"title": f"Card {n}", "status": columns[n % len(columns)]}
        body["priority"] = rng.choice(PRIORITIES)
        await owner.ok("POST", f"/api/projects/{pid}/tasks", body)
    return Setup(pid, owner, signed, watching, columns, accepts)


async def probe(owner: Api, pid: str, columns: list[str]) -> dict[str, bool]:
    """Whether the server takes the board contract's optional fields (clientId on every write,
    a place on create): a server without them refuses them as unknown (422). The probe's card
    is deleted again, so the board starts the same either way."""
    accepts = {}
    status, body = await owner.call(
        "POST", f"/api/projects/{pid}/tasks", {"title": "Probe", "clientId": "bench-probe"}
    )
    accepts["create.clientId"] = status == 201
    if status != 201:
        body = await owner.ok("POST", f"/api/projects/{pid}/tasks", {"title": "Probe"})
    task = body["task"]
    other = (await owner.ok("POST", f"/api/projects/{pid}/tasks", {"title": "Probe 2"}))["task"]
    status, placed = await owner.call(
        "POST", f"/api/projects/{pid}/tasks", {"title": "Probe 3", "afterTaskId": task["id"]}
    )
    accepts["create.place"] = status == 201
    if status == 201:
        await owner.ok("DELETE", f"/api/tasks/{placed['task']['id']}")
    status, _ = await owner.call(
        "PATCH", f"/api/tasks/{task['id']}", {"changes": {"title": "P"}, "clientId": "bench-p1"}
    )
    accepts["update.clientId"] = status == 200
    move = {"toColumn": columns[-1], "clientId": "bench-p2"}
    status, _ = await owner.call("POST", f"/api/tasks/{task['id']}/move", move)
    accepts["move.clientId"] = status == 200
    for t in (task, other):
        await owner.ok("DELETE", f"/api/tasks/{t['id']}")
    return accepts


# -- a board client -----------------------------------------------------------------------------


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def change_key(event: str, data: dict) -> tuple | None:
    """What identifies the change behind a kanban event, as the REST answer identifies it too."""
    if event == "kanban.task.created":
        return ("created", data["task"]["id"])
    if event == "kanban.task.deleted":
        return ("deleted", data["taskId"])
    if event in ("kanban.task.updated", "kanban.task.moved"):
        return (event.rsplit(".", 1)[1], data["taskId"], data["rev"])
    return None


class BoardClient:
    """One viewer of the board: its snapshot, its socket, every event it received applied. As the
    SDK does, it reconnects when the server drops it (a slow consumer on a busy machine is closed)
    and subscribes again after the last event it got, and reloads the snapshot on a resync."""

    def __init__(self, index: int, url: str, token: str, *, record: bool = True) -> None:
        self.index, self.url, self.token, self.record = index, url, token, record
        self.sio = socketio.AsyncClient(reconnection_delay=0.2, reconnection_delay_max=1)
        self.sio.on("*", self._on)
        self.sio.on("connect", self._connected)
        self.sio.on("disconnect", self._gone)
        self.board: Board | None = None
        self.last_seq = 0
        self.seqs: list[int] = []
        self.duplicates = self.resyncs = self.disconnects = 0
        self.failures: list[str] = []  # a resubscribe or reload that failed
        self.connects = 0
        # (change key, wall-clock arrival, monotonic arrival, the event's emittedAt in epoch s,
        # the event's clientId)
        self.arrivals: list[tuple[tuple, float, float, float, str | None]] = []
        self.kanban_events = 0
        self.closing = False

    async def start(self, snapshot_api: Api, project_id: str) -> None:
        self.snapshot_api, self.room = snapshot_api, f"project:{project_id}"
        await self._load()
        self.first_seq = self.last_seq
        await self.sio.connect(
            self.url, auth={"token": self.token}, transports=["websocket"], wait_timeout=30
        )
        await self._subscribe()

    async def _load(self) -> None:
        project_id = self.room.split(":", 1)[1]
        snapshot = await self.snapshot_api.ok("GET", f"/api/projects/{project_id}/board")
        self.board = Board.of(snapshot)
        self.last_seq = snapshot["cursor"]

    async def _subscribe(self) -> None:
        ack = await self.sio.call(
            "subscribe", {"room": self.room, "after": self.last_seq}, timeout=30
        )
        if not ack or not ack.get("ok"):
            raise RequestFailed(f"subscribe {self.room}: {ack}")

    def _connected(self) -> None:
        self.connects += 1
        if self.connects > 1:  # a reconnect; off the read loop, which the ack arrives on
            self.sio.start_background_task(self._again, self._subscribe)

    async def _again(self, step: Any) -> None:
        try:
            await step()
        except Exception as err:  # reported with the run's figures
            self.failures.append(f"{step.__name__}: {err!r}")

    async def _reload(self) -> None:
        await self._load()
        await self._subscribe()

    def _gone(self, *_: Any) -> None:
        if not self.closing:
            self.disconnects += 1

    def _on(self, event: str, env: Any = None) -> None:
        wall, mono = time.time(), time.perf_counter()
        if not isinstance(env, dict):
            return
        if event == "resync.required":
            self.resyncs += 1
            self.sio.start_background_task(self._again, self._reload)
            return
        seq = env.get("seq")
        if seq is None:  # an ephemeral hint: no place in the board's state
            return
        if seq <= self.last_seq:
            self.duplicates += 1
            return
        self.last_seq = seq
        self.seqs.append(seq)
        data = env.get("data") or {}
        assert self.board is not None
        self.board.apply(event, data)
        key = change_key(event, data)
        if key is not None:
            self.kanban_events += 1
            if self.record:
                emitted = epoch(env["meta"]["emittedAt"])
                self.arrivals.append((key, wall, mono, emitted, data.get("clientId")))

    async def drop(self) -> None:
        """Cut the connection under Socket.IO's feet, as a network drop or the server would."""
        if self.sio.eio.ws is not None:
            await self.sio.eio.ws.close()

    async def close(self) -> None:
        self.closing = True
        await self.sio.disconnect()


async def quiet(clients: list[BoardClient], quiet_for: float = 1.0, at_most: float = 60) -> None:
    """Wait until no client has received an event for `quiet_for` seconds."""
    give_up = time.monotonic() + at_most
    last = None
    since = time.monotonic()
    while time.monotonic() < give_up:
        now = tuple(len(c.seqs) for c in clients)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            return
        await asyncio.sleep(0.05)


async def converged(
    clients: list[BoardClient], owner: Api, project_id: str
) -> tuple[dict, dict[int, list[str]]]:
    """The server's snapshot, and for each client that differs from it, how. A client also
    differs when the room's log holds events after the last one it received."""
    room = f"project:{project_id}"
    behind, give_up = list(clients), time.monotonic() + 20
    while behind and time.monotonic() < give_up:  # one that was dropped may still be replaying
        behind = [c for c in behind if (await _after(owner, room, c.last_seq))["events"]]
        await asyncio.sleep(0.5 if behind else 0)
    snapshot = await owner.ok("GET", f"/api/projects/{project_id}/board")
    found: dict[int, list[str]] = {}
    for c in clients:
        assert c.board is not None
        diffs = differences(c.board.view(), snapshot["columns"])
        late = await _after(owner, room, c.last_seq)
        if late["events"]:
            diffs.insert(0, f"{len(late['events'])} events of the room never reached it")
        diffs = c.failures[:3] + c.board.anomalies[:3] + diffs
        if c.duplicates:
            diffs.append(f"{c.duplicates} events received twice")
        if diffs:
            found[c.index] = diffs
    return snapshot, found


async def _after(owner: Api, room: str, seq: int) -> dict:
    return await owner.ok("GET", f"/api/events?room={room}&after={seq}")


def missing_deliveries(clients: list[BoardClient]) -> int:
    """Events some client received after every client's snapshot that another did not."""
    start = max(c.first_seq for c in clients)
    every: set[int] = set()
    for c in clients:
        every.update(s for s in c.seqs if s > start)
    return sum(len(every) - sum(1 for s in c.seqs if s > start) for c in clients)


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"n": len(ordered), "p50": at(0.5), "p99": at(0.99), "max": ordered[-1]}
