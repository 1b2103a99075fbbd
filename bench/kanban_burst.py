"""The PRD's synthetic burst on one Kanban board: many people changing it at once, and every
viewer's board still equal to the server's afterwards.

A real Tandem server (bench/tandem_server.py as bench/run.py starts it, pinned to its core), one
project board with `--cards` cards, and `--clients` people, each signed in with a board client:
the board's snapshot, a socket subscribed to `project:{id}` after the snapshot's cursor, and the
bench's reducer applying every event it receives. Together they make `--rate` changes a second for
`--seconds` seconds, on a fixed schedule whatever the answers: moves within and between columns,
field edits, creates and deletes, through REST as the web client makes them (each with the
`baseRev` the person's board shows and a `clientId` where the server takes one), chosen from the
person's own board as it stands. For every change, each other client's arrival is timed against
the event's `meta.emittedAt` (one machine, one clock) and against the moment the change was sent.
Afterwards each client's board must equal `GET /api/projects/{id}/board`, counts included, and no
event of the room may be missing at any client; the script exits 1 otherwise.

    uv run python bench/kanban_burst.py                      # 20 clients, 50 changes/s, 30 s
    uv run python bench/kanban_burst.py --clients 3 --rate 20 --seconds 3
    uv run python bench/kanban_burst.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter

import aiohttp
from kanban_board import (
    PRIORITIES,
    BoardClient,
    Person,
    Setup,
    converged,
    missing_deliveries,
    percentiles,
    quiet,
    run_once,
    setup_board,
)
from sampling import reading

# Refusals a person meets when someone else got there first: the card was deleted (404) or its
# neighbour moved, or (before the board contract's last-write-wins moves) the card itself (409).
EXPECTED_REFUSALS = {404, 409}
IDLE_S = 2.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--clients", type=int, default=20, help="people on the board, one socket each")
    p.add_argument(
        "--rate", type=float, default=50, help="changes per second, all clients together"
    )
    p.add_argument("--seconds", type=float, default=30, help="how long the burst lasts")
    p.add_argument("--cards", type=int, default=60, help="cards on the board at the start")
    p.add_argument(
        "--database-url",
        default="",
        help="PostgreSQL: the server runs on a schema of its own there (`?search_path=` names it), "
        "dropped after; default: a temporary SQLite database",
    )
    p.add_argument(
        "--drops",
        type=int,
        default=0,
        help="cut this many clients' connections during the burst (spread over it): each must "
        "reconnect and replay what it missed",
    )
    p.add_argument("--seed", type=int, default=1, help="the random choices' seed")
    p.add_argument("--server-cpus", default="0", help="cores for the server (taskset -c)")
    p.add_argument("--client-cpus", default="1", help="cores for this process and its clients")
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="server and clients at this nice level (e.g. -10), in a session of their own",
    )
    p.add_argument("--json", default=None, help="write the figures here too")
    p.add_argument(
        "--deadline", type=float, default=0, help="print every stack and exit after this many s"
    )
    return p.parse_args(argv)


class Burst:
    """The changes, chosen from each person's own board, and what became of each."""

    def __init__(self, setup: Setup, clients: list[BoardClient], target: int, seed: int) -> None:
        self.setup, self.clients, self.target = setup, clients, target
        self.rng = random.Random(seed)
        self.assignees = [p.user_id for p in setup.people] + [None]
        # change key → (the sending client, when sent, when answered, the clientId it sent), as the
        # event identifies it
        self.sent: dict[tuple, tuple[int, float, float, str | None]] = {}
        self.outcomes: Counter[str] = Counter()
        self.answers_ms: list[float] = []
        self.conflicts = 0
        self.unexpected: list[str] = []

    def choose(self, n_cards: int) -> str:
        low, high = n_cards < 0.7 * self.target, n_cards > 1.3 * self.target
        weights = {
            "move-within": 0.27,
            "move-between": 0.27,
            "edit": 0.30,
            "create": 0.13 if low else 0.03 if high else 0.08,
            "delete": 0.03 if low else 0.13 if high else 0.08,
        }
        if n_cards == 0:
            return "create"
        return self.rng.choices(list(weights), list(weights.values()))[0]

    async def change(self, k: int, who: int) -> None:
        person: Person = self.setup.people[who]
        board = self.clients[who].board
        assert board is not None
        cards = list(board.tasks.values())
        op = self.choose(len(cards))
        rng, accepts, pid = self.rng, self.setup.accepts, self.setup.project_id
        card = rng.choice(cards) if cards else None
        client_id = {"clientId": f"burst-{k}"}
        body: dict | None = None
        if op == "create":
            method, path = "POST", f"/api/projects/{pid}/tasks"
            column = rng.choice(self.setup.columns)
            new = {"title": f"Burst {k}", "status": column, "priority": rng.choice(PRIORITIES)}
            there = [t for t in cards if t["status"] == column]
            if accepts["create.place"] and there and rng.random() < 0.5:
                new[rng.choice(["beforeTaskId", "afterTaskId"])] = rng.choice(there)["id"]
            body = new | (client_id if accepts["create.clientId"] else {})
        elif op == "delete":
            assert card is not None
            method, path = "DELETE", f"/api/tasks/{card['id']}"
        elif op == "edit":
            assert card is not None
            method, path = "PATCH", f"/api/tasks/{card['id']}"
            changes: dict = {"title": f"Card edit {k}"}
            for name in rng.sample(["priority", "description", "assigneeId", "dueDate"], 2):
                changes[name] = {
                    "priority": lambda: rng.choice(PRIORITIES),
                    "description": lambda: f"Edited in change {k}",
                    "assigneeId": lambda: rng.choice(self.assignees),
                    "dueDate": lambda: rng.choice([None, f"2027-0{rng.randint(1, 9)}-1{k % 10}"]),
                }[name]()
            body = {"changes": changes, "baseRev": card["rev"]}
            body |= client_id if accepts["update.clientId"] else {}
        else:
            assert card is not None
            method, path = "POST", f"/api/tasks/{card['id']}/move"
            others = [c for c in self.setup.columns if c != card["status"]]
            column = card["status"] if op == "move-within" else rng.choice(others)
            there = [t for t in cards if t["status"] == column and t["id"] != card["id"]]
            body = {"toColumn": column, "baseRev": card["rev"]}
            if there and rng.random() < 0.8:
                body[rng.choice(["beforeTaskId", "afterTaskId"])] = rng.choice(there)["id"]
            body |= client_id if accepts["move.clientId"] else {}
        sent = time.perf_counter()
        try:
            status, answer = await person.api.call(method, path, body)
        except (aiohttp.ClientError, TimeoutError) as err:
            self.unexpected.append(f"{op} {path}: {err!r}")
            return
        answered = time.perf_counter()
        self.answers_ms.append(1000 * (answered - sent))
        self.outcomes[f"{op} {status}"] += 1
        if status >= 300:
            if status not in EXPECTED_REFUSALS:
                self.unexpected.append(f"{op} {path}: {status} {answer}")
            return
        if answer and answer.get("conflict"):
            self.conflicts += 1
        if op == "delete":
            key: tuple = ("deleted", card["id"])  # type: ignore[index]
        elif op == "create":
            key = ("created", answer["task"]["id"])
        else:
            key = (
                "updated" if op == "edit" else "moved",
                answer["task"]["id"],
                answer["task"]["rev"],
            )
        # A PATCH that changed nothing answers the task as it was: its rev is an earlier change's.
        self.sent.setdefault(key, (who, sent, answered, (body or {}).get("clientId")))

    async def run(self, rate: float, seconds: float, drops: int = 0) -> float:
        """The changes on their schedule; returns how far behind it the last one was sent (s)."""
        total = round(rate * seconds)
        cuts = {total * (j + 1) // (drops + 1): j for j in range(drops)}
        pending: set[asyncio.Task] = set()
        t0 = time.perf_counter()
        behind = 0.0
        for k in range(total):
            due = t0 + k / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            behind = max(behind, time.perf_counter() - due)
            task = asyncio.create_task(self.change(k, k % len(self.clients)))
            if k in cuts:
                task = asyncio.create_task(
                    self.clients[(1 + 7 * cuts[k]) % len(self.clients)].drop()
                )
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending, timeout=120)
        return behind


