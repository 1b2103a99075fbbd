"""bench/run.py's page workloads (Tandem only): the board's burst test (kanban_burst.py), its
moves per server core with viewers watching (kanban_moves.py), and messages with 1,000 people
(chat_load.py) at the rate the goal names and at one this machine's core holds. Each runs once
per bench run, as a script of its own with a server of its own, on the cores run.py gives the
server and the load generator; a run whose boards did not converge, or whose messages did not
all reach all their recipients once, fails the bench."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from servers import BENCH

# Each workload's script and arguments: the PRD's burst (20 clients, 50 changes/s, 30 s) and the
# issue's "moves per second on one core with 50 viewers"; --quick runs them tiny, for no figures.
FULL = {
    "kanban-burst": ["kanban_burst.py"],
    "kanban-moves": ["kanban_moves.py"],
    "chat-60": ["chat_load.py", "--rate", "60"],
    "chat-200": ["chat_load.py", "--rate", "200"],
}
QUICK = {
    "kanban-burst": ["kanban_burst.py", "--clients", "3", "--rate", "20", "--seconds", "2"],
    "kanban-moves": ["kanban_moves.py", "--viewers", "5", "--seconds", "1", "--warmup", "0.5"],
    "chat-20": [
        "chat_load.py", "--clients", "12", "--conversations", "4", "--group-size", "5",
        "--rate", "20", "--seconds", "2",
    ],
}  # fmt: skip
# A hung run prints its stacks (faulthandler) before the runner gives up on it.
DEADLINE_S = 600


def kanban_workloads(quick: bool) -> dict[str, list[str]]:
    return dict(QUICK if quick else FULL)


def run_kanban(chosen: dict[str, list[str]], args: argparse.Namespace, workdir: Path) -> list[dict]:
    """Run each chosen Kanban workload; one result per workload, with `error` when it failed."""
    runs: list[dict[str, Any]] = []
    for name, (script, *rest) in chosen.items():
        print(f"bench: {name:<13} tandem    ", end="", flush=True)
        out = workdir / f"{name}.json"
        cmd = [
            sys.executable, str(BENCH / script), *rest,
            "--server-cpus", args.server_cpus, "--client-cpus", args.loadgen_cpus,
            "--json", str(out), "--deadline", str(DEADLINE_S), "--nice", str(args.nice),
        ]  # fmt: skip
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=DEADLINE_S + 60, cwd=BENCH.parent
            )
        except subprocess.TimeoutExpired as err:
            runs.append({"workload": name, "error": f"no answer after {err.timeout:.0f} s"})
            print(f"FAILED: {runs[-1]['error']}", flush=True)
            continue
        result = json.loads(out.read_text()) if out.exists() else None
        if proc.returncode != 0 or result is None or not result.get("ok"):
            print(proc.stderr[-3000:], file=sys.stderr, flush=True)
            error = f"{script} exited with {proc.returncode}"
            if proc.stdout:
                error += ":\n" + proc.stdout
            runs.append({"workload": name, "error": error, "result": result})
            print(f"FAILED: {error}", flush=True)
        else:
            print("done", flush=True)
            runs.append({"workload": name, "result": result, "summary": proc.stdout})
    return runs
