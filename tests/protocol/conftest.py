"""The protocol harness (tests/protocol/harness.py) served by uvicorn in a subprocess, once with
Tandem's accelerators on and once with TANDEM_ACCEL=off; every test here runs against both."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOCKET_ACCELERATORS = ("engineio_socket", "uvicorn_wsproto")


@dataclass(frozen=True)
class Harness:
    accel: str
    port: int

    def http(self, path: str, query: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path}/?EIO=4{query}"

    def ws(self, path: str, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/{path}/?EIO=4&transport=websocket{query}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the harness exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the harness did not listen on {port} within {timeout} s")


@pytest.fixture(scope="session", params=["on", "off"], ids=["accel-on", "accel-off"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    accel = request.param
    port = free_port()
    env = {**os.environ, "TANDEM_ACCEL": accel}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.protocol.harness", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        verdicts = json.loads(process.stdout.readline())["accelerators"]
        wanted = accel == "on"
        for name in SOCKET_ACCELERATORS:
            # with accel on, a version mismatch would quietly test the stock path twice
            assert verdicts.get(name) is wanted, f"{name} is not {accel}: {verdicts}"
        wait_for_port(port, process)
        yield Harness(accel, port)
    finally:
        process.terminate()
        try:
            process.wait(3)  # uvicorn waits for open connections; the test's are gone
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
