"""Parts of the fault battery: `tandem serve` processes to kill, a private Redis to restart, writers
that keep count, and subscribers that keep score the way the SDK keeps state.

`python -m tests.battery.faults serve --port N` is `tandem serve` with two test-only changes:
argon2 at its smallest work factor (signups stay fast) and, when `TANDEM_FAULT_DIR` is set, a
stall: once a file `arm` appears in that directory, the dispatcher that next moves a batch into
the log claims it (a rename, so only one process can), writes `stalled` (its instance id and the
batch's seqs) and never publishes that batch: it sits between the log commit and the publish
until the test kills it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import socketio

from tests.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
MEMBER_FIELDS = ("userId", "name", "email", "role", "status", "avatarUrl")
SECRET = "fault-battery-secret-" + "x" * 32


# -- a private Redis ----------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of this test's own, on a free port, with nothing saved: killed and restarted at will."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(  # noqa: ASYNC220 (starting it takes no time; kill() must be sync)
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.data_dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis.asyncio as redis

        client = redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            for _ in range(100):
                with contextlib.suppress(Exception):
                    if await client.ping():
                        return
                await asyncio.sleep(0.05)
            raise RuntimeError("redis-server did not start")
        finally:
            await client.aclose()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own (Debian's binaries, a free port, a throw-away data
    directory), stopped hard and started again at will. As root it runs as the `postgres` user,
    which initdb and the server require."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = found[-1].parent
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="tandem-pg-"))
        self.data = self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )

    def crash(self) -> None:
        """Stop at once, as a crash does: no checkpoint, connections cut; recovery runs on start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


# -- `tandem serve` processes -------------------------------------------------------------------


