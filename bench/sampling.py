"""Readings of a server process tree from /proc: its CPU time, its memory, the machine's CPU,
and the wait for a server to go quiet between two workloads."""

from __future__ import annotations

import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_tree(pid: int) -> list[int]:
    """The pid and all its descendants (a Node cluster or uvicorn workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process tree, in seconds."""
    total = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def settle(
    pid: int,
    *,
    at_least: float = 1.5,
    window: float = 0.5,
    quiet: float = 0.05,
    at_most: float = 30.0,
) -> None:
    """Wait for the server to finish the last workload's aftermath before the next one measures it:
    closing its sockets, and on Tandem their presence going offline after the 1 s grace. At least
    `at_least` s, then until a `window` in which it used under `quiet` of a core (at most `at_most`
    s). A fixed half second was not enough on a slow day: the api-floor's first path, measured
    right after product-1000, cost 2-4 CPU-ms a request against 0.4 on a server of its own."""
    start = time.monotonic()
    time.sleep(at_least)
    while time.monotonic() - start < at_most:
        before = cpu_seconds(pid)
        time.sleep(window)
        if (cpu_seconds(pid) - before) / window < quiet:
            return


def rss_kb(pid: int) -> int:
    total = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def machine_busy_seconds() -> float:
    """CPU-seconds spent by everything on the machine (all cores) so far."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLK_TCK


def reading(pid: int) -> dict:
    return {
        "t": time.monotonic(),
        "cpu": cpu_seconds(pid),
        "rss_kb": rss_kb(pid),
        "machine_cpu": machine_busy_seconds(),
    }
