"""A Hypothesis state machine of receipts and unread counts: three people of one org, a group of
the three and a direct conversation between two of them, two devices each. People send over the
socket (sometimes the same clientId again), devices report delivered and read (sometimes an older
message than already read), authors delete their messages, devices go away and come back,
replaying from the last seq they saw (in each conversation's room and in their own `user:` room,
where their receipts come) or reloading the list.

After every step each connected device's count — the list snapshot it loaded, plus the events it
received, applied by the client's rules (docs/chat.md) — must equal the server's list and this
test's own count: messages past the person's `readN`, not theirs, not deleted. Counts are never
negative, one's own messages never count, and no receipt cursor ever moves back. The receipts
in a history are the cursors as its reader knows them."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests.chat.factories import conversations, history, start
from tests.harness import Listener, Person, Server, quick_team, quiesce

EXAMPLES = int(os.environ.get("TANDEM_UNREAD_MACHINE_EXAMPLES", "10"))
STEPS = int(os.environ.get("TANDEM_UNREAD_MACHINE_STEPS", "15"))
DEVICES = 2  # per person
done: Counter[str] = Counter()  # what the run did, so a vacuous run fails


@dataclass
class Sent:
    id: str
    n: int
    author: str
    client_id: str
    text: str
    ack: dict[str, Any]
    deleted: bool = False


@dataclass
class Device:
    """One of a person's devices: its socket, and the conversation list as it sees it."""

    person: Person
    listener: Listener | None = None
    view: dict[str, dict[str, int]] = field(default_factory=dict)  # cid -> readN, …, unreadCount
    received: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # cid -> (id, n)
    last_seq: dict[str, int] = field(default_factory=dict)  # room -> last seq seen
    seen: set[int] = field(default_factory=set)
    applied: int = 0

    @property
    def me(self) -> str:
        return self.person.id

    async def load(self, org_id: str) -> None:
        """The list snapshot the device starts from (a first connection, or a reload)."""
        snapshot = await conversations(self.person, org_id)
        self.view = {
            c["id"]: {k: c[k] for k in ("readN", "deliveredN", "unreadCount")}
            for c in snapshot["conversations"]
        }
        self.received = {cid: [] for cid in self.view}
        self.last_seq = {f"chat:{cid}": snapshot["cursor"] for cid in self.view}
        self.last_seq[f"user:{self.me}"] = snapshot["cursor"]  # its own receipts come there
        self.seen.clear()

    async def connect(self) -> None:
        """Subscribe to each listed conversation's room after the last seq seen there."""
        listener = Listener(self.person.server, await self.person.socket_token())
        await listener.connect()
        for room, after in self.last_seq.items():
            ack = await listener.subscribe(room, after=after)
            assert ack["ok"] is True, ack
            done["replayed events"] += ack["replayed"]
        self.listener, self.applied = listener, 0

    async def disconnect(self) -> None:
        assert self.listener is not None
        self.catch_up()
        await self.listener.close()
        self.listener = None

    def catch_up(self) -> None:
        if self.listener is None:
            return
        events = self.listener.events
        for envelope in events[self.applied :]:
            if envelope.get("room") in self.last_seq and "seq" in envelope:
                self.apply(envelope)
        self.applied = len(events)

    def apply(self, envelope: dict[str, Any]) -> None:
        """The client's rules for the list's receipts and unread count."""
        seq = envelope["seq"]
        if seq in self.seen:  # a replay and a live copy: one seq, applied once
            return
        self.seen.add(seq)
        self.last_seq[envelope["room"]] = max(self.last_seq[envelope["room"]], seq)
        event, data = envelope["event"], envelope["data"]
        entry = self.view.get(data.get("conversationId", ""))
        if entry is None:  # on its own room: a conversation's creation, which it lists already
            assert event == "chat.conversation.created", envelope
            return
        if event == "chat.message.created":
            message = data["message"]
            self.received[data["conversationId"]].append((message["messageId"], message["n"]))
            if message["authorId"] == self.me:
                entry.update(readN=message["n"], deliveredN=message["n"], unreadCount=0)
            elif message["n"] > entry["readN"]:
                entry["unreadCount"] += 1
        elif event == "chat.message.deleted":
            message = data["message"]
            if message["authorId"] != self.me and message["n"] > entry["readN"]:
                entry["unreadCount"] -= 1
        elif event == "chat.message.read":
            if data["readerId"] == self.me:
                entry.update(readN=data["n"], unreadCount=data["unreadCount"])
                entry["deliveredN"] = max(entry["deliveredN"], data["n"])
        elif event == "chat.message.delivered":
            if data["recipientId"] == self.me:
                entry["deliveredN"] = max(entry["deliveredN"], data["n"])
        elif event not in ("chat.message.updated", "chat.conversation.created"):
            # A list loaded before its conversations' creation was logged hears of it again.
            raise AssertionError(f"no rule for {event}")


