"""Comments on one task page with many people watching it: from a comment's commit to every other
viewer's socket, on the bench server (bench/tandem_server.py, pinned as run.py pins it).

One person (a Contributor of the project) posts `--comments` comments at `--rate` a second to a
task, each through `POST /api/tasks/{id}/comments` with a clientId, as the task page does;
`--viewers` people (Viewers of the project) hold a socket subscribed to `task:{id}`. For every
comment, each viewer's arrival is timed from the event's `meta.emittedAt` (stamped when the
dispatcher takes the committed change from the outbox; one machine, one clock) and from just
before the POST was sent (the request and its commit included: an upper bound). Every viewer must
receive every comment exactly once, in the order posted, or the script exits 1.

    uv run python bench/task_comments.py                  # 50 viewers, 200 comments at 20/s
    uv run python bench/task_comments.py --viewers 5 --comments 20
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from typing import Any

import aiohttp
import socketio
from kanban_board import Api, add_server_options, epoch, join, percentiles, run_once, setup_board


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--viewers", type=int, default=50, help="sockets watching the task")
    p.add_argument("--comments", type=int, default=200, help="comments posted")
    p.add_argument("--rate", type=float, default=20, help="comments a second")
    add_server_options(p)
    return p.parse_args(argv)


class Viewer:
    """A socket in `task:{id}` recording when each comment arrived."""

    def __init__(self, url: str, token: str, room: str) -> None:
        self.url, self.token, self.room = url, token, room
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("task.comment.created", self._on)
        self.arrivals: list[tuple[str, float, float]] = []  # (clientId, wall clock, emittedAt)

    def _on(self, env: Any = None) -> None:
        wall = time.time()
        if isinstance(env, dict):
            data = env.get("data") or {}
            self.arrivals.append((data.get("clientId"), wall, epoch(env["meta"]["emittedAt"])))

    async def start(self) -> None:
        await join(self.sio, self.url, self.token, self.room)


async def measure(args: argparse.Namespace, info: dict) -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        setup = await setup_board(http, info, 1, args.viewers, 1, seed=1)
        board = await setup.owner.ok("GET", f"/api/projects/{setup.project_id}/board")
        task_id = next(t["id"] for c in board["columns"] for t in c["tasks"])
        room = f"task:{task_id}"
        viewers = [Viewer(info["url"], token, room) for _, token in setup.viewers]
        await asyncio.gather(*(v.start() for v in viewers))
        poster: Api = setup.people[0].api
        sent: dict[str, float] = {}
        order: list[str] = []
        started = time.monotonic()
        posts = []
        for n in range(args.comments):
            await asyncio.sleep(max(0.0, started + n / args.rate - time.monotonic()))
            client_id = uuid.uuid4().hex
            sent[client_id] = time.time()
            order.append(client_id)
            body = {"text": f"Comment {n}", "clientId": client_id}
            posts.append(
                asyncio.create_task(poster.ok("POST", f"/api/tasks/{task_id}/comments", body))
            )
        await asyncio.gather(*posts)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(len(v.arrivals) < args.comments for v in viewers):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a duplicate would arrive now
        for v in viewers:
            await v.sio.disconnect()
    from_commit = [1000 * (wall - emitted) for v in viewers for _, wall, emitted in v.arrivals]
    from_send = [1000 * (wall - sent[cid]) for v in viewers for cid, wall, _ in v.arrivals]
    wrong = sum(1 for v in viewers if [cid for cid, _, _ in v.arrivals] != order)
    return {
        "viewers": args.viewers,
        "comments": args.comments,
        "rate": args.rate,
        "database": "PostgreSQL" if args.database_url else "SQLite",
        "from_commit": percentiles(from_commit),
        "from_send": percentiles(from_send),
        "deliveries": len(from_commit),
        "viewers_with_missing_or_extra_or_reordered": wrong,
    }


def report(r: dict[str, Any]) -> tuple[str, bool]:
    ok = r["viewers_with_missing_or_extra_or_reordered"] == 0
    c, s = r["from_commit"], r["from_send"]
    return (
        f"task comments: {r['comments']} comments at {r['rate']:g}/s to {r['viewers']} viewers "
        f"of one task ({r['database']})\n"
        f"  emittedAt -> each viewer: p50 {c['p50']:.1f} ms, p99 {c['p99']:.1f} ms, "
        f"max {c['max']:.1f} ms\n"
        f"  sent -> each viewer: p50 {s['p50']:.1f} ms, p99 {s['p99']:.1f} ms\n"
        f"  deliveries {r['deliveries']} of {r['comments'] * r['viewers']}; viewers with a "
        f"missing, extra or reordered comment: {r['viewers_with_missing_or_extra_or_reordered']}",
        ok,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_once(
        args, "comments", args.viewers + 2, lambda info, _pid: measure(args, info), report
    )


if __name__ == "__main__":
    sys.exit(main())
