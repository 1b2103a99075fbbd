"""Snapshot + events = state (STYLE item 8, SPEC §5.4) for every durable chat event, on both
snapshots the messages page loads: a conversation's history (with its receipts) and the
conversation list (with the reader's unread counts). Snapshot with its cursor, subscribe after it,
act, apply what arrived with the client's reducer rules, fetch a new snapshot, require the two be
equal. An action that emits nothing fails."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from tests.chat.factories import read, send, start
from tests.harness import Person, listening, quick_team, quiesce

Reducer = Callable[[dict[str, Any], dict[str, Any]], None]
RECEIPTS = {"chat.message.delivered", "chat.message.read"}


# -- the client's reducers, rule for rule ---------------------------------------------------


def history_state(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {
        "messages": {m["messageId"]: m for m in snapshot["messages"]},
        "receipts": {r["userId"]: r for r in snapshot["receipts"]},
    }


def history_view(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "messages": sorted(state["messages"].values(), key=lambda m: m["n"]),
        "receipts": sorted(state["receipts"].values(), key=lambda r: r["userId"]),
    }


def apply_history_event(state: dict[str, Any], envelope: dict[str, Any]) -> None:
    event, data = envelope["event"], envelope["data"]
    messages, receipts = state["messages"], state["receipts"]
    if event == "chat.message.created":
        message = data["message"]
        messages[message["messageId"]] = message
        mine = receipts[message["authorId"]]
        mine["readN"] = mine["deliveredN"] = message["n"]
    elif event in ("chat.message.updated", "chat.message.deleted"):
        messages[data["message"]["messageId"]] = data["message"]
    elif event == "chat.message.delivered":
        receipt = receipts[data["recipientId"]]
        receipt["deliveredN"] = max(receipt["deliveredN"], data["n"])
    elif event == "chat.message.read":
        receipt = receipts[data["readerId"]]
        receipt["readN"] = data["n"]
        receipt["deliveredN"] = max(receipt["deliveredN"], data["n"])
    elif event == "chat.member.added":
        last = data["conversation"]["lastN"]
        receipts[data["member"]["userId"]] = {
            "userId": data["member"]["userId"],
            "deliveredN": last,
            "readN": last,
        }
    elif event == "chat.member.removed":
        receipts.pop(data["userId"], None)
    elif event != "chat.conversation.updated":
        raise AssertionError(f"no history rule for {event}")


def list_state(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {"conversations": {c["id"]: c for c in snapshot["conversations"]}}


def list_view(state: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(
        state["conversations"].values(),
        key=lambda c: (c["lastActivityAt"], c["id"]),
        reverse=True,
    )


def list_reducer(me: str) -> Reducer:
    def apply(state: dict[str, Any], envelope: dict[str, Any]) -> None:
        event, data = envelope["event"], envelope["data"]
        listed = state["conversations"]
        if event == "chat.conversation.created":
            conversation = data["conversation"]
            listed[conversation["id"]] = {
                **conversation,
                "unreadCount": 0,
                "readN": 0,
                "deliveredN": 0,
            }
        elif event in ("chat.conversation.updated", "chat.member.added", "chat.member.removed"):
            conversation = data["conversation"]
            if event == "chat.member.removed" and data["userId"] == me:
                listed.pop(conversation["id"], None)
            elif event == "chat.member.added" and data["member"]["userId"] == me:
                last = conversation["lastN"]
                listed[conversation["id"]] = {
                    **conversation,
                    "unreadCount": 0,
                    "readN": last,
                    "deliveredN": last,
                }
            else:
                listed[conversation["id"]].update(conversation)
        elif event == "chat.message.created":
            entry, message = listed[data["conversationId"]], data["message"]
            entry.update(lastMessage=message, lastN=message["n"], lastActivityAt=message["sentAt"])
            if message["authorId"] == me:
                entry.update(readN=message["n"], deliveredN=message["n"], unreadCount=0)
            else:
                entry["unreadCount"] += 1
        elif event in ("chat.message.updated", "chat.message.deleted"):
            entry, message = listed[data["conversationId"]], data["message"]
            if entry["lastMessage"] and entry["lastMessage"]["messageId"] == message["messageId"]:
                entry["lastMessage"] = message
            if (
                event == "chat.message.deleted"
                and message["authorId"] != me
                and message["n"] > entry["readN"]
            ):
                entry["unreadCount"] -= 1
        elif event == "chat.message.delivered":
            if data["recipientId"] == me:
                entry = listed[data["conversationId"]]
                entry["deliveredN"] = max(entry["deliveredN"], data["n"])
        elif event == "chat.message.read":
            if data["readerId"] == me:
                entry = listed[data["conversationId"]]
                entry.update(readN=data["n"], unreadCount=data["unreadCount"])
                entry["deliveredN"] = max(entry["deliveredN"], data["n"])
        else:
            raise AssertionError(f"no conversation list rule for {event}")

    return apply


# -- the check ---------------------------------------------------------------------------------


async def fetch(person: Person, path: str) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.get(path)
        assert r.status_code == 200, r.text
        return r.json()


def conversation_of(envelope: dict[str, Any]) -> str | None:
    data = envelope.get("data") or {}
    return data.get("conversationId") or (data.get("conversation") or {}).get("id")


async def verify_action(
    person: Person,
    rooms: list[str],
    path: str,
    state_of: Callable[[dict[str, Any]], dict[str, Any]],
    reducer: Reducer,
    action: Callable[[], Awaitable[Any]],
    view: Callable[[dict[str, Any]], Any],
    keep: Callable[[dict[str, Any]], bool] = lambda envelope: True,
) -> list[str]:
    server = person.server
    await server.settle()
    before = await fetch(person, path)
    state = state_of(copy.deepcopy(before))
    async with listening(person) as listener:
        for room in rooms:
            ack = await listener.subscribe(room, after=before["cursor"])
            assert ack["ok"] is True, ack
        await action()
        await quiesce(server, listener)
    seen: dict[int, dict[str, Any]] = {}
    for envelope in listener.events:  # one event in two of the rooms arrives twice, one seq
        if envelope.get("room") in rooms and "seq" in envelope and keep(envelope):
            seen.setdefault(envelope["seq"], envelope)
    events = [seen[seq] for seq in sorted(seen)]
    assert events, "the action emitted nothing"
    assert events[0]["seq"] > before["cursor"]
    for envelope in events:
        reducer(state, envelope)
    after = await fetch(person, path)
    assert view(state) == view(state_of(after))
    assert after["cursor"] >= events[-1]["seq"]
    return [e["event"] for e in events]


async def on_history(person: Person, cid: str, action: Callable[[], Awaitable[Any]]) -> list[str]:
    """The thread of one conversation as `person` sees it: its room, and the receipts and
    membership of that conversation on their own room."""
    return await verify_action(
        person,
        [f"chat:{cid}", f"user:{person.id}"],
        f"/api/conversations/{cid}/messages",
        history_state,
        apply_history_event,
        action,
        history_view,
        keep=lambda envelope: conversation_of(envelope) == cid,
    )


async def on_list(person: Person, org_id: str, action: Callable[[], Awaitable[Any]]) -> list[str]:
    listed = await fetch(person, f"/api/orgs/{org_id}/conversations")
    rooms = [f"user:{person.id}", *(f"chat:{c['id']}" for c in listed["conversations"])]
    return await verify_action(
        person,
        rooms,
        f"/api/orgs/{org_id}/conversations",
        list_state,
        list_reducer(person.id),
        action,
        list_view,
    )


# -- every durable chat event ------------------------------------------------------------------


async def test_message_events_keep_the_history_and_the_list(server):
    org_id, (ada, bo, cy) = await quick_team(server, ["Owner", "Admin", "Member"])
    gid = (await start(ada, org_id, bo, cy, title="Team"))["id"]
    first = await send(bo, gid, "first")
    said: dict[str, Any] = {}

    async def sending() -> None:
        said["cy"] = await send(cy, gid, "from cy")
        said["ada"] = await send(ada, gid, "from ada")

    async def editing() -> None:
        async with cy.http() as http:
            r = await http.patch(f"/api/messages/{said['cy']['messageId']}", json={"text": "edit"})
            assert r.status_code == 200, r.text

    async def deleting() -> None:
        async with bo.http() as http:  # an Admin deletes another's message
            r = await http.delete(f"/api/messages/{first['messageId']}")
            assert r.status_code == 204, r.text
            r = await http.delete(f"/api/messages/{said['cy']['messageId']}")
            assert r.status_code == 204, r.text

    async def delivering() -> None:
        latest = await send(bo, gid, "unread for ada")
        async with ada.http() as http:
            ids = [first["messageId"], latest["messageId"]]
            r = await http.post(f"/api/conversations/{gid}/delivered", json={"messageIds": ids})
            assert r.status_code == 204, r.text

    async def reading() -> None:
        last = await send(bo, gid, "more for ada")
        await read(ada, gid, last["messageId"])
        await read(cy, gid, first["messageId"])

    # Each person's thread: the author's, a reader's, and one who is neither.
    for viewer, (action, expected, viewers) in itertools.product(
        (ada, bo, cy),
        (
            (sending, {"chat.message.created"}, (ada, bo, cy)),
            (editing, {"chat.message.updated"}, (ada, bo, cy)),
            # a receipt reaches the author of what it covers and its own person, not the third
            (delivering, {"chat.message.created", "chat.message.delivered"}, (bo, ada)),
            (reading, {"chat.message.created", "chat.message.read"}, (bo, ada)),
        ),
    ):
        events = set(await on_history(viewer, gid, action))
        assert events == (expected if viewer in viewers else expected - RECEIPTS)
    assert await on_history(cy, gid, deleting) == ["chat.message.deleted"] * 2
    for person in (ada, bo, cy):
        for action, expected in (
            (sending, {"chat.message.created"}),
            (editing, {"chat.message.updated"}),
            (delivering, {"chat.message.created", "chat.message.delivered"}),
            (reading, {"chat.message.created", "chat.message.read"}),
        ):
            if person is cy:
                expected -= RECEIPTS
            assert expected <= set(await on_list(person, org_id, action))
    # A deletion of a message still unread for the list's owner takes it off their count.
    unread = await send(cy, gid, "soon gone")

    async def deleting_unread() -> None:
        async with cy.http() as http:
            r = await http.delete(f"/api/messages/{unread['messageId']}")
            assert r.status_code == 204, r.text

    assert await on_list(ada, org_id, deleting_unread) == ["chat.message.deleted"]


async def test_conversation_events_keep_the_list_and_the_receipts(server):
    org_id, (ada, bo, cy, di) = await quick_team(server, ["Owner", "Member", "Member", "Member"])
    gid = (await start(ada, org_id, bo, title="Team"))["id"]
    await send(bo, gid, "before anyone else")

    async def creating() -> None:
        await start(bo, org_id, ada)
        await start(cy, org_id, ada, bo, title="New")

    titles = iter(["Team 2", "Team 3"])

    async def renaming() -> None:
        async with bo.http() as http:
            r = await http.patch(f"/api/conversations/{gid}", json={"title": next(titles)})
            assert r.status_code == 200, r.text

    async def adding() -> None:
        async with bo.http() as http:
            for person in (cy, di):
                r = await http.post(f"/api/conversations/{gid}/members", json={"userId": person.id})
                assert r.status_code == 201, r.text

    async def removing() -> None:
        async with ada.http() as http:
            r = await http.delete(f"/api/conversations/{gid}/members/{di.id}")
            assert r.status_code == 204, r.text
        async with cy.http() as http:
            r = await http.delete(f"/api/conversations/{gid}/members/{cy.id}")
            assert r.status_code == 204, r.text

    assert set(await on_list(ada, org_id, creating)) == {"chat.conversation.created"}
    assert await on_list(ada, org_id, renaming) == ["chat.conversation.updated"]
    assert await on_history(ada, gid, renaming) == ["chat.conversation.updated"]
    assert await on_history(bo, gid, adding) == ["chat.member.added"] * 2
    await send(ada, gid, "for the new people")
    assert await on_history(bo, gid, removing) == ["chat.member.removed"] * 2
    # The people added and removed, from their own lists.
    await on_list(cy, org_id, adding)
    await on_list(cy, org_id, removing)
    await on_list(di, org_id, adding)
    await on_list(di, org_id, removing)
