"""Messages under load: many people, each with one socket, in many conversations, sending over the
socket at a steady total rate, every recipient answering with receipts, on the bench server (as
run.py pins it).

`--clients` people (bench1..) each hold one socket subscribed to the `chat:{id}` room of every
conversation they are in. `--conversations` conversations are made first over REST (`POST
/api/orgs/{orgId}/conversations`, by their first member): every other one direct, the rest groups
of 3 to `--group-size` people, members dealt from a shuffled list so everyone is in some. Then
messages go out at `--rate` a second in total for `--seconds`, each `chat.message.send` over a
member's socket (the conversations in turn; of its members, the one who has sent least, so
nobody nears the per-person `chat_send_burst`), and now and then the sender says `chat.typing`
first. Every recipient answers each `chat.message.created` with `chat.message.delivered`, and
every fifth with `chat.message.read` once that is acknowledged. The people are played by
socket.io-client in one Node process (`--loadgen node`, bench/loadgen/run.js `chat`, the
default: about a third of the CPU python-socketio takes, which on a machine of two cores left the
server's core contended) or by python-socketio in this process (`--loadgen python`).

Reported: send -> each recipient's arrival (from just before the emit, and from the event's
`meta.emittedAt`), receipts (from a recipient's `chat.message.delivered` emit to the sender's
arrival of the room's `chat.message.delivered`), deliveries expected and received with the
missing and duplicate ones, and the server's CPU seconds per message (its /proc stat, from the
first send until every recipient has every message, every receipt is acknowledged and the
receipts stopped coming for 3 s; at most 120 s, or 15 s without anything arriving) with the load generator's own over the same time.
Every recipient must get every accepted message exactly once and every send must be accepted or
refused with `rate_limited` (the server shedding load), or the script exits 1 (and keeps the
server's log).

All the sockets come from one address (loopback), so the per-address chat limits are turned off
for the server (`TANDEM_CHAT_SEND_IP_BURST=0`, `TANDEM_CHAT_TYPING_IP_BURST=0`, and the socket's
per-address receipt, hint and subscribe limits): a thousand people would not share one. The per-person limits stay as configured.

    uv run python bench/chat_load.py                  # 1000 clients, 200 conversations, 200/s
    uv run python bench/chat_load.py --clients 12 --conversations 4 --group-size 5 --rate 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import node_loadgen
import socketio
from kanban_board import Api, add_server_options, epoch, percentiles, run_once, sign_in
from profiles import Profiler, summarize_profile

TICK = os.sysconf("SC_CLK_TCK")
STRETCH = 0.25  # seconds of sends whose p99 the report gives one by one


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--clients", type=int, default=1000, help="people, one socket each")
    p.add_argument("--conversations", type=int, default=200, help="half direct, half groups")
    p.add_argument("--group-size", type=int, default=50, help="largest group, its creator too")
    p.add_argument("--rate", type=float, default=200, help="messages a second, in total")
    p.add_argument("--seconds", type=float, default=20, help="how long messages are sent")
    p.add_argument("--typing-every", type=int, default=10, help="chat.typing before every Nth")
    p.add_argument("--connect-batch", type=int, default=50, help="sockets connected at once")
    p.add_argument(
        "--loadgen",
        choices=["node", "python"],
        default="node",
        help="who plays the people: socket.io-client in one Node process (bench/loadgen/run.js "
        "`chat`, about a third of the CPU) or python-socketio in this one",
    )
    p.add_argument("--client-cpus", default="", help="cores for the load generator (taskset -c)")
    add_server_options(p)
    p.add_argument("--json", default="", help="write the result here")
    p.add_argument(
        "--profile",
        default="",
        help="py-spy the server from the first send until receipts settle into this file "
        "(collapsed stacks) and print the busiest functions",
    )
    return p.parse_args(argv)


def cpu_seconds(pid: int) -> float:
    """The process's user and system time so far (/proc/{pid}/stat, fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Shared:
    """What every client of the run writes to: when each send and each receipt went out."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}  # clientId -> wall clock just before the emit
        self.author: dict[str, int] = {}  # messageId -> the sender's client index
        self.delivered_emit: dict[tuple[str, str], float] = {}  # (messageId, recipient) -> wall
        self.refused: Counter[str] = Counter()  # acks that were not ok, by event and code


class Client:
    """One person's socket, in the rooms of their conversations: it records each message's
    arrival and answers it with a delivered receipt (and every fifth with a read receipt), and
    records the delivered receipts that reach it for the messages it sent."""

    def __init__(self, index: int, user_id: str, url: str, token: str, shared: Shared) -> None:
        self.index, self.user_id, self.url, self.token = index, user_id, url, token
        self.shared = shared
        self.rooms: list[str] = []
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("chat.message.created", self._created)
        self.sio.on("chat.message.delivered", self._delivered)
        self.arrivals: list[tuple[str, float, float]] = []  # (clientId, wall clock, emittedAt)
        self.receipts: list[tuple[str, str, float]] = []  # (messageId, recipient, wall clock)
        self.sends = 0
        self.acked: list[tuple[str, str]] = []  # (clientId, conversation) of each accepted send
        self.tasks: set[asyncio.Task] = set()
        self.disconnects = 0
        self.sio.on("disconnect", self._gone)
        self.closing = False

    def _gone(self, *_: Any) -> None:
        if not self.closing:
            self.disconnects += 1

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _created(self, env: Any = None) -> None:
        wall = time.time()
        if not isinstance(env, dict):
            return
        data = env.get("data") or {}
        message = data.get("message") or {}
        if message.get("authorId") == self.user_id:
            return  # one's own message, echoed: not a delivery
        self.arrivals.append((data.get("clientId"), wall, epoch(env["meta"]["emittedAt"])))
        conversation, message_id = data["conversationId"], message["messageId"]
        read = len(self.arrivals) % 5 == 0
        self._spawn(self._receipts(conversation, message_id, read))

    async def _receipts(self, conversation: str, message_id: str, read: bool) -> None:
        try:
            await self._answer(conversation, message_id, read)
        except Exception as err:  # a closed socket, an ack that never came: counted, not raised
            self.shared.refused[f"receipt:{type(err).__name__}"] += 1

    async def _answer(self, conversation: str, message_id: str, read: bool) -> None:
        self.shared.delivered_emit[(message_id, self.user_id)] = time.time()
        body = {"conversationId": conversation, "messageIds": [message_id]}
        ack = await self.sio.call("chat.message.delivered", body, timeout=60)
        self._check("delivered", ack)
        if read:
            body = {"conversationId": conversation, "messageId": message_id}
            self._check("read", await self.sio.call("chat.message.read", body, timeout=60))

    def _check(self, what: str, ack: Any) -> bool:
        if isinstance(ack, dict) and ack.get("ok"):
            return True
        code = (ack or {}).get("error", {}).get("code") if isinstance(ack, dict) else repr(ack)
        self.shared.refused[f"{what}:{code}"] += 1
        return False

    def _delivered(self, env: Any = None) -> None:
        wall = time.time()
        if not isinstance(env, dict):
            return
        data = env.get("data") or {}
        if data.get("recipientId") != self.user_id:
            # Whose message it is may be known only once the send's ack is in: sorted out later.
            self.receipts.append((data["messageId"], data["recipientId"], wall))

    async def start(self) -> None:
        await self.sio.connect(
            self.url, auth={"token": self.token}, transports=["websocket"], wait_timeout=60
        )
        for room in self.rooms:
            ack = await self.sio.call("subscribe", {"room": room}, timeout=60)
            if not ack or not ack.get("ok"):
                raise RuntimeError(f"subscribe {room}: {ack}")

    async def _typing(self, conversation: str) -> None:
        body = {"conversationId": conversation, "typing": True}
        try:
            self._check("typing", await self.sio.call("chat.typing", body, timeout=60))
        except Exception as err:
            self.shared.refused[f"typing:{type(err).__name__}"] += 1

    async def send(self, conversation: str, n: int, typing: bool) -> None:
        if typing:
            self._spawn(self._typing(conversation))
        client_id = uuid.uuid4().hex
        self.shared.sent[client_id] = time.time()
        body = {"conversationId": conversation, "clientId": client_id, "text": f"Message {n}"}
        try:
            ack = await self.sio.call("chat.message.send", body, timeout=60)
        except Exception as err:
            ack = {"error": {"code": type(err).__name__}}
        if self._check("send", ack):
            self.shared.author[ack["messageId"]] = self.index
            self.acked.append((client_id, conversation))


def plan(args: argparse.Namespace) -> list[list[int]]:
    """Each conversation's members (client indexes, its creator first): every other one direct,
    the rest groups of 3 to --group-size, dealt from a shuffled list so everyone is in one."""
    rng = random.Random(1)
    order = list(range(args.clients))
    rng.shuffle(order)
    at, pairs, out = 0, set(), []
    for c in range(args.conversations):
        size = 2 if c % 2 == 0 else rng.randint(3, max(3, min(args.group_size, args.clients)))
        members: list[int] = []
        while len(members) < size:
            if at >= len(order):
                rng.shuffle(order)
                at = 0
            if order[at] not in members:
                members.append(order[at])
            at += 1
        if size == 2:
            while frozenset(members) in pairs:  # one direct conversation per pair
                members = rng.sample(range(args.clients), 2)
            pairs.add(frozenset(members))
        out.append(members)
    return out


@dataclass
class Person:
    """One bench person of the run: their socket's token and the rooms of their conversations."""

    index: int
    user_id: str
    token: str
    rooms: list[str] = field(default_factory=list)


