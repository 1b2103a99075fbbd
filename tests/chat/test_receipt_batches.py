"""Receipts written together (receipts.mark_together, what a socket's receipts arriving at once go
through) write exactly what the same receipts one by one write: the same cursors and the same
events, with the same unread counts, to the same people, in the same order. One that would be
refused refuses the whole batch before it writes anything."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tandem.chat import receipts
from tandem.kit.errors import NotFound
from tests.chat.factories import history, send, start
from tests.harness import Server, logged, quick_team

AUTHORS = [0, 2, 1, 0, 3, 0, 2, 3, 1, 0]  # who sends each message: to the group, odd ones direct


async def world(server: Server) -> dict[str, Any]:
    """Four people in a group of four, the first two in a direct conversation too, ten messages,
    one of them deleted; the fourth leaves the group after sending."""
    org_id, people = await quick_team(server, ["Owner", "Member", "Member", "Member"])
    group = (await start(people[0], org_id, *people[1:], title="Four"))["id"]
    direct = (await start(people[0], org_id, people[1]))["id"]
    messages = []
    for i, author in enumerate(AUTHORS):
        cid, who = (direct, people[author % 2]) if i % 2 else (group, people[author])
        messages.append((cid, (await send(who, cid, f"m{i}"))["messageId"]))
    async with people[2].http() as http:  # the seventh, in the group
        r = await http.delete(f"/api/messages/{messages[6][1]}")
        assert r.status_code == 204, r.text
    async with people[3].http() as http:
        r = await http.delete(f"/api/conversations/{group}/members/{people[3].id}")
        assert r.status_code == 204, r.text
    await server.settle()
    return {"org": org_id, "people": people, "group": group, "direct": direct, "messages": messages}


def marks(w: dict[str, Any], seed: int) -> list[receipts.Mark]:
    """Deliveries and reads by members for messages of their conversations, repeated, late and out
    of order."""
    rng = random.Random(seed)
    chosen = []
    for _ in range(40):
        cid, mid = rng.choice(w["messages"])
        members = range(3) if cid == w["group"] else range(2)
        who = w["people"][rng.choice(members)]
        kind = rng.choice(["delivered", "delivered", "read"])
        chosen.append(receipts.Mark(kind, cid, who.id, mid, f"trace{len(chosen)}"))
    return chosen


async def heard(server: Server, w: dict[str, Any]) -> dict[str, Any]:
    """What each person's room and each conversation's receipts say, ids as labels."""
    labels = {p.id: f"person{i}" for i, p in enumerate(w["people"])}
    labels |= {mid: f"message{i}" for i, (_, mid) in enumerate(w["messages"])}
    labels |= {w["group"]: "group", w["direct"]: "direct"}
    said: dict[str, Any] = {}
    for i, person in enumerate(w["people"]):
        events = await logged(server, f"user:{person.id}")
        said[f"person{i}"] = [
            (
                e["event"],
                {k: labels.get(v, v) for k, v in e["data"].items() if not k.endswith("At")},
            )
            for e in events
            if e["event"] in ("chat.message.delivered", "chat.message.read")
        ]
    for name in ("group", "direct"):
        body = await history(w["people"][0], w[name])
        said[name] = sorted(
            (labels[r["userId"]], r["deliveredN"], r["readN"]) for r in body["receipts"]
        )
    return said


@pytest.mark.parametrize("window", [receipts.WINDOW, 2], ids=["window", "too-far-behind"])
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_together_writes_what_one_by_one_writes(
    server: Server, seed: int, window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receipts, "WINDOW", window)
    one, together = await world(server), await world(server)
    db = server.runtime.db
    for m in marks(one, seed):
        async with db.unit_of_work() as session:
            if m.kind == "read":
                await receipts.mark_read(session, m.conversation_id, m.actor_id, m.message_id)
            else:
                await receipts.mark_delivered(
                    session, m.conversation_id, m.actor_id, [m.message_id]
                )
    async with db.unit_of_work() as session:
        await receipts.mark_together(session, marks(together, seed))
    await server.settle()
    expected = await heard(server, one)
    kinds = {e for p in ("person0", "person1", "person2") for e, _ in expected[p]}
    assert kinds == {"chat.message.delivered", "chat.message.read"}
    assert await heard(server, together) == expected


@pytest.mark.parametrize(
    "refused", ["not a member", "another conversation's message", "no longer in the org"]
)
async def test_one_refusal_refuses_the_batch_and_writes_nothing(
    server: Server, refused: str
) -> None:
    w = await world(server)
    people, (group_message, direct_message) = w["people"], (w["messages"][0], w["messages"][1])
    await server.settle()
    before = await heard(server, w)
    if refused == "not a member":
        bad = receipts.Mark("read", w["direct"], people[2].id, direct_message[1], "t")
    elif refused == "no longer in the org":
        async with people[0].http() as http:
            r = await http.delete(f"/api/orgs/{w['org']}/members/{people[2].id}")
            assert r.status_code == 204, r.text
        await server.settle()
        before = await heard(server, w)
        bad = receipts.Mark("delivered", w["group"], people[2].id, group_message[1], "t")
    else:
        bad = receipts.Mark("read", w["direct"], people[0].id, group_message[1], "t")
    good = receipts.Mark("read", w["group"], people[1].id, group_message[1], "t")
    with pytest.raises(NotFound):
        async with server.runtime.db.unit_of_work() as session:
            await receipts.mark_together(session, [good, bad])
    await server.settle()
    assert await heard(server, w) == before
