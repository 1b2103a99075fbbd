"""bench/chat_load.py: every recipient gets every message once, the receipts come back to the
senders, and the run prints its figures. This plays the people with python-socketio; `make test`'s
bench smoke run (`bench/run.py --quick`, its `chat-20`) plays them with Node, the default."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_recipient_gets_every_message_once_and_the_run_prints_its_figures():
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "chat_load.py"),
            *("--clients", "12", "--conversations", "4", "--group-size", "5"),
            *("--rate", "20", "--seconds", "2", "--deadline", "100", "--loadgen", "python"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    assert "chat load: 40 of 40 messages at 20/s for 2 s, 12 clients in 4 conversations" in (
        out.stdout
    )
    assert re.search(r"sent -> each recipient: p50 [\d.]+ ms, p99 [\d.]+ ms", out.stdout)
    assert re.search(r"emittedAt -> each recipient: p50 [\d.]+ ms, p99 [\d.]+ ms", out.stdout)
    stretches = re.search(
        r"p99 of each 0.25 s of sends: median [\d.]+ ms, worst [\d.]+ ms \([\d.]+ s in\), "
        r"\d+ of (\d+) above 100 ms",
        out.stdout,
    )
    assert stretches and stretches[1] == "8", out.stdout  # 2 s of sends, a quarter second each
    assert re.search(r"delivered emit -> sender: p50 [\d.]+ ms, p99 [\d.]+ ms \(\d+ ", out.stdout)
    found = re.search(
        r"deliveries (\d+) of (\d+): missing 0, duplicate 0, unexpected 0", out.stdout
    )
    assert found and found[1] == found[2] and int(found[1]) > 0, out.stdout
    assert re.search(r"server CPU [\d.]+ s, [\d.]+ ms per message", out.stdout)
