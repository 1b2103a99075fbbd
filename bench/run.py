"""Tandem's benchmark: Tandem's Socket.IO gateway against Node's socket.io, side by side.

    uv run python bench/run.py                 # the full run (make bench)
    uv run python bench/run.py --quick         # a few-second smoke run, no timing claims
    uv run python bench/run.py --rounds 5 --workloads fanout-100,latency

Each workload runs on a fresh server, Tandem and the reference alternately (A B A B ...).
The server is pinned to one core and the Node load generator to the other (taskset); the
server's CPU time comes from /proc/<pid>/stat and its memory from /proc/<pid>/status.
Medians over the rounds go into one table with the ratio Tandem/reference; the raw
results go to bench/results/. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
ENVELOPE_BYTES = 350


# ---------------------------------------------------------------- workloads


@dataclass(frozen=True)
class Workload:
    name: str
    kind: str  # idle | fanout | latency | product | floor
    params: dict
    tandem_only: bool = False


def workloads(quick: bool) -> list[Workload]:
    if quick:
        return [
            Workload("idle-200", "idle", {"connections": 200}),
            Workload("fanout-100", "fanout", {"clients": 100, "count": 50}),
            Workload("latency", "latency", {"clients": 20, "rate": 50, "seconds": 0.5}),
            Workload(
                "product-10",
                "product",
                {"clients": 10, "rate": 50, "seconds": 0.5, "concurrency": 8},
                tandem_only=True,
            ),
            Workload("api-floor", "floor", {"seconds": 0.3, "concurrency": 8}, tandem_only=True),
        ]
    return [
        Workload("idle-1k", "idle", {"connections": 1_000}),
        Workload("idle-5k", "idle", {"connections": 5_000}),
        Workload("idle-10k", "idle", {"connections": 10_000}),
        Workload("fanout-100", "fanout", {"clients": 100, "count": 1_500}),
        Workload("fanout-1000", "fanout", {"clients": 1_000, "count": 150}),
        # 100 clients x 100 broadcasts/s = 10,000 deliveries/s: both servers sustain it. 30 s: a late
        # broadcast is late at all its 100 recipients, so the p99 of 5 s (500 broadcasts) was in effect
        # the 5th-latest broadcast, and swung 0.7-1.3x between rounds; and each server's heartbeat
        # falls inside the window (Tandem pings every 10 s, Node's socket.io every 25 s: a 15 s window
        # held Tandem's pings and their pongs but never Node's).
        Workload("latency", "latency", {"clients": 100, "rate": 100, "seconds": 30}),
        # Goals: >= 1,000 changes/s to a room of 10 and >= 100/s to a room of 1,000;
        # p99 < 100 ms at half those rates.
        Workload(
            "product-10",
            "product",
            {"clients": 10, "rate": 500, "seconds": 4, "concurrency": 32},
            tandem_only=True,
        ),
        Workload(
            "product-1000",
            "product",
            {"clients": 1_000, "rate": 50, "seconds": 4, "concurrency": 16},
            tandem_only=True,
        ),
        # What a request costs before any change: the floor under the product path's rate.
        Workload("api-floor", "floor", {"seconds": 3, "concurrency": 32}, tandem_only=True),
    ]


# The api-floor workload's requests, cheapest first (bench/tandem_server.py's bench-only routes,
# then a real read): a FastAPI route with no dependencies; + the signed-in caller (the token and
# one query, as every API request pays); GET /api/me (the caller and one more query).
FLOOR_PATHS = {"bare": "/api/_bench/none", "caller": "/api/_bench/caller", "me": "/api/me"}


# ---------------------------------------------------------------- process readings


def proc_tree(pid: int) -> list[int]:
    """The pid and all its descendants (a Node cluster or uvicorn workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process tree, in seconds."""
    total = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def settle(pid: int, *, at_least: float = 1.5, window: float = 0.5, quiet: float = 0.05,
           at_most: float = 30.0) -> None:
    """Wait for the server to finish the last workload's aftermath before the next one measures it:
    closing its sockets, and on Tandem their presence going offline after the 1 s grace. At least
    `at_least` s, then until a `window` in which it used under `quiet` of a core (at most `at_most`
    s). A fixed half second was not enough on a slow day: the api-floor's first path, measured
    right after product-1000, cost 2-4 CPU-ms a request against 0.4 on a server of its own."""
    start = time.monotonic()
    time.sleep(at_least)
    while time.monotonic() - start < at_most:
        before = cpu_seconds(pid)
        time.sleep(window)
        if (cpu_seconds(pid) - before) / window < quiet:
            return


def rss_kb(pid: int) -> int:
    total = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def machine_busy_seconds() -> float:
    """CPU-seconds spent by everything on the machine (all cores) so far."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLK_TCK


def reading(pid: int) -> dict:
    return {
        "t": time.monotonic(),
        "cpu": cpu_seconds(pid),
        "rss_kb": rss_kb(pid),
        "machine_cpu": machine_busy_seconds(),
    }


# ---------------------------------------------------------------- servers


NICE = 0  # set from --nice


def nice_prefix(level: int) -> list[str]:
    return ["nice", "-n", str(level)] if level else []


class ServerFailed(RuntimeError):
    pass


@dataclass
class Running:
    proc: subprocess.Popen
    info: dict
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_ready(proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    buf = b""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerFailed(f"server exited with {proc.returncode}; see {log}")
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            chunk = b""
        if chunk:
            buf += chunk
            if b"READY" in buf:
                return
        time.sleep(0.02)
    proc.kill()
    raise ServerFailed(f"server not ready after {timeout:.0f}s; see {log}")


@dataclass
class Server:
    label: str
    port: int
    cpus: str
    workdir: Path
    users: int = 0
    workers: int = 1
    extra_args: list[str] = field(default_factory=list)
    nice: int = 0

    def command(self, info_file: Path) -> list[str]:
        raise NotImplementedError

    def info(self, info_file: Path) -> dict:
        raise NotImplementedError

    def available(self) -> str | None:
        """None when this server can run, else the reason it cannot."""
        return None

    def start(self, tag: str) -> Running:
        info_file = self.workdir / f"{self.label}-{tag}.json"
        log = self.workdir / f"{self.label}-{tag}.log"
        cmd = [*nice_prefix(self.nice), "taskset", "-c", self.cpus, *self.command(info_file)]
        with open(log, "w") as err:
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=BENCH.parent,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        try:
            wait_ready(proc, log, timeout=120)
            info = self.info(info_file)
        except Exception:
            if proc.poll() is None:
                proc.kill()
            raise
        time.sleep(0.3)  # let start-up work (imports, JIT, GC) settle before readings
        return Running(proc, info, log)


class ReferenceServer(Server):
    def command(self, info_file: Path) -> list[str]:
        return [
            "node",
            str(BENCH / "reference" / "server.js"),
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]

    def info(self, info_file: Path) -> dict:
        return {
            "url": f"http://127.0.0.1:{self.port}",
            "tokens": [f"u_{i}" for i in range(max(self.users, 1))],
            "room": "org:org_bench",
        }


class TandemServer(Server):
    def available(self) -> str | None:
        src = BENCH.parent / "src" / "tandem"
        for part in ("app.py", "realtime/gateway.py"):
            if not (src / part).exists():
                return f"src/tandem/{part} does not exist yet"
        return None

    def command(self, info_file: Path) -> list[str]:
        return [
            sys.executable,
            str(BENCH / "tandem_server.py"),
            "--port",
            str(self.port),
            "--users",
            str(self.users),
            "--workers",
            str(self.workers),
            "--info",
            str(info_file),
            *self.extra_args,
        ]

    def info(self, info_file: Path) -> dict:
        return json.loads(info_file.read_text())


# ---------------------------------------------------------------- load generator


class Profiler:
    """py-spy on the server over the measured window (--profile): collapsed stacks to a file."""

    def __init__(self, out: Path | None, subprocesses: bool = False) -> None:
        self.out = out
        self.subprocesses = subprocesses  # several workers: sample the parent's children too
        self.proc: subprocess.Popen | None = None

    def start(self, pid: int) -> None:
        if self.out is None:
            return
        self.proc = subprocess.Popen(
            [
                "uvx",
                "py-spy",
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--rate",
                "250",
                "--nonblocking",
                *(["--subprocesses"] if self.subprocesses else []),
                "--output",
                str(self.out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # py-spy attaches

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.proc = None


def summarize_profile(path: Path, top: int = 25) -> str:
    """Self and inclusive sample shares of the busiest functions in a collapsed-stack file."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
            if " (" in f
            else f
            for f in stack.split(";")
        ]
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for f in set(frames):
            incl[f] = incl.get(f, 0) + n
    if not total:
        return "(no samples)"
    packages: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            leaf = stack.split(";")[-1]
            where = leaf.split(" (", 1)[1] if " (" in leaf else "?"
            package = where.split("/", 1)[0] if "/" in where else where.split(".py")[0]
            packages[package] = packages.get(package, 0) + int(count)
    by_package = ", ".join(
        f"{p} {100 * n / total:.0f}%" for p, n in sorted(packages.items(), key=lambda x: -x[1])[:10]
    )
    lines = [f"{total} samples; self time by package: {by_package}", "self% / inclusive%:"]
    for f, n in sorted(own.items(), key=lambda x: -x[1])[:top]:
        lines.append(f"  {100 * n / total:5.1f}  {100 * incl[f] / total:5.1f}  {f}")
    return "\n".join(lines)


def summarize_loadgen_profile(path: Path, top: int = 15) -> str:
    """The load generator's V8 profile over the measured window: self time by function and
    package, idle left out (what its core spends per delivery goes to)."""
    profile = json.loads(path.read_text())
    nodes = {n["id"]: n["callFrame"] for n in profile["nodes"]}
    own: dict[str, float] = {}
    for node_id, dt in zip(profile["samples"], profile["timeDeltas"], strict=False):
        frame = nodes[node_id]
        if frame["functionName"] == "(idle)":
            continue
        where = frame["url"].rsplit("node_modules/", 1)[-1] if frame["url"] else ""
        key = f"{frame['functionName'] or '(anonymous)'} ({where}:{frame['lineNumber'] + 1})" if where \
            else frame["functionName"]
        own[key] = own.get(key, 0.0) + dt
    busy = sum(own.values()) or 1.0
    lines = [f"load generator, {busy / 1e6:.2f} s busy in the window; self time:"]
    for key, dt in sorted(own.items(), key=lambda x: -x[1])[:top]:
        lines.append(f"  {100 * dt / busy:5.1f}  {key}")
    return "\n".join(lines)


def run_loadgen(
    config: dict,
    server: Running,
    cpus: str,
    workdir: Path,
    settle: float = 0.0,
    profiler: Profiler | None = None,
) -> dict:
    """Run one workload; take a server reading at each mark the load generator prints."""
    cfg_file = workdir / f"loadgen-{config['workload']}.json"
    cfg_file.write_text(json.dumps(config))
    proc = subprocess.Popen(
        [
            *nice_prefix(NICE),
            "taskset",
            "-c",
            cpus,
            "node",
            str(BENCH / "loadgen" / "run.js"),
            str(cfg_file),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        bufsize=1,
    )
    assert proc.stdin and proc.stdout
    marks: dict[str, dict] = {}
    result = None
    for line in proc.stdout:
        msg = json.loads(line)
        if "mark" in msg:
            if msg["mark"] == "after" and settle:
                time.sleep(settle)
            if msg["mark"] == "after" and profiler:
                profiler.stop()
            marks[msg["mark"]] = {**reading(server.pid), **msg}
            if msg["mark"] == "before" and profiler:
                profiler.start(server.pid)
            proc.stdin.write("go\n")
            proc.stdin.flush()
        elif "result" in msg:
            result = msg["result"]
        elif "error" in msg:
            proc.wait()
            raise RuntimeError(f"load generator: {msg['error']}")
    proc.wait()
    if result is None:
        raise RuntimeError(f"load generator exited with {proc.returncode} and no result")
    if server.proc.poll() is not None:
        raise ServerFailed(f"server died during the run; see {server.log}")
    return {"result": result, "marks": marks}


def measure(
    w: Workload, server: Running, loadgen_cpus: str, workdir: Path, profile: Path | None = None
) -> dict:
    info = server.info
    base = {
        "workload": w.kind,
        "url": info["url"],
        "tokens": info["tokens"],
        "room": info["room"],
        "size": ENVELOPE_BYTES,
    }
    p = w.params
    if w.kind == "idle":
        cfg = {**base, "connections": p["connections"], "concurrency": 100, "settleMs": 500}
    elif w.kind == "fanout":
        cfg = {**base, "clients": p["clients"], "count": p["count"], "timeoutMs": 120_000}
    elif w.kind == "latency":
        cfg = {**base, "clients": p["clients"], "rate": p["rate"], "seconds": p["seconds"]}
        cfg["warmupSeconds"] = min(1.0, p["seconds"])
    elif w.kind == "product":
        cfg = {
            **base,
            "event": "org.member.updated",
            "tokens": info["tokens"],
            "api": info["api"],
            "clients": p["clients"],
            "rate": p["rate"],
            "seconds": p["seconds"],
            "concurrency": p["concurrency"],
            "warmupSeconds": min(1.0, p["seconds"]),
        }
    elif w.kind == "floor":
        cfg = {
            **base,
            "api": info["api"],
            "paths": FLOOR_PATHS,
            "seconds": p["seconds"],
            "concurrency": p["concurrency"],
            "warmupSeconds": min(0.5, p["seconds"]),
        }
    else:
        raise ValueError(w.kind)
    if profile is not None:
        cfg["cpuProfile"] = str(profile.with_suffix(".loadgen.cpuprofile"))
    profiler = Profiler(profile, subprocesses=info.get("workers", 1) > 1)
    try:
        raw = run_loadgen(cfg, server, loadgen_cpus, workdir, profiler=profiler)
    finally:
        profiler.stop()
    return {**raw, "figures": figures(w, raw)}


def other_cpu_pct(before: dict, after: dict, loadgen_cpu_pct: float) -> float:
    """What everything but the server and the load generator used between two marks, in % of a core:
    a sign that another job skewed the window."""
    wall = after["t"] - before["t"]
    if wall <= 0:
        return 0.0
    machine = after["machine_cpu"] - before["machine_cpu"]
    server_cpu = after["cpu"] - before["cpu"]
    return max(0.0, 100 * (machine - server_cpu - loadgen_cpu_pct * wall / 100) / wall)


def figures(w: Workload, raw: dict) -> dict:
    r, m = raw["result"], raw["marks"]
    before, after = m.get("before"), m.get("after")
    out: dict[str, float] = {}
    if before and after:
        wall = after["t"] - before["t"]
        server_cpu = after["cpu"] - before["cpu"]
        out["server_cpu_pct"] = 100 * server_cpu / wall if wall > 0 else 0.0
        loadgen = r.get("loadgen", r.get("throughput", {}).get("loadgen", {}))
        out["other_cpu_pct"] = other_cpu_pct(before, after, loadgen.get("cpuPct", 0))
    if w.kind == "idle":
        n = r["connections"]
        out["kb_per_conn"] = (after["rss_kb"] - before["rss_kb"]) / n
        out["connect_rate"] = r["connectRate"]
        out["loadgen_cpu_pct"] = r["loadgen"]["cpuPct"]
    elif w.kind == "fanout":
        server_cpu = after["cpu"] - before["cpu"]
        out["deliveries_per_s"] = r["deliveriesPerSec"]
        out["deliveries_per_cpu_s"] = r["delivered"] / server_cpu if server_cpu else 0.0
        out["cpu_s_per_m"] = server_cpu / r["delivered"] * 1e6 if r["delivered"] else 0.0
        out["lost"] = r["expected"] - r["delivered"]
        out["out_of_order"] = r["outOfOrder"]
        out["loadgen_cpu_pct"] = r["loadgen"]["cpuPct"]
        out["loadgen_us_per_delivery"] = loadgen_us(r["loadgen"], r["delivered"])
    elif w.kind == "latency":
        lat = r["latencyMs"]
        out.update({"p50_ms": lat["p50"], "p99_ms": lat["p99"], "p999_ms": lat["p999"]})
        out["first_p99_ms"] = r.get("firstLatencyMs", {}).get("p99", float("nan"))
        out["lost"] = r["expected"] - r["delivered"]
        out["out_of_order"] = r["outOfOrder"]
        out["loadgen_cpu_pct"] = r["loadgen"]["cpuPct"]
    elif w.kind == "product":
        tp, at = r["throughput"], r["atRate"]
        out["changes_per_s"] = tp["changesPerSec"]
        # The same window's server CPU: what one fully busy server core would take, when the load
        # generator (which parses every delivery) cannot keep up with the server.
        server_cpu = (after["cpu"] - before["cpu"]) if before and after else 0.0
        out["changes_per_cpu_s"] = tp["changes"] / server_cpu if server_cpu else 0.0
        out["cpu_ms_per_change"] = 1000 * server_cpu / tp["changes"] if tp["changes"] else 0.0
        out["deliveries_per_s"] = tp["deliveriesPerSec"]
        out["p50_ms"] = at["latencyMs"].get("p50", float("nan"))
        out["p99_ms"] = at["latencyMs"].get("p99", float("nan"))
        out["first_p99_ms"] = at.get("firstLatencyMs", {}).get("p99", float("nan"))
        out["lost"] = at["expected"] - at["deliveries"]
        out["errors"] = r["errors"]
        out["loadgen_cpu_pct"] = max(tp["loadgen"]["cpuPct"], at["loadgen"]["cpuPct"])
        out["loadgen_us_per_delivery"] = loadgen_us(tp["loadgen"], tp["deliveries"])
        # The fixed-rate window apart: its p50/p99 are only the server's if the load generator kept up.
        out["at_rate_loadgen_cpu_pct"] = at["loadgen"]["cpuPct"]
        out["at_rate_loadgen_us_per_delivery"] = loadgen_us(at["loadgen"], at["deliveries"])
    elif w.kind == "floor":
        if r["errors"]:  # a failed request costs less than a served one: no floor at all
            raise RuntimeError(f"api-floor: {r['errors']} requests failed (see the load generator's stderr)")
        # Each path between its own marks; the server's CPU over that window.
        loads = []
        for name, got in r["paths"].items():
            b, a = m[f"before:{name}"], m[f"after:{name}"]
            cpu = a["cpu"] - b["cpu"]
            out[f"{name}_per_s"] = got["requestsPerSec"]
            out[f"{name}_per_cpu_s"] = got["requests"] / cpu if cpu else 0.0
            out[f"{name}_cpu_ms"] = 1000 * cpu / got["requests"] if got["requests"] else 0.0
            loads.append((got["loadgen"]["cpuPct"], other_cpu_pct(b, a, got["loadgen"]["cpuPct"])))
        out["errors"] = r["errors"]
        out["loadgen_cpu_pct"] = max(x for x, _ in loads)
        out["other_cpu_pct"] = max(y for _, y in loads)
    return out


def loadgen_us(load: dict, deliveries: int) -> float:
    """The load generator's CPU per delivery it parsed (µs), over a measured window."""
    cpu_s = load.get("cpuPct", 0) / 100 * load.get("wallMs", 0) / 1000
    return 1e6 * cpu_s / deliveries if deliveries else 0.0


# ---------------------------------------------------------------- the table

# (workload, figure key, label, unit, goal): goal is "<=" or ">=" on the ratio, or an
# absolute bound for Tandem-only rows.
ROWS: list[tuple[str, str, str, str | None]] = [
    ("idle-200", "kb_per_conn", "idle 200: memory per connection (KB)", "ratio<=1"),
    ("idle-200", "connect_rate", "idle 200: connect rate (conn/s)", None),
    ("idle-1k", "kb_per_conn", "idle 1k: memory per connection (KB)", "ratio<=1"),
    ("idle-1k", "connect_rate", "idle 1k: connect rate (conn/s)", None),
    ("idle-5k", "kb_per_conn", "idle 5k: memory per connection (KB)", "ratio<=1"),
    ("idle-5k", "connect_rate", "idle 5k: connect rate (conn/s)", None),
    ("idle-10k", "kb_per_conn", "idle 10k: memory per connection (KB)", "ratio<=1"),
    ("idle-10k", "connect_rate", "idle 10k: connect rate (conn/s)", None),
    ("fanout-100", "deliveries_per_s", "fan-out 100: deliveries/s (wall)", None),
    ("fanout-100", "deliveries_per_cpu_s", "fan-out 100: deliveries/s per server core", "ratio>=1"),
    ("fanout-100", "cpu_s_per_m", "fan-out 100: server CPU-s per 1M deliveries", None),
    ("fanout-1000", "deliveries_per_s", "fan-out 1000: deliveries/s (wall)", None),
    (
        "fanout-1000",
        "deliveries_per_cpu_s",
        "fan-out 1000: deliveries/s per server core",
        "ratio>=1",
    ),
    ("fanout-1000", "cpu_s_per_m", "fan-out 1000: server CPU-s per 1M deliveries", None),
    ("latency", "p50_ms", "latency @rate: p50 (ms)", None),
    ("latency", "p99_ms", "latency @rate: p99 (ms)", "ratio<=1"),
    ("latency", "p999_ms", "latency @rate: p99.9 (ms)", None),
    ("latency", "first_p99_ms", "latency @rate: p99 to the first recipient (ms)", None),
    ("product-10", "changes_per_s", "product, room of 10: changes/s", ">=1000"),
    ("product-10", "changes_per_cpu_s", "product, room of 10: changes/s per server core", ">=1000"),
    ("product-10", "cpu_ms_per_change", "product, room of 10: server CPU-ms per change", None),
    ("product-10", "p50_ms", "product, room of 10: p50 at 500/s (ms)", None),
    ("product-10", "p99_ms", "product, room of 10: p99 at 500/s (ms)", "<100"),
    ("product-10", "first_p99_ms", "product, room of 10: p99 to the first subscriber (ms)", None),
    ("product-1000", "changes_per_s", "product, room of 1000: changes/s", ">=100"),
    ("product-1000", "changes_per_cpu_s", "product, room of 1000: changes/s per server core", ">=100"),
    ("product-1000", "cpu_ms_per_change", "product, room of 1000: server CPU-ms per change", None),
    ("product-1000", "deliveries_per_s", "product, room of 1000: deliveries/s", None),
    ("product-1000", "p50_ms", "product, room of 1000: p50 at 50/s (ms)", None),
    ("product-1000", "p99_ms", "product, room of 1000: p99 at 50/s (ms)", "<100"),
    ("product-1000", "first_p99_ms", "product, room of 1000: p99 to the first subscriber (ms)", None),
    ("api-floor", "bare_per_cpu_s", "API floor, FastAPI route: requests/s per server core", None),
    ("api-floor", "caller_per_cpu_s", "API floor, + signed-in caller: requests/s per server core", None),
    ("api-floor", "caller_cpu_ms", "API floor, + signed-in caller: server CPU-ms per request", None),
    ("api-floor", "me_per_cpu_s", "API floor, GET /api/me: requests/s per server core", None),
]

TANDEM_ONLY = ("product", "api-floor")


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and v == v]
    return statistics.median(values) if values else None


def fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def goal_met(goal: str | None, tandem: float | None, ratio: float | None) -> str:
    if goal is None:
        return ""
    if goal.startswith("ratio"):
        if ratio is None:
            return "?"
        op, bound = goal[5:7], float(goal[7:])
        return "yes" if (ratio <= bound if op == "<=" else ratio >= bound) else "NO"
    if tandem is None:
        return "?"
    if goal.startswith(">="):
        return "yes" if tandem >= float(goal[2:]) else "NO"
    if goal.startswith("<"):
        return "yes" if tandem < float(goal[1:]) else "NO"
    return ""


def table(medians: dict, names: set[str], quick: bool) -> str:
    head = ("figure", "Tandem", "reference", "Tandem/ref", "goal", "met")
    rows = []
    for wname, key, label, goal in ROWS:
        if wname not in names:
            continue
        t = medians.get("tandem", {}).get(wname, {}).get(key)
        r = medians.get("reference", {}).get(wname, {}).get(key)
        ratio = t / r if t is not None and r else None
        rows.append(
            (
                label,
                fmt(t),
                fmt(r) if not wname.startswith(TANDEM_ONLY) else "—",
                f"{ratio:.2f}" if ratio is not None else "—",
                (goal or "").replace("ratio", "ratio "),
                "" if quick else goal_met(goal, t, ratio),
            )
        )
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    lines = []
    for i, row in enumerate([head, *rows]):
        cells = [
            str(c).ljust(widths[0]) if j == 0 else str(c).rjust(widths[j])
            for j, c in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def checks(medians: dict, runs: list[dict]) -> list[str]:
    """Say whether the load generator or another job may have limited a figure."""
    notes = []
    lg = [
        (run["server"], run["workload"], run["figures"].get("loadgen_cpu_pct", 0))
        for run in runs
        if "figures" in run
    ]
    worst = max(lg, key=lambda x: x[2], default=None)
    if worst:
        verdict = (
            "it was not the bottleneck"
            if worst[2] < 85
            else "it was NEAR SATURATION: the figures of that workload are a lower bound"
        )
        notes.append(
            f"load generator: busiest at {worst[2]:.0f}% of its core "
            f"({worst[1]}, {worst[0]}); {verdict}."
        )
    # Where the load generator's one core caps a wall-clock figure: what it spends per delivery
    # (socket.io-client parsing every frame) and the rate that allows, against the server's own.
    for name in ("fanout-100", "fanout-1000", "product-10", "product-1000"):
        tandem = [r["figures"] for r in runs if r.get("workload") == name and r.get("server") == "tandem"
                  and "figures" in r]
        if not tandem or statistics.median(f.get("loadgen_cpu_pct", 0) for f in tandem) < 85:
            continue
        us = statistics.median(f.get("loadgen_us_per_delivery", 0) for f in tandem)
        if not us:
            continue
        ceiling = 1e6 / us
        per = 1000 if name == "product-1000" else 10 if name == "product-10" else 1
        what = f"{ceiling / per:,.0f} changes/s" if per > 1 else f"{ceiling:,.0f} deliveries/s"
        notes.append(
            f"{name}: the load generator spent {us:.1f} µs of its core per delivery, so it takes at most "
            f"~{what} on the wall clock; the per-server-core figure is what the server itself can do."
        )
    # The product path's latency at its fixed rate is measured by the same load generator core: where that
    # core was busy throughout, each delivery also waited for the ones before it there.
    for name in ("product-10", "product-1000"):
        tandem = [r["figures"] for r in runs if r.get("workload") == name and r.get("server") == "tandem"
                  and "figures" in r and "at_rate_loadgen_cpu_pct" in r["figures"]]
        if not tandem:
            continue
        busy = statistics.median(f["at_rate_loadgen_cpu_pct"] for f in tandem)
        if busy < 85:
            continue
        us = statistics.median(f["at_rate_loadgen_us_per_delivery"] for f in tandem)
        first = statistics.median(f.get("first_p99_ms", float("nan")) for f in tandem)
        notes.append(
            f"{name}: at the fixed rate the load generator was busy {busy:.0f}% of its core ({us:.1f} µs per "
            f"delivery), so the p50/p99 at that rate include its own queueing and overstate the server's share; "
            f"the p99 to the first subscriber ({first:.1f} ms) is closer to it."
        )
    # The product path's rate against what any signed-in request costs on the same server.
    floor = medians.get("tandem", {}).get("api-floor", {})
    change = medians.get("tandem", {}).get("product-10", {}).get("cpu_ms_per_change")
    if floor.get("caller_cpu_ms"):
        notes.append(
            f"api-floor: a signed-in request that changes nothing costs the server {floor['caller_cpu_ms']:.2f} "
            f"CPU-ms ({floor['caller_per_cpu_s']:,.0f}/s per core), a bare FastAPI route "
            f"{1000 / floor['bare_per_cpu_s']:.2f} CPU-ms"
            + (f"; a change to a room of 10 costs {change:.2f} CPU-ms (its transaction, outbox, dispatch and "
               f"fan-out on top)" if change else "")
            + "."
        )
    other = [run["figures"].get("other_cpu_pct", 0) for run in runs if "figures" in run]
    if other:
        notes.append(
            f"other processes on the machine during measured windows: median "
            f"{statistics.median(other):.0f}%, max {max(other):.0f}% of one core"
            + (
                " (a busy machine: wall-clock figures are noisy; per-CPU-second ones less so)"
                if max(other) > 20
                else ""
            )
            + "."
        )
    bad = [
        f"{run['server']} {run['workload']}: lost {run['figures'].get('lost')}, "
        f"out of order {run['figures'].get('out_of_order', 0)}"
        for run in runs
        if "figures" in run
        and (run["figures"].get("lost", 0) or run["figures"].get("out_of_order", 0))
    ]
    if bad:
        notes.append("deliveries missing or out of order: " + "; ".join(bad))
    return notes


def cpu_list(spec: str) -> set[int]:
    """taskset's list syntax: "0", "0,1", "0-3"."""
    cpus: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def pinning_notes(args: argparse.Namespace) -> list[str]:
    notes = []
    if args.workers > 1:
        notes.append(
            f"{args.workers} worker processes per server sharing the port: Tandem as uvicorn "
            "workers on PostgreSQL with the Redis manager, the reference as a node:cluster with "
            "@socket.io/redis-adapter; every broadcast goes through Redis to each worker."
        )
    shared = cpu_list(args.server_cpus) & cpu_list(args.loadgen_cpus)
    if shared:
        notes.append(
            f"server and load generator SHARE core(s) {','.join(map(str, sorted(shared)))}: "
            "they compete for CPU, so wall-clock rates and latencies include that contention; "
            "the per-server-CPU-second figures (deliveries per server core, CPU-s per 1M) are "
            "the comparable ones."
        )
    return notes


# ---------------------------------------------------------------- main


def server_groups(chosen: list[Workload], quick: bool) -> list[list[Workload]]:
    """Workloads that share one server start. An idle workload gets a fresh server, so the
    memory it measures is not memory an earlier workload freed and the allocator kept; so
    does the latency workload, whose tail would otherwise include the previous workload's
    aftermath (a thousand sockets closing, and on Tandem their presence going offline after
    the grace period: p99 7.1 ms after fan-out 1000 against 3.9 ms on a fresh server). The
    others share one, since Tandem's start-up (imports, migrations, seeding) takes seconds.
    --quick starts each server once."""
    if quick:
        return [chosen]
    alone = [[w] for w in chosen if w.kind in ("idle", "latency")]
    rest = [w for w in chosen if w.kind not in ("idle", "latency")]
    return alone + ([rest] if rest else [])


def run_group(
    s: Server,
    group: list[Workload],
    rnd: int,
    rounds: int,
    loadgen_cpus: str,
    workdir: Path,
    profile_dir: Path | None = None,
    quick: bool = False,
) -> list[dict]:
    runs = []
    running = None
    try:
        try:
            running = s.start(f"{group[0].name}-r{rnd}")
        except (RuntimeError, OSError) as err:
            print(f"bench: {s.label} did not start: {err}", flush=True)
            return [
                {"server": s.label, "workload": w.name, "round": rnd, "error": str(err)}
                for w in group
            ]
        for w in group:
            print(f"bench: round {rnd + 1}/{rounds} {w.name:<13} {s.label:<9}", end=" ", flush=True)
            try:
                prof = None
                if profile_dir is not None and s.label == "tandem":
                    prof = profile_dir / f"{s.label}-{w.name}-r{rnd}.txt"
                out = measure(w, running, loadgen_cpus, workdir, prof)
                runs.append({"server": s.label, "workload": w.name, "round": rnd, **out})
                shown = {k: round(v, 2) for k, v in out["figures"].items() if isinstance(v, float)}
                print(json.dumps(shown), flush=True)
                if prof is not None and prof.exists():
                    print(summarize_profile(prof), flush=True)
                if prof is not None and prof.with_suffix(".loadgen.cpuprofile").exists():
                    print(summarize_loadgen_profile(prof.with_suffix(".loadgen.cpuprofile")), flush=True)
            except (RuntimeError, OSError) as err:
                runs.append(
                    {"server": s.label, "workload": w.name, "round": rnd, "error": str(err)}
                )
                print(f"FAILED: {err}", flush=True)
                if running.proc.poll() is not None:
                    break
            if quick:  # a smoke run measures nothing: no need to wait for a quiet server
                time.sleep(0.2)
            else:
                settle(running.pid)
    finally:
        if running:
            running.stop()
    return runs


def machine() -> dict:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    versions = {}
    for pkg in ("python-socketio", "python-engineio", "uvicorn", "uvloop", "orjson", "granian"):
        try:
            from importlib.metadata import version

            versions[pkg] = version(pkg)
        except Exception:
            pass
    npm = {}
    for pkg in ("socket.io", "socket.io-client"):
        try:
            npm[pkg] = json.loads((BENCH / "node_modules" / pkg / "package.json").read_text())[
                "version"
            ]
        except OSError:
            pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        # The interpreter the Tandem server runs on (sys.executable: its build matters, see the Makefile).
        "python_executable": os.path.realpath(sys.executable),
        "node": node,
        "python_packages": versions,
        "npm_packages": npm,
    }


def ensure_node_modules() -> None:
    if (BENCH / "node_modules" / "socket.io-client").exists():
        return
    if shutil.which("npm") is None:
        sys.exit("bench: node and npm are needed (Node 20+)")
    print("bench: installing the reference server and load generator (npm ci) ...", flush=True)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(BENCH)], check=True)


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, needed)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a few-second smoke run")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default 3; 1 with --quick)")
    p.add_argument("--workloads", default=None, help="comma-separated names (default: all)")
    p.add_argument("--servers", default="tandem,reference", help="tandem,reference")
    p.add_argument("--server-cpus", default="0", help="cores for the server (taskset -c)")
    p.add_argument("--loadgen-cpus", default="1", help="cores for the load generator")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port, Redis between them when > 1 (Tandem: uvicorn "
        "workers on PostgreSQL; reference: node:cluster + @socket.io/redis-adapter)",
    )
    p.add_argument("--tandem-arg", action="append", default=[], help="extra tandem_server.py arg")
    p.add_argument("--port", type=int, default=None, help="the servers' port (default: a free one)")
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the Tandem server over each measured window (bench/results/profile-*)",
    )
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run server and load generator at this nice level (e.g. -10 on a busy machine)",
    )
    p.add_argument("--out", default=None, help="JSON file for the raw results")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    global NICE
    NICE = args.nice
    rounds = args.rounds or (1 if args.quick else 3)
    chosen = workloads(args.quick)
    if args.workloads:
        wanted = set(args.workloads.split(","))
        unknown = wanted - {w.name for w in chosen}
        if unknown:
            sys.exit(f"unknown workloads: {', '.join(sorted(unknown))}")
        chosen = [w for w in chosen if w.name in wanted]

    ensure_node_modules()
    biggest = max(
        [w.params.get("connections", 0) for w in chosen]
        + [w.params.get("clients", 0) for w in chosen]
    )
    raise_fd_limit(biggest + 2_000)
    users = max([w.params.get("clients", 0) for w in chosen if w.kind == "product"] + [20]) + (
        200 if not args.quick else 20
    )

    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.port is None:  # a free port, so a run never trips over another one on this machine
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            args.port = probe.getsockname()[1]
    workdir = Path(tempfile.mkdtemp(prefix="tandem-bench-"))
    servers: list[Server] = []
    for label in args.servers.split(","):
        cls = {"tandem": TandemServer, "reference": ReferenceServer}[label]
        servers.append(
            cls(
                label,
                args.port,
                args.server_cpus,
                workdir,
                users=users,
                workers=args.workers,
                extra_args=args.tandem_arg if label == "tandem" else [],
                nice=args.nice,
            )
        )
    skipped = {s.label: s.available() for s in servers if s.available()}
    for label, why in skipped.items():
        print(f"bench: skipping {label}: {why}", flush=True)
    servers = [s for s in servers if s.label not in skipped]

    profile_dir = None
    if args.profile:
        profile_dir = RESULTS / time.strftime("profile-%Y%m%d-%H%M%S")
        profile_dir.mkdir(parents=True)
    started = time.time()
    runs: list[dict] = []
    for rnd in range(rounds):
        for group in server_groups(chosen, args.quick):
            for s in servers:
                todo = [w for w in group if not (w.tandem_only and s.label != "tandem")]
                if todo:
                    runs.extend(
                        run_group(s, todo, rnd, rounds, args.loadgen_cpus, workdir, profile_dir, args.quick)
                    )

    medians: dict = {}
    for s in servers:
        for w in chosen:
            rs = [
                r["figures"]
                for r in runs
                if r["server"] == s.label and r["workload"] == w.name and "figures" in r
            ]
            if rs:
                keys = rs[0].keys()
                medians.setdefault(s.label, {})[w.name] = {
                    k: median([r.get(k) for r in rs]) for k in keys
                }

    info = machine()
    report = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "argv": sys.argv[1:],
        "rounds": rounds,
        "quick": args.quick,
        "machine": info,
        "pinning": {
            "server": args.server_cpus,
            "loadgen": args.loadgen_cpus,
            "workers": args.workers,
        },
        "skipped": skipped,
        "medians": medians,
        "runs": runs,
    }
    out = Path(args.out) if args.out else RESULTS / time.strftime("bench-%Y%m%d-%H%M%S.json")
    out.write_text(json.dumps(report, indent=1))
    shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(
        f"Tandem vs Node socket.io {info['npm_packages'].get('socket.io', '?')} — medians of "
        f"{rounds} round(s); {args.workers} server process(es) on core(s) {args.server_cpus}, "
        f"load generator on core(s) {args.loadgen_cpus}; {info['cpu']}, {info['cores']} cores, "
        f"{info['memory_gib']} GiB; Tandem on CPython {info['python']} ({info['python_executable']}), "
        f"Node {info['node']}"
    )
    print(table(medians, {w.name for w in chosen}, args.quick))
    for note in pinning_notes(args):
        print("note: " + note)
    for note in checks(medians, runs):
        print("note: " + note)
    if args.quick:
        print("note: --quick is a smoke run; its figures are not measurements.")
    print(
        f"raw results: {out.relative_to(BENCH.parent) if out.is_relative_to(BENCH.parent) else out}"
    )
    failed = [r for r in runs if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