@dataclass
class Seen:
    """What one of the Node load generator's people saw, in a Client's terms (for tally)."""

    index: int
    arrivals: list[tuple[str, float, float]]
    receipts: list[tuple[str, str, float]]
    acked: list[tuple[str, str]]
    disconnects: int


async def set_up(
    args: argparse.Namespace, info: dict
) -> tuple[list[Person], list[tuple[str, list[int]]]]:
    """The people and their conversations, made over REST by each conversation's first member."""
    base, org = info["api"]["base"], info["api"]["orgId"]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        owner = Api(http, base, info["api"]["token"])
        members = (await owner.ok("GET", f"/api/orgs/{org}/members"))["members"]
        by_email = {m["email"]: m["userId"] for m in members}
        people = [
            Person(i, by_email[f"bench{i + 1}@example.com"], info["tokens"][i + 1])
            for i in range(args.clients)
        ]
        layout = plan(args)
        creators: dict[int, Api] = {}
        for first in sorted({m[0] for m in layout}):
            creators[first] = (await sign_in(http, base, f"bench{first + 1}@example.com")).api
        conversations: list[tuple[str, list[int]]] = []
        for c, members_of in enumerate(layout):
            body: dict[str, Any] = {"memberIds": [people[i].user_id for i in members_of[1:]]}
            if len(members_of) > 2:
                body["title"] = f"Group {c}"
            made = await creators[members_of[0]].ok("POST", f"/api/orgs/{org}/conversations", body)
            cid = made["conversation"]["id"]
            conversations.append((cid, members_of))
            for i in members_of:
                people[i].rooms.append(f"chat:{cid}")
    return people, conversations


