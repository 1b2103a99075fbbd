"""bench/product_inprocess.py: real role PATCHes through the ASGI app, with the dispatcher."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import PG_URL, need
from tests.harness import postgres_available

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "product_inprocess.py"), *args],
                         capture_output=True, text=True, timeout=240, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.parametrize("what", [[], ["--get-me"], ["--floor", "caller"]])
def test_it_reports_cpu_per_request_for_real_changes(what):
    line = run("--changes", "40", "--concurrency", "4", *what).strip().splitlines()[-1]
    # Every request answered 200 (the script stops otherwise) and every event was published.
    assert re.fullmatch(r"(PATCH role|GET /api/me|GET /api/_bench/caller): 40 requests, 4 in flight: "
                        r"[\d.]+ CPU-ms per request, [\d.]+ ms wall", line), line


def test_it_runs_on_postgresql_in_a_schema_of_its_own():
    need("PostgreSQL", postgres_available(PG_URL))
    url = PG_URL.split("?")[0] + "?search_path=bench_inprocess_test"
    assert run("--changes", "20", "--concurrency", "2", "--database-url", url).startswith("PATCH role: 20")
