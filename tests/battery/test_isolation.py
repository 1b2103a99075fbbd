"""Isolation at scale: people of one organization try, thousands of times, to reach another's data.

A seeded, bounded random run of attempts by an org's Owner, Admin and Member and by a person in no
org: socket `subscribe` and `GET /api/events` on every room kind with ids that exist in another org,
ids that exist nowhere, and malformed or oversized names; every REST resource with another org's
ids and with missing ones. Meanwhile the other orgs' people keep changing roles, names and
membership. Nothing may succeed, a foreign id must get exactly the answer a missing one gets, and
no attacker socket may receive anything of the other orgs. The figures are printed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import socketio

from tandem.kit.ids import new_id
from tandem.realtime import rooms
from tests.battery import SCALE, SEED
from tests.harness import (
    Listener,
    Person,
    Server,
    join,
    quick_signup,
    quick_team,
    quiesce,
    rename,
    start_server,
)

ATTEMPTS = max(1, int(10_000 * SCALE))
WORKERS = 6
# Each room kind's id prefix (kit/ids.py), for ids shaped like real ones that exist nowhere.
ID_PREFIX = {"org": "org", "project": "p", "task": "t", "chat": "conv", "user": "u"}
REFUSAL_ROOMS = ("", "x", "org", "org:", ":org_1", "ORG:org_1", "orgs:org_1", "user:", "task:")


@dataclass
class Victims:
    """The other organizations, whose ids the attackers aim at; grows as people join them."""

    orgs: dict[str, list[Person]]
    user_ids: list[str] = field(default_factory=list)

    def ids_of(self, kind: str, rng: random.Random) -> str:
        """An id of this kind that exists, but in another org.

        Rooms of a kind with nothing of its own yet (projects, tasks, chats) are tried with the
        other orgs' real ids; a phase that adds those resources adds its ids here.
        """
        if kind == "user" or (kind != "org" and rng.random() < 0.5):
            return rng.choice(self.user_ids)
        return rng.choice(list(self.orgs))


@dataclass
class Figures:
    attempts: Counter = field(default_factory=Counter)  # by surface
    by_target: Counter = field(
        default_factory=Counter
    )  # room kind or the attacker's role, by category
    successes: list[str] = field(default_factory=list)
    rate_limited: Counter = field(default_factory=Counter)  # by surface: refusals, counted apart
    disconnected: int = 0
    # (surface, kind) -> category ("foreign" | "missing") -> the answers seen
    answers: dict[tuple[str, str], dict[str, Counter]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Counter))
    )

    def answer(self, surface: str, kind: str, category: str, seen: Any) -> None:
        self.attempts[surface] += 1
        self.by_target[f"{kind}/{category}"] += 1
        if category in ("foreign", "missing"):
            self.answers[(surface, kind)][category][seen] += 1


def malformed_room(rng: random.Random, foreign: str) -> Any:
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(REFUSAL_ROOMS)
    if roll < 0.55:  # oversized: past the limit, sometimes far past
        kind = rng.choice(rooms.ROOM_KINDS)
        size = rng.choice([rooms.MAX_ROOM_LENGTH + 1, 200, 1000, 8000])
        return f"{kind}:{foreign}" + "x" * size
    if roll < 0.75:  # a real foreign id, bent: case, whitespace, separators, control characters
        kind = rng.choice(rooms.ROOM_KINDS)
        return rng.choice(
            [
                f"{kind.upper()}:{foreign}",
                f" {kind}:{foreign}",
                f"{kind}:{foreign} ",
                f"{kind}::{foreign}",
                f"{kind}:{foreign}\x00",
                f"{kind}:{foreign}/../x",
                f"{kind}:{foreign.upper()}",
                f"{kind}:%s" % foreign.replace("_", "%5F"),
            ]
        )
    return rng.choice([123, None, True, [f"org:{foreign}"], {"room": f"org:{foreign}"}, 1.5])


def room_target(rng: random.Random, victims: Victims) -> tuple[str, str, Any]:
    """(kind, category, room) of one attempt at a room."""
    kind = rng.choice(rooms.ROOM_KINDS)
    roll = rng.random()
    if roll < 0.45:
        return kind, "foreign", f"{kind}:{victims.ids_of(kind, rng)}"
    if roll < 0.85:
        return kind, "missing", f"{kind}:{new_id(ID_PREFIX[kind])}"
    return "malformed", "malformed", malformed_room(rng, victims.ids_of(kind, rng))


def subscribe_payload(rng: random.Random, room: Any) -> Any:
    roll = rng.random()
    if roll < 0.6:
        return {"room": room}
    if roll < 0.9:  # ask for a replay from the start of the log
        return {"room": room, "after": rng.choice([0, 1, 10**6])}
    return rng.choice([room, {"room": room, "extra": 1}, {"room": room, "after": "0"}])


def rest_attempt(
    rng: random.Random, victims: Victims, own_org: str | None
) -> tuple[str, str, str, str, dict | None]:
    """(operation, category, method, path, body) of one REST attempt."""
    category = "foreign" if rng.random() < 0.5 else "missing"
    if category == "foreign":
        org_id = rng.choice(list(victims.orgs))
        user_id = rng.choice([p.id for p in victims.orgs[org_id][1:]])
    else:
        org_id, user_id = new_id("org"), new_id("u")
    ops: list[tuple[str, str, str, dict | None]] = [
        ("members", "GET", f"/api/orgs/{org_id}/members", None),
        ("invites", "GET", f"/api/orgs/{org_id}/invites", None),
        (
            "invite",
            "POST",
            f"/api/orgs/{org_id}/invites",
            {"email": "someone@example.com", "role": "Member"},
        ),
        ("flags", "GET", f"/api/orgs/{org_id}/flags", None),
        ("set flag", "PUT", f"/api/orgs/{org_id}/flags/members", {"enabled": False}),
        ("role", "PATCH", f"/api/orgs/{org_id}/members/{user_id}", {"role": "Admin"}),
        ("remove", "DELETE", f"/api/orgs/{org_id}/members/{user_id}", None),
        ("leave", "POST", f"/api/orgs/{org_id}/leave", None),
    ]
    if own_org is not None:  # another org's person, named through the attacker's own org
        ops += [
            ("own org: role", "PATCH", f"/api/orgs/{own_org}/members/{user_id}", {"role": "Owner"}),
            ("own org: remove", "DELETE", f"/api/orgs/{own_org}/members/{user_id}", None),
        ]
    operation, method, path, body = rng.choice(ops)
    return operation, category, method, path, body


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    try:
        error = response.json().get("error", {})
    except ValueError:
        error = {}
    if not isinstance(error, dict):
        error = {}
    return response.status_code, str(error.get("code")), str(error.get("message"))


class Attacker:
    """One worker: a person of the attacking side, with a socket and an HTTP client of their own."""

    def __init__(self, person: Person, role: str, own_org: str | None, figures: Figures) -> None:
        self.person = person
        self.role = role  # a Member is refused what an Owner is told does not exist
        self.own_org = own_org
        self.figures = figures
        self.listener: Listener | None = None
        self.received: list[dict[str, Any]] = []

    async def connect(self) -> None:
        if self.listener is not None:
            self.received.extend(self.listener.events)
            with contextlib.suppress(Exception):
                await self.listener.close()
        self.listener = await Listener(
            self.person.server, await self.person.socket_token()
        ).connect()
        if self.own_org is not None:
            ack = await self.listener.subscribe(rooms.org_room(self.own_org))
            assert ack["ok"], ack

    async def run(self, rng: random.Random, attempts: int, victims: Victims) -> None:
        await self.connect()
        async with self.person.http() as http:
            for _ in range(attempts):
                roll = rng.random()
                if roll < 0.55:
                    await self.subscribe(rng, victims)
                elif roll < 0.75:
                    await self.events(http, rng, victims)
                else:
                    await self.rest(http, rng, victims)
        assert self.listener is not None
        self.received.extend(self.listener.events)

    async def subscribe(self, rng: random.Random, victims: Victims) -> None:
        kind, category, room = room_target(rng, victims)
        payload = subscribe_payload(rng, room)
        assert self.listener is not None
        try:
            ack = await self.listener.sio.call("subscribe", payload, timeout=10)
        except (TimeoutError, socketio.exceptions.SocketIOError):
            self.figures.disconnected += 1
            self.figures.attempts["subscribe"] += 1
            await self.connect()
            return
        if isinstance(ack, dict) and ack.get("ok") is True:
            self.figures.successes.append(f"subscribe {payload!r}: {ack!r}")
        error = ack.get("error", {}) if isinstance(ack, dict) else {}
        if error.get("code") == "rate_limited":
            self.figures.rate_limited["subscribe"] += 1
            self.figures.attempts["subscribe"] += 1
            await asyncio.sleep(min(float(error.get("retryAfter") or 0.05), 1.0))
            return
        if payload == {"room": room}:  # the plain form: compared between foreign and missing
            self.figures.answer(
                "subscribe", kind, category, (error.get("code"), error.get("message"))
            )
        else:
            self.figures.answer("subscribe", kind, "variant", None)

    async def events(self, http: httpx.AsyncClient, rng: random.Random, victims: Victims) -> None:
        kind, category, room = room_target(rng, victims)
        if not isinstance(room, str):
            room = str(room)
        params: dict[str, Any] = {"room": room}
        if rng.random() < 0.5:
            params["after"] = 0
        r = await http.get("/api/events", params=params)
        self.rest_answer("events", kind, category, r, f"GET /api/events {params!r}")

    async def rest(self, http: httpx.AsyncClient, rng: random.Random, victims: Victims) -> None:
        operation, category, method, path, body = rest_attempt(rng, victims, self.own_org)
        r = await http.request(method, path, json=body)
        self.rest_answer(operation, f"as {self.role}", category, r, f"{method} {path}")

    def rest_answer(
        self, surface: str, kind: str, category: str, r: httpx.Response, what: str
    ) -> None:
        if r.status_code < 400:
            self.figures.successes.append(f"{what}: {r.status_code} {r.text[:200]}")
        if r.status_code == 429:
            self.figures.rate_limited[surface] += 1
            self.figures.attempts[surface] += 1
            return
        self.figures.answer(surface, kind, category, error_of(r))


async def keep_changing(
    server: Server, victims: Victims, stop: asyncio.Event, rng: random.Random
) -> Counter:
    """The other orgs at work for the whole run: role changes, renames, joins, sockets coming and going."""
    done: Counter = Counter()
    while not stop.is_set():
        org_id = rng.choice(list(victims.orgs))
        owner, *others = victims.orgs[org_id]
        action = rng.choice(["role", "rename", "join", "presence"])
        if action == "join" and len(others) >= 12:  # keep each org small enough to pick from
            action = "presence"
        if action == "role":
            target = rng.choice(others)
            async with owner.http() as http:
                r = await http.patch(
                    f"/api/orgs/{org_id}/members/{target.id}",
                    json={"role": rng.choice(["Admin", "Member"])},
                )
                assert r.status_code == 200, r.text
        elif action == "rename":
            await rename(rng.choice(victims.orgs[org_id]), f"Victim {rng.randrange(10**6)}")
        elif action == "join":
            newcomer = await quick_signup(server, name=f"Joiner {rng.randrange(10**6)}")
            victims.user_ids.append(newcomer.id)
            await join(org_id, owner, newcomer, "Member")
            others.append(newcomer)
            victims.orgs[org_id].append(newcomer)
        else:
            person = rng.choice(victims.orgs[org_id])
            listener = await Listener(server, await person.socket_token()).connect()
            await listener.subscribe(rooms.org_room(org_id))
            await listener.close()
        done[action] += 1
        await asyncio.sleep(0.02)
    return done


def leaks(
    events: list[dict[str, Any]], allowed_rooms: set[str], secrets: Callable[[], set[str]]
) -> list:
    foreign = secrets()
    found = []
    for event in events:
        text = orjson.dumps(event).decode()
        if event.get("room") not in allowed_rooms or any(s in text for s in foreign):
            found.append(event)
    return found


async def test_no_attempt_reaches_another_org(
    backend: str, database_url: str, tmp_path: Path, request: pytest.FixtureRequest, capsys
) -> None:
    # On PostgreSQL the instance delivers through Redis, as a deployment of several would.
    redis = {"redis_url": request.getfixturevalue("redis_url")} if backend == "postgresql" else {}
    async with start_server(database_url, tmp_path, **redis) as server:
        await attack(server, backend, capsys)


async def attack(server: Server, backend: str, capsys) -> None:
    started = time.monotonic()
    victim_orgs: dict[str, list[Person]] = {}
    for name in ("Globex", "Initech"):
        org_id, people = await quick_team(server, ["Owner", "Admin", "Member", "Member"], name)
        victim_orgs[org_id] = people
        async with people[0].http() as http:  # a pending invite each: invites are a resource too
            r = await http.post(
                f"/api/orgs/{org_id}/invites", json={"email": "later@example.com", "role": "Member"}
            )
            assert r.status_code == 201, r.text
    victims = Victims(victim_orgs, [p.id for people in victim_orgs.values() for p in people])
    own_org, attackers = await quick_team(server, ["Owner", "Admin", "Member"], "Attackers")
    loner = await quick_signup(server, name="In no org")
    figures = Figures()
    sides = [
        (attackers[0], "Owner", own_org),
        (attackers[1], "Admin", own_org),
        (attackers[2], "Member", own_org),
        (loner, "no org", None),
    ]
    workers = [
        Attacker(*sides[i % len(sides)], figures)  # type: ignore[misc]
        for i in range(WORKERS)
    ]

    # The victims' own sockets, to show their changes really were being delivered meanwhile.
    watchers = [
        await Listener(server, await people[0].socket_token()).connect()
        for people in victim_orgs.values()
    ]
    for watcher, org_id in zip(watchers, victim_orgs, strict=True):
        assert (await watcher.subscribe(rooms.org_room(org_id)))["ok"]

    stop = asyncio.Event()
    churn = asyncio.create_task(keep_changing(server, victims, stop, random.Random(SEED - 1)))
    share, rest = divmod(ATTEMPTS, len(workers))
    attack_started = time.monotonic()
    try:
        await asyncio.gather(
            *(
                worker.run(random.Random(SEED + i), share + (1 if i < rest else 0), victims)
                for i, worker in enumerate(workers)
            )
        )
    finally:
        stop.set()
        changes = await churn
    attack_seconds = time.monotonic() - attack_started

    # Let every change made during the run reach every socket before counting what arrived.
    live = [w.listener for w in workers if w.listener is not None]
    await quiesce(server, *live, *watchers)
    await rename(attackers[0], "Attacker renamed")  # their own org's events still arrive
    await quiesce(server, *live, *watchers)

    secrets = lambda: set(victims.orgs) | set(victims.user_ids)  # noqa: E731
    foreign_seen = 0
    for worker in workers:
        assert worker.listener is not None
        events = worker.received + worker.listener.events
        allowed = {rooms.user_room(worker.person.id)}
        if worker.own_org is not None:
            allowed.add(rooms.org_room(worker.own_org))
            assert any(
                e.get("data", {}).get("member", {}).get("name") == "Attacker renamed"
                for e in worker.listener.events
            ), "the attacker's socket stopped receiving its own org's events"
        foreign_seen += len(leaks(events, allowed, secrets))
    victim_events = sum(len(w.events) for w in watchers)
    for listener in [*live, *watchers]:
        await listener.close()

    mismatched = {
        f"{surface}/{kind}": {c: dict(seen) for c, seen in by.items()}
        for (surface, kind), by in figures.answers.items()
        if by.get("foreign") and by.get("missing") and set(by["foreign"]) != set(by["missing"])
    }
    total = sum(figures.attempts.values())
    with capsys.disabled():
        print(
            f"\nisolation battery ({backend}, seed {SEED}, scale {SCALE:g}): {total} attempts "
            f"{dict(figures.attempts)}; by target {dict(sorted(figures.by_target.items()))}; successes {len(figures.successes)}; "
            f"rate_limited {dict(figures.rate_limited)}; socket drops {figures.disconnected}; "
            f"foreign events seen {foreign_seen}; other orgs' changes {dict(changes)} "
            f"({victim_events} events delivered to them); "
            f"attack {attack_seconds:.1f} s, total {time.monotonic() - started:.1f} s"
        )
    assert total == ATTEMPTS
    assert figures.successes == [], figures.successes[:10]
    assert foreign_seen == 0
    assert mismatched == {}, mismatched
    assert sum(changes.values()) > 0 and victim_events > 0