async def measure(args: argparse.Namespace, info: dict, pid: int) -> dict[str, Any]:
    people, conversations = await set_up(args, info)
    if args.loadgen == "node":
        return measure_node(args, info, pid, people, conversations)
    shared = Shared()
    clients = []
    for p in people:
        clients.append(Client(p.index, p.user_id, info["url"], p.token, shared))
        clients[-1].rooms = p.rooms
    connect_started = time.monotonic()
    for at in range(0, len(clients), args.connect_batch):
        await asyncio.gather(*(c.start() for c in clients[at : at + args.connect_batch]))
    connect_seconds = time.monotonic() - connect_started

    total = int(args.rate * args.seconds)
    sends = []
    profiler = Profiler(Path(args.profile) if args.profile else None)
    profiler.start(pid)
    cpu_before, own_before = cpu_seconds(pid), cpu_seconds(os.getpid())
    started = time.monotonic()
    for n in range(total):
        await asyncio.sleep(max(0.0, started + n / args.rate - time.monotonic()))
        cid, members = conversations[n % len(conversations)]
        sender = min(members, key=lambda i: clients[i].sends)
        clients[sender].sends += 1
        typing = args.typing_every > 0 and n % args.typing_every == 0
        sends.append(asyncio.create_task(clients[sender].send(cid, n, typing)))
    send_seconds = time.monotonic() - started
    await asyncio.gather(*sends)
    # Until every accepted message has reached every recipient, every receipt is acknowledged and
    # receipts stop coming for 3 s, or nothing has come for 15 s, or 120 s have passed.
    size = {cid: len(members) for cid, members in conversations}
    expected = sum(size[cid] - 1 for c in clients for _, cid in c.acked)
    deadline = time.monotonic() + 120
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = sum(len(c.arrivals) + len(c.receipts) for c in clients)
        arrived = sum(len(c.arrivals) for c in clients)
        answering = sum(len(c.tasks) for c in clients)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= (3 if arrived >= expected and not answering else 15):
            break
        await asyncio.sleep(0.1)
    settled_seconds = time.monotonic() - started - 3
    cpu_used = cpu_seconds(pid) - cpu_before
    own_used = cpu_seconds(os.getpid()) - own_before
    profiler.stop()
    await asyncio.sleep(0.5)  # a duplicate would arrive now
    for c in clients:
        c.closing = True
    for at in range(0, len(clients), args.connect_batch):
        await asyncio.gather(*(c.sio.disconnect() for c in clients[at : at + args.connect_batch]))
    return tally(args, clients, conversations, shared) | {
        "attempted": total,
        "connect_seconds": connect_seconds,
        "send_seconds": send_seconds,
        "settled_seconds": settled_seconds,
        "server_cpu_seconds": cpu_used,
        "loadgen_cpu_seconds": own_used,
    }


