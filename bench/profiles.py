"""--profile: py-spy on the server over each measured window, and summaries of what it and the
load generator's V8 profile recorded."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path


class Profiler:
    """py-spy on the server over the measured window (--profile): collapsed stacks to a file."""

    def __init__(self, out: Path | None, subprocesses: bool = False) -> None:
        self.out = out
        self.subprocesses = subprocesses  # several workers: sample the parent's children too
        self.proc: subprocess.Popen | None = None

    def start(self, pid: int) -> None:
        if self.out is None:
            return
        self.proc = subprocess.Popen(
            [
                "uvx",
                "py-spy",
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--rate",
                "250",
                "--nonblocking",
                *(["--subprocesses"] if self.subprocesses else []),
                "--output",
                str(self.out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # py-spy attaches

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.proc = None


def summarize_profile(path: Path, top: int = 25) -> str:
    """Self and inclusive sample shares of the busiest functions in a collapsed-stack file."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
            if " (" in f
            else f
            for f in stack.split(";")
        ]
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for f in set(frames):
            incl[f] = incl.get(f, 0) + n
    if not total:
        return "(no samples)"
    packages: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            leaf = stack.split(";")[-1]
            where = leaf.split(" (", 1)[1] if " (" in leaf else "?"
            package = where.split("/", 1)[0] if "/" in where else where.split(".py")[0]
            packages[package] = packages.get(package, 0) + int(count)
    by_package = ", ".join(
        f"{p} {100 * n / total:.0f}%" for p, n in sorted(packages.items(), key=lambda x: -x[1])[:10]
    )
    lines = [f"{total} samples; self time by package: {by_package}", "self% / inclusive%:"]
    for f, n in sorted(own.items(), key=lambda x: -x[1])[:top]:
        lines.append(f"  {100 * n / total:5.1f}  {100 * incl[f] / total:5.1f}  {f}")
    return "\n".join(lines)


def summarize_loadgen_profile(path: Path, top: int = 15) -> str:
    """The load generator's V8 profile over the measured window: self time by function and
    package, idle left out (what its core spends per delivery goes to)."""
    profile = json.loads(path.read_text())
    nodes = {n["id"]: n["callFrame"] for n in profile["nodes"]}
    own: dict[str, float] = {}
    for node_id, dt in zip(profile["samples"], profile["timeDeltas"], strict=False):
        frame = nodes[node_id]
        if frame["functionName"] == "(idle)":
            continue
        where = frame["url"].rsplit("node_modules/", 1)[-1] if frame["url"] else ""
        key = (
            f"{frame['functionName'] or '(anonymous)'} ({where}:{frame['lineNumber'] + 1})"
            if where
            else frame["functionName"]
        )
        own[key] = own.get(key, 0.0) + dt
    busy = sum(own.values()) or 1.0
    lines = [f"load generator, {busy / 1e6:.2f} s busy in the window; self time:"]
    for key, dt in sorted(own.items(), key=lambda x: -x[1])[:top]:
        lines.append(f"  {100 * dt / busy:5.1f}  {key}")
    return "\n".join(lines)
