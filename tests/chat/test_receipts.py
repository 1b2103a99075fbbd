"""Receipt cursors and unread counts: they never move back, a receipt that moves nothing records
nothing, one's own messages are never unread, and the reader's other devices learn at once."""

from __future__ import annotations

from tests.chat.factories import history, listed, read, send, start
from tests.harness import assert_error, listening, logged, login, quick_team


async def receipts(person, cid):
    return {
        r["userId"]: (r["deliveredN"], r["readN"]) for r in (await history(person, cid))["receipts"]
    }


async def test_cursors_never_move_back_and_duplicates_record_nothing(server):
    org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
    cid = (await start(ada, org_id, bo))["id"]
    sent = [await send(ada, cid, f"m{i}") for i in range(4)]
    ids = [m["messageId"] for m in sent]
    assert (await listed(bo, org_id))[cid]["unreadCount"] == 4
    async with bo.http() as http:
        url = f"/api/conversations/{cid}/delivered"
        # Unknown ids and another conversation's are ignored beside a valid one.
        r = await http.post(url, json={"messageIds": [ids[0], ids[2], "m_unknown"]})
        assert r.status_code == 204, r.text
        assert_error(await http.post(url, json={"messageIds": ["m_unknown"]}), 404)
        assert_error(await http.post(url, json={"messageIds": []}), 422)
    assert (await receipts(ada, cid))[bo.id] == (3, 0)
    await read(bo, cid, ids[1])
    assert (await receipts(ada, cid))[bo.id] == (3, 2)
    assert (await listed(bo, org_id))[cid]["unreadCount"] == 2
    await server.settle()
    rooms = [f"user:{ada.id}", f"user:{bo.id}"]
    before = [len(await logged(server, room)) for room in rooms]
    await read(bo, cid, ids[0])  # behind the cursor
    await read(bo, cid, ids[1])  # the same again
    async with bo.http() as http:
        r = await http.post(f"/api/conversations/{cid}/delivered", json={"messageIds": ids[:3]})
        assert r.status_code == 204
        r = await http.post(f"/api/conversations/{cid}/read", json={"messageId": "m_unknown"})
        assert_error(r, 404)
    await server.settle()
    assert [len(await logged(server, room)) for room in rooms] == before
    assert (await receipts(ada, cid))[bo.id] == (3, 2)
    await read(bo, cid, ids[3])  # reading moves delivered with it
    assert (await receipts(ada, cid))[bo.id] == (4, 4)
    assert (await listed(bo, org_id))[cid]["unreadCount"] == 0
    await server.settle()
    for room, count in zip(rooms, before, strict=True):
        assert [e["event"] for e in await logged(server, room)][count:] == ["chat.message.read"]
    # Receipts go to people, never to the conversation's room.
    said = {e["event"] for e in await logged(server, f"chat:{cid}")}
    assert said == {"chat.conversation.created", "chat.message.created"}