def measure_node(
    args: argparse.Namespace,
    info: dict,
    pid: int,
    people: list[Person],
    conversations: list[tuple[str, list[int]]],
) -> dict[str, Any]:
    """The same run with bench/loadgen/run.js `chat` playing the people: it connects them, then
    says "before", sends, waits for the receipts to settle and says "after"; the server's CPU,
    the load generator's and the profile are taken at those marks."""
    if not node_loadgen.available():
        raise SystemExit("--loadgen node needs node and bench/node_modules (npm ci in bench/)")
    cfg = {
        "workload": "chat",
        "url": info["url"],
        "tokens": [p.token for p in people],
        "clients": [{"userId": p.user_id, "rooms": p.rooms} for p in people],
        "conversations": conversations,
        "rate": args.rate,
        "seconds": args.seconds,
        "typingEvery": args.typing_every,
        "connectBatch": args.connect_batch,
    }
    profiler = Profiler(Path(args.profile) if args.profile else None)
    readings: dict[str, float] = {}

    def on_mark(msg: dict[str, Any]) -> str:
        if msg["mark"] == "before":
            profiler.start(pid)
            readings.update(server=cpu_seconds(pid), loadgen=cpu_seconds(msg["pid"]))
        elif msg["mark"] == "after":
            readings["server"] = cpu_seconds(pid) - readings["server"]
            readings["loadgen"] = cpu_seconds(msg["pid"]) - readings["loadgen"]
            profiler.stop()
        return "go"

    try:
        result = node_loadgen.play(cfg, on_mark, cpus=args.client_cpus)
    finally:
        profiler.stop()
    shared = Shared()
    shared.sent = result["sent"]
    shared.author = result["author"]
    shared.delivered_emit = {(m, u): at for m, u, at in result["deliveredEmit"]}
    shared.refused = Counter(result["refused"])
    seen = [
        Seen(
            i,
            [(cid, at, epoch(emitted)) for cid, at, emitted in c["arrivals"]],
            [tuple(r) for r in c["receipts"]],  # type: ignore[misc]
            [tuple(a) for a in c["acked"]],  # type: ignore[misc]
            c["disconnects"],
        )
        for i, c in enumerate(result["clients"])
    ]
    return tally(args, seen, conversations, shared) | {  # type: ignore[arg-type]
        "attempted": int(args.rate * args.seconds),
        "connect_seconds": result["connectSeconds"],
        "send_seconds": result["sendSeconds"],
        "settled_seconds": result["settledSeconds"],
        "server_cpu_seconds": readings["server"],
        "loadgen_cpu_seconds": readings["loadgen"],
    }


