"""The reconnect storm: a deploy restarts the server under N connected clients, and every client
must come back live with every durable event it missed, exactly once.

Tandem: `tandem serve` (the real command, pinned to `--server-cpus`) on a file database that
outlives the restart (SQLite in a temporary directory, or with `--database-url` a PostgreSQL schema
of the run's own, dropped at exit), seeded directly: organizations of `--org-size` people (plus
an Owner and one member whose role the writer changes) with `--projects-per-org` projects each,
one login and one socket token per person. The clients are the Node load generator's (official
socket.io-client with the web SDK's reconnect settings, bench/loadgen/run.js `storm`, on
`--client-cpus`): each holds one socket subscribed to its org room and one project room, and on
every reconnect subscribes again with `after` = the last seq it saw in each (as the SDK does).

The deploy, as modelled: a writer makes changes through REST at `--rate` a second, round-robin over
the rooms (a project's description, a member's role); after `--before` seconds the server gets
SIGTERM and, once it has exited, is started again on the same database (no migration step: the
schema is current). While it is down the writer's requests fail; they wait in a queue and are sent
again as soon as the new server answers, with one more change to every room (what people did
during the deploy, as the SDK's offline queue sends it), and the writer goes on at its rate for
`--after` seconds. Clients reconnect on their own schedule (0.5 s backoff doubling to 5 s, +-50 %),
so most of them miss some of those events and get them by replay. A connect the server refuses
(past the handshakes it checks at once) is tried again as the SDK does. The per-address subscribe
limit is off: every client connects from 127.0.0.1.

Measured: from the new server's readiness (and from the SIGTERM) until every client is subscribed
again and holds every event of its rooms' durable log, checked seq by seq (nothing missing, nothing
twice); failed connects, clients that gave up, `resync.required` received; the new server's peak
RSS (VmHWM) and its CPU from readiness to convergence per reconnect (token check, handshake, the
user room, presence, two subscribes with their replay, and the writer's few requests).

The reference: Node's socket.io (bench/reference/server.js --recovery: connection state recovery
on) under the same clients and the same restart, with `bench.emit` as its writer. Its recovery
keeps the missed packets in the process's memory, so after a restart every client comes back with
`recovered: false` and whatever was emitted while it was away is gone: the run reports the
reference's reconnect time and the events its clients lost, not a replay it cannot make.

    uv run python bench/reconnect_storm.py --clients 5000
    uv run python bench/reconnect_storm.py --clients 1000 --servers tandem \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import faulthandler
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import node_loadgen
from goals import STORM_GOAL_CLIENTS as GOAL_CLIENTS
from goals import STORM_GOAL_SECONDS as GOAL_SECONDS
from kanban_board import free_port, prioritize
from profiles import Profiler, summarize_profile
from sampling import cpu_seconds, machine_busy_seconds
from servers import BENCH, kill_group, nice_prefix, wait_ready

PR_SET_PDEATHSIG = 1


# bench/run.py runs these only when named (--workloads storm-10000): minutes on a 2-core machine.
ON_REQUEST = {"storm-10000"}


def storm_workloads(quick: bool, servers: str) -> dict[str, list[str]]:
    """bench/run.py's storm workloads: this script with each size (tiny with --quick), given time
    to converge in proportion."""
    if quick:
        tiny = ["--clients", "50", "--org-size", "10", "--before", "1", "--after", "0.5"]
        return {"storm-50": ["reconnect_storm.py", *tiny, "--servers", servers]}
    return {
        f"storm-{n}": [
            "reconnect_storm.py", "--clients", str(n), "--servers", servers,
            "--timeout", str(max(120, n // 20)),
        ]
        for n in (1_000, 5_000, 10_000)
    }  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--clients", type=int, default=1_000, help="connected clients (one person each)")
    p.add_argument("--org-size", type=int, default=100, help="clients per organization")
    p.add_argument("--projects-per-org", type=int, default=5, help="projects per organization")
    p.add_argument("--rate", type=float, default=20, help="the writer's changes a second")
    p.add_argument("--before", type=float, default=3, help="seconds of writes before the SIGTERM")
    p.add_argument("--after", type=float, default=1, help="seconds of writes after the restart")
    p.add_argument("--timeout", type=float, default=120, help="give up converging after this")
    p.add_argument("--servers", default="tandem,reference", help="tandem,reference")
    p.add_argument("--database-url", default="", help="PostgreSQL for Tandem; default: SQLite")
    p.add_argument("--server-cpus", default="0", help="cores for the server (taskset -c)")
    p.add_argument("--client-cpus", "--loadgen-cpus", default="1", help="the load generator's")
    p.add_argument("--nice", type=int, default=0, help="as kanban_burst.py's")
    p.add_argument("--deadline", type=float, default=0, help="print every stack and exit after")
    p.add_argument("--json", default="", help="write the figures here")
    p.add_argument(
        "--profile",
        default="",
        help="py-spy the new Tandem server from its readiness to convergence into this file "
        "(collapsed stacks) and print the busiest functions",
    )
    return p.parse_args(argv)


def mono_ms() -> float:
    return time.monotonic_ns() / 1e6  # CLOCK_MONOTONIC, as the load generator reads it


def peak_rss_kb(pid: int) -> int:
    """VmHWM: the most the process held resident since it started."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def runqueue_wait_s(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (/proc/<pid>/schedstat):
    on a shared machine, what other jobs took from it."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return total / 1e9


