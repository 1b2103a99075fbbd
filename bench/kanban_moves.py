"""How many card moves one server core makes with people watching the board.

The same server and board as kanban_burst.py, with `--viewers` board clients subscribed (Viewers
of the project: snapshot, socket, reducer) and a closed loop of moves: `--concurrency` moves in
flight, each loop moving cards of its own (so no move is refused because of another), half within
a column and half to another, before or after one of its cards there or to the column's end,
with the `baseRev` it last got, as the web client sends them. Over `--seconds` (after a warm-up)
it counts the answered moves and reads the server process's CPU time from /proc: moves/s, and
CPU-ms per move, whose inverse is the moves one fully busy core makes. Afterwards every viewer's
board must equal the server's (exit 1 otherwise).

    uv run python bench/kanban_moves.py                     # 50 viewers, 16 in flight, 10 s
    uv run python bench/kanban_moves.py --viewers 5 --seconds 1
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time

import aiohttp
from kanban_board import (
    BoardClient,
    Setup,
    converged,
    missing_deliveries,
    quiet,
    run_once,
    setup_board,
)
from sampling import reading


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--viewers", type=int, default=50, help="board clients watching the board")
    p.add_argument("--movers", type=int, default=8, help="people making the moves")
    p.add_argument("--concurrency", type=int, default=16, help="moves in flight at once")
    p.add_argument("--cards", type=int, default=200, help="cards on the board")
    p.add_argument("--seconds", type=float, default=10, help="the measured window")
    p.add_argument("--warmup", type=float, default=2, help="moves before the window, unmeasured")
    p.add_argument("--database-url", default="", help="as kanban_burst.py's")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--server-cpus", default="0", help="cores for the server (taskset -c)")
    p.add_argument("--client-cpus", default="1", help="cores for this process and its clients")
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="server and clients at this nice level (e.g. -10), in a session of their own",
    )
    p.add_argument("--json", default=None, help="write the figures here too")
    p.add_argument("--deadline", type=float, default=0, help="print every stack and exit after")
    return p.parse_args(argv)


class Movers:
    """The closed loop: each lane moves its own cards, one move at a time."""

    def __init__(self, setup: Setup, snapshot: dict, lanes: int, seed: int) -> None:
        self.setup, self.rng = setup, random.Random(seed)
        cards = [t for c in snapshot["columns"] for t in c["tasks"]]
        # Per lane: its cards' column and rev, as its own answers told it.
        self.lanes = [
            {t["id"]: [t["status"], t["rev"]] for t in cards[w::lanes]} for w in range(lanes)
        ]
        self.moves = 0
        self.errors: list[str] = []
        self.running = True

    async def lane(self, w: int) -> None:
        mine, rng, columns = self.lanes[w], self.rng, self.setup.columns
        api = self.setup.people[w % len(self.setup.people)].api
        while self.running and mine:
            card = rng.choice(list(mine))
            column, rev = mine[card]
            to = column if rng.random() < 0.5 else rng.choice([c for c in columns if c != column])
            body: dict = {"toColumn": to, "baseRev": rev}
            there = [t for t, (c, _) in mine.items() if c == to and t != card]
            if there and rng.random() < 0.8:
                body[rng.choice(["beforeTaskId", "afterTaskId"])] = rng.choice(there)
            status, answer = await api.call("POST", f"/api/tasks/{card}/move", body)
            if status != 200:
                self.errors.append(f"move {card}: {status} {answer}")
                return
            mine[card] = [answer["task"]["status"], answer["task"]["rev"]]
            self.moves += 1

    async def run(self, seconds: float) -> int:
        self.running, start = True, self.moves
        lanes = [asyncio.create_task(self.lane(w)) for w in range(len(self.lanes))]
        await asyncio.sleep(seconds)
        self.running = False
        await asyncio.gather(*lanes)
        return self.moves - start


async def measure(args: argparse.Namespace, info: dict, server_pid: int) -> dict:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        setup = await setup_board(http, info, args.movers, args.viewers, args.cards, args.seed)
        viewers = [
            BoardClient(i, info["url"], token, record=False)
            for i, (_, token) in enumerate(setup.viewers)
        ]
        await asyncio.gather(*(v.start(setup.owner, setup.project_id) for v in viewers))
        snapshot = await setup.owner.ok("GET", f"/api/projects/{setup.project_id}/board")
        movers = Movers(setup, snapshot, args.concurrency, args.seed)
        await movers.run(args.warmup)
        await quiet(viewers, 0.5)
        delivered0 = sum(v.kanban_events for v in viewers)
        before, mine0 = reading(server_pid), time.process_time()
        moves = await movers.run(args.seconds)
        after, mine = reading(server_pid), time.process_time() - mine0
        await quiet(viewers)
        final, diffs = await converged(viewers, setup.owner, setup.project_id)
        delivered = sum(v.kanban_events for v in viewers) - delivered0
        missing = missing_deliveries(viewers)
        for v in viewers:
            await v.close()
    wall = after["t"] - before["t"]
    cpu = after["cpu"] - before["cpu"]
    return {
        "viewers": args.viewers,
        "concurrency": args.concurrency,
        "cards": args.cards,
        "database": "PostgreSQL" if args.database_url else "SQLite",
        "moves": moves,
        "seconds": wall,
        "moves_per_s": moves / wall,
        "server_cpu_pct": 100 * cpu / wall,
        "cpu_ms_per_move": 1000 * cpu / moves if moves else float("nan"),
        "moves_per_cpu_s": moves / cpu if cpu else float("nan"),
        "client_cpu_pct": 100 * mine / wall,
        "other_cpu_pct": max(
            0.0, 100 * (after["machine_cpu"] - before["machine_cpu"] - cpu - mine) / wall
        ),
        "deliveries": delivered,
        "expected_deliveries": moves * args.viewers,
        "missing_deliveries": missing,
        "disconnects": sum(v.disconnects for v in viewers),
        "errors": movers.errors[:10],
        "columns": {c["name"]: c["count"] for c in final["columns"]},
        "differences": {str(i): d for i, d in diffs.items()},
    }


def report(r: dict) -> tuple[str, bool]:
    ok = not (r["differences"] or r["errors"] or r["missing_deliveries"])
    ok = ok and r["moves"] > 0 and r["deliveries"] == r["expected_deliveries"]
    lines = [
        f"kanban moves: {r['viewers']} viewers on one board of {r['cards']} cards "
        f"({r['database']}), {r['concurrency']} moves in flight, {r['seconds']:.1f} s",
        f"  {r['moves_per_s']:.0f} moves/s ({r['moves']} moves), server at "
        f"{r['server_cpu_pct']:.0f}% of its core: {r['cpu_ms_per_move']:.2f} CPU-ms per move, "
        f"{r['moves_per_cpu_s']:.0f} moves per server CPU-second",
        f"  deliveries: {r['deliveries']} of {r['expected_deliveries']}, {r['disconnects']} "
        "disconnects (each reconnected and replayed); the clients' process "
        f"used {r['client_cpu_pct']:.0f}% of a core, other processes {r['other_cpu_pct']:.0f}%",
    ]
    if ok:
        lines.append(f"  boards: all {r['viewers']} equal to the server's")
    else:
        lines.append("  boards: DIFFER from the server's, or moves failed")
        for who, diffs in r["differences"].items():
            lines += [f"    viewer {who}: {d}" for d in diffs]
        lines += [f"    {e}" for e in r["errors"]]
        if r["missing_deliveries"]:
            lines.append(f"    {r['missing_deliveries']} missing deliveries")
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_once(
        args,
        "moves",
        args.movers + args.viewers + 1,
        lambda info, pid: measure(args, info, pid),
        report,
        args.client_cpus,
    )


if __name__ == "__main__":
    sys.exit(main())
