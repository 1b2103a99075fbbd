"""The chat socket: send with its ack (once per clientId), who may enter `chat:{id}`, typing hints,
eviction on removal, another org's people, and the send limits on both doors."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.chat.factories import history, read, send, start
from tests.harness import (
    Listener,
    assert_envelope,
    assert_error,
    listening,
    login,
    quick_team,
    quiesce,
    start_server,
    two_instances,
)


async def test_send_over_the_socket_is_acknowledged_and_reaches_the_room(server):
    org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
    cid = (await start(ada, org_id, bo))["id"]
    room = f"chat:{cid}"
    async with listening(ada, room) as sender, listening(bo, room) as receiver:
        payload = {"conversationId": cid, "clientId": "tmp-1", "text": "Hello!"}
        ack = await sender.sio.call("chat.message.send", payload)
        assert ack["ok"] is True and ack["messageId"].startswith("m_") and ack["sentAt"], ack
        event = await receiver.wait_event("chat.message.created", conversationId=cid)
        data = event["data"]
        assert data["clientId"] == "tmp-1" and event["room"] == room and "seq" in event
        message = data["message"]
        assert (message["messageId"], message["authorId"], message["text"]) == (
            ack["messageId"],
            ada.id,
            "Hello!",
        )
        assert message["sentAt"] == ack["sentAt"] and message["n"] == 1
        assert event["meta"]["actorId"] == ada.id
        again = await sender.sio.call("chat.message.send", payload)
        assert again == ack
        other = await sender.sio.call("chat.message.send", {**payload, "text": "Other"})
        assert other["ok"] is False and other["error"]["code"] == "conflict", other
        for bad in (
            {**payload, "text": ""},
            {**payload, "text": "x" * 4001},
            {**payload, "text": 5},
            {"conversationId": cid, "text": "no client id"},
            {**payload, "extra": 1},
            "not an object",
        ):
            refused = await sender.sio.call("chat.message.send", bad)
            assert refused["ok"] is False and refused["error"]["code"] == "invalid", (bad, refused)
        await quiesce(server, receiver)
    assert len((await history(bo, cid))["messages"]) == 1


async def test_non_members_are_refused_exactly_like_a_missing_conversation(server):
    org_id, (ada, bo, cy) = await quick_team(server, ["Owner", "Member", "Member"])
    _other, (stranger,) = await quick_team(server, ["Owner"], org_name="Other")
    cid = (await start(bo, org_id, cy))["id"]
    for person in (ada, stranger):
        async with listening(person) as outsider:
            answers = []
            for target in (cid, "conv_missing"):
                ack = await outsider.subscribe(f"chat:{target}")
                assert ack["ok"] is False, ack
                answers.append(ack["error"])
                for event, payload in (
                    ("chat.message.send", {"conversationId": target, "clientId": "a", "text": "x"}),
                    ("chat.typing", {"conversationId": target, "typing": True}),
                    ("chat.message.read", {"conversationId": target, "messageId": "m_x"}),
                    ("chat.message.delivered", {"conversationId": target, "messageIds": ["m_x"]}),
                ):
                    ack = await outsider.sio.call(event, payload)
                    assert ack["ok"] is False and ack["error"]["code"] == "forbidden", (event, ack)
            assert answers[0] == answers[1] and answers[0]["code"] == "forbidden"
    assert (await history(bo, cid))["messages"] == []


async def test_typing_reaches_the_room_is_never_replayed_and_expires(server):
    server.runtime.gateway.inbound.extensions["chat"].ttl = 0.5
    org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
    cid = (await start(ada, org_id, bo))["id"]
    room = f"chat:{cid}"
    async with listening(bo, room) as watcher, listening(ada) as typist:
        ack = await typist.sio.call("chat.typing", {"conversationId": cid, "typing": True})
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden"  # not in the room yet
        assert (await typist.subscribe(room))["ok"]
        ack = await typist.sio.call("chat.typing", {"conversationId": cid, "typing": True})
        assert ack == {"ok": True}, ack
        began = await watcher.wait_event("chat.typing", userId=ada.id, typing=True)
        assert "seq" not in began and began["room"] == room
        assert began["data"]["conversationId"] == cid and began["data"]["expiresInMs"] == 500
        ended = await watcher.wait_event("chat.typing", userId=ada.id, typing=False, timeout=3)
        assert ended["data"]["conversationId"] == cid
        bad = await typist.sio.call("chat.typing", {"conversationId": cid, "typing": "yes"})
        assert bad["ok"] is False and bad["error"]["code"] == "invalid"
        # Ended by disconnecting, well before it would lapse.
        server.runtime.gateway.inbound.extensions["chat"].ttl = 30
        assert (await typist.sio.call("chat.typing", {"conversationId": cid, "typing": True}))["ok"]
        await watcher.wait_event("chat.typing", userId=ada.id, typing=True, expiresInMs=30_000)
        before = len(watcher.events)
        await typist.close()
        for _ in range(300):  # 3 s
            ends = [
                e
                for e in watcher.events[before:]
                if e.get("event") == "chat.typing" and e["data"]["typing"] is False
            ]
            if ends:
                break
            await asyncio.sleep(0.01)
        assert [e["data"]["userId"] for e in ends] == [ada.id]
    async with listening(bo) as late:
        ack = await late.subscribe(room, after=0)
        assert ack["ok"] is True
        await quiesce(server, late)
        assert late.named("chat.typing") == []


async def test_presence_of_a_conversations_people_reaches_its_room(server):
    org_id, (ada, bo, cy) = await quick_team(server, ["Owner", "Member", "Member"])
    other_org, (stranger, colleague) = await quick_team(
        server, ["Owner", "Member"], org_name="Other"
    )
    cid = (await start(ada, org_id, bo))["id"]
    gid = (await start(ada, org_id, bo, cy, title="Team"))["id"]
    not_bos = (await start(ada, org_id, cy))["id"]
    theirs = (await start(stranger, other_org, colleague))["id"]
    async with (
        listening(ada, f"chat:{cid}", f"chat:{gid}", f"chat:{not_bos}") as watcher,
        listening(stranger, f"chat:{theirs}") as outsider,
    ):
        socket = await Listener(server, await bo.socket_token()).connect()
        online = await watcher.wait_event("chat.presence", conversationId=cid, online=True)
        assert_envelope(
            online,
            "chat.presence",
            f"chat:{cid}",
            {
                "conversationId": cid,
                "userId": bo.id,
                "online": True,
                "lastActiveAt": online["data"]["lastActiveAt"],
            },
            actor_id=bo.id,
            durable=False,
        )
        await watcher.wait_event("chat.presence", conversationId=gid, userId=bo.id, online=True)
        await socket.close()
        offline = await watcher.wait_event("chat.presence", conversationId=cid, online=False)
        assert offline["data"]["userId"] == bo.id
        await watcher.wait_event("chat.presence", conversationId=gid, userId=bo.id, online=False)
        await quiesce(server, watcher, outsider)
        # Only the conversations bo is in; nothing to another org's people.
        assert {e["room"] for e in watcher.named("chat.presence")} == {f"chat:{cid}", f"chat:{gid}"}
        assert outsider.named("chat.presence") == []
    async with listening(bo) as late:  # never replayed
        assert (await late.subscribe(f"chat:{cid}", after=0))["ok"]
        await quiesce(server, late)
        assert late.named("chat.presence") == []


async def test_a_removed_member_is_evicted_at_once_and_told(server):
    org_id, (ada, bo, cy) = await quick_team(server, ["Owner", "Member", "Member"])
    gid = (await start(ada, org_id, bo, cy, title="Team"))["id"]
    room = f"chat:{gid}"
    phone = await login(server, cy.email)
    async with listening(cy, room) as laptop, listening(phone, room) as other:
        async with ada.http() as http:
            began = time.monotonic()
            assert (
                await http.delete(f"/api/conversations/{gid}/members/{cy.id}")
            ).status_code == 204
        for socket in (laptop, other):
            evicted = await socket.wait_event("room.evicted", room=room, timeout=1.0)
            assert evicted["data"]["reason"] == "access"
        assert time.monotonic() - began < 1.0
        removed = await laptop.wait_event("chat.member.removed", userId=cy.id)
        assert removed["room"] == f"user:{cy.id}"
        await send(ada, gid, "after cy left")
        await quiesce(server, laptop, other)
        assert laptop.named("chat.message.created") == other.named("chat.message.created") == []
        ack = await laptop.subscribe(room)
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden"


async def test_leaving_the_org_leaves_its_conversations(server):
    org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
    cid = (await start(ada, org_id, bo))["id"]
    async with listening(bo, f"chat:{cid}") as socket:
        async with ada.http() as http:
            assert (await http.delete(f"/api/orgs/{org_id}/members/{bo.id}")).status_code == 204
        await socket.wait_event("room.evicted", room=f"chat:{cid}", timeout=1.0)
    async with bo.http() as http:
        assert_error(await http.get(f"/api/conversations/{cid}"), 404)


async def test_another_orgs_people_never_hear_a_chat_event(server):
    org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
    _other, (stranger, colleague) = await quick_team(server, ["Owner", "Member"], org_name="Other")
    async with listening(stranger) as outsider:
        cid = (await start(ada, org_id, bo))["id"]
        ack = await outsider.subscribe(f"chat:{cid}")
        assert ack["ok"] is False
        gid = (await start(ada, org_id, bo, title="Group"))["id"]
        said = await send(ada, gid, "secret")
        async with ada.http() as http:
            await http.patch(f"/api/conversations/{gid}", json={"title": "Renamed"})
            await http.post(f"/api/conversations/{cid}/read", json={"messageId": said["messageId"]})
            await http.delete(f"/api/messages/{said['messageId']}")
            await http.delete(f"/api/conversations/{gid}/members/{bo.id}")
        theirs = (await start(stranger, _other, colleague))["id"]
        await send(colleague, theirs, "their own")
        await quiesce(server, outsider)
        heard = [e for e in outsider.events if e.get("event", "").startswith("chat.")]
        assert [e["data"]["conversation"]["id"] for e in heard] == [theirs], heard


async def test_sending_past_the_limits(database_url, tmp_path):
    async with start_server(
        database_url, tmp_path, chat_send_burst=3, chat_send_window_seconds=30
    ) as server:
        org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
        cid = (await start(ada, org_id, bo))["id"]
        async with listening(ada) as socket:
            for i in range(3):
                payload = {"conversationId": cid, "clientId": f"s{i}", "text": f"m{i}"}
                assert (await socket.sio.call("chat.message.send", payload))["ok"]
            ack = await socket.sio.call(
                "chat.message.send", {"conversationId": cid, "clientId": "s9", "text": "more"}
            )
            assert ack["ok"] is False and ack["error"]["code"] == "rate_limited", ack
            assert 0 < ack["error"]["retryAfterMs"] <= 10_000
        async with ada.http() as http:  # the REST door shares the person's allowance
            r = await http.post(
                f"/api/conversations/{cid}/messages", json={"clientId": "r", "text": "more"}
            )
            assert_error(r, 429, "rate_limited")
            assert int(r.headers["Retry-After"]) >= 1
        await send(bo, cid, "bo has his own allowance")
    async with start_server(
        database_url, tmp_path, chat_send_ip_burst=2, chat_send_ip_window_seconds=30
    ) as server:
        org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
        cid = (await start(ada, org_id, bo))["id"]
        await send(ada, cid)
        await send(bo, cid)
        async with bo.http() as http:  # same address
            r = await http.post(
                f"/api/conversations/{cid}/messages", json={"clientId": "r", "text": "more"}
            )
            assert_error(r, 429, "rate_limited")


async def test_typing_past_the_persons_and_the_addresss_limits(database_url, tmp_path):
    async def typing(listener, cid: str) -> dict:
        return await listener.sio.call("chat.typing", {"conversationId": cid, "typing": True})

    async with start_server(
        database_url, tmp_path, chat_typing_burst=3, chat_typing_window_seconds=30
    ) as server:
        org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
        cid = (await start(ada, org_id, bo))["id"]
        async with listening(ada, f"chat:{cid}") as tab, listening(ada, f"chat:{cid}") as other:
            assert [(await typing(tab, cid))["ok"] for _ in range(3)] == [True] * 3
            # The person's allowance, not the socket's: their other tab is refused too.
            ack = await typing(other, cid)
            assert ack["ok"] is False and ack["error"]["code"] == "rate_limited", ack
            assert 0 < ack["error"]["retryAfterMs"] <= 10_000
        async with listening(bo, f"chat:{cid}") as bos:
            assert (await typing(bos, cid))["ok"]  # bo has his own
    async with start_server(
        database_url, tmp_path, chat_typing_ip_burst=2, chat_typing_ip_window_seconds=30
    ) as server:
        org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
        cid = (await start(ada, org_id, bo))["id"]
        async with listening(ada, f"chat:{cid}") as adas, listening(bo, f"chat:{cid}") as bos:
            assert (await typing(adas, cid))["ok"] and (await typing(bos, cid))["ok"]
            ack = await typing(bos, cid)  # the same address
            assert ack["ok"] is False and ack["error"]["code"] == "rate_limited", ack


async def test_two_sends_at_once_get_distinct_numbers(server):
    org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
    cid = (await start(ada, org_id, bo))["id"]
    said = await asyncio.gather(*(send(ada if i % 2 else bo, cid, f"m{i}") for i in range(8)))
    assert sorted(m["n"] for m in said) == list(range(1, 9))


async def test_removal_evicts_from_the_room_on_every_instance(
    backend: str, database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend != "postgresql":
        pytest.skip("several instances share a PostgreSQL database")
    redis_url = request.getfixturevalue("redis_url")
    async with two_instances(database_url, tmp_path, redis_url) as (a, b):
        org_id, (ada, bo, cy) = await quick_team(a, ["Owner", "Member", "Member"])
        gid = (await start(ada, org_id, bo, cy, title="Team"))["id"]
        room = f"chat:{gid}"
        token = await cy.socket_token()
        on_b = [await Listener(b, token).connect() for _ in range(2)]
        try:
            for listener in on_b:
                assert (await listener.subscribe(room))["ok"]
            # A message sent on instance a reaches the sockets on b.
            await send(ada, gid, "across instances")
            for listener in on_b:
                await listener.wait_event("chat.message.created", conversationId=gid)
            started = time.monotonic()
            async with ada.http() as http:
                r = await http.delete(f"/api/conversations/{gid}/members/{cy.id}")
                assert r.status_code == 204, r.text
            for listener in on_b:
                await listener.wait_event("room.evicted", room=room, timeout=1.5)
            assert time.monotonic() - started < 1.0
            before = [len(listener.events) for listener in on_b]
            await send(ada, gid, "after cy left")
            await asyncio.sleep(0.5)
            for listener, seen in zip(on_b, before, strict=True):
                assert [e for e in listener.events[seen:] if e.get("room") == room] == []
        finally:
            for listener in on_b:
                await listener.close()


async def test_the_chat_flag_off_emits_nothing_and_rest_still_works(server):
    org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
    cid = (await start(ada, org_id, bo))["id"]
    async with ada.http() as http:
        r = await http.put(f"/api/orgs/{org_id}/flags/chat", json={"enabled": False})
        assert r.status_code == 200, r.text
    async with listening(bo, f"chat:{cid}", f"user:{bo.id}") as socket:
        said = await send(ada, cid, "while the flag is off")
        await read(bo, cid, said["messageId"])
        ack = await socket.sio.call("chat.typing", {"conversationId": cid, "typing": True})
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
        await (await Listener(server, await ada.socket_token()).connect()).close()  # presence
        await quiesce(server, socket)
        assert [e for e in socket.events if e.get("event", "").startswith("chat.")] == []
    assert [m["text"] for m in (await history(bo, cid))["messages"]] == ["while the flag is off"]
