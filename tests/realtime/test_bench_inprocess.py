"""bench/product_inprocess.py: real role PATCHes through the ASGI app, with the dispatcher; it
leaves neither its temporary directory nor its PostgreSQL schema behind."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from tests.conftest import PG_URL, need
from tests.harness import postgres_available, schema_exists

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "product_inprocess.py"), "--deadline", "150", *args],
        capture_output=True,
        text=True,
        timeout=200,
        cwd=ROOT,
        check=False,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr[-12000:]
    assert list(tmp_path.iterdir()) == []  # its data directory is gone
    return out.stdout


@pytest.mark.parametrize("what", [[], ["--get-me"], ["--floor", "caller"]])
def test_it_reports_cpu_per_request_for_real_changes(what, tmp_path):
    line = run(tmp_path, "--changes", "40", "--concurrency", "4", *what).strip().splitlines()[-1]
    # Every request answered 200 (the script stops otherwise) and every event was published.
    assert re.fullmatch(
        r"(PATCH role|GET /api/me|GET /api/_bench/caller): 40 requests, 4 in flight: "
        r"[\d.]+ CPU-ms per request, [\d.]+ ms wall",
        line,
    ), line


def test_it_runs_on_postgresql_in_a_schema_of_its_own(tmp_path):
    need("PostgreSQL", postgres_available(PG_URL))
    schema = f"bench_inprocess_{uuid.uuid4().hex[:8]}"
    url = PG_URL.split("?")[0] + f"?search_path={schema}"
    assert run(tmp_path, "--changes", "20", "--concurrency", "2", "--database-url", url).startswith(
        "PATCH role: 20"
    )
    assert not asyncio.run(schema_exists(schema))
