"""bench/project_page.py: every viewer of a project gets every metadata and member change once and
in order, and the board's final counts, and the run prints its figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_viewer_gets_every_change_once_in_order_and_the_final_counters():
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "project_page.py"),
            *("--viewers", "3", "--changes", "10", "--moves", "12", "--deadline", "100"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    assert re.search(r"emittedAt -> each viewer: p50 [\d.]+ ms, p99 [\d.]+ ms", out.stdout)
    assert "deliveries 30 of 30; viewers with a missing, extra or reordered change: 0" in out.stdout
    assert re.search(
        r"final counts reached each viewer p50 \d+ ms, max \d+ ms .*\(0 never\)", out.stdout
    )