def die_with_parent() -> None:
    """In the server's process before exec: SIGTERM it when this script ends, however it ends."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def answers(port: int, path: str) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


# -- Tandem: the database, its people, the server ---------------------------------------------


def tandem_env(data_dir: Path, url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(
        TANDEM_DATA_DIR=str(data_dir),
        TANDEM_DATABASE_URL=url,
        TANDEM_SECRET_KEY=secrets.token_urlsafe(32),
        TANDEM_HOST="127.0.0.1",
        TANDEM_PORT=str(port),
        TANDEM_SERVE_WEB="false",
        # The run's tokens are issued once, before it: they must outlast it.
        TANDEM_SOCKET_TOKEN_SECONDS="7200",
        TANDEM_ACCESS_TOKEN_MINUTES="120",
        # Every client connects from 127.0.0.1: the per-address subscribe limit would count them all
        # as one office (connects from loopback are not counted anyway).
        TANDEM_SOCKET_SUBSCRIBE_IP_BURST="0",
        PYTHONUNBUFFERED="1",
    )
    return env


def tandem_command() -> list[str]:
    script = Path(sys.executable).parent / "tandem"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from tandem.cli import main; sys.exit(main())"]


async def seed(url: str, secret: str, args: argparse.Namespace) -> dict[str, Any]:
    """Organizations of `org_size` clients, each with an Owner (the writer) and one more member
    (whose role the writer changes), and `projects_per_org` projects; every person with a login;
    the clients' socket tokens and the Owners' access tokens."""
    from argon2 import PasswordHasher

    import tandem.models  # noqa: F401  every mapper, for the ORM
    from tandem.auth.models import LoginSession, User
    from tandem.auth.tokens import ACCESS, REFRESH, SOCKET, Tokens
    from tandem.db import Database
    from tandem.kit.clock import utcnow
    from tandem.kit.ids import new_id, new_token
    from tandem.orgs.models import Membership, Organization
    from tandem.projects.models import Project

    tokens = Tokens(secret, access_minutes=120, refresh_days=30, socket_seconds=7200)
    password_hash = PasswordHasher().hash("bench-password")
    db = Database(url)
    clients: list[dict[str, Any]] = []
    writes: list[dict[str, str]] = []
    rooms: list[str] = []
    n = 0
    try:
        for first in range(0, args.clients, args.org_size):
            size = min(args.org_size, args.clients - first)
            org = Organization(id=new_id("org"), name=f"Storm {first // args.org_size}")
            people = []
            for _ in range(size + 2):
                n += 1
                people.append(
                    User(
                        id=new_id("u"),
                        email=f"storm{n}@example.com",
                        name=f"Storm {n}",
                        password_hash=password_hash,
                    )
                )
            logins = [
                LoginSession(
                    id=new_token(18),
                    user_id=u.id,
                    refresh_generation=0,
                    expires_at=utcnow() + tokens.lifetimes[REFRESH],
                )
                for u in people
            ]
            owner, target, members = people[0], people[1], people[2:]
            projects = [
                Project(id=new_id("p"), org_id=org.id, name=f"Project {k}", created_by=owner.id)
                for k in range(args.projects_per_org)
            ]
            async with db.unit_of_work() as session:
                session.add(org)
                session.add_all(people)
                await session.flush()
                session.add_all(logins)
                session.add_all(
                    Membership(
                        org_id=org.id,
                        user_id=u.id,
                        role="Owner" if u is owner else "Member",
                        status="active",
                    )
                    for u in people
                )
                session.add_all(projects)
            owner_token = tokens.issue(ACCESS, owner.id, logins[0].id)[0]
            org_room = f"org:{org.id}"
            rooms.append(org_room)
            writes.append(
                {
                    "kind": "member",
                    "path": f"/api/orgs/{org.id}/members/{target.id}",
                    "token": owner_token,
                }
            )
            for p in projects:
                rooms.append(f"project:{p.id}")
                writes.append(
                    {"kind": "project", "path": f"/api/projects/{p.id}", "token": owner_token}
                )
            for k, (u, login) in enumerate(zip(members, logins[2:], strict=True)):
                project = projects[k % len(projects)]
                clients.append(
                    {
                        "token": tokens.issue(SOCKET, u.id, login.id)[0],
                        "rooms": [org_room, f"project:{project.id}"],
                    }
                )
    finally:
        await db.dispose()
    return {"clients": clients, "writes": writes, "rooms": rooms}


async def room_logs(url: str, rooms: list[str], timeout: float = 30) -> dict[str, list[int]]:
    """Every seq of each room's durable log, once the dispatcher has moved every committed event
    there (the outbox is empty)."""
    from sqlalchemy import func, select

    from tandem.db import Database
    from tandem.realtime.models import EventRecord, OutboxEntry

    db = Database(url)
    try:
        give_up = time.monotonic() + timeout
        while True:
            async with db.read() as session:
                left = await session.scalar(select(func.count()).select_from(OutboxEntry))
            if not left or time.monotonic() > give_up:
                break
            await asyncio.sleep(0.05)
        logs: dict[str, list[int]] = {room: [] for room in rooms}
        async with db.read() as session:
            rows = await session.execute(
                select(EventRecord.room, EventRecord.seq)
                .where(EventRecord.room.in_(rooms))
                .order_by(EventRecord.room, EventRecord.seq)
            )
            for room, seq in rows:
                logs[room].append(int(seq))
        return logs
    finally:
        await db.dispose()


class Process:
    """One server process, pinned, in a session of its own; `start` returns once it is ready."""

    def __init__(self, args: argparse.Namespace, workdir: Path, name: str) -> None:
        self.args, self.workdir, self.name = args, workdir, name
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def wait_ready(self, proc: subprocess.Popen, log: Path) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self.starts += 1
        log = self.workdir / f"{self.name}-{self.starts}.log"
        cmd = [
            *nice_prefix(self.args.nice),
            "taskset",
            "-c",
            self.args.server_cpus,
            *self.command(),
        ]
        with open(log, "w") as err:
            self.proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                env=self.env(),
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        if self.args.nice:  # a session of its own is a scheduling group of its own: rank it too
            with contextlib.suppress(OSError):
                Path(f"/proc/{self.proc.pid}/autogroup").write_text(str(self.args.nice))
        try:
            self.wait_ready(self.proc, log)
        except Exception:
            kill_group(self.proc)
            raise

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def terminate(self, timeout: float = 600) -> tuple[float, float]:
        """SIGTERM, as a deploy stops it, and wait for it to exit. Returns the CPU it used and
        the time it waited for a CPU meanwhile (the last readings before it was gone)."""
        assert self.proc is not None
        pid = self.proc.pid
        cpu0, wait0 = cpu_seconds(pid), runqueue_wait_s(pid)
        cpu, wait = cpu0, wait0
        self.proc.send_signal(signal.SIGTERM)
        give_up = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > give_up:
                kill_group(self.proc)
                raise RuntimeError(f"{self.name} did not exit within {timeout:.0f} s of SIGTERM")
            cpu, wait = max(cpu, cpu_seconds(pid)), max(wait, runqueue_wait_s(pid))
            time.sleep(0.05)
        return cpu - cpu0, wait - wait0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(RuntimeError):
                self.terminate(15)


class TandemProcess(Process):
    def __init__(self, args: argparse.Namespace, workdir: Path, env: dict[str, str]) -> None:
        super().__init__(args, workdir, "tandem")
        self._env, self.port = env, int(env["TANDEM_PORT"])

    def command(self) -> list[str]:
        return [*tandem_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]

    def env(self) -> dict[str, str]:
        return self._env

    def wait_ready(self, proc: subprocess.Popen, log: Path) -> None:
        give_up = time.monotonic() + 120
        while not answers(self.port, "/healthz"):
            if proc.poll() is not None:
                raise RuntimeError(f"tandem serve exited with {proc.returncode}; see {log}")
            if time.monotonic() > give_up:
                raise RuntimeError(f"tandem serve not ready after 120 s; see {log}")
            time.sleep(0.01)


class ReferenceProcess(Process):
    def __init__(self, args: argparse.Namespace, workdir: Path, port: int) -> None:
        super().__init__(args, workdir, "reference")
        self.port = port

    def command(self) -> list[str]:
        server = BENCH / "reference" / "server.js"
        return ["node", str(server), "--port", str(self.port), "--recovery"]

    def wait_ready(self, proc: subprocess.Popen, log: Path) -> None:
        wait_ready(proc, log, timeout=60)


# -- one storm ---------------------------------------------------------------------------------


def run_loadgen(
    cfg: dict[str, Any],
    server: Process,
    args: argparse.Namespace,
    logs: Any,
    profiler: Profiler | None = None,
) -> dict[str, Any]:
    """The load generator's storm, with the restart and the readings at its marks."""
    seen: dict[str, Any] = {}
    try:
        result = node_loadgen.play(
            cfg,
            lambda msg: on_mark(msg, server, seen, logs, profiler),
            cpus=args.client_cpus,
            nice=args.nice,
        )
    finally:
        if profiler is not None:
            profiler.stop()
    return {"loadgen": result, **seen}


