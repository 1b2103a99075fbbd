"""bench/loadgen/run.js's product workload, run twice on one bench server (as bench/run.py runs
product-10 and then product-1000 on one server start).

A PATCH to the role a member already has answers 200 and emits nothing. The first run leaves
some targets on the other role; the load generator must start each target from the role it
has now, or the second run's first PATCH to those targets is a no-op and one event per such
target never comes (which showed as runs of 8-15 changes/s and 20-35 s "latencies" in the
product-1000 figures)."""

from __future__ import annotations

import asyncio
import importlib
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.harness import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


async def run_product(info: dict, workdir: Path, tag: str, **extra: object) -> dict:
    """One product workload with small parameters; answers every mark at once."""
    cfg = {**extra,
        "workload": "product", "url": info["url"], "tokens": info["tokens"], "room": info["room"],
        "size": 350, "event": "org.member.updated", "api": info["api"],
        "clients": 3, "rate": 20, "seconds": 0.5, "concurrency": 4, "warmupSeconds": 0.5,
    }  # fmt: skip
    return (await run_loadgen(cfg, workdir, tag))[0]


async def run_loadgen(cfg: dict, workdir: Path, tag: str) -> tuple[dict, list[str]]:
    """The load generator with this config; answers every mark at once. Returns its result and marks."""
    marks: list[str] = []
    cfg_file = workdir / f"loadgen-{tag}.json"
    cfg_file.write_text(json.dumps(cfg))
    proc = await asyncio.create_subprocess_exec(
        "node", str(BENCH / "loadgen" / "run.js"), str(cfg_file),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=BENCH,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    result = None
    while line := await asyncio.wait_for(proc.stdout.readline(), 120):
        msg = json.loads(line)
        if "mark" in msg:
            marks.append(msg["mark"])
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        elif "error" in msg:
            raise AssertionError(f"load generator: {msg['error']}")
        elif "result" in msg:
            result = msg["result"]
    await proc.wait()
    assert result is not None, f"load generator exited with {proc.returncode} and no result"
    return result, marks


def set_role(info: dict, user_id: str, role: str) -> None:
    api = info["api"]
    request = urllib.request.Request(
        f"{api['base']}/api/orgs/{api['orgId']}/members/{user_id}", method="PATCH",
        data=json.dumps({"role": role}).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {api['token']}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def need_node() -> None:
    if shutil.which("node") is None or not (BENCH / "node_modules" / "socket.io-client").is_dir():
        pytest.skip("node and bench/node_modules (npm ci in bench/) are needed")


@asynccontextmanager
async def bench_server(tmp_path: Path) -> AsyncIterator[dict]:
    """bench/tandem_server.py on a free port with 24 people; yields what it wrote for the load generator."""
    port = free_port()
    info_file, log = tmp_path / "info.json", tmp_path / "server.log"
    with open(log, "wb") as err:
        server = await asyncio.create_subprocess_exec(
            sys.executable, str(BENCH / "tandem_server.py"),
            "--port", str(port), "--users", "24", "--info", str(info_file),
            stdout=asyncio.subprocess.PIPE, stderr=err,
        )  # fmt: skip
    try:
        await wait_ready(server, log)
        yield json.loads(info_file.read_text())
    finally:
        if server.returncode is None:
            server.terminate()
            await asyncio.wait_for(server.wait(), 30)


def bench_module(name: str) -> Any:
    """A module of bench/ (its modules import each other by name, as `python bench/run.py` runs them)."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


async def test_the_api_floor_measures_each_request_between_its_own_marks(tmp_path: Path) -> None:
    """The api-floor workload: each path answered 200 throughout, and a path that fails fails the workload
    (a 4xx costs the server less than the request it stands for: it would pass for a lower floor)."""
    need_node()
    workloads = bench_module("workloads")
    async with bench_server(tmp_path) as info:
        cfg = {"workload": "floor", "url": info["url"], "tokens": info["tokens"], "room": info["room"],
               "api": info["api"], "paths": workloads.FLOOR_PATHS, "seconds": 0.3, "concurrency": 4,
               "warmupSeconds": 0.1}  # fmt: skip
        result, marks = await run_loadgen(cfg, tmp_path, "floor")
        assert result["errors"] == 0
        assert marks == [
            f"{when}:{name}" for name in workloads.FLOOR_PATHS for when in ("before", "after")
        ]
        for name, path in workloads.FLOOR_PATHS.items():
            assert result["paths"][name]["path"] == path
            assert result["paths"][name]["requests"] > 0

        bad, _ = await run_loadgen({**cfg, "paths": {"gone": "/api/_bench/gone"}}, tmp_path, "bad")
        assert bad["errors"] >= bad["paths"]["gone"]["requests"] > 0  # the warm-up's fail too
    reading = {"t": 0.0, "cpu": 0.0, "machine_cpu": 0.0}
    raw = {
        "result": bad,
        "marks": {"before:gone": reading, "after:gone": {**reading, "t": 1.0, "cpu": 0.5}},
    }
    with pytest.raises(RuntimeError, match="requests failed"):
        workloads.figures(workloads.Workload("api-floor", "floor", {}), raw)


async def test_a_second_product_run_on_the_same_server_gets_every_event(tmp_path: Path) -> None:
    need_node()
    async with bench_server(tmp_path) as info:
        targets = len(info["api"]["targets"])

        first = await run_product(info, tmp_path, "first")
        assert first["targetRolesAtStart"] == {"Member": targets}  # as seeded
        assert first["errors"] == 0

        # Whatever the first run left, at least one target is on the role the load generator
        # used to assume it would not be.
        await asyncio.to_thread(set_role, info, info["api"]["targets"][0], "Admin")

        # The second run also profiles the load generator over its measured window (run.py --profile).
        profile = tmp_path / "loadgen.cpuprofile"
        second = await run_product(info, tmp_path, "second", cpuProfile=str(profile))
        assert second["targetRolesAtStart"].get("Admin", 0) >= 1
        assert sum(second["targetRolesAtStart"].values()) == targets
        for result in (first, second):
            clients, throughput, at_rate = result["clients"], result["throughput"], result["atRate"]
            assert result["errors"] == 0
            assert result["warmupUndelivered"] == 0
            assert throughput["undelivered"] == 0
            assert throughput["deliveries"] == throughput["changes"] * clients
            assert at_rate["sent"] > 0
            assert at_rate["expected"] == at_rate["deliveries"] == at_rate["sent"] * clients
            # One first delivery per change, never later than the change's last one.
            assert at_rate["firstLatencyMs"]["n"] == at_rate["sent"]
            assert at_rate["firstLatencyMs"]["p50"] <= at_rate["latencyMs"]["max"]
        summary = bench_module("profiles").summarize_loadgen_profile(profile).splitlines()
        assert summary[0].startswith("load generator, ") and len(summary) > 1


def test_the_next_workload_waits_for_the_server_to_go_quiet() -> None:
    """settle(): past a server still busy with the last workload's aftermath, not past an idle one."""
    sampling = bench_module("sampling")
    busy = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass\ntime.sleep(30)",
        ]
    )
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        t0 = time.monotonic()
        sampling.settle(busy.pid, at_least=0.1, window=0.2)
        waited_busy = time.monotonic() - t0
        t0 = time.monotonic()
        sampling.settle(idle.pid, at_least=0.1, window=0.2)
        waited_idle = time.monotonic() - t0
    finally:
        busy.kill()
        idle.kill()
    assert waited_busy >= 1.2, f"settled after {waited_busy:.2f} s while the server was still busy"
    assert waited_idle < 1.0, f"waited {waited_idle:.2f} s for a server that was already idle"


