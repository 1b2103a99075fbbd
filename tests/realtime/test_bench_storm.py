"""bench/reconnect_storm.py, small: a restart under connected clients ends with every client
subscribed again and holding every event of its rooms exactly once, nobody given up and nobody
told to resync; the reference's clients come back too, with their missed events reported lost;
and on PostgreSQL the run's schema is gone afterwards."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import PG_URL, need
from tests.harness import postgres_available, schema_exists

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
DEADLINE = 240  # the script prints its stacks and exits then; the test waits a little longer


def storm(tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    if shutil.which("node") is None or not (BENCH / "node_modules" / "socket.io-client").is_dir():
        pytest.skip("node and bench/node_modules (npm ci in bench/) are needed")
    work = tmp_path / "work"
    work.mkdir()
    out_file = tmp_path / "storm.json"
    out = subprocess.run(
        [
            sys.executable, str(BENCH / "reconnect_storm.py"),
            "--org-size", "10", "--before", "1", "--after", "0.5",
            "--deadline", str(DEADLINE), "--json", str(out_file), *args,
        ],
        capture_output=True, text=True, timeout=DEADLINE + 30, cwd=ROOT, check=False,
        env={**os.environ, "TMPDIR": str(work)},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert list(work.iterdir()) == []  # the servers' database and the run's files are gone
    return json.loads(out_file.read_text()), out.stdout


def test_every_client_is_back_with_every_event_once_and_the_reference_loses_its_own(
    tmp_path: Path,
) -> None:
    result, stdout = storm(tmp_path, "--clients", "50")
    assert result["ok"], stdout
    tandem, reference = result["runs"]
    assert tandem["server"] == "tandem" and reference["server"] == "reference"

    assert tandem["clients"] == 50 and tandem["rooms"] == 30  # 5 orgs, 5 projects each
    assert tandem["reconnects"] >= 50  # the restart reached every client
    assert tandem["converged_clients"] == 50 and tandem["resubscribed_clients"] == 50
    assert tandem["missing"] == tandem["extra"] == tandem["duplicates"] == 0
    assert tandem["gave_up"] == 0 and tandem["resyncs"] == 0
    # Changes made while clients were away reached them by replay, and the writer's changes
    # refused during the downtime were made after it.
    assert tandem["replayed"] > 0
    assert tandem["events_per_client"] > 0
    assert tandem["writer"]["queued"] == 0 and tandem["writer"]["burst"] == 30
    assert tandem["done_from_ready_s"] > 0 and tandem["peak_rss_mb"] > 0
    assert tandem["cpu_ms_per_reconnect"] > 0
    assert "converged (subscribed again, every event of its rooms once): 50 of 50" in stdout
    assert "missing 0, extra 0, twice 0; resync.required 0 (0 clients)" in stdout

    # Node's recovery lives in the process it restarted: every client comes back unrecovered.
    assert reference["resubscribed_clients"] == 50 and reference["gave_up"] == 0
    assert reference["recovered"] == 0 and reference["not_recovered"] >= 50
    assert reference["delivered"] > 0 and reference["lost"] >= 0
    assert "(its recovery lives in the old process's memory)" in stdout


def test_the_storm_runs_on_postgresql_in_a_schema_of_its_own(tmp_path: Path) -> None:
    need("PostgreSQL", postgres_available(PG_URL))
    schema = f"bench_storm_{uuid.uuid4().hex[:8]}"
    url = PG_URL.split("?")[0] + f"?search_path={schema}"
    result, stdout = storm(
        tmp_path, "--clients", "20", "--servers", "tandem", "--database-url", url
    )
    (tandem,) = result["runs"]
    assert tandem["database"] == "PostgreSQL", stdout
    assert tandem["converged_clients"] == 20 and tandem["missing"] == tandem["duplicates"] == 0
    assert tandem["gave_up"] == 0 and tandem["resyncs"] == 0
    assert not asyncio.run(schema_exists(schema))
