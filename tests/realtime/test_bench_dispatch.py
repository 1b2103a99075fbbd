"""bench/dispatch_ceiling.py: the dispatcher publishes every committed event exactly once at each
step, and the run prints its figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import PG_URL, REDIS_URL, need
from tests.harness import postgres_available, redis_available

ROOT = Path(__file__).resolve().parents[2]


def test_every_committed_event_is_published_once_and_the_run_prints_its_figures():
    need("PostgreSQL", postgres_available(PG_URL))
    need("Redis", redis_available(REDIS_URL))
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "dispatch_ceiling.py"),
            *("--rates", "100,400", "--seconds", "1", "--writers", "4"),
            *("--database-url", PG_URL, "--redis-url", REDIS_URL),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    assert "dispatch ceiling: PostgreSQL, publish to redis" in out.stdout
    rows = re.findall(
        r"^\s+(\d+) \|\s+(\d+) \|\s+(\d+) \|\s+[\d.]+ /\s+[\d.]+ /\s+[\d.]+ ms \|\s+(\d+) \|",
        out.stdout,
        re.M,
    )
    assert [r[0] for r in rows] == ["100", "400"], out.stdout
    assert all(r[3] == "0" for r in rows), out.stdout  # nothing left in the outbox