@dataclass
class Instance:
    """One `tandem serve` process; enough of the harness's `Server` for REST clients."""

    name: str
    env: dict[str, str]
    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / f"{self.name}.log", "ab")  # noqa: SIM115 (the process writes it)
        self.proc = subprocess.Popen(  # noqa: ASYNC220 (as above)
            [sys.executable, "-m", "tests.battery.faults", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=log,
        )
        log.close()
        async with self.client() as http:
            for _ in range(300):
                if self.proc.poll() is not None:
                    raise RuntimeError(self.log_tail())
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no watermark saved, sockets cut by the kernel."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_tail(self) -> str:
        path = self.data_dir / f"{self.name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def instance_env(
    database_url: str, redis_url: str, data_dir: Path, name: str, fault_dir: Path | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(
        TANDEM_DATABASE_URL=database_url,
        TANDEM_REDIS_URL=redis_url,
        TANDEM_SECRET_KEY=SECRET,
        TANDEM_REDIS_PREFIX=f"tandem-faults-{uuid.uuid4().hex[:8]}",
        TANDEM_DATA_DIR=str(data_dir),
        TANDEM_INSTANCE_ID=f"{name}-{uuid.uuid4().hex[:6]}",
        TANDEM_SERVE_WEB="false",
        TANDEM_JSON_LOGS="false",
        TANDEM_LOG_LEVEL="warning",
        TANDEM_PRESENCE_GRACE_SECONDS="0.3",
        TANDEM_LOGIN_LIMIT_PER_MINUTE="100000",
        TANDEM_LOGIN_IP_LIMIT_PER_MINUTE="100000",
        TANDEM_SIGNUP_LIMIT_PER_HOUR="100000",
        TANDEM_REFRESH_LIMIT_PER_MINUTE="100000",
        TANDEM_ORG_CREATE_LIMIT_PER_HOUR="100000",
    )
    if fault_dir is not None:
        env["TANDEM_FAULT_DIR"] = str(fault_dir)
    return env


@asynccontextmanager
async def cluster(
    database_url: str, redis_url: str, data_dir: Path, fault_dir: Path | None = None
) -> AsyncIterator[tuple[Instance, Instance]]:
    """Instances a and b (a started first, so its dispatcher leads), one database, Redis between them.

    Every instance shares the redis prefix of a, so they form one Tandem."""
    a_env = instance_env(database_url, redis_url, data_dir, "a", fault_dir)
    b_env = {
        **instance_env(database_url, redis_url, data_dir, "b", fault_dir),
        "TANDEM_REDIS_PREFIX": a_env["TANDEM_REDIS_PREFIX"],
    }
    a, b = Instance("a", a_env, data_dir), Instance("b", b_env, data_dir)
    try:
        await a.start()
        await b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


def alive(instances: list[Instance], rng: random.Random) -> Instance:
    up = [i for i in instances if i.alive]
    if not up:
        raise RuntimeError("no instance is running")
    return rng.choice(up)


# -- people -------------------------------------------------------------------------------------


@dataclass
class Person:
    id: str
    email: str
    name: str
    access: str


async def signup(instance: Instance, name: str) -> Person:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    async with instance.client() as http:
        r = await http.post(
            "/api/auth/signup",
            json={"email": email, "password": "correct horse battery", "name": name},
        )
        assert r.status_code == 201, r.text
        body = r.json()
    return Person(body["user"]["id"], email, name, body["accessToken"])


async def invite_and_accept(
    instance: Instance, org_id: str, owner: Person, person: Person, role: str
) -> None:
    async with instance.client(owner.access) as http:
        r = await http.post(
            f"/api/orgs/{org_id}/invites", json={"email": person.email, "role": role}
        )
        assert r.status_code == 201, r.text
        token = r.json()["invite"]["token"]
    async with instance.client(person.access) as http:
        r = await http.post(f"/api/invites/{token}/accept")
        assert r.status_code == 200, r.text


async def org_team(instance: Instance, members: int) -> tuple[str, Person, list[Person]]:
    owner = await signup(instance, f"Owner {uuid.uuid4().hex[:4]}")
    async with instance.client(owner.access) as http:
        r = await http.post("/api/orgs", json={"name": "Faults"})
        assert r.status_code == 201, r.text
        org_id = r.json()["organization"]["id"]
    people = []
    for i in range(members):
        person = await signup(instance, f"Member {i} {uuid.uuid4().hex[:4]}")
        await invite_and_accept(instance, org_id, owner, person, "Member")
        people.append(person)
    return org_id, owner, people


async def members_of(instance: Instance, person: Person, org_id: str) -> tuple[dict, int]:
    """GET /api/orgs/{id}/members: the members by id (the fields events carry) and the cursor."""
    async with instance.client(person.access) as http:
        r = await http.get(f"/api/orgs/{org_id}/members")
        assert r.status_code == 200, r.text
        body = r.json()
    table = {m["userId"]: {k: m.get(k) for k in MEMBER_FIELDS} for m in body["members"]}
    return table, int(body["cursor"])


async def logged_events(
    instance: Instance, person: Person, room: str, after: int
) -> list[dict[str, Any]]:
    """Every envelope the durable log holds for `room` past `after`, paging through GET /api/events."""
    out: list[dict[str, Any]] = []
    async with instance.client(person.access) as http:
        while True:
            r = await http.get("/api/events", params={"room": room, "after": after})
            assert r.status_code == 200, r.text
            page = r.json()["events"]
            if not page:
                return out
            out.extend(page)
            after = page[-1]["seq"]


# -- writers ------------------------------------------------------------------------------------


@dataclass
class Writes:
    """What writers asked for: acknowledged (200), refused, and cut by the fault (outcome unknown)."""

    acked: Counter[str] = field(default_factory=Counter)
    cut: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    acked_names: set[str] = field(default_factory=set)
    cut_names: set[str] = field(default_factory=set)
    acked_joins: set[str] = field(default_factory=set)
    cut_joins: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(self.acked.values())


async def write_until(
    stop: asyncio.Event,
    instances: list[Instance],
    org_id: str,
    owner: Person,
    members: list[Person],
    joiners: list[Person],
    writes: Writes,
    rng: random.Random,
    pause: float = 0.02,
) -> None:
    """Role changes, renames and joins, through whichever instance is up, until `stop` is set."""
    n = 0
    while not stop.is_set():
        n += 1
        kind = rng.choice(["role", "role", "rename", "rename", "join"])
        if kind == "join" and not joiners:
            kind = "rename"
        try:
            instance = alive(instances, rng)
        except RuntimeError:
            await asyncio.sleep(0.05)
            continue
        try:
            if kind == "role":
                target = rng.choice(members)
                role = rng.choice(["Admin", "Member", "Guest"])
                async with instance.client(owner.access) as http:
                    r = await http.patch(
                        f"/api/orgs/{org_id}/members/{target.id}", json={"role": role}
                    )
            elif kind == "rename":
                person = rng.choice(members)
                name = f"{person.id[-6:]} r{n} {uuid.uuid4().hex[:6]}"
                async with instance.client(person.access) as http:
                    r = await http.patch("/api/me", json={"name": name})
                if r.status_code == 200:
                    writes.acked_names.add(name)
                elif r.status_code >= 500:
                    writes.cut_names.add(name)
            else:
                person = joiners.pop()
                try:
                    await invite_and_accept(instance, org_id, owner, person, "Member")
                except (AssertionError, httpx.HTTPError):
                    writes.cut_joins.add(person.id)
                    raise
                members.append(person)
                writes.acked_joins.add(person.id)
                writes.acked[kind] += 1
                continue
        except (httpx.HTTPError, AssertionError):
            writes.cut[kind] += 1
            if kind == "rename":
                writes.cut_names.add(name)
            await asyncio.sleep(0.05)
            continue
        if r.status_code == 200:
            writes.acked[kind] += 1
        elif r.status_code >= 500:
            writes.cut[kind] += 1
        else:
            writes.refused[kind] += 1
        await asyncio.sleep(pause)


# -- subscribers --------------------------------------------------------------------------------


class Subscriber:
    """A socket client that keeps a room's members the way the SDK does.

    It starts from GET /members (the table and its cursor), subscribes with `after`, applies every
    durable event once by seq, and when its socket drops it reconnects to any running instance and
    subscribes again with `after` = the last seq it applied.
    """

    def __init__(
        self,
        person: Person,
        org_id: str,
        instances: list[Instance],
        first: int,
        members: dict,
        cursor: int,
    ) -> None:
        self.person = person
        self.room = f"org:{org_id}"
        self.instances = instances
        self.at = first
        self.members = {k: dict(v) for k, v in members.items()}
        self.last_seq = cursor
        self.applied: list[dict[str, Any]] = []
        self.received = 0
        self.duplicates = 0  # copies of a seq already applied (dropped, as the SDK drops them)
        self.out_of_order = 0  # a new seq below one already applied: a gap filled late
        self.resyncs = 0
        self.connects = 0
        self.stopping = False
        self.connected = asyncio.Event()
        self.instance: Instance | None = None
        self._task: asyncio.Task[None] | None = None
        self._seen: set[int] = set()

    def on_event(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        if data.get("event") == "resync.required":
            self.resyncs += 1
            return
        if data.get("room") != self.room or "seq" not in data:
            return
        self.received += 1
        seq = data["seq"]
        if seq in self._seen:
            self.duplicates += 1
            return
        if seq < self.last_seq:
            self.out_of_order += 1
        self._seen.add(seq)
        self.last_seq = max(self.last_seq, seq)
        self.applied.append(data)
        member = data.get("data", {}).get("member")
        if data["event"] in ("org.member.joined", "org.member.updated") and member:
            self.members[member["userId"]] = {k: member.get(k) for k in MEMBER_FIELDS}
        elif data["event"] in ("org.member.left", "org.member.removed"):
            self.members.pop(data["data"]["userId"], None)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.connected.wait(), 15)

    async def _run(self) -> None:
        while not self.stopping:
            instance = self.instances[self.at % len(self.instances)]
            if not instance.alive:
                self.at += 1
                await asyncio.sleep(0.05)
                continue
            sio = socketio.AsyncClient(reconnection=False)
            gone = asyncio.Event()
            sio.on("*", lambda event, data=None: self.on_event(data))
            sio.on("disconnect", lambda *args, gone=gone: gone.set())
            try:
                async with instance.client(self.person.access) as http:
                    r = await http.post("/api/auth/socket-token")
                    r.raise_for_status()
                    token = r.json()["token"]
                await sio.connect(
                    instance.url, auth={"token": token}, transports=["websocket"], wait_timeout=5
                )
                ack = await sio.call(
                    "subscribe", {"room": self.room, "after": self.last_seq}, timeout=10
                )
                assert ack["ok"], ack
                self.connects += 1
                self.instance = instance
                self.connected.set()
                while not self.stopping and not gone.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(gone.wait(), 0.2)
            except Exception:
                self.at += 1  # try the next instance
                await asyncio.sleep(0.1)
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await sio.disconnect()

    async def close(self) -> None:
        self.stopping = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)