async def test_a_receipt_reaches_the_authors_it_covers_and_its_own_person_only(server):
    org_id, (ada, bo, cy, di) = await quick_team(server, ["Owner", "Member", "Member", "Member"])
    cid = (await start(ada, org_id, bo, cy, di, title="Four"))["id"]
    m1 = await send(ada, cid, "one")
    await send(cy, cid, "two")
    m3 = await send(ada, cid, "three")
    m4 = await send(cy, cid, "four")
    await server.settle()
    counts = {p.id: len(await logged(server, f"user:{p.id}")) for p in (ada, bo, cy, di)}
    async with bo.http() as http:
        r = await http.post(
            f"/api/conversations/{cid}/delivered", json={"messageIds": [m4["messageId"]]}
        )
        assert r.status_code == 204, r.text
    await server.settle()
    heard = {
        p.id: (await logged(server, f"user:{p.id}"))[counts[p.id] :] for p in (ada, bo, cy, di)
    }
    # ada hears of her own latest message it covers; cy and bo of the cursor's new position
    assert [(e["data"]["n"], e["data"]["messageId"]) for e in heard[ada.id]] == [
        (3, m3["messageId"])
    ]
    for person in (bo, cy):
        assert [(e["data"]["n"], e["data"]["recipientId"]) for e in heard[person.id]] == [
            (4, bo.id)
        ]
    assert heard[di.id] == []
    # Each history says what its reader knows: how far bo's cursor covers their own messages.
    assert (await receipts(ada, cid))[bo.id] == (3, 0)
    assert (await receipts(cy, cid))[bo.id] == (4, 0)
    assert (await receipts(bo, cid))[bo.id] == (4, 0)
    assert (await receipts(di, cid))[bo.id] == (0, 0)
    # Reading the first message tells only its author, and bo's own devices.
    await server.settle()
    counts = {p.id: len(await logged(server, f"user:{p.id}")) for p in (ada, bo, cy, di)}
    await read(bo, cid, m1["messageId"])
    await server.settle()
    for person, expected in ((ada, [1]), (bo, [1]), (cy, []), (di, [])):
        events = (await logged(server, f"user:{person.id}"))[counts[person.id] :]
        assert [e["data"]["n"] for e in events] == expected, person.name
    assert (await receipts(ada, cid))[bo.id] == (3, 1)
    assert (await receipts(cy, cid))[bo.id] == (4, 0)
    # Someone who left hears no more of it, though their messages stay.
    m5 = await send(cy, cid, "five")
    async with cy.http() as http:
        r = await http.delete(f"/api/conversations/{cid}/members/{cy.id}")
        assert r.status_code == 204, r.text
    await server.settle()
    counts = {p.id: len(await logged(server, f"user:{p.id}")) for p in (ada, bo, cy)}
    await read(bo, cid, m4["messageId"])
    await server.settle()
    for person, expected in ((ada, [3]), (bo, [4]), (cy, [])):
        events = (await logged(server, f"user:{person.id}"))[counts[person.id] :]
        assert [e["data"]["n"] for e in events] == expected, person.name
    # Nor of a receipt moving by just their message.
    counts = {p.id: len(await logged(server, f"user:{p.id}")) for p in (ada, bo, cy)}
    await read(bo, cid, m5["messageId"])
    await server.settle()
    for person, expected in ((ada, []), (bo, [5]), (cy, [])):
        events = (await logged(server, f"user:{person.id}"))[counts[person.id] :]
        assert [e["data"]["n"] for e in events] == expected, person.name


async def test_ones_own_messages_are_never_unread(server):
    org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
    cid = (await start(ada, org_id, bo))["id"]
    await send(bo, cid, "one")
    await send(bo, cid, "two")
    assert (await listed(ada, org_id))[cid]["unreadCount"] == 2
    said = await send(ada, cid, "answer")  # answering reads what came before
    mine = (await listed(ada, org_id))[cid]
    assert (mine["unreadCount"], mine["readN"], mine["deliveredN"]) == (0, 3, 3)
    theirs = (await listed(bo, org_id))[cid]
    assert (theirs["unreadCount"], theirs["readN"]) == (1, 2)
    assert theirs["lastMessage"]["messageId"] == said["messageId"]


async def test_reading_on_one_device_tells_the_others_the_unread_count(server):
    org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
    cid = (await start(ada, org_id, bo))["id"]
    sent = [await send(ada, cid, f"m{i}") for i in range(3)]
    phone = await login(server, bo.email)
    async with listening(bo, f"chat:{cid}") as laptop, listening(phone, f"chat:{cid}") as other:
        ack = await laptop.sio.call(
            "chat.message.read", {"conversationId": cid, "messageId": sent[1]["messageId"]}
        )
        assert ack == {"ok": True}, ack
        event = await other.wait_event("chat.message.read", readerId=bo.id)
        data = event["data"]
        assert (data["n"], data["messageId"], data["unreadCount"]) == (2, sent[1]["messageId"], 1)
        assert data["conversationId"] == cid and data["readAt"]
        ack = await laptop.sio.call(
            "chat.message.delivered",
            {"conversationId": cid, "messageIds": [sent[2]["messageId"]]},
        )
        assert ack == {"ok": True}, ack
        delivered = (await other.wait_event("chat.message.delivered", recipientId=bo.id))["data"]
        assert (delivered["n"], delivered["messageId"]) == (3, sent[2]["messageId"])
        # Unknown messages are `invalid`, as is another conversation's named alone; a
        # conversation one is not in is `forbidden`.
        ack = await laptop.sio.call(
            "chat.message.read", {"conversationId": cid, "messageId": "m_unknown"}
        )
        assert ack["ok"] is False and ack["error"]["code"] == "invalid", ack
        elsewhere = (await start(ada, org_id, bo, title="Elsewhere"))["id"]
        theirs = await send(ada, elsewhere, "not in this one")
        for event, ids in (
            ("chat.message.read", {"messageId": theirs["messageId"]}),
            ("chat.message.delivered", {"messageIds": [theirs["messageId"]]}),
        ):
            ack = await laptop.sio.call(event, {"conversationId": cid, **ids})
            assert ack["ok"] is False and ack["error"]["code"] == "invalid", (event, ack)
        ack = await laptop.sio.call(
            "chat.message.read", {"conversationId": "conv_missing", "messageId": "m_unknown"}
        )
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
