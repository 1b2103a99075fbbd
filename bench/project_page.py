"""The project page with many people watching it: metadata and member changes from commit to every
viewer's socket, and the counters' coalesced updates, on the bench server (as run.py pins it).

The project's owner makes `--changes` changes at `--rate` a second, each through the REST API as
the project page does — alternately the description (`PATCH /api/projects/{id}`) and a member's
role (`PATCH /api/projects/{id}/members/{userId}`) — while `--viewers` people hold a socket
subscribed to `project:{id}`. Each arrival of `project.updated` and `project.member.added` is
timed from the event's `meta.emittedAt` and from just before its request was sent. Every viewer
must receive every change exactly once and in order. Then `--moves` task moves are made as fast as
the API answers, and the run times how long after the last move each viewer holds a
`project.metrics.updated` equal to the board's column counts (the counters go out at most once a
second, the last value always), and counts how many such updates each viewer received.

    uv run python bench/project_page.py                  # 50 viewers, 200 changes at 20/s
    uv run python bench/project_page.py --viewers 5 --changes 20 --moves 20
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import aiohttp
import socketio
from kanban_board import add_server_options, epoch, join, percentiles, run_once, setup_board

WATCHED = ("project.updated", "project.member.added", "project.metrics.updated")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--viewers", type=int, default=50, help="sockets watching the project")
    p.add_argument("--changes", type=int, default=200, help="metadata and member changes")
    p.add_argument("--rate", type=float, default=20, help="changes a second")
    p.add_argument("--moves", type=int, default=100, help="task moves for the counters")
    add_server_options(p)
    return p.parse_args(argv)


class Viewer:
    """A socket in `project:{id}` recording when each change and each counters update arrived."""

    def __init__(self, url: str, token: str, room: str) -> None:
        self.url, self.token, self.room = url, token, room
        self.sio = socketio.AsyncClient(reconnection=False)
        for name in WATCHED:
            self.sio.on(name, self._on)
        self.changes: list[tuple[str, float, float]] = []  # (change key, wall clock, emittedAt)
        self.counters: list[tuple[float, dict]] = []  # (wall clock, metrics)

    def _on(self, env: Any = None) -> None:
        wall = time.time()
        if not isinstance(env, dict) or env.get("room") != self.room:
            return  # project.updated also reaches the person's own user room
        data = env.get("data") or {}
        if env["event"] == "project.metrics.updated":
            self.counters.append((wall, data["metrics"]))
        elif env["event"] == "project.updated":
            key = str(data["changes"].get("description"))
            self.changes.append((key, wall, epoch(env["meta"]["emittedAt"])))
        else:
            key = f"{data['member']['userId']}={data['member']['role']}"
            self.changes.append((key, wall, epoch(env["meta"]["emittedAt"])))

    async def start(self) -> None:
        await join(self.sio, self.url, self.token, self.room)


async def measure(args: argparse.Namespace, info: dict) -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        setup = await setup_board(http, info, 1, args.viewers, 8, seed=1)
        pid, owner = setup.project_id, setup.owner
        viewers = [Viewer(info["url"], token, f"project:{pid}") for _, token in setup.viewers]
        await asyncio.gather(*(v.start() for v in viewers))
        member = setup.people[0].user_id  # a Contributor, made Viewer and back
        sent: dict[str, float] = {}
        order: list[str] = []
        started = time.monotonic()
        requests = []
        for n in range(args.changes):
            await asyncio.sleep(max(0.0, started + n / args.rate - time.monotonic()))
            if n % 2 == 0:
                key, method = f"Description {n}", "PATCH"
                path, body = f"/api/projects/{pid}", {"description": f"Description {n}"}
            else:
                role = "Viewer" if n % 4 == 1 else "Contributor"
                key, path = f"{member}={role}", f"/api/projects/{pid}/members/{member}"
                method, body = "PATCH", {"role": role}
            sent[key + f"#{n}"] = time.time()
            order.append(key)
            # One change at a time: a member's role must alternate to make an event each time.
            requests.append(await owner.ok(method, path, body))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(len(v.changes) < len(order) for v in viewers):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a duplicate would arrive now
        # The counters: moves as fast as the API answers, then wait for the last value.
        board = await owner.ok("GET", f"/api/projects/{pid}/board")
        tasks = [t["id"] for c in board["columns"] for t in c["tasks"]]
        columns = setup.columns
        for v in viewers:
            v.counters.clear()
        moves_started = time.time()
        for n in range(args.moves):
            body = {"toColumn": columns[n % len(columns)]}
            await owner.ok("POST", f"/api/tasks/{tasks[n % len(tasks)]}/move", body)
        last_move = time.time()
        final = await owner.ok("GET", f"/api/projects/{pid}/board")
        expected = [{"name": c["name"], "count": c["count"]} for c in final["columns"]]
        settled: list[float] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            settled = [
                next((w for w, m in v.counters if m["columns"] == expected and w >= last_move), 0)
                for v in viewers
            ]
            if all(settled):
                break
            await asyncio.sleep(0.05)
        for v in viewers:
            await v.sio.disconnect()
    keyed = [(key, n) for n, key in enumerate(order)]
    from_commit = [1000 * (wall - emitted) for v in viewers for _, wall, emitted in v.changes]
    from_send = [
        1000 * (wall - sent[f"{key}#{n}"])
        for v in viewers
        for (key, n), (_, wall, _e) in zip(keyed, v.changes, strict=False)
    ]
    wrong = sum(1 for v in viewers if [k for k, _, _ in v.changes] != order)
    counter_updates = [len(v.counters) for v in viewers]
    return {
        "viewers": args.viewers,
        "changes": args.changes,
        "rate": args.rate,
        "moves": args.moves,
        "database": "PostgreSQL" if args.database_url else "SQLite",
        "from_commit": percentiles(from_commit),
        "from_send": percentiles(from_send),
        "deliveries": len(from_commit),
        "viewers_with_missing_or_extra_or_reordered": wrong,
        "moves_seconds": last_move - moves_started,
        "counters_settled_ms": percentiles([1000 * (s - last_move) for s in settled if s]),
        "viewers_without_final_counters": sum(1 for s in settled if not s),
        "counter_updates_per_viewer": max(counter_updates) if counter_updates else 0,
    }


def report(r: dict[str, Any]) -> tuple[str, bool]:
    ok = r["viewers_with_missing_or_extra_or_reordered"] == 0
    ok = ok and r["viewers_without_final_counters"] == 0
    c, s, k = r["from_commit"], r["from_send"], r["counters_settled_ms"]
    return (
        f"project page: {r['changes']} metadata and member changes at {r['rate']:g}/s to "
        f"{r['viewers']} viewers of one project ({r['database']})\n"
        f"  emittedAt -> each viewer: p50 {c['p50']:.1f} ms, p99 {c['p99']:.1f} ms, "
        f"max {c['max']:.1f} ms\n"
        f"  sent -> each viewer: p50 {s['p50']:.1f} ms, p99 {s['p99']:.1f} ms\n"
        f"  deliveries {r['deliveries']} of {r['changes'] * r['viewers']}; viewers with a "
        f"missing, extra or reordered change: {r['viewers_with_missing_or_extra_or_reordered']}\n"
        f"  counters: {r['moves']} moves in {r['moves_seconds']:.1f} s, at most "
        f"{r['counter_updates_per_viewer']} updates per viewer; the board's final counts "
        f"reached each viewer p50 {k['p50']:.0f} ms, max {k['max']:.0f} ms after the last move "
        f"({r['viewers_without_final_counters']} never)",
        ok,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_once(
        args, "project", args.viewers + 2, lambda info, _pid: measure(args, info), report
    )


if __name__ == "__main__":
    sys.exit(main())