@dataclass
class Figures:
    scenario: str
    changes: int = 0
    cut: int = 0
    cut_committed: int = 0
    logged: int = 0
    subscribers: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated_raw: int = 0
    duplicated_after_dedupe: int = 0
    out_of_order: int = 0
    phantom: int = 0
    resyncs: int = 0
    state_mismatches: int = 0
    reconnects: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        extra = "".join(f", {k} {v}" for k, v in self.extra.items())
        return (
            f"  {self.scenario}: {self.changes} changes acknowledged ({self.cut} cut by the fault, "
            f"{self.cut_committed} of them committed), {self.logged} events logged, "
            f"{self.subscribers} subscribers, {self.delivered} events delivered, lost {self.lost}, "
            f"duplicated {self.duplicated_after_dedupe} after dedupe ({self.duplicated_raw} "
            f"copies dropped by seq), out of order {self.out_of_order}, phantom {self.phantom}, "
            f"resyncs {self.resyncs}, state mismatches {self.state_mismatches}, "
            f"reconnects {self.reconnects}{extra}, {self.seconds:.1f} s"
        )


async def converge(
    subscribers: list[Subscriber], instance: Instance, reader: Person, room: str, after: int
) -> list[dict[str, Any]]:
    """Wait (bounded) until every subscriber applied the log's last event of the room; returns the log."""
    log = await logged_events(instance, reader, room, after)
    last = log[-1]["seq"] if log else after
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if all(s.last_seq >= last and s.connected.is_set() for s in subscribers):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # room for a late duplicate to show up; it would be counted
    return log