async def call(listener: Listener, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A socket call; a send past the limits waits as long as it is told and tries again."""
    while True:
        ack = await listener.sio.call(event, payload, timeout=10)
        if ack.get("ok") is False and ack["error"]["code"] == "rate_limited":
            await asyncio.sleep(ack["error"].get("retryAfterMs", 200) / 1000)
            continue
        return ack


def machine(server: Server, run: Any) -> type:
    class Unread(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.org_id, self.people = run(quick_team(server, ["Owner", "Member", "Member"]))
            ada, bo, cy = self.people
            self.cids = [
                run(start(ada, self.org_id, bo, cy, title="Team"))["id"],
                run(start(ada, self.org_id, bo))["id"],
            ]
            self.members = {self.cids[0]: {ada.id, bo.id, cy.id}, self.cids[1]: {ada.id, bo.id}}
            self.sent: dict[str, list[Sent]] = {cid: [] for cid in self.cids}
            # (cid, userId) -> [deliveredN, readN], as this test counts them
            self.cursors = {(cid, u): [0, 0] for cid in self.cids for u in self.members[cid]}
            self.highest: dict[tuple[str, str], tuple[int, int]] = {}  # cursors last seen
            run(server.settle())
            self.devices = [Device(p) for p in self.people for _ in range(DEVICES)]
            for device in self.devices:
                run(device.load(self.org_id))
                run(device.connect())
            self.serial = 0

        # -- helpers --------------------------------------------------------------------------

        def conversation(self, person: Person, c: int) -> str:
            cid = self.cids[c % len(self.cids)]
            return cid if person.id in self.members[cid] else self.cids[0]

        def unread(self, cid: str, user_id: str) -> int:
            read_n = self.cursors[(cid, user_id)][1]
            return sum(
                1 for m in self.sent[cid] if m.n > read_n and m.author != user_id and not m.deleted
            )

        def moved(self, cid: str, user_id: str, delivered: int, read: int) -> None:
            cursor = self.cursors[(cid, user_id)]
            cursor[0] = max(cursor[0], delivered, read)
            cursor[1] = max(cursor[1], read)

        async def socket_of(self, person: Person) -> tuple[Listener, bool]:
            """A connected device of the person, or a socket opened for this one send."""
            for device in self.devices:
                if device.person is person and device.listener is not None:
                    return device.listener, False
            listener = Listener(server, await person.socket_token())
            await listener.connect()
            return listener, True

        async def send_op(self, p: int, c: int, again: bool, k: int) -> None:
            person = self.people[p]
            cid = self.conversation(person, c)
            earlier = [m for m in self.sent[cid] if m.author == person.id and not m.deleted]
            listener, temporary = await self.socket_of(person)
            try:
                if again and earlier:
                    first = earlier[k % len(earlier)]
                    payload = {"conversationId": cid, "clientId": first.client_id}
                    ack = await call(listener, "chat.message.send", {**payload, "text": first.text})
                    assert ack == first.ack, (ack, first.ack)  # the first message, nothing new
                    done["resend"] += 1
                    return
                self.serial += 1
                client_id, text = f"c-{uuid.uuid4().hex[:8]}", f"message {self.serial}"
                payload = {"conversationId": cid, "clientId": client_id, "text": text}
                ack = await call(listener, "chat.message.send", payload)
                assert ack["ok"] is True, ack
            finally:
                if temporary:
                    await listener.close()
            n = len(self.sent[cid]) + 1
            self.sent[cid].append(Sent(ack["messageId"], n, person.id, client_id, text, ack))
            self.moved(cid, person.id, n, n)
            done["send"] += 1

        # -- rules ----------------------------------------------------------------------------

        @initialize(counts=st.tuples(st.integers(1, 3), st.integers(0, 2), st.integers(0, 2)))
        def some_messages(self, counts: tuple[int, int, int]) -> None:
            """Something to deliver, read and delete from the first step: bo and cy in the group,
            ada in the direct conversation."""
            for (p, c), count in zip(((1, 0), (2, 0), (0, 1)), counts, strict=True):
                for _ in range(count):
                    run(self.send_op(p, c, False, 0))

        @rule(
            d=st.integers(0, 3 * DEVICES - 1),
            p=st.integers(0, 2),
            c=st.integers(0, 1),
            reload=st.booleans(),
        )
        def miss_messages(self, d: int, p: int, c: int, reload: bool) -> None:
            """A device goes away, someone sends and reads meanwhile, the device comes back."""
            device = self.devices[d]
            self.disconnect(d)
            self.send(p, c, False, 0)
            self.read(d ^ 1, c, 0, True)  # the person's other device
            self.come_back(device, reload)

        @rule(p=st.integers(0, 2), c=st.integers(0, 1), again=st.booleans(), k=st.integers(0, 9))
        def send(self, p: int, c: int, again: bool, k: int) -> None:
            run(self.send_op(p, c, again, k))

        @rule(
            d=st.integers(0, 3 * DEVICES - 1),
            c=st.integers(0, 1),
            picks=st.lists(st.integers(0, 30), min_size=1, max_size=3),
        )
        def deliver(self, d: int, c: int, picks: list[int]) -> None:
            device = self.devices[d]
            cid = self.conversation(device.person, c)
            device.catch_up()
            got = device.received[cid]
            if device.listener is None or not got:
                return
            chosen = [got[i % len(got)] for i in picks]
            payload = {"conversationId": cid, "messageIds": [m for m, _ in chosen]}
            ack = run(call(device.listener, "chat.message.delivered", payload))
            assert ack == {"ok": True}, ack
            self.moved(cid, device.me, max(n for _, n in chosen), 0)
            done["delivered"] += 1

        @rule(
            d=st.integers(0, 3 * DEVICES - 1),
            c=st.integers(0, 1),
            k=st.integers(0, 30),
            latest=st.booleans(),
        )
        def read(self, d: int, c: int, k: int, latest: bool) -> None:
            device = self.devices[d]
            cid = self.conversation(device.person, c)
            device.catch_up()
            got = device.received[cid]
            if device.listener is None or not got:
                return
            message_id, n = got[-1] if latest else got[k % len(got)]
            if n <= self.cursors[(cid, device.me)][1]:
                done["read behind"] += 1
            payload = {"conversationId": cid, "messageId": message_id}
            ack = run(call(device.listener, "chat.message.read", payload))
            assert ack == {"ok": True}, ack
            self.moved(cid, device.me, n, n)
            done["read"] += 1

        @rule(p=st.integers(0, 2), k=st.integers(0, 30))
        def delete(self, p: int, k: int) -> None:
            person = self.people[p]
            mine = [m for cid in self.cids for m in self.sent[cid] if m.author == person.id]
            if not mine:
                return
            message = mine[k % len(mine)]

            async def delete() -> None:
                async with person.http() as http:
                    r = await http.delete(f"/api/messages/{message.id}")
                    assert r.status_code == 204, r.text

            run(delete())
            if not message.deleted:
                cid = next(cid for cid in self.cids if message in self.sent[cid])
                if any(self.unread(cid, u) for u in self.members[cid] if u != person.id):
                    done["delete while unread"] += 1
            message.deleted = True
            done["delete"] += 1

        @rule(d=st.integers(0, 3 * DEVICES - 1))
        def disconnect(self, d: int) -> None:
            device = self.devices[d]
            if device.listener is not None:
                run(device.disconnect())
                done["disconnect"] += 1

        @rule(d=st.integers(0, 3 * DEVICES - 1), reload=st.booleans())
        def reconnect(self, d: int, reload: bool) -> None:
            away = [device for device in self.devices if device.listener is None]
            if not away:
                return
            self.come_back(away[d % len(away)], reload)

        def come_back(self, device: Device, reload: bool) -> None:
            """Reconnect: replay from the last seq seen, or reload the list and start after it."""
            if reload:
                run(device.load(self.org_id))
            run(device.connect())
            done["reload" if reload else "replay"] += 1

        # -- the invariants -------------------------------------------------------------------

        @invariant()
        def every_count_agrees(self) -> None:
            listeners = [d.listener for d in self.devices if d.listener is not None]
            run(quiesce(server, *listeners))
            for device in self.devices:
                device.catch_up()
            for person in self.people:
                listed = run(conversations(person, self.org_id))["conversations"]
                assert {c["id"] for c in listed} == {
                    cid for cid in self.cids if person.id in self.members[cid]
                }
                for entry in listed:
                    cid = entry["id"]
                    server_view = {k: entry[k] for k in ("readN", "deliveredN", "unreadCount")}
                    delivered, read = self.cursors[(cid, person.id)]
                    expected = {
                        "readN": read,
                        "deliveredN": delivered,
                        "unreadCount": self.unread(cid, person.id),
                    }
                    assert entry["lastN"] == len(self.sent[cid]), (entry, self.sent[cid])
                    assert server_view == expected, (person.name, cid, server_view, expected)
                    assert entry["unreadCount"] >= 0, entry
                    before = self.highest.get((cid, person.id), (0, 0))
                    now = (entry["deliveredN"], entry["readN"])
                    assert now[0] >= before[0] and now[1] >= before[1], (person.name, before, now)
                    own = [m.n for m in self.sent[cid] if m.author == person.id]
                    assert not own or entry["readN"] >= max(own), (entry, own)  # never unread
                    for device in self.devices:
                        if device.person is person and device.listener is not None:
                            seen = device.view[cid]
                            assert seen["unreadCount"] >= 0, (person.name, cid, seen)
                            assert seen == server_view, (person.name, cid, seen, server_view)
            for cid in self.cids:
                receipts = run(history(self.people[0], cid))["receipts"]
                assert {r["userId"] for r in receipts} == self.members[cid]
                for r in receipts:
                    key = (cid, r["userId"])
                    now = (r["deliveredN"], r["readN"])
                    expected = [self.known(cid, n, r["userId"]) for n in self.cursors[key]]
                    assert list(now) == expected, (key, now, self.cursors[key])
                    before = self.highest.get(key, (0, 0))
                    assert now[0] >= before[0] and now[1] >= before[1], (key, before, now)
                    assert now[0] >= now[1], (key, now)  # what was read was delivered
                    self.highest[key] = now

        def known(self, cid: str, cursor: int, user_id: str) -> int:
            """How far a member's cursor is known to the first person (docs/chat.md): exactly
            for themselves; for another, as far as it covers the first person's messages or
            the member's own (everyone here joined when the conversation began)."""
            viewer = self.people[0].id
            if user_id == viewer:
                return cursor
            mine = [m.n for m in self.sent[cid] if m.author == viewer and m.n <= cursor]
            own = [m.n for m in self.sent[cid] if m.author == user_id]
            return max([0, *mine, *own])

        def teardown(self) -> None:
            for device in self.devices:
                if device.listener is not None:
                    run(device.listener.close())

    return Unread


async def test_every_device_counts_unread_as_the_server_does(server: Server) -> None:
    loop = asyncio.get_running_loop()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

    config = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    done.clear()
    await asyncio.to_thread(run_state_machine_as_test, machine(server, run), settings=config)
    # Not a vacuous run: each kind of step happened.
    for kind in (
        "send",
        "resend",
        "delivered",
        "read",
        "read behind",
        "delete while unread",
        "replayed events",
        "reload",
    ):
        assert done[kind] > 0, done
