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
    room = f"chat:{cid}"
    before = len(await logged(server, room))
    await read(bo, cid, ids[0])  # behind the cursor
    await read(bo, cid, ids[1])  # the same again
    async with bo.http() as http:
        r = await http.post(f"/api/conversations/{cid}/delivered", json={"messageIds": ids[:3]})
        assert r.status_code == 204
        r = await http.post(f"/api/conversations/{cid}/read", json={"messageId": "m_unknown"})
        assert_error(r, 404)
    await server.settle()
    assert len(await logged(server, room)) == before
    assert (await receipts(ada, cid))[bo.id] == (3, 2)
    await read(bo, cid, ids[3])  # reading moves delivered with it
    assert (await receipts(ada, cid))[bo.id] == (4, 4)
    assert (await listed(bo, org_id))[cid]["unreadCount"] == 0
    await server.settle()
    events = [e["event"] for e in await logged(server, room)][before:]
    assert events == ["chat.message.read"]


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
        # Unknown messages are `invalid`; a conversation one is not in is `forbidden`.
        ack = await laptop.sio.call(
            "chat.message.read", {"conversationId": cid, "messageId": "m_unknown"}
        )
        assert ack["ok"] is False and ack["error"]["code"] == "invalid", ack
        ack = await laptop.sio.call(
            "chat.message.read", {"conversationId": "conv_missing", "messageId": "m_unknown"}
        )
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
