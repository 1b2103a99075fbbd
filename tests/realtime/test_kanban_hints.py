"""The board's hints (`kanban.lock`, `kanban.typing`) with real sockets against a real server:
who may send them, what the room sees, how they end (lapse, false, disconnect, leaving, a deleted
task), the snapshot's `hints`, invalid payloads and the rate limit; across two instances too."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.harness import (
    Listener,
    Person,
    listening,
    on,
    quick_team,
    quiesce,
    two_instances,
    until_refused,
)
from tests.projects.factories import add_member, board, make_project, make_task

from tandem.kit.ids import new_id


def hints_of(listener: Listener) -> list[dict[str, Any]]:
    return [e for e in listener.events if e.get("event") in ("kanban.lock", "kanban.typing")]


def shortly(server: Any, seconds: float) -> None:
    """Hints of this server lapse after `seconds` (5 in production): tests need not wait 5 s."""
    server.runtime.gateway.inbound.extensions["kanban"].ttl = seconds


async def send(listener: Listener, event: str, payload: Any) -> dict[str, Any]:
    return await listener.sio.call(event, payload, timeout=10)


async def lock(listener: Listener, pid: str, tid: str, locked: bool = True) -> dict[str, Any]:
    return await send(listener, "kanban.lock", {"projectId": pid, "taskId": tid, "locked": locked})


async def typing(
    listener: Listener, pid: str, tid: str, on_: bool = True, field: str | None = "title"
) -> dict[str, Any]:
    body: dict[str, Any] = {"projectId": pid, "taskId": tid, "typing": on_}
    if field is not None:
        body["field"] = field
    return await send(listener, "kanban.typing", body)


@pytest.fixture
async def team(sqlite_server):
    org_id, people = await quick_team(sqlite_server, ["Owner", "Member", "Guest", "Guest"])
    owner, _member, viewer, _outsider = people
    pid = (await make_project(owner, org_id))["id"]
    await add_member(owner, pid, viewer.id, "Viewer")
    task = await make_task(owner, pid, title="card")
    return sqlite_server, people, pid, task["id"]


async def test_a_lock_reaches_the_room_and_ends_when_its_sender_says_so(team):
    server, (owner, member, viewer, _), pid, tid = team
    room = f"project:{pid}"
    async with (
        listening(owner, room) as owners,
        listening(member, room) as members,
        listening(viewer, room) as viewers,
    ):
        assert await lock(members, pid, tid) == {"ok": True}
        seen = await viewers.wait_event("kanban.lock", taskId=tid, locked=True)
        assert seen["data"] == {
            "projectId": pid,
            "taskId": tid,
            "userId": member.id,
            "locked": True,
            "expiresInMs": 5000,
        }
        assert "seq" not in seen and seen["room"] == room and seen["meta"]["actorId"] == member.id
        assert await typing(owners, pid, tid, field="description") == {"ok": True}
        await viewers.wait_event("kanban.typing", userId=owner.id, typing=True)
        snapshot = await board(viewer, pid)
        assert [(h["taskId"], h["userId"]) for h in snapshot["hints"]["locks"]] == [
            (tid, member.id)
        ]
        assert 4000 < snapshot["hints"]["locks"][0]["expiresInMs"] <= 5000
        typed = snapshot["hints"]["typing"]
        assert [(h["taskId"], h["userId"], h["field"]) for h in typed] == [
            (tid, owner.id, "description")
        ]
        assert await lock(members, pid, tid, False) == {"ok": True}
        ended = await owners.wait_event("kanban.lock", locked=False)
        assert ended["data"]["userId"] == member.id and ended["data"]["expiresInMs"] == 0
        assert await typing(owners, pid, tid, False) == {"ok": True}
        await viewers.wait_event("kanban.typing", typing=False)
        assert (await board(viewer, pid))["hints"] == {"locks": [], "typing": []}
        # Saying false again, with nothing held, ends nothing and says nothing.
        assert await lock(members, pid, tid, False) == {"ok": True}
        await quiesce(server, owners, members, viewers)
        assert [e["data"]["locked"] for e in viewers.named("kanban.lock")] == [True, False]


async def test_hints_lapse_unless_refreshed(team):
    server, (owner, member, *_), pid, tid = team
    shortly(server, 1.0)
    async with (
        listening(owner, f"project:{pid}") as owners,
        listening(member, f"project:{pid}") as members,
    ):
        for _ in range(5):  # refreshed every 0.3 s for 1.5 s: alive throughout
            assert (await lock(members, pid, tid))["ok"]
            await asyncio.sleep(0.3)
        await quiesce(server, owners)
        assert [e["data"]["locked"] for e in owners.named("kanban.lock")] == [True] * 5
        assert all(e["data"]["expiresInMs"] == 1000 for e in owners.named("kanban.lock"))
        ended = await owners.wait_event("kanban.lock", locked=False, timeout=2)
        assert ended["data"]["userId"] == member.id
        assert (await board(owner, pid))["hints"]["locks"] == []
        assert (await typing(members, pid, tid))["ok"]
        await owners.wait_event("kanban.typing", typing=False, timeout=2)


async def test_hints_end_when_their_sender_disconnects_or_leaves_the_room(team):
    _server, (owner, member, *_), pid, tid = team
    room = f"project:{pid}"
    async with listening(owner, room) as owners:
        async with listening(member, room) as members:
            assert (await lock(members, pid, tid))["ok"]
            assert (await typing(members, pid, tid))["ok"]
            await owners.wait_event("kanban.typing", typing=True)
        # the socket closed: both hints end
        await owners.wait_event("kanban.lock", locked=False)
        await owners.wait_event("kanban.typing", typing=False)
        async with listening(member, room) as members:
            assert (await typing(members, pid, tid, field=None))["ok"]
            typed = await owners.wait_event("kanban.typing", typing=True, field=None)
            assert typed["data"]["userId"] == member.id
            assert (await members.sio.call("unsubscribe", {"room": room}))["ok"]
            ended = await owners.wait_for(
                lambda e: (
                    e.get("event") == "kanban.typing"
                    and e["data"]["typing"] is False
                    and e is not typed
                ),
            )
            assert ended["data"]["userId"] == member.id
            # Out of the room, it may no longer send any.
            assert (await typing(members, pid, tid))["error"]["code"] == "forbidden"
        assert (await board(owner, pid))["hints"] == {"locks": [], "typing": []}


async def test_hints_end_when_access_ends_and_when_the_phase_is_off(sqlite_server):
    org_id, (owner, guest) = await quick_team(sqlite_server, ["Owner", "Guest"])
    pid = (await make_project(owner, org_id))["id"]
    tid = (await make_task(owner, pid))["id"]
    await add_member(owner, pid, guest.id, "Contributor")
    room = f"project:{pid}"
    async with listening(owner, room) as owners, listening(guest, room) as guests:
        assert (await lock(guests, pid, tid))["ok"]
        await owners.wait_event("kanban.lock", locked=True, userId=guest.id)
        async with owner.http() as http:  # the Guest leaves the project: evicted from its room
            r = await http.delete(f"/api/projects/{pid}/members/{guest.id}")
            assert r.status_code == 204, r.text
        await owners.wait_event("kanban.lock", locked=False, userId=guest.id)
        assert (await lock(guests, pid, tid))["error"]["code"] == "forbidden"
        async with owner.http() as http:
            r = await http.put(f"/api/orgs/{org_id}/flags/kanban", json={"enabled": False})
            assert r.status_code == 200, r.text
        refused = await typing(owners, pid, tid)
        assert refused["error"]["code"] == "forbidden"
        assert (await board(owner, pid))["hints"] == {"locks": [], "typing": []}


async def test_deleting_a_task_ends_its_hints(team):
    server, (owner, member, *_), pid, tid = team
    other = (await make_task(owner, pid, title="other"))["id"]
    async with (
        listening(owner, f"project:{pid}") as owners,
        listening(member, f"project:{pid}") as members,
    ):
        assert (await lock(members, pid, tid))["ok"]
        assert (await typing(members, pid, other))["ok"]
        await owners.wait_event("kanban.typing", typing=True)
        async with owner.http() as http:
            assert (await http.delete(f"/api/tasks/{tid}")).status_code == 204
        ended = await owners.wait_event("kanban.lock", locked=False)
        assert ended["data"]["taskId"] == tid
        snapshot = await board(owner, pid)
        assert snapshot["hints"]["locks"] == []
        assert [h["taskId"] for h in snapshot["hints"]["typing"]] == [other]
        # The deleted task takes no more hints; its sender's own false is answered the same way.
        assert (await lock(members, pid, tid))["error"]["code"] == "forbidden"
        assert (await lock(members, pid, tid, False))["error"]["code"] == "forbidden"
        await quiesce(server, owners)
        assert [e["data"]["locked"] for e in owners.named("kanban.lock")] == [True, False]


async def test_who_may_send_hints_and_who_sees_them(team):
    server, (owner, member, viewer, outsider), pid, tid = team
    other_org, (stranger,) = await quick_team(server, ["Owner"], org_name="Other")
    room = f"project:{pid}"
    other_pid = (await make_project(stranger, other_org))["id"]
    async with (
        listening(owner, room) as owners,
        listening(viewer, room) as viewers,
        listening(member) as unsubscribed,
        listening(outsider) as outsiders,
        listening(stranger) as strangers,
    ):
        for attempt in (outsiders, strangers):
            assert (await attempt.subscribe(room))["error"]["code"] == "forbidden"
        forbidden = []
        for sender, payload in (
            (outsiders, {"projectId": pid, "taskId": tid, "locked": True}),
            (strangers, {"projectId": pid, "taskId": tid, "locked": True}),
            (unsubscribed, {"projectId": pid, "taskId": tid, "locked": True}),
            (viewers, {"projectId": pid, "taskId": tid, "locked": True}),  # may not edit
            (owners, {"projectId": pid, "taskId": new_id("t"), "locked": True}),
            (owners, {"projectId": new_id("p"), "taskId": tid, "locked": True}),
            (owners, {"projectId": other_pid, "taskId": tid, "locked": True}),
            (strangers, {"projectId": other_pid, "taskId": tid, "locked": True}),
        ):
            answer = await send(sender, "kanban.lock", payload)
            assert answer["ok"] is False, payload
            forbidden.append(answer["error"])
        for sender in (outsiders, strangers, unsubscribed):
            answer = await typing(sender, pid, tid)
            forbidden.append(answer["error"])
        assert {e["code"] for e in forbidden} == {"forbidden"}
        # A foreign or missing id: the very same answer.
        assert len({e["message"] for e in forbidden}) == 1
        # A Viewer may say they are looking at a card's fields, not drag it.
        assert await typing(viewers, pid, tid) == {"ok": True}
        assert await lock(owners, pid, tid) == {"ok": True}
        await owners.wait_event("kanban.lock", locked=True)
        await viewers.wait_event("kanban.lock", locked=True)
        # The board's durable events too: only the room's members get them.
        async with owner.http() as http:
            r = await http.patch(f"/api/tasks/{tid}", json={"changes": {"title": "seen"}})
            assert r.status_code == 200, r.text
            r = await http.post(f"/api/tasks/{tid}/move", json={"toColumn": "Review"})
            assert r.status_code == 200, r.text
        await viewers.wait_event("kanban.task.moved", taskId=tid)
        await quiesce(server, owners, viewers, unsubscribed, outsiders, strangers)
        for listener in (unsubscribed, outsiders, strangers):
            assert not [e for e in listener.events if str(e.get("event")).startswith("kanban.")]
        assert (await board(owner, pid))["hints"]["locks"][0]["userId"] == owner.id
        # Another board's snapshot shows none of this one's hints.
        assert (await board(stranger, other_pid))["hints"] == {"locks": [], "typing": []}
        async with outsider.http() as http:
            assert (await http.get(f"/api/projects/{pid}/board")).status_code == 404


async def test_invalid_payloads_and_the_rate_limit(team):
    _server, (owner, *_), pid, tid = team
    async with listening(owner, f"project:{pid}") as owners:
        good = {"projectId": pid, "taskId": tid, "locked": True}
        for event, payload in (
            ("kanban.lock", None),
            ("kanban.lock", []),
            ("kanban.lock", "lock"),
            ("kanban.lock", {"projectId": pid, "taskId": tid}),
            ("kanban.lock", {**good, "locked": "yes"}),
            ("kanban.lock", {**good, "locked": 1}),
            ("kanban.lock", {**good, "extra": 1}),
            ("kanban.lock", {**good, "taskId": ""}),
            ("kanban.lock", {**good, "taskId": "t" * 33}),
            ("kanban.lock", {**good, "projectId": 5}),
            ("kanban.lock", {"project_id": pid, "task_id": tid, "locked": True}),
            ("kanban.typing", {"projectId": pid, "taskId": tid, "typing": True, "field": "rank"}),
            ("kanban.typing", {"projectId": pid, "taskId": tid, "typing": None}),
            ("kanban.typing", {"projectId": pid, "taskId": tid, "locked": True}),
        ):
            answer = await send(owners, event, payload)
            assert answer["ok"] is False and answer["error"]["code"] == "invalid", payload
        two = await owners.sio.call("kanban.lock", (good, good), timeout=10)
        assert two["error"]["code"] == "invalid"
        assert not hints_of(owners)
    # 20 at once, then about one every 100 ms; typing has a bucket of its own. A socket of its
    # own: the refused payloads above counted against the first one's.
    async with listening(owner, f"project:{pid}") as owners:
        passed, refused, seconds = await until_refused(lambda: lock(owners, pid, tid))
        assert 20 <= passed <= 20 + seconds * 10 + 1, (passed, seconds)
        assert refused["error"]["code"] == "rate_limited", refused
        assert 0 < refused["error"]["retryAfterMs"] <= 1000
        assert (await typing(owners, pid, tid))["ok"]
        await asyncio.sleep(0.25)
        assert (await lock(owners, pid, tid))["ok"]


@pytest.fixture
async def pair(tmp_path, redis_url):
    from tests.harness import fresh_database_url

    async with (
        fresh_database_url("sqlite", tmp_path, "") as url,
        two_instances(url, tmp_path, redis_url) as (a, b),
    ):
        yield a, b


async def test_hints_cross_instances(pair):
    a, b = pair
    org_id, (owner, member) = await quick_team(a, ["Owner", "Member"])
    pid = (await make_project(owner, org_id))["id"]
    tid = (await make_task(owner, pid))["id"]
    room = f"project:{pid}"
    member_b: Person = on(member, b)
    async with listening(owner, room) as owners_a, listening(member_b, room) as members_b:
        assert (await lock(owners_a, pid, tid))["ok"]
        await members_b.wait_event("kanban.lock", locked=True, userId=owner.id)
        snapshot = await board(member_b, pid)
        assert [h["userId"] for h in snapshot["hints"]["locks"]] == [owner.id]
        assert (await typing(members_b, pid, tid))["ok"]
        await owners_a.wait_event("kanban.typing", typing=True, userId=member.id)
        # Deleted through instance a: the hint held on b ends, announced once.
        async with owner.http() as http:
            assert (await http.delete(f"/api/tasks/{tid}")).status_code == 204
        await owners_a.wait_event("kanban.typing", typing=False, userId=member.id)
        await members_b.wait_event("kanban.lock", locked=False)
        await asyncio.sleep(0.3)
        ends = [e for e in owners_a.named("kanban.typing") if not e["data"]["typing"]]
        assert len(ends) == 1
        assert (await board(owner, pid))["hints"] == {"locks": [], "typing": []}