def latencies(burst: Burst, clients: list[BoardClient]) -> dict:
    """Every change's event at every client but its sender: from the event's emittedAt (the
    server's clock, to the millisecond) and from the moment the change was sent; and each change
    once, at the first other client to get it: the server's share, without the spread over the
    clients (one Python process reading twenty sockets in turn)."""
    emitted_ms, sent_ms, unmatched, echoed, wrong = [], [], 0, 0, 0
    first: dict[tuple, float] = {}
    for c in clients:
        for key, wall, mono, emitted, cid in c.arrivals:
            change = burst.sent.get(key)
            if change is None:
                unmatched += 1
                continue
            who, sent, _, sent_cid = change
            echoed += cid is not None and cid == sent_cid
            wrong += sent_cid is not None and cid != sent_cid
            if who == c.index:
                continue
            emitted_ms.append(1000 * (wall - emitted))
            sent_ms.append(1000 * (mono - sent))
            first[key] = min(first.get(key, emitted_ms[-1]), emitted_ms[-1])
    return {
        "emitted_to_client_ms": percentiles(emitted_ms),
        "sent_to_client_ms": percentiles(sent_ms),
        "emitted_to_first_ms": percentiles(list(first.values())),
        "answer_ms": percentiles(burst.answers_ms),
        "unmatched_arrivals": unmatched,
        "client_id_echoed": echoed,
        "client_id_wrong": wrong,
    }


