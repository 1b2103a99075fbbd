"""Isolation at scale: people of one organization try, thousands of times, to reach another's data.

A seeded, bounded random run of attempts by an org's Owner, Admin and Member and by a person in no
org: socket `subscribe` and `GET /api/events` on every room kind with ids that exist in another org,
ids that exist nowhere, and malformed or oversized names; the board's socket hints
(`kanban.lock`, `kanban.typing`), the task page's (`task.typing`) and the messages page's
(`chat.typing`, `chat.message.send`) about another org's tasks and conversations and missing ones;
every REST resource (subtasks, comments, conversations and messages too) with another org's ids
and with missing ones. Meanwhile the other orgs' people keep changing roles, names and
membership, moving cards, sending hints on their boards, typing and commenting on their task
pages and chatting in their conversations. Nothing may succeed, a foreign id must get exactly the answer a missing one gets, and
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

ATTEMPTS = max(1, int(5_000 * SCALE))
WORKERS = 6
# Each room kind's id prefix (kit/ids.py), for ids shaped like real ones that exist nowhere.
ID_PREFIX = {
    "org": "org",
    "project": "p",
    "task": "t",
    "chat": "conv",
    "user": "u",
    "dashboard": "org",
}
REFUSAL_ROOMS = ("", "x", "org", "org:", ":org_1", "ORG:org_1", "orgs:org_1", "user:", "task:")


@dataclass
class Victims:
    """The other organizations, whose ids the attackers aim at; grows as people join them."""

    orgs: dict[str, list[Person]]
    user_ids: list[str] = field(default_factory=list)
    project_ids: list[str] = field(default_factory=list)
    task_ids: list[str] = field(default_factory=list)
    tasks_by_org: dict[str, list[str]] = field(default_factory=dict)
    project_of_org: dict[str, str] = field(default_factory=dict)
    attachment_ids: list[str] = field(default_factory=list)
    subtask_ids: list[str] = field(default_factory=list)
    comment_ids: list[str] = field(default_factory=list)
    conversation_ids: list[str] = field(default_factory=list)
    conversation_of_org: dict[str, str] = field(default_factory=dict)
    message_ids: list[str] = field(default_factory=list)

    def ids_of(self, kind: str, rng: random.Random) -> str:
        """An id of this kind that exists, but in another org."""
        if kind == "chat":
            return rng.choice(self.conversation_ids)
        if kind == "project":
            return rng.choice(self.project_ids)
        if kind == "task":
            return rng.choice(self.task_ids)
        if kind == "dashboard":  # named by its org
            return rng.choice(list(self.orgs))
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
        project_id, task_id = rng.choice(victims.project_ids), rng.choice(victims.task_ids)
        attachment_id = rng.choice(victims.attachment_ids)
        subtask_id, comment_id = rng.choice(victims.subtask_ids), rng.choice(victims.comment_ids)
        conversation_id, message_id = (
            rng.choice(victims.conversation_ids),
            rng.choice(victims.message_ids),
        )
    else:
        org_id, user_id = new_id("org"), new_id("u")
        project_id, task_id = new_id("p"), new_id("t")
        attachment_id = new_id("att")
        subtask_id, comment_id = new_id("st"), new_id("cm")
        conversation_id, message_id = new_id("conv"), new_id("m")
    conversation = f"/api/conversations/{conversation_id}"
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
        ("set state", "PUT", f"/api/orgs/{org_id}/flags/kanban", {"state": "soak"}),
        ("rollout", "GET", f"/api/orgs/{org_id}/realtime", None),
        (
            "drift",
            "POST",
            f"/api/orgs/{org_id}/realtime/drift",
            {"phase": "members", "room": f"org:{org_id}", "traceIds": ["t"]},
        ),
        ("role", "PATCH", f"/api/orgs/{org_id}/members/{user_id}", {"role": "Admin"}),
        ("remove", "DELETE", f"/api/orgs/{org_id}/members/{user_id}", None),
        ("leave", "POST", f"/api/orgs/{org_id}/leave", None),
        ("projects", "GET", f"/api/orgs/{org_id}/projects", None),
        ("dashboard", "GET", f"/api/orgs/{org_id}/dashboard", None),
        ("project", "GET", f"/api/projects/{project_id}", None),
        ("board", "GET", f"/api/projects/{project_id}/board", None),
        ("change project", "PATCH", f"/api/projects/{project_id}", {"name": "Mine now"}),
        ("columns", "PUT", f"/api/projects/{project_id}/columns", {"columns": ["Mine"]}),
        (
            "add member",
            "POST",
            f"/api/projects/{project_id}/members",
            {"userId": user_id, "role": "Lead"},
        ),
        ("remove member", "DELETE", f"/api/projects/{project_id}/members/{user_id}", None),
        ("create task", "POST", f"/api/projects/{project_id}/tasks", {"title": "Planted"}),
        (
            "create task placed",
            "POST",
            f"/api/projects/{project_id}/tasks",
            {"title": "Planted", "beforeTaskId": task_id, "clientId": "planted"},
        ),
        ("task", "GET", f"/api/tasks/{task_id}", None),
        ("change task", "PATCH", f"/api/tasks/{task_id}", {"changes": {"title": "Mine"}}),
        (
            "change task stale",
            "PATCH",
            f"/api/tasks/{task_id}",
            {"changes": {"priority": "Low"}, "baseRev": 0, "clientId": "x"},
        ),
        ("move task", "POST", f"/api/tasks/{task_id}/move", {"toColumn": "Done"}),
        (
            "move task placed",
            "POST",
            f"/api/tasks/{task_id}/move",
            {"toColumn": "Done", "afterTaskId": task_id, "baseRev": 0, "clientId": "x"},
        ),
        ("delete task", "DELETE", f"/api/tasks/{task_id}", None),
        ("attach", "POST", f"/api/tasks/{task_id}/attachments", None),
        ("attachment", "GET", f"/api/attachments/{attachment_id}", None),
        ("thumbnail", "GET", f"/api/attachments/{attachment_id}/thumbnail", None),
        ("remove attachment", "DELETE", f"/api/attachments/{attachment_id}", None),
        ("add subtask", "POST", f"/api/tasks/{task_id}/subtasks", {"title": "Planted"}),
        (
            "add subtask placed",
            "POST",
            f"/api/tasks/{task_id}/subtasks",
            {"title": "Planted", "afterSubtaskId": subtask_id, "clientId": "planted"},
        ),
        ("tick subtask", "PATCH", f"/api/subtasks/{subtask_id}", {"done": True}),
        ("move subtask", "PATCH", f"/api/subtasks/{subtask_id}", {"afterSubtaskId": subtask_id}),
        ("remove subtask", "DELETE", f"/api/subtasks/{subtask_id}", None),
        ("comment", "POST", f"/api/tasks/{task_id}/comments", {"text": "Planted", "clientId": "x"}),
        ("edit comment", "PATCH", f"/api/comments/{comment_id}", {"text": "Mine"}),
        ("delete comment", "DELETE", f"/api/comments/{comment_id}", None),
        (
            "merge description",
            "PATCH",
            f"/api/tasks/{task_id}",
            {"changes": {"description": "Mine"}, "descriptionBase": "", "baseRev": 0},
        ),
        ("conversations", "GET", f"/api/orgs/{org_id}/conversations", None),
        ("start conversation", "POST", f"/api/orgs/{org_id}/conversations", {"memberIds": []}),
        ("conversation", "GET", conversation, None),
        ("history", "GET", f"{conversation}/messages", None),
        ("send", "POST", f"{conversation}/messages", {"text": "Planted", "clientId": "x"}),
        ("rename conversation", "PATCH", conversation, {"title": "Mine now"}),
        ("add to conversation", "POST", f"{conversation}/members", {"userId": user_id}),
        ("remove from conversation", "DELETE", f"{conversation}/members/{user_id}", None),
        ("read", "POST", f"{conversation}/read", {"messageId": message_id}),
        ("delivered", "POST", f"{conversation}/delivered", {"messageIds": [message_id]}),
        ("edit message", "PATCH", f"/api/messages/{message_id}", {"text": "Mine"}),
        ("delete message", "DELETE", f"/api/messages/{message_id}", None),
    ]
    if own_org is not None:  # another org's person, named through the attacker's own org
        ops += [
            ("own org: role", "PATCH", f"/api/orgs/{own_org}/members/{user_id}", {"role": "Owner"}),
            ("own org: remove", "DELETE", f"/api/orgs/{own_org}/members/{user_id}", None),
            (
                "own org: drift of another's room",
                "POST",
                f"/api/orgs/{own_org}/realtime/drift",
                {"phase": "kanban", "room": f"project:{project_id}"},
            ),
            (
                "own org: start conversation",
                "POST",
                f"/api/orgs/{own_org}/conversations",
                {"memberIds": [user_id]},
            ),
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
                if roll < 0.5:
                    await self.subscribe(rng, victims)
                elif roll < 0.65:
                    await self.events(http, rng, victims)
                elif roll < 0.75:
                    await self.hint(rng, victims)
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

    async def hint(self, rng: random.Random, victims: Victims) -> None:
        """A board, task page or messages page hint (or a chat send) about another org's task (its
        project, or its own org's) or conversation, or a missing one."""
        category = "foreign" if rng.random() < 0.5 else "missing"
        if category == "foreign":
            org_id = rng.choice(list(victims.orgs))
            project_id = victims.project_of_org[org_id]
            task_id = rng.choice(victims.tasks_by_org[org_id])
            conversation_id = victims.conversation_of_org[org_id]
        else:
            project_id, task_id, conversation_id = new_id("p"), new_id("t"), new_id("conv")
        event = rng.choice(
            ["kanban.lock", "kanban.typing", "task.typing", "chat.typing", "chat.message.send"]
        )
        flag = "locked" if event == "kanban.lock" else "typing"
        payload: dict[str, Any] = {
            "projectId": project_id,
            "taskId": task_id,
            flag: rng.random() < 0.8,
        }
        if event == "task.typing":
            payload = {
                "taskId": task_id,
                "typing": payload["typing"],
                "field": rng.choice(["comment", "description"]),
            }
        elif event == "chat.typing":
            payload = {"conversationId": conversation_id, "typing": payload["typing"]}
        elif event == "chat.message.send":
            payload = {"conversationId": conversation_id, "clientId": "x", "text": "Planted"}
        assert self.listener is not None
        try:
            ack = await self.listener.sio.call(event, payload, timeout=10)
        except (TimeoutError, socketio.exceptions.SocketIOError):
            self.figures.disconnected += 1
            self.figures.attempts[event] += 1
            await self.connect()
            return
        if isinstance(ack, dict) and ack.get("ok") is True:
            self.figures.successes.append(f"{event} {payload!r}: {ack!r}")
        error = ack.get("error", {}) if isinstance(ack, dict) else {}
        if error.get("code") == "rate_limited":
            self.figures.rate_limited[event] += 1
            self.figures.attempts[event] += 1
            await asyncio.sleep(min(float(error.get("retryAfterMs") or 50) / 1000, 1.0))
            return
        kind = "chat" if event.startswith("chat.") else "task"
        self.figures.answer(event, kind, category, (error.get("code"), error.get("message")))

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
        action = rng.choice(["role", "rename", "join", "presence", "move", "hint", "page", "chat"])
        if action == "join" and len(others) >= 12:  # keep each org small enough to pick from
            action = "presence"
        if action == "hint":  # a victim drags a card: the hint must reach no attacker
            project_id = victims.project_of_org[org_id]
            listener = await Listener(server, await owner.socket_token()).connect()
            assert (await listener.subscribe(rooms.project_room(project_id)))["ok"]
            task_id = rng.choice(victims.tasks_by_org[org_id])
            for locked in (True, False):
                ack = await listener.sio.call(
                    "kanban.lock", {"projectId": project_id, "taskId": task_id, "locked": locked}
                )
                assert ack == {"ok": True}, ack
            await listener.close()
        elif action == "page":  # a victim writes on a task's page: none of it may reach an attacker
            task_id = rng.choice(victims.tasks_by_org[org_id])
            listener = await Listener(server, await owner.socket_token()).connect()
            assert (await listener.subscribe(rooms.task_room(task_id)))["ok"]
            for typing in (True, False):
                ack = await listener.sio.call(
                    "task.typing", {"taskId": task_id, "typing": typing, "field": "comment"}
                )
                assert ack == {"ok": True}, ack
            async with owner.http() as http:
                r = await http.post(f"/api/tasks/{task_id}/comments", json={"text": "private"})
                assert r.status_code == 201, r.text
                victims.comment_ids.append(r.json()["comment"]["id"])
                r = await http.patch(
                    f"/api/subtasks/{rng.choice(victims.subtask_ids)}", json={"done": True}
                )
                assert r.status_code in (200, 404), r.text  # another org's subtask: not found
            await listener.close()
        elif action == "chat":  # a victim types and writes in their group: none of it may leak
            conversation_id = victims.conversation_of_org[org_id]
            listener = await Listener(server, await owner.socket_token()).connect()
            assert (await listener.subscribe(rooms.chat_room(conversation_id)))["ok"]
            for typing in (True, False):
                ack = await listener.sio.call(
                    "chat.typing", {"conversationId": conversation_id, "typing": typing}
                )
                assert ack == {"ok": True}, ack
            ack = await listener.sio.call(
                "chat.message.send",
                {"conversationId": conversation_id, "clientId": new_id("c"), "text": "private"},
            )
            assert ack["ok"] is True, ack
            victims.message_ids.append(ack["messageId"])
            async with owner.http() as http:
                r = await http.post(
                    f"/api/conversations/{conversation_id}/read",
                    json={"messageId": ack["messageId"]},
                )
                assert r.status_code == 204, r.text
            await listener.close()
        elif action == "move":
            async with owner.http() as http:
                r = await http.post(
                    f"/api/tasks/{rng.choice(victims.tasks_by_org[org_id])}/move",
                    json={"toColumn": rng.choice(["To Do", "In Progress", "Review", "Done"])},
                )
                assert r.status_code == 200, r.text
        elif action == "role":
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
    for org_id, people in victim_orgs.items():  # a project and tasks each, to aim at
        async with people[0].http() as http:
            r = await http.post(f"/api/orgs/{org_id}/projects", json={"name": "Victim project"})
            assert r.status_code == 201, r.text
            project_id = r.json()["project"]["id"]
            victims.project_ids.append(project_id)
            victims.project_of_org[org_id] = project_id
            for title in ("First", "Second"):
                r = await http.post(f"/api/projects/{project_id}/tasks", json={"title": title})
                assert r.status_code == 201, r.text
                victims.task_ids.append(r.json()["task"]["id"])
                victims.tasks_by_org.setdefault(org_id, []).append(r.json()["task"]["id"])
            r = await http.post(  # a file too, to aim at
                f"/api/tasks/{victims.task_ids[-1]}/attachments",
                files={"file": ("plan.txt", b"victim's file")},
            )
            assert r.status_code == 201, r.text
            victims.attachment_ids.append(r.json()["attachment"]["id"])
            r = await http.post(  # a subtask and a comment too
                f"/api/tasks/{victims.task_ids[-1]}/subtasks", json={"title": "victim's step"}
            )
            assert r.status_code == 201, r.text
            victims.subtask_ids.append(r.json()["subtask"]["id"])
            r = await http.post(
                f"/api/tasks/{victims.task_ids[-1]}/comments", json={"text": "victim's note"}
            )
            assert r.status_code == 201, r.text
            victims.comment_ids.append(r.json()["comment"]["id"])
            r = await http.post(  # a conversation and a message too
                f"/api/orgs/{org_id}/conversations",
                json={"memberIds": [p.id for p in people[1:3]], "title": "Victim chat"},
            )
            assert r.status_code == 201, r.text
            conversation_id = r.json()["conversation"]["id"]
            victims.conversation_ids.append(conversation_id)
            victims.conversation_of_org[org_id] = conversation_id
            r = await http.post(
                f"/api/conversations/{conversation_id}/messages",
                json={"text": "victim's message", "clientId": "first"},
            )
            assert r.status_code == 201, r.text
            victims.message_ids.append(r.json()["message"]["messageId"])
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

    secrets = lambda: (  # noqa: E731
        set(victims.orgs)
        | set(victims.user_ids)
        | set(victims.project_ids)
        | set(victims.task_ids)
        | set(victims.attachment_ids)
        | set(victims.subtask_ids)
        | set(victims.comment_ids)
        | set(victims.conversation_ids)
        | set(victims.message_ids)
    )
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
