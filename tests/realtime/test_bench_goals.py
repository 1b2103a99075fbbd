"""bench/goals.py against the workloads the bench runs: every goal is measured, and a verdict
reads the bound it states."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench_module(name: str) -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


def test_every_goal_names_a_workload_of_the_full_run_and_every_workload_has_a_row() -> None:
    goals, workloads = bench_module("goals"), bench_module("workloads")
    full = {w.name for w in workloads.workloads(quick=False)}
    quick = {w.name for w in workloads.workloads(quick=True)}
    with_goal = {name for name, _, _, goal in goals.ROWS if goal}
    assert with_goal <= full | quick
    assert full <= {name for name, *_ in goals.ROWS}
    assert {"idle-10k", "fanout-1000", "latency", "product-10", "product-1000"} <= with_goal


def test_a_verdict_reads_the_bound_its_goal_states() -> None:
    goals = bench_module("goals")
    assert goals.goal_met("ratio<=1", None, 0.62) == "yes"
    assert goals.goal_met("ratio<=1", None, 1.12) == "NO"
    assert goals.goal_met("ratio>=1", None, 1.72) == "yes"
    assert goals.goal_met(">=1000", 1_174.0, None) == "yes"
    assert goals.goal_met(">=100", 66.0, None) == "NO"
    assert goals.goal_met("<100", 74.8, None) == "yes"
    assert goals.goal_met("<100", None, None) == "?"
    assert goals.goal_met(None, 5.0, 1.0) == ""


def test_the_quick_run_prints_no_verdicts() -> None:
    report = bench_module("report")
    medians = {"tandem": {"product-10": {"changes_per_s": 10.0}}}
    quick = report.table(medians, {"product-10"}, quick=True)
    full = report.table(medians, {"product-10"}, quick=False)
    row = next(line for line in quick.splitlines() if "room of 10: changes/s " in line)
    assert row.rstrip().endswith(">=1000")
    assert next(line for line in full.splitlines() if "room of 10: changes/s " in line).endswith(
        "NO"
    )
