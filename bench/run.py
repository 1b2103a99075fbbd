"""Tandem's benchmark: Tandem's Socket.IO gateway against Node's socket.io, side by side.

    uv run python bench/run.py                 # the full run (make bench)
    uv run python bench/run.py --quick         # a few-second smoke run, no timing claims
    uv run python bench/run.py --rounds 5 --workloads fanout-100,latency

Each workload runs on a fresh server, Tandem and the reference alternately (A B A B ...).
The server is pinned to one core and the Node load generator to the other (taskset); the
server's CPU time comes from /proc/<pid>/stat and its memory from /proc/<pid>/status.
Medians over the rounds go into one table with the ratio Tandem/reference; the raw
results go to bench/results/. See bench/README.md for what each figure means, and
bench/goals.py for the goals. The modules beside this one: servers.py, sampling.py,
workloads.py, rounds.py, profiles.py, report.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kanban_workloads import kanban_workloads, run_kanban
from reconnect_storm import ON_REQUEST, storm_workloads
from report import checks, header, machine, medians_of, pinning_notes, table
from rounds import run_group, server_groups
from servers import BENCH, ReferenceServer, Server, TandemServer
from workloads import Workload, workloads

RESULTS = BENCH / "results"


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
    rounds = args.rounds or (1 if args.quick else 3)
    chosen = workloads(args.quick)
    kanban = kanban_workloads(args.quick)  # Tandem only, each with a server of its own
    # The reconnect storms: each a script restarting servers of its own, both servers in turn.
    storms = storm_workloads(args.quick, args.servers)
    if args.workloads:
        wanted = set(args.workloads.split(","))
        unknown = wanted - {w.name for w in chosen} - set(kanban) - set(storms)
        if unknown:
            sys.exit(f"unknown workloads: {', '.join(sorted(unknown))}")
        chosen = [w for w in chosen if w.name in wanted]
        kanban = {name: cmd for name, cmd in kanban.items() if name in wanted}
        storms = {name: cmd for name, cmd in storms.items() if name in wanted}
    else:
        storms = {name: cmd for name, cmd in storms.items() if name not in ON_REQUEST}
    if "tandem" not in args.servers.split(","):
        kanban = {}

    ensure_node_modules()
    biggest = max(
        [0]
        + [w.params.get("connections", 0) for w in chosen]
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
    try:
        return run(args, chosen, rounds, users, workdir, kanban, storms)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(
    args: argparse.Namespace,
    chosen: list[Workload],
    rounds: int,
    users: int,
    workdir: Path,
    kanban: dict[str, list[str]],
    storms: dict[str, list[str]],
) -> int:
    # The servers' Redis keys and channels (with --workers > 1) carry this run's prefix: parallel
    # runs on one Redis do not see each other's, and each server deletes its own when it stops.
    os.environ["TANDEM_REDIS_PREFIX"] = f"tandem-bench-{os.getpid()}-{secrets.token_hex(3)}"
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
                        run_group(
                            s,
                            todo,
                            rnd,
                            rounds,
                            args.loadgen_cpus,
                            workdir,
                            profile_dir,
                            args.quick,
                        )
                    )

    kanban_runs = run_kanban(kanban, args, workdir)
    storm_runs = run_kanban(storms, args, workdir)
    medians = medians_of(runs, [s.label for s in servers], [w.name for w in chosen])

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
        "kanban": kanban_runs,
        "storms": storm_runs,
    }
    out = Path(args.out) if args.out else RESULTS / time.strftime("bench-%Y%m%d-%H%M%S.json")
    out.write_text(json.dumps(report, indent=1))

    print()
    print(header(info, rounds, args))
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
    for k in kanban_runs + storm_runs:  # each workload's own lines, after the table
        print(
            k["summary"] if "summary" in k else f"{k['workload']}: FAILED: {k['error']}\n", end=""
        )
    failed = [r for r in runs + kanban_runs + storm_runs if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