def tally(
    args: argparse.Namespace,
    clients: list[Client],
    conversations: list[tuple[str, list[int]]],
    shared: Shared,
) -> dict[str, Any]:
    members = dict(conversations)
    expected: dict[int, Counter[str]] = {c.index: Counter() for c in clients}
    messages = 0
    for c in clients:
        for client_id, conversation in c.acked:
            messages += 1
            for i in members[conversation]:
                if i != c.index:
                    expected[i][client_id] += 1
    missing = duplicate = unexpected = 0
    for c in clients:
        got = Counter(cid for cid, _, _ in c.arrivals)
        want = expected[c.index]
        missing += sum(1 for cid in want if cid not in got)
        duplicate += sum(n - 1 for cid, n in got.items() if cid in want and n > 1)
        unexpected += sum(n for cid, n in got.items() if cid not in want)
    from_send = [1000 * (w - shared.sent[cid]) for c in clients for cid, w, _ in c.arrivals]
    from_emitted = [1000 * (w - e) for c in clients for _, w, e in c.arrivals]
    # By when the send was made: a stall shows as one bad stretch, a full core as queues that
    # build and drain again and again.
    first_send = min(shared.sent.values(), default=0.0)
    stretches: dict[int, list[float]] = {}
    for c in clients:
        for cid, w, _ in c.arrivals:
            sent = shared.sent[cid]
            stretches.setdefault(int((sent - first_send) / STRETCH), []).append(1000 * (w - sent))
    receipts = []
    for c in clients:
        for message_id, recipient, wall in c.receipts:
            if shared.author.get(message_id) != c.index:
                continue  # another member's message: this socket is not its sender
            emitted = shared.delivered_emit.get((message_id, recipient))
            if emitted is not None:
                receipts.append(1000 * (wall - emitted))
    sizes = [len(p) for _, p in conversations]
    return {
        "clients": args.clients,
        "conversations": args.conversations,
        "direct": sum(1 for s in sizes if s == 2),
        "largest_group": max(sizes, default=0),
        "rate": args.rate,
        "seconds": args.seconds,
        "database": "PostgreSQL" if args.database_url else "SQLite",
        "messages": messages,
        "refused": dict(shared.refused),
        "from_send": percentiles(from_send),
        "from_emitted": percentiles(from_emitted),
        "stretch_p99": {k * STRETCH: percentiles(v)["p99"] for k, v in sorted(stretches.items())},
        "receipts": percentiles(receipts),
        "receipts_expected": sum(sum(w.values()) for w in expected.values()),
        "expected": sum(sum(w.values()) for w in expected.values()),
        "received": sum(len(c.arrivals) for c in clients),
        "missing": missing,
        "duplicate": duplicate,
        "unexpected": unexpected,
        "disconnects": sum(c.disconnects for c in clients),
    }