def on_mark(
    msg: dict[str, Any],
    server: Process,
    seen: dict[str, Any],
    logs: Any,
    profiler: Profiler | None = None,
) -> str:
    name = msg["mark"]
    if name == "live":
        seen["connect_seconds"] = msg["connectSeconds"]
        return "go"
    if name == "restart":
        seen["writer_before"] = msg["writer"]
        seen["old_cpu"] = cpu_seconds(server.pid)
        seen["old_peak_rss_kb"] = peak_rss_kb(server.pid)
        seen["loadavg"] = os.getloadavg()
        sigterm = mono_ms()
        seen["stop_cpu"], seen["stop_cpu_wait"] = server.terminate()
        exited = mono_ms()
        server.start()
        ready = mono_ms()
        seen["start_cpu"] = cpu_seconds(server.pid)
        seen["machine_at_ready"] = machine_busy_seconds()
        seen["wait_at_ready"] = runqueue_wait_s(server.pid)
        if profiler is not None:
            profiler.start(server.pid)
        return json.dumps({"sigterm": sigterm, "exit": exited, "ready": ready})
    if name == "written":
        seen["writer"] = msg["writer"]
        return json.dumps({"expected": logs() if logs else None})
    if name == "converged":
        if profiler is not None:
            profiler.stop()
        seen["storm_cpu"] = cpu_seconds(server.pid) - seen["start_cpu"]
        seen["storm_cpu_wait"] = runqueue_wait_s(server.pid) - seen["wait_at_ready"]
        seen["machine_storm_cpu"] = machine_busy_seconds() - seen["machine_at_ready"]
        seen["peak_rss_kb"] = peak_rss_kb(server.pid)
        seen["loadavg_after"] = os.getloadavg()
        return "go"
    return "go"