async def judge(
    figures: Figures,
    subscribers: list[Subscriber],
    instance: Instance,
    reader: Person,
    org_id: str,
    after: int,
    writes: Writes,
) -> None:
    """Compare every subscriber with the database and fill in the figures."""
    room = f"org:{org_id}"
    log = await converge(subscribers, instance, reader, room, after)
    for attempt in range(5):  # a client retries a 5xx; each one is counted
        try:
            truth, _ = await members_of(instance, reader, org_id)
            break
        except AssertionError:
            figures.extra["GET /members 5xx at the end"] = attempt + 1
            await asyncio.sleep(0.2)
    else:
        raise AssertionError("GET /members kept failing")
    log_seqs = [e["seq"] for e in log]
    logged_names = {e["data"]["member"]["name"] for e in log if e["event"] == "org.member.updated"}
    logged_joins = {e["data"]["member"]["userId"] for e in log if e["event"] == "org.member.joined"}
    figures.changes = writes.total
    figures.cut = sum(writes.cut.values())
    figures.cut_committed = len(writes.cut_names & logged_names) + len(
        writes.cut_joins & logged_joins
    )
    figures.extra["acked renames missing from the log"] = len(writes.acked_names - logged_names)
    figures.extra["acked joins missing from the log"] = len(writes.acked_joins - logged_joins)
    figures.logged = len(log)
    figures.subscribers = len(subscribers)
    by_seq = {e["seq"]: e for e in log}
    for s in subscribers:
        got = [e["seq"] for e in s.applied]
        figures.delivered += len(got)
        missing = set(log_seqs) - set(got)
        figures.lost += len(missing)
        if missing and s.instance is not None:
            where = f"lost at clients of {s.instance.name}"
            figures.extra[where] = figures.extra.get(where, 0) + len(missing)
            first = f"first seq lost at {s.instance.name} (of {log_seqs[0]}..{log_seqs[-1]})"
            figures.extra[first] = min(missing)
        figures.phantom += len(set(got) - set(log_seqs))
        figures.duplicated_after_dedupe += len(got) - len(set(got))
        figures.duplicated_raw += s.duplicates
        figures.out_of_order += s.out_of_order + sum(
            1 for x, y in itertools.pairwise(got) if y <= x
        )
        figures.resyncs += s.resyncs
        figures.reconnects += s.connects - 1
        figures.state_mismatches += s.members != truth
        figures.state_mismatches += sum(
            1 for e in s.applied if e["seq"] in by_seq and by_seq[e["seq"]] != e
        )


# -- the serving process ------------------------------------------------------------------------


def _install_stall(fault_dir: Path) -> None:
    from tandem.realtime import dispatcher

    original = dispatcher.Dispatcher._publish_batch
    instance_id = os.environ.get("TANDEM_INSTANCE_ID", "?")

    async def publish_batch(self: Any, batch: list[Any]) -> None:
        seqs = sorted({seq for _row, seq, envelopes in batch if envelopes})
        if seqs:
            try:
                os.rename(fault_dir / "arm", fault_dir / f"claimed-{instance_id}")
            except FileNotFoundError:
                pass
            else:
                # The batch is in the log and not published: stay here until killed.
                (fault_dir / "stalled.tmp").write_text(f"{instance_id} {' '.join(map(str, seqs))}")
                os.rename(fault_dir / "stalled.tmp", fault_dir / "stalled")
                await asyncio.Event().wait()
        await original(self, batch)

    dispatcher.Dispatcher._publish_batch = publish_batch  # type: ignore[method-assign]


def main() -> int:
    from argon2 import PasswordHasher

    from tandem import cli
    from tandem.auth import service as auth_service

    auth_service.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    fault_dir = os.environ.get("TANDEM_FAULT_DIR")
    if fault_dir:
        _install_stall(Path(fault_dir))
    return cli.main(["serve", "--host", "127.0.0.1", *sys.argv[2:]])


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    sys.exit(main())
