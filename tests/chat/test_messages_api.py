"""Messages over REST: send (once per clientId), edit (its author), delete (its author, an Owner
or an Admin; it stays as deleted), the text's bounds, the history's pages."""

from __future__ import annotations

from tests.chat.factories import history, listed, send, start
from tests.harness import assert_error, quick_team


async def test_send_is_idempotent_on_the_client_id(server):
    org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
    cid = (await start(ada, org_id, bo))["id"]
    async with ada.http() as http:
        url = f"/api/conversations/{cid}/messages"
        r = await http.post(url, json={"clientId": "tmp-1", "text": "  Hello!  "})
        assert r.status_code == 201, r.text
        first = r.json()["message"]
        assert first["messageId"].startswith("m_") and first["n"] == 1
        assert (first["text"], first["clientId"], first["authorId"]) == ("Hello!", "tmp-1", ada.id)
        assert (first["conversationId"], first["editedAt"], first["deletedAt"]) == (cid, None, None)
        r = await http.post(url, json={"clientId": "tmp-1", "text": "Hello!"})
        assert r.status_code == 200, r.text
        assert r.json()["message"] == first
        r = await http.post(url, json={"clientId": "tmp-1", "text": "Something else"})
        assert_error(r, 422)
        r = await http.post(url, json={"text": "no client id"})
        assert r.status_code == 201 and r.json()["message"]["n"] == 2
    async with bo.http() as http:  # a clientId is its author's own
        r = await http.post(url, json={"clientId": "tmp-1", "text": "Hi Ada"})
        assert r.status_code == 201 and r.json()["message"]["n"] == 3
    assert [m["n"] for m in (await history(bo, cid))["messages"]] == [1, 2, 3]


async def test_the_text_bounds(server):
    org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
    cid = (await start(ada, org_id, bo))["id"]
    async with ada.http() as http:
        url = f"/api/conversations/{cid}/messages"
        for text in ("", "   \n\t ", "a\x00b"):
            assert_error(await http.post(url, json={"clientId": "x", "text": text}), 422)
        error = assert_error(await http.post(url, json={"clientId": "x", "text": "y" * 4001}), 422)
        assert "at most 4000 characters" in error["message"], error
        r = await http.post(url, json={"clientId": "x", "text": " " * 50 + "y" * 4000 + "\n"})
        assert r.status_code == 201 and r.json()["message"]["text"] == "y" * 4000


async def test_edit_and_delete_rules(server):
    org_id, (owner, admin, ada, bo) = await quick_team(
        server, ["Owner", "Admin", "Member", "Member"]
    )
    cid = (await start(ada, org_id, bo, owner, admin, title="Four"))["id"]
    mine = await send(ada, cid, "mine")
    bos = await send(bo, cid, "bo's")
    for person in (bo, owner, admin):
        async with person.http() as http:
            r = await http.patch(f"/api/messages/{mine['messageId']}", json={"text": "hijacked"})
            assert_error(r, 403, "forbidden")
    async with ada.http() as http:
        r = await http.patch(f"/api/messages/{mine['messageId']}", json={"text": "mine, edited"})
        assert r.status_code == 200, r.text
        edited = r.json()["message"]
        assert edited["text"] == "mine, edited" and edited["editedAt"] is not None
        assert (edited["sentAt"], edited["n"]) == (mine["sentAt"], mine["n"])
        assert_error(await http.delete(f"/api/messages/{bos['messageId']}"), 403, "forbidden")
        assert (await http.delete(f"/api/messages/{mine['messageId']}")).status_code == 204
        assert (await http.delete(f"/api/messages/{mine['messageId']}")).status_code == 204
        r = await http.patch(f"/api/messages/{mine['messageId']}", json={"text": "back"})
        assert_error(r, 409, "conflict")
    async with admin.http() as http:
        assert (await http.delete(f"/api/messages/{bos['messageId']}")).status_code == 204
    shown = (await history(owner, cid))["messages"]
    assert [(m["n"], m["text"]) for m in shown] == [(1, ""), (2, "")]
    assert all(m["deletedAt"] for m in shown)
    # Deleted messages are unread for no one.
    assert (await listed(owner, org_id))[cid]["unreadCount"] == 0
    async with ada.http() as http:
        assert_error(await http.delete("/api/messages/m_missing"), 404, "not_found")


async def test_history_pages_back_with_before_and_limit(server):
    org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
    cid = (await start(ada, org_id, bo))["id"]
    sent = [await send(ada if i % 2 else bo, cid, f"message {i}") for i in range(7)]
    latest = await history(ada, cid, limit=3)
    assert [m["n"] for m in latest["messages"]] == [5, 6, 7] and latest["hasMore"] is True
    assert isinstance(latest["cursor"], int)
    older = await history(ada, cid, limit=3, before=latest["messages"][0]["messageId"])
    assert [m["n"] for m in older["messages"]] == [2, 3, 4] and older["hasMore"] is True
    oldest = await history(ada, cid, limit=3, before=older["messages"][0]["messageId"])
    assert [m["n"] for m in oldest["messages"]] == [1] and oldest["hasMore"] is False
    everything = await history(ada, cid)
    assert [m["messageId"] for m in everything["messages"]] == [m["messageId"] for m in sent]
    assert everything["hasMore"] is False
    receipts = {r["userId"]: r for r in everything["receipts"]}
    assert receipts[ada.id] == {"userId": ada.id, "deliveredN": 6, "readN": 6}
    assert receipts[bo.id] == {"userId": bo.id, "deliveredN": 7, "readN": 7}
    async with ada.http() as http:
        url = f"/api/conversations/{cid}/messages"
        for params in ({"limit": 0}, {"limit": 101}, {"limit": "x"}):
            assert_error(await http.get(url, params=params), 422)
        assert_error(await http.get(url, params={"before": "m_missing"}), 404)
    other = (await start(ada, org_id, bo, title="Elsewhere"))["id"]
    elsewhere = await send(ada, other, "elsewhere")
    async with ada.http() as http:  # a message of another conversation is no anchor
        r = await http.get(url, params={"before": elsewhere["messageId"]})
        assert_error(r, 404)


async def test_a_retried_send_after_an_edit_or_a_delete_gets_the_message_as_it_is(server):
    """The ack of a send was lost, the author edited (or deleted) the message meanwhile, then the
    client retries the send: the same message comes back, not a conflict, and nothing is sent twice."""
    org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
    cid = (await start(ada, org_id, bo))["id"]
    async with ada.http() as http:
        url = f"/api/conversations/{cid}/messages"
        for client_id, change in (("e-1", "PATCH"), ("d-1", "DELETE")):
            r = await http.post(url, json={"clientId": client_id, "text": "first words"})
            assert r.status_code == 201, r.text
            sent = r.json()["message"]
            body = {"text": "better words"} if change == "PATCH" else None
            r = await http.request(change, f"/api/messages/{sent['messageId']}", json=body)
            assert r.status_code in (200, 204), r.text
            r = await http.post(url, json={"clientId": client_id, "text": "first words"})
            assert r.status_code == 200, r.text
            again = r.json()["message"]
            assert (again["messageId"], again["n"]) == (sent["messageId"], sent["n"])
    assert [m["n"] for m in (await history(ada, cid))["messages"]] == [1, 2]