def _stretches(p99s: dict[float, float]) -> str:
    if not p99s:
        return f"sent -> each recipient, p99 of each {STRETCH:g} s of sends: none"
    worst = max(p99s, key=lambda at: p99s[at])
    ordered = sorted(p99s.values())
    return (
        f"sent -> each recipient, p99 of each {STRETCH:g} s of sends: median "
        f"{ordered[len(ordered) // 2]:.1f} ms, worst {p99s[worst]:.1f} ms ({worst:g} s in), "
        f"{sum(1 for v in ordered if v > 100)} of {len(ordered)} above 100 ms"
    )


def report(r: dict[str, Any]) -> tuple[str, bool]:
    # A send refused with rate_limited is the server shedding load as designed (the client would
    # retry after retryAfterMs); any other refusal, or no answer, fails the run.
    shed = r["refused"].get("send:rate_limited", 0)
    sends_refused = sum(n for k, n in r["refused"].items() if k.startswith("send:")) - shed
    ok = r["missing"] == 0 and r["duplicate"] == 0 and r["unexpected"] == 0
    ok = ok and sends_refused == 0 and r["messages"] + shed == r["attempted"]
    s, e, k = r["from_send"], r["from_emitted"], r["receipts"]
    per_message = r["server_cpu_seconds"] / r["messages"] if r["messages"] else float("nan")
    refused = ", ".join(f"{key} {n}" for key, n in sorted(r["refused"].items())) or "none"
    return (
        f"chat load: {r['messages']} of {r['attempted']} messages at {r['rate']:g}/s for "
        f"{r['seconds']:g} s, {r['clients']} clients in {r['conversations']} conversations "
        f"({r['direct']} direct, groups up to {r['largest_group']}; {r['database']})\n"
        f"  connected in {r['connect_seconds']:.1f} s; sent in {r['send_seconds']:.1f} s, "
        f"settled {r['settled_seconds']:.1f} s after the first send\n"
        f"  sent -> each recipient: p50 {s['p50']:.1f} ms, p99 {s['p99']:.1f} ms, "
        f"max {s['max']:.1f} ms\n"
        f"  emittedAt -> each recipient: p50 {e['p50']:.1f} ms, p99 {e['p99']:.1f} ms, "
        f"max {e['max']:.1f} ms\n"
        f"  {_stretches(r['stretch_p99'])}\n"
        f"  delivered emit -> sender: p50 {k['p50']:.1f} ms, p99 {k['p99']:.1f} ms "
        f"({k['n']} receipts of {r['receipts_expected']} deliveries)\n"
        f"  deliveries {r['received']} of {r['expected']}: missing {r['missing']}, duplicate "
        f"{r['duplicate']}, unexpected {r['unexpected']}; refused acks: {refused}; "
        f"disconnects {r['disconnects']}\n"
        f"  server CPU {r['server_cpu_seconds']:.2f} s, {1000 * per_message:.2f} ms per message; "
        f"load generator CPU {r['loadgen_cpu_seconds']:.2f} s",
        ok,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # One address for every socket: the per-address limits would refuse what many people send.
    os.environ["TANDEM_CHAT_SEND_IP_BURST"] = "0"
    os.environ["TANDEM_CHAT_TYPING_IP_BURST"] = "0"
    for limit in ("RECEIPT", "HINT", "SUBSCRIBE"):
        os.environ[f"TANDEM_SOCKET_{limit}_IP_BURST"] = "0"
    status = run_once(
        args,
        "chat",
        args.clients + 1,
        lambda info, pid: measure(args, info, pid),
        report,
        client_cpus=args.client_cpus if args.loadgen == "python" else "",
    )
    if args.profile:
        print(summarize_profile(Path(args.profile)))
    return status


if __name__ == "__main__":
    sys.exit(main())