def storm_tandem(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from tandem_workers import create_schema

    data_dir = workdir / "tandem-data"
    data_dir.mkdir()
    port = free_port()
    schema = ""
    if args.database_url:
        base, _, query = args.database_url.partition("?")
        named = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("search_path")
        schema = named or f"bench_storm_{os.getpid()}_{secrets.token_hex(3)}"
        url = f"{base}?search_path={schema}"
        asyncio.run(create_schema(base, schema))
    else:
        url = f"sqlite+aiosqlite:///{data_dir / 'tandem.db'}"
    env = tandem_env(data_dir, url, port)
    server = TandemProcess(args, workdir, env)
    try:
        subprocess.run(
            [*tandem_command(), "migrate"], env=env, cwd=workdir, check=True, capture_output=True
        )
        seeded = asyncio.run(seed(url, env["TANDEM_SECRET_KEY"], args))
        server.start()
        cfg = {
            "workload": "storm",
            "server": "tandem",
            "url": f"http://127.0.0.1:{port}",
            "clients": seeded["clients"],
            "writes": seeded["writes"],
            **loadgen_params(args),
        }
        rooms = seeded["rooms"]
        profiler = Profiler(Path(args.profile).resolve()) if args.profile else None
        logs = lambda: asyncio.run(room_logs(url, rooms))  # noqa: E731
        out = run_loadgen(cfg, server, args, logs, profiler)
        out["rooms"] = len(rooms)
        out["database"] = "PostgreSQL" if schema else "SQLite"
        out["server_warnings"] = warnings(workdir / "tandem-2.log")
        return out
    finally:
        server.stop()
        if schema:
            asyncio.run(create_schema(args.database_url.partition("?")[0], schema, drop=True))


def warnings(log: Path) -> dict[str, int]:
    """How many of each warning or error the server logged (its JSON lines), most frequent first."""
    counts: dict[str, int] = {}
    if not log.exists():
        return counts
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical"):
            key = f"{entry['level']}: {entry.get('msg', '')}"[:120]
            counts[key] = counts.get(key, 0) + 1 + int(entry.get("heldBack") or 0)
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def storm_reference(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    port = free_port()
    per_org = args.org_size
    orgs = (args.clients + per_org - 1) // per_org
    rooms = []
    for o in range(orgs):
        rooms.append(f"org:o_{o}")
        rooms.extend(f"project:p_{o}_{k}" for k in range(args.projects_per_org))
    clients = [
        {
            "token": f"u_{i}",
            "rooms": [
                f"org:o_{i // per_org}",
                f"project:p_{i // per_org}_{i % per_org % args.projects_per_org}",
            ],
        }
        for i in range(args.clients)
    ]
    server = ReferenceProcess(args, workdir, port)
    try:
        server.start()
        cfg = {
            "workload": "storm",
            "server": "reference",
            "url": f"http://127.0.0.1:{port}",
            "clients": clients,
            "rooms": rooms,
            **loadgen_params(args),
        }
        out = run_loadgen(cfg, server, args, None)
        out["rooms"] = len(rooms)
        return out
    finally:
        server.stop()


def loadgen_params(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "rate": args.rate,
        "beforeSeconds": args.before,
        "afterSeconds": args.after,
        "timeoutMs": int(args.timeout * 1000),
        "concurrency": 100,
    }


# -- figures and the report --------------------------------------------------------------------


def figures(raw: dict[str, Any]) -> dict[str, Any]:
    r = raw["loadgen"]
    t = r["times"]
    tandem = r["server"] == "tandem"
    last = r["lastConverged"] if tandem else r["lastResubscribed"]

    def since(t0: float | None) -> float | None:
        return (last - t0) / 1000 if last is not None and t0 is not None else None

    reconnects = r["reconnects"]
    wall = (last - t["ready"]) / 1000 if last is not None else None
    machine = raw.get("machine_storm_cpu", 0.0)
    storm_cpu = raw.get("storm_cpu", 0.0)
    return {
        "server": r["server"],
        "clients": r["clients"],
        "rooms": raw["rooms"],
        "database": raw.get("database"),
        "connect_seconds": raw["connect_seconds"],
        "shutdown_s": (t["exit"] - t["sigterm"]) / 1000,
        "stop_cpu_s": raw.get("stop_cpu", 0.0),
        "stop_cpu_wait_s": raw.get("stop_cpu_wait", 0.0),
        "start_s": (t["ready"] - t["exit"]) / 1000,
        "first_connect_s": (r["firstConnect"] - t["ready"]) / 1000 if r["firstConnect"] else None,
        "done_from_ready_s": since(t["ready"]),
        "done_from_first_connect_s": since(r["firstConnect"]),
        "done_from_sigterm_s": since(t["sigterm"]),
        "resubscribed_from_ready_s": (r["lastResubscribed"] - t["ready"]) / 1000
        if r["lastResubscribed"]
        else None,
        "converged_clients": r["converged"],
        "resubscribed_clients": r["resubscribed"],
        "per_client_s": r["convergedSeconds"] if tandem else r["resubscribedSeconds"],
        "reconnects": reconnects,
        "connect_errors": r["connectErrors"],
        "connect_errors_after_ready": r["connectErrorsAfterReady"],
        "refused": r["refused"],
        "connect_error_kinds": r["connectErrorKinds"],
        "server_warnings": raw.get("server_warnings", {}),
        "first_attempt_s": r["firstAttemptSeconds"],
        "attempt_to_done_s": r["attemptToDoneSeconds"],
        "clients_with_connect_errors": r["clientsWithConnectErrors"],
        "subscribe_errors": r["subscribeErrors"],
        "gave_up": r["gaveUp"],
        "missing": r["missing"],
        "extra": r["extra"],
        "duplicates": r["duplicates"],
        "lost": r["lost"],
        "clients_missing_events": r["clientsMissing"],
        "resyncs": r["resyncs"],
        "clients_resynced": r["clientsResynced"],
        "replayed": r["replayed"],
        "recovered": r["recovered"],
        "not_recovered": r["notRecovered"],
        "events_per_client": r["expectedPerClient"],
        "delivered": r["delivered"],
        "writer": raw.get("writer", {}),
        "writer_before": raw.get("writer_before", {}),
        "writer_done_s": (raw["writer"]["doneAt"] - t["ready"]) / 1000
        if raw.get("writer", {}).get("doneAt")
        else None,
        "peak_rss_mb": raw.get("peak_rss_kb", 0) / 1024,
        "old_peak_rss_mb": raw.get("old_peak_rss_kb", 0) / 1024,
        "start_cpu_s": raw.get("start_cpu", 0.0),
        "storm_cpu_s": storm_cpu,
        "storm_cpu_wait_s": raw.get("storm_cpu_wait", 0.0),
        "cpu_ms_per_reconnect": 1000 * storm_cpu / reconnects if reconnects else None,
        "server_cpu_pct": 100 * storm_cpu / wall if wall else None,
        "loadgen_cpu_pct": r["loadgen"]["cpuPct"],
        "other_cpu_pct": max(
            0.0,
            100 * (machine - storm_cpu) / wall - r["loadgen"]["cpuPct"] if wall else 0.0,
        ),
        "loadavg": raw.get("loadavg"),
    }


def verdict(f: dict[str, Any]) -> bool:
    """Tandem: every client back, subscribed and holding every event of its rooms exactly once,
    nobody given up and nobody told to resync. The reference: every client back and subscribed
    (its events are lost by design; that is reported, not failed)."""
    back = f["resubscribed_clients"] == f["clients"] and f["gave_up"] == 0
    if f["server"] != "tandem":
        return back
    exact = f["missing"] == 0 and f["extra"] == 0 and f["duplicates"] == 0
    return back and exact and f["converged_clients"] == f["clients"] and f["resyncs"] == 0


def fmt(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def report(f: dict[str, Any]) -> str:
    name = "Tandem" if f["server"] == "tandem" else "reference (socket.io, recovery on)"
    db = f" on {f['database']}" if f.get("database") else ""
    per = f["per_client_s"] or {}
    w = f["writer"]
    lines = [
        f"storm {f['clients']}: {name}{db}, {f['rooms']} rooms, {f['reconnects']} reconnects "
        f"(load average {', '.join(f'{x:.2f}' for x in f['loadavg'] or [])})",
        f"  restart: SIGTERM -> exit {fmt(f['shutdown_s'])} s (CPU {f['stop_cpu_s']:.2f} s, waited "
        f"{f['stop_cpu_wait_s']:.2f} s for a CPU), start -> ready {fmt(f['start_s'])} s; "
        f"first client back {fmt(f['first_connect_s'])} s after ready",
    ]
    if f["server"] == "tandem":
        lines.append(
            f"  converged (subscribed again, every event of its rooms once): "
            f"{f['converged_clients']} of {f['clients']}; the last {fmt(f['done_from_ready_s'])} s "
            f"after ready ({fmt(f['done_from_first_connect_s'])} s after the first reconnect, "
            f"{fmt(f['done_from_sigterm_s'])} s after the SIGTERM); per client p50 "
            f"{fmt(per.get('p50'))} s, p99 {fmt(per.get('p99'))} s"
        )
        lines.append(
            f"  events: {f['events_per_client']} per client, {f['replayed']} replayed on "
            f"resubscribe; missing {f['missing']}, extra {f['extra']}, twice {f['duplicates']}; "
            f"resync.required {f['resyncs']} ({f['clients_resynced']} clients)"
        )
    else:
        lines.append(
            f"  resubscribed: {f['resubscribed_clients']} of {f['clients']}; the last "
            f"{fmt(f['done_from_ready_s'])} s after ready ({fmt(f['done_from_first_connect_s'])} s "
            f"after the first reconnect, {fmt(f['done_from_sigterm_s'])} s after the SIGTERM); "
            f"per client p50 {fmt(per.get('p50'))} s, p99 {fmt(per.get('p99'))} s"
        )
        lines.append(
            f"  events: recovered {f['recovered']}, not recovered {f['not_recovered']} (its "
            f"recovery lives in the old process's memory); {f['lost']} deliveries lost by "
            f"{f['clients_missing_events']} clients ({f['events_per_client']} emitted to each "
            f"client's rooms, {f['delivered']} delivered)"
        )
    first, share = f["first_attempt_s"] or {}, f["attempt_to_done_s"] or {}
    lines += [
        f"  backoff: each client's first attempt after ready p50 {fmt(first.get('p50'))} s, max "
        f"{fmt(first.get('max'))} s; from that attempt to {'converged' if f['server'] == 'tandem' else 'subscribed'} "
        f"p50 {fmt(share.get('p50'))} s, p99 {fmt(share.get('p99'))} s, max {fmt(share.get('max'))} s",
        f"  connects failed {f['connect_errors']} ({f['clients_with_connect_errors']} clients; "
        f"{f['connect_errors_after_ready']} after ready; {f['refused']} refused by the server), "
        f"subscribes failed "
        f"{f['subscribe_errors']}, gave up {f['gave_up']}",
        "  connect errors: "
        + (", ".join(f"{k} {v}" for k, v in f["connect_error_kinds"].items()) or "none"),
        f"  server: peak RSS {f['peak_rss_mb']:.0f} MB (before the restart {f['old_peak_rss_mb']:.0f}"
        f" MB), CPU {f['storm_cpu_s']:.2f} s from ready to the last client "
        f"({fmt(f['cpu_ms_per_reconnect'])} CPU-ms per reconnect, {fmt(f['server_cpu_pct'], 0)} % "
        f"of its core; it waited {f['storm_cpu_wait_s']:.2f} s for a CPU), "
        f"{f['start_cpu_s']:.2f} s to start",
        f"  writer: {f['writer_before'].get('ok', 0)} changes before the SIGTERM, "
        f"{w.get('ok', 0)} in all; {w.get('failed', 0)} refused or unanswered while down, "
        f"{w.get('resent', 0)} sent again, {w.get('burst', 0)} in the burst at the restart; "
        f"the last answered {fmt(f['writer_done_s'])} s after ready",
        f"  load generator {f['loadgen_cpu_pct']:.0f} % of its core, other processes "
        f"{f['other_cpu_pct']:.0f} % of a core during the storm",
    ]
    if f["server_warnings"]:
        lines.append(
            "  the new server logged: "
            + "; ".join(f"{k} ({v})" for k, v in list(f["server_warnings"].items())[:4])
        )
    if f["server"] == "tandem" and f["clients"] >= GOAL_CLIENTS:
        met = (
            verdict(f)
            and f["done_from_ready_s"] is not None
            and f["done_from_ready_s"] <= GOAL_SECONDS
        )
        lines.append(
            f"  goal: {GOAL_CLIENTS:,} clients converged within {GOAL_SECONDS:g} s, none lost "
            f"or given up: {'met' if met else 'NOT met'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.deadline:
        faulthandler.dump_traceback_later(args.deadline, exit=True)
    prioritize(args.nice)
    from run import ensure_node_modules, raise_fd_limit

    ensure_node_modules()
    raise_fd_limit(args.clients + 2_000)
    results: list[dict[str, Any]] = []
    ok = True
    for label in args.servers.split(","):
        workdir = Path(tempfile.mkdtemp(prefix=f"tandem-storm-{label}-"))
        try:
            run = {"tandem": storm_tandem, "reference": storm_reference}[label]
            f = figures(run(args, workdir))
        except Exception as err:
            print(f"storm {args.clients}: {label} FAILED: {err}", flush=True)
            for log in sorted(workdir.glob("*.log")):
                print(f"--- {log.name}\n{log.read_text()[-3000:]}", file=sys.stderr, flush=True)
            results.append({"server": label, "error": str(err)})
            ok = False
            continue
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        good = verdict(f)
        ok = ok and good
        results.append({**f, "ok": good})
        print(report(f) + ("" if good else "\n  DID NOT CONVERGE"), flush=True)
        if label == "tandem" and args.profile and Path(args.profile).exists():
            print(summarize_profile(Path(args.profile)), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": results, "ok": ok}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
