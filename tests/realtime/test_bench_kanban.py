"""The Kanban board's bench (bench/kanban_burst.py, kanban_moves.py): a few seconds of the burst
with a few clients end with every client's board equal to the server's, on SQLite and on a
PostgreSQL schema of the run's own (gone afterwards); the moves measurement reports its figures;
bench/run.py runs both; and the comparison they rest on catches a board that missed an event."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import PG_URL, need
from tests.harness import postgres_available, schema_exists

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
# The scripts print their stacks and exit at --deadline; the test waits a little longer.
DEADLINE = 100


def run(tmp_path: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / script), "--deadline", str(DEADLINE), *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE + 20,
        cwd=ROOT,
        check=False,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )


def burst(tmp_path: Path, *args: str) -> str:
    out = run(
        tmp_path, "kanban_burst.py", "--clients", "3", "--rate", "20", "--seconds", "3", *args
    )
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert list(tmp_path.iterdir()) == []  # the server's database and the run's files are gone
    return out.stdout


def assert_converged(stdout: str, clients: int) -> None:
    assert re.search(rf"boards: all {clients} equal to the server's \(To Do \d+, ", stdout), stdout
    assert re.search(r", 0 missing deliveries, \d+ disconnects", stdout), stdout
    for line in ("emittedAt -> each other client", "sent -> each other client"):
        figures = re.search(rf"{line}: +p50 ([\d.]+) ms +p99 ([\d.]+) ms +max [\d.]+ ms", stdout)
        assert figures and 0 <= float(figures[1]) <= float(figures[2]), stdout
    # 60 changes sent; one refused only when someone else got to the card first.
    sent = re.search(r"changes: (\d+) sent .*, (\d+) made an event", stdout)
    assert sent and int(sent[1]) == 60 and int(sent[2]) > 30, stdout


def test_the_burst_ends_with_every_board_equal_to_the_servers(tmp_path: Path) -> None:
    # Two clients lose their connection midway: they reconnect and replay what they missed.
    stdout = burst(tmp_path, "--drops", "2")
    assert_converged(stdout, 3)
    assert ", 2 disconnects (each reconnected" in stdout


def test_the_burst_runs_on_postgresql_in_a_schema_of_its_own(tmp_path: Path) -> None:
    need("PostgreSQL", postgres_available(PG_URL))
    schema = f"bench_kanban_{uuid.uuid4().hex[:8]}"
    stdout = burst(tmp_path, "--database-url", PG_URL.split("?")[0] + f"?search_path={schema}")
    assert "on one board (PostgreSQL)" in stdout
    assert_converged(stdout, 3)
    assert not asyncio.run(schema_exists(schema))


def test_a_run_past_its_deadline_prints_its_stacks_and_takes_its_server_down(
    tmp_path: Path,
) -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH / "kanban_burst.py"), "--deadline", "15",
         "--clients", "2", "--rate", "5", "--seconds", "600"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert out.returncode != 0
    assert "most recent call first" in out.stderr, out.stderr[-3000:]

    def databases() -> list[Path]:
        return [p for p in tmp_path.iterdir() if p.name.startswith("tandem-kanban-db-")]

    give_up = time.monotonic() + 30
    while databases() and time.monotonic() < give_up:
        time.sleep(0.2)
    assert databases() == []  # the server stopped and deleted its database


def test_the_moves_measurement_reports_moves_per_second_and_cpu_per_move(tmp_path: Path) -> None:
    out = run(tmp_path, "kanban_moves.py", "--viewers", "3", "--seconds", "1", "--warmup", "0.3")
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    figures = re.search(
        r"(\d+) moves/s \((\d+) moves\), server at \d+% of its core: ([\d.]+) CPU-ms per move",
        out.stdout,
    )
    assert figures and int(figures[2]) > 0 and float(figures[3]) > 0, out.stdout
    deliveries = re.search(r"deliveries: (\d+) of (\d+)", out.stdout)
    assert deliveries and deliveries[1] == deliveries[2] == str(3 * int(figures[2])), out.stdout
    assert "boards: all 3 equal to the server's" in out.stdout


def test_bench_run_refuses_a_workload_it_does_not_know() -> None:
    # `make test-bench` runs every workload, the Kanban ones included, through bench/run.py --quick.
    unknown = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick", "--workloads", "kanban-nothing"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert unknown.returncode != 0 and "unknown workloads: kanban-nothing" in unknown.stderr


def test_a_kanban_workload_that_fails_fails_the_bench(tmp_path: Path) -> None:
    workloads = bench_module("kanban_workloads")
    args = argparse.Namespace(server_cpus="0", loadgen_cpus="1", nice=0)
    broken = {"kanban-burst": ["kanban_burst.py", "--clients", "0", "--seconds", "1"]}
    (run,) = workloads.run_kanban(broken, args, tmp_path)
    assert run["workload"] == "kanban-burst"
    assert run["error"].startswith("kanban_burst.py exited with 1")


# -- the comparison -------------------------------------------------------------------------------


def bench_module(name: str) -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


def card(tid: str, status: str, rank: str, rev: int = 1) -> dict[str, Any]:
    return {"id": tid, "status": status, "rank": rank, "rev": rev, "title": tid,
            "updatedAt": "t0", "completedAt": None}  # fmt: skip


def snapshot(*columns: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {"columns": [{"name": n, "count": len(ts), "tasks": ts} for n, ts in columns]}


MOVE = {"taskId": "a", "fromColumn": "To Do", "toColumn": "Done", "position": 1, "rank": "n",
        "rev": 2, "updatedAt": "t1", "completedAt": "t1", "rebalanced": {"b": "c"}}  # fmt: skip


def test_a_board_that_applied_every_event_equals_the_next_snapshot() -> None:
    kb = bench_module("kanban_reducer")
    board = kb.Board.of(
        snapshot(("To Do", [card("a", "To Do", "m")]), ("Done", [card("b", "Done", "h")]))
    )
    board.apply("kanban.task.moved", MOVE)
    board.apply("kanban.task.created", {"task": card("c", "To Do", "x")})
    board.apply("kanban.task.deleted", {"taskId": "c", "status": "To Do"})
    moved = {**card("a", "Done", "n", 2), "updatedAt": "t1", "completedAt": "t1"}
    after = snapshot(("To Do", []), ("Done", [card("b", "Done", "c"), moved]))
    assert kb.differences(board.view(), after["columns"]) == []
    # An event whose change the snapshot already held (it came after the cursor) changes nothing.
    board.apply("kanban.task.moved", MOVE)
    assert kb.differences(board.view(), after["columns"]) == [] and board.already == 1


def test_a_board_that_missed_an_event_differs_and_the_burst_fails() -> None:
    kb, kburst = bench_module("kanban_reducer"), bench_module("kanban_burst")
    before = snapshot(("To Do", [card("a", "To Do", "m")]), ("Done", [card("b", "Done", "h")]))
    board = kb.Board.of(before)  # the move never reached it
    after = kb.Board.of(before)
    after.apply("kanban.task.moved", MOVE)
    diffs = kb.differences(board.view(), after.view())
    assert "To Do: count 1 != 0" in diffs and "Done: count 1 != 2" in diffs
    assert any("Done: b differs in rank" in d for d in diffs)
    figures = {"n": 1, "p50": 1.0, "p99": 1.0, "max": 1.0}
    result = {
        "clients": 2, "rate": 1, "seconds": 1, "database": "SQLite", "accepts": {}, "sent": 1,
        "changed": 1, "outcomes": {"move-between 200": 1}, "conflicts": 0, "unexpected": [],
        "behind_schedule_ms": 0, "kanban_events": 1, "missing_deliveries": 0, "disconnects": 0,
        "resyncs": 0, "client_cpu_pct": 1, "other_cpu_pct": 0, "emitted_to_client_ms": figures, "sent_to_client_ms": figures,
        "answer_ms": figures, "emitted_to_first_ms": figures, "client_id_echoed": 2,
        "client_id_wrong": 0, "server_cpu_pct": 1, "server_cpu_ms_per_change": 1, "server_idle_cpu_pct": 1,
        "columns": {"To Do": 0, "Done": 2}, "differences": {},
    }  # fmt: skip
    assert kburst.report(result)[1] is True
    text, ok = kburst.report({**result, "differences": {"1": diffs}})
    assert ok is False and "client 1: To Do: count 1 != 0" in text
    assert kburst.report({**result, "missing_deliveries": 1})[1] is False
    assert kburst.report({**result, "unexpected": ["edit: 500"]})[1] is False
    assert kburst.report({**result, "client_id_wrong": 1})[1] is False
