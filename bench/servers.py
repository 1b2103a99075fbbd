"""Starting and stopping the servers under test: Tandem (bench/tandem_server.py) and the Node
socket.io reference (bench/reference/server.js), each pinned to its cores with taskset."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def nice_prefix(level: int) -> list[str]:
    return ["nice", "-n", str(level)] if level else []


class ServerFailed(RuntimeError):
    pass


@dataclass
class Running:
    proc: subprocess.Popen
    info: dict
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                kill_group(self.proc)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the server and whatever it spawned (started in a session of its own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def wait_ready(proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    buf = b""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerFailed(f"server exited with {proc.returncode}; see {log}")
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            chunk = b""
        if chunk:
            buf += chunk
            if b"READY" in buf:
                return
        time.sleep(0.02)
    kill_group(proc)
    raise ServerFailed(f"server not ready after {timeout:.0f}s; see {log}")


@dataclass
class Server:
    label: str
    port: int
    cpus: str
    workdir: Path
    users: int = 0
    workers: int = 1
    extra_args: list[str] = field(default_factory=list)
    nice: int = 0

    def command(self, info_file: Path) -> list[str]:
        raise NotImplementedError

    def info(self, info_file: Path) -> dict:
        raise NotImplementedError

    def available(self) -> str | None:
        """None when this server can run, else the reason it cannot."""
        return None

    def start(self, tag: str) -> Running:
        info_file = self.workdir / f"{self.label}-{tag}.json"
        log = self.workdir / f"{self.label}-{tag}.log"
        cmd = [*nice_prefix(self.nice), "taskset", "-c", self.cpus, *self.command(info_file)]
        with open(log, "w") as err:
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=BENCH.parent,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        try:
            wait_ready(proc, log, timeout=120)
            info = self.info(info_file)
        except Exception:
            kill_group(proc)
            raise
        time.sleep(0.3)  # let start-up work (imports, JIT, GC) settle before readings
        return Running(proc, info, log)


class ReferenceServer(Server):
    def command(self, info_file: Path) -> list[str]:
        return [
            "node",
            str(BENCH / "reference" / "server.js"),
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]

    def info(self, info_file: Path) -> dict:
        return {
            "url": f"http://127.0.0.1:{self.port}",
            "tokens": [f"u_{i}" for i in range(max(self.users, 1))],
            "room": "org:org_bench",
        }


class TandemServer(Server):
    def available(self) -> str | None:
        src = BENCH.parent / "src" / "tandem"
        for part in ("app.py", "realtime/gateway.py"):
            if not (src / part).exists():
                return f"src/tandem/{part} does not exist yet"
        return None

    def command(self, info_file: Path) -> list[str]:
        return [
            sys.executable,
            str(BENCH / "tandem_server.py"),
            "--port",
            str(self.port),
            "--users",
            str(self.users),
            "--workers",
            str(self.workers),
            "--info",
            str(info_file),
            *self.extra_args,
        ]

    def info(self, info_file: Path) -> dict:
        return json.loads(info_file.read_text())
