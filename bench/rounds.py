"""A round: which workloads share one server start, and one server's run of them, with a quiet
server between two workloads."""

from __future__ import annotations

import json
import time
from pathlib import Path

from profiles import summarize_loadgen_profile, summarize_profile
from sampling import settle
from servers import Server
from workloads import Workload, measure


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
    """Start `s` once and run the group's workloads on it in turn; one result per workload."""
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
                out = measure(w, running, loadgen_cpus, workdir, prof, nice=s.nice)
                runs.append({"server": s.label, "workload": w.name, "round": rnd, **out})
                shown = {k: round(v, 2) for k, v in out["figures"].items() if isinstance(v, float)}
                print(json.dumps(shown), flush=True)
                if prof is not None and prof.exists():
                    print(summarize_profile(prof), flush=True)
                if prof is not None and prof.with_suffix(".loadgen.cpuprofile").exists():
                    print(
                        summarize_loadgen_profile(prof.with_suffix(".loadgen.cpuprofile")),
                        flush=True,
                    )
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