async def measure(args: argparse.Namespace, info: dict, server_pid: int) -> dict:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        setup = await setup_board(http, info, args.clients, 0, args.cards, args.seed)
        clients = [BoardClient(i, info["url"], p.api.token) for i, p in enumerate(setup.people)]
        await asyncio.gather(
            *(c.start(p.api, setup.project_id) for c, p in zip(clients, setup.people, strict=True))
        )
        burst = Burst(setup, clients, args.cards, args.seed)
        # What the server spends with the clients connected and nothing changing (heartbeats, the
        # dispatcher's polls), to tell the changes' own cost from it.
        idle0 = reading(server_pid)
        await asyncio.sleep(IDLE_S)
        before, mine0 = reading(server_pid), time.process_time()
        behind = await burst.run(args.rate, args.seconds, args.drops)
        await quiet(clients)
        after, mine = reading(server_pid), time.process_time() - mine0
        snapshot, diffs = await converged(clients, setup.owner, setup.project_id)
        missing = missing_deliveries(clients)
        for c in clients:
            await c.close()
    changed = len(burst.sent)
    server_cpu, wall = after["cpu"] - before["cpu"], after["t"] - before["t"]
    others = after["machine_cpu"] - before["machine_cpu"] - server_cpu - mine
    return {
        "clients": args.clients,
        "rate": args.rate,
        "seconds": args.seconds,
        "database": "PostgreSQL" if args.database_url else "SQLite",
        "accepts": setup.accepts,
        "sent": sum(burst.outcomes.values()),
        "changed": changed,
        "outcomes": dict(sorted(burst.outcomes.items())),
        "conflicts": burst.conflicts,
        "unexpected": burst.unexpected[:10],
        "behind_schedule_ms": 1000 * behind,
        "kanban_events": max(c.kanban_events for c in clients),
        "missing_deliveries": missing,
        "disconnects": sum(c.disconnects for c in clients),
        "resyncs": sum(c.resyncs for c in clients),
        **latencies(burst, clients),
        "server_cpu_pct": 100 * server_cpu / wall,
        "client_cpu_pct": 100 * mine / wall,
        "other_cpu_pct": max(0.0, 100 * others / wall),
        "server_cpu_ms_per_change": 1000 * server_cpu / changed if changed else float("nan"),
        "server_idle_cpu_pct": 100 * (before["cpu"] - idle0["cpu"]) / (before["t"] - idle0["t"]),
        "columns": {c["name"]: c["count"] for c in snapshot["columns"]},
        "differences": {str(i): d for i, d in diffs.items()},
    }


def report(r: dict) -> tuple[str, bool]:
    def lat(name: str) -> str:
        p = r[name]
        return (
            f"p50 {p['p50']:.1f} ms   p99 {p['p99']:.1f} ms   max {p['max']:.1f} ms   (n={p['n']})"
        )

    ok = not r["differences"] and not r["unexpected"] and not r["missing_deliveries"]
    ok = ok and r["changed"] > 0 and not r["client_id_wrong"]
    takes = ", ".join(k for k, v in r["accepts"].items() if v) or "none"
    lines = [
        f"kanban burst: {r['clients']} clients, {r['rate']:g} changes/s for {r['seconds']:g} s on "
        f"one board ({r['database']}); the server takes: {takes}",
        f"  changes: {r['sent']} sent ({r['behind_schedule_ms']:.0f} ms behind schedule at worst), "
        f"{r['changed']} made an event, {r['conflicts']} answered with a conflict",
        "  answers: " + ", ".join(f"{k}: {v}" for k, v in r["outcomes"].items()),
        f"  events: {r['kanban_events']} kanban events at each client, "
        f"{r['missing_deliveries']} missing deliveries, {r['disconnects']} disconnects (each "
        "reconnected and replayed after its last event), "
        f"{r['resyncs']} resyncs; {r['client_id_echoed']} deliveries carried the sender's clientId"
        f" ({r['client_id_wrong']} another's)",
        *(
            f"  {label + ':':<34}{lat(key)}"
            for label, key in [
                ("emittedAt -> each other client", "emitted_to_client_ms"),
                ("emittedAt -> first other client", "emitted_to_first_ms"),
                ("sent -> each other client", "sent_to_client_ms"),
                ("REST answer", "answer_ms"),
            ]
        ),
        f"  server: {r['server_cpu_pct']:.0f}% of a core ({r['server_idle_cpu_pct']:.0f}% idle "
        "before), "
        f"{r['server_cpu_ms_per_change']:.2f} CPU-ms per change; the clients' process: "
        f"{r['client_cpu_pct']:.0f}%; other processes: {r['other_cpu_pct']:.0f}% of a core",
    ]
    counts = ", ".join(f"{k} {v}" for k, v in r["columns"].items())
    if ok:
        lines.append(f"  boards: all {r['clients']} equal to the server's ({counts})")
    else:
        lines.append(f"  boards: DIFFER from the server's ({counts})")
        for who, diffs in r["differences"].items():
            lines += [f"    client {who}: {d}" for d in diffs]
        lines += [f"    unexpected answer: {u}" for u in r["unexpected"]]
        if r["client_id_wrong"]:
            lines.append(f"    {r['client_id_wrong']} deliveries carried another change's clientId")
        if not r["changed"]:
            lines.append("    no change made an event")
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_once(
        args,
        "burst",
        args.clients + 1,
        lambda info, pid: measure(args, info, pid),
        report,
        args.client_cpus,
    )


if __name__ == "__main__":
    sys.exit(main())