def test_the_table_says_when_the_load_generator_was_busy_throughout_the_fixed_rate_window() -> None:
    """checks(): a product workload's p99 at its fixed rate is flagged when the load generator's core was
    saturated in that window (its own queueing is then in the figure), and not when it kept up."""
    workloads, report = bench_module("workloads"), bench_module("report")

    def product_run(workload: str, at_rate_cpu: float) -> dict:
        result = {
            "errors": 0,
            "throughput": {"changes": 400, "changesPerSec": 100.0, "deliveries": 400_000, "deliveriesPerSec": 1e5,
                           "loadgen": {"cpuPct": 97.0, "wallMs": 4000}},
            "atRate": {"rate": 50, "sent": 200, "deliveries": 200_000, "expected": 200_000,
                       "latencyMs": {"p50": 30.0, "p99": 90.0}, "firstLatencyMs": {"p99": 38.0},
                       "loadgen": {"cpuPct": at_rate_cpu, "wallMs": 4000}},
        }  # fmt: skip
        marks = {"before": {"t": 0.0, "cpu": 0.0, "rss_kb": 1, "machine_cpu": 0.0},
                 "after": {"t": 4.0, "cpu": 3.0, "rss_kb": 1, "machine_cpu": 7.0}}  # fmt: skip
        workload = next(w for w in workloads.workloads(quick=False) if w.name == workload)
        figures = workloads.figures(workload, {"result": result, "marks": marks})
        return {"server": "tandem", "workload": workload.name, "figures": figures}

    busy = report.checks({}, [product_run("product-1000", 98.0), product_run("product-10", 30.0)])
    flagged = [n for n in busy if "at the fixed rate" in n]
    assert len(flagged) == 1 and flagged[0].startswith("product-1000: ")
    assert "98% of its core (19.6 µs per delivery" in flagged[0] and "(38.0 ms)" in flagged[0]
    assert not [
        n
        for n in report.checks({}, [product_run("product-1000", 45.0)])
        if "at the fixed rate" in n
    ]
