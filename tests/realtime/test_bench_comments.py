"""bench/task_comments.py: comments reach every viewer of a task once and in order, and the run
prints its latency figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_viewer_gets_every_comment_once_and_in_order():
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "task_comments.py"),
            *("--viewers", "3", "--comments", "12", "--rate", "20", "--deadline", "100"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    assert re.search(r"emittedAt -> each viewer: p50 [\d.]+ ms, p99 [\d.]+ ms", out.stdout)
    assert (
        "deliveries 36 of 36; viewers with a missing, extra or reordered comment: 0" in out.stdout
    )
