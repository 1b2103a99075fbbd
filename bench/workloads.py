"""The workloads: what each one asks of the load generator (bench/loadgen/run.js), running it
against a started server with a reading at each mark, and the figures each run yields."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import node_loadgen
from profiles import Profiler
from sampling import reading
from servers import Running, ServerFailed

ENVELOPE_BYTES = 350


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
        # Each product workload's fixed-rate window runs at half its goal's rate (bench/goals.py).
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


def run_loadgen(
    config: dict,
    server: Running,
    cpus: str,
    settle: float = 0.0,
    profiler: Profiler | None = None,
    nice: int = 0,
) -> dict:
    """Run one workload; take a server reading at each mark the load generator prints."""
    marks: dict[str, dict] = {}

    def on_mark(msg: dict) -> str:
        if msg["mark"] == "after" and settle:
            time.sleep(settle)
        if msg["mark"] == "after" and profiler:
            profiler.stop()
        marks[msg["mark"]] = {**reading(server.pid), **msg}
        if msg["mark"] == "before" and profiler:
            profiler.start(server.pid)
        return "go"

    result = node_loadgen.play(config, on_mark, cpus=cpus, nice=nice)
    if server.proc.poll() is not None:
        raise ServerFailed(f"server died during the run; see {server.log}")
    return {"result": result, "marks": marks}


def measure(
    w: Workload,
    server: Running,
    loadgen_cpus: str,
    workdir: Path,
    profile: Path | None = None,
    nice: int = 0,
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
        raw = run_loadgen(cfg, server, loadgen_cpus, profiler=profiler, nice=nice)
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
            raise RuntimeError(
                f"api-floor: {r['errors']} requests failed (see the load generator's stderr)"
            )
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
