"""What a run prints: the machine, the table of medians with each goal's verdict, and the
notes that say when the load generator, another job or the pinning may have limited a figure."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

from goals import LOADGEN_SATURATED_PCT, MACHINE_BUSY_PCT, ROWS, TANDEM_ONLY, goal_met
from servers import BENCH


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else None


def medians_of(runs: list[dict], servers: list[str], workloads: list[str]) -> dict:
    """{server: {workload: {figure: median over the rounds}}}, for the runs that yielded figures."""
    medians: dict = {}
    for server in servers:
        for name in workloads:
            rs = [
                r["figures"]
                for r in runs
                if r["server"] == server and r["workload"] == name and "figures" in r
            ]
            if rs:
                medians.setdefault(server, {})[name] = {
                    k: median([r.get(k) for r in rs]) for k in rs[0]
                }
    return medians


def fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


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
            if worst[2] < LOADGEN_SATURATED_PCT
            else "it was NEAR SATURATION: the figures of that workload are a lower bound"
        )
        notes.append(
            f"load generator: busiest at {worst[2]:.0f}% of its core "
            f"({worst[1]}, {worst[0]}); {verdict}."
        )
    # Where the load generator's one core caps a wall-clock figure: what it spends per delivery
    # (socket.io-client parsing every frame) and the rate that allows, against the server's own.
    for name in ("fanout-100", "fanout-1000", "product-10", "product-1000"):
        tandem = [
            r["figures"]
            for r in runs
            if r.get("workload") == name and r.get("server") == "tandem" and "figures" in r
        ]
        if (
            not tandem
            or statistics.median(f.get("loadgen_cpu_pct", 0) for f in tandem)
            < LOADGEN_SATURATED_PCT
        ):
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
        tandem = [
            r["figures"]
            for r in runs
            if r.get("workload") == name
            and r.get("server") == "tandem"
            and "figures" in r
            and "at_rate_loadgen_cpu_pct" in r["figures"]
        ]
        if not tandem:
            continue
        busy = statistics.median(f["at_rate_loadgen_cpu_pct"] for f in tandem)
        if busy < LOADGEN_SATURATED_PCT:
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
            + (
                f"; a change to a room of 10 costs {change:.2f} CPU-ms (its transaction, outbox, dispatch and "
                f"fan-out on top)"
                if change
                else ""
            )
            + "."
        )
    other = [run["figures"].get("other_cpu_pct", 0) for run in runs if "figures" in run]
    if other:
        notes.append(
            f"other processes on the machine during measured windows: median "
            f"{statistics.median(other):.0f}%, max {max(other):.0f}% of one core"
            + (
                " (a busy machine: wall-clock figures are noisy; per-CPU-second ones less so)"
                if max(other) > MACHINE_BUSY_PCT
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


def machine() -> dict:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu
            )
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    node = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    versions = {}
    for pkg in ("python-socketio", "python-engineio", "uvicorn", "uvloop", "orjson", "granian"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
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


def header(info: dict, rounds: int, args: argparse.Namespace) -> str:
    """The line above the table: what ran against what, where, on which interpreters."""
    return (
        f"Tandem vs Node socket.io {info['npm_packages'].get('socket.io', '?')} — medians of "
        f"{rounds} round(s); {args.workers} server process(es) on core(s) {args.server_cpus}, "
        f"load generator on core(s) {args.loadgen_cpus}; {info['cpu']}, {info['cores']} cores, "
        f"{info['memory_gib']} GiB; Tandem on CPython {info['python']} ({info['python_executable']}), "
        f"Node {info['node']}"
    )
