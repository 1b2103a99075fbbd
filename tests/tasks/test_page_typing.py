"""The task page's `task.typing` with real sockets against a real server: who may send it, what
the task's room sees, how it ends (lapse, false, disconnect, leaving, a deleted task), the
snapshot's `hints`, invalid payloads and the rate limit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tandem.kit.ids import new_id
from tests.harness import Listener, listening, quick_team, quiesce, until_refused
from tests.projects.factories import add_member, make_project, make_task


def shortly(server: Any, seconds: float) -> None:
    """Hints of this server lapse after `seconds` (5 in production): tests need not wait 5 s."""
    server.runtime.gateway.inbound.extensions["task"].ttl = seconds


async def typing(
    listener: Listener, tid: str, on_: bool = True, field: str | None = "comment"
) -> dict[str, Any]:
    body: dict[str, Any] = {"taskId": tid, "typing": on_}
    if field is not None:
        body["field"] = field
    return await listener.sio.call("task.typing", body, timeout=10)


async def hints(person: Any, tid: str) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.get(f"/api/tasks/{tid}")
        assert r.status_code == 200, r.text
        return r.json()["hints"]


@pytest.fixture
async def team(sqlite_server):
    org_id, people = await quick_team(sqlite_server, ["Owner", "Member", "Guest", "Guest"])
    owner, _member, viewer, _outsider = people
    pid = (await make_project(owner, org_id))["id"]
    await add_member(owner, pid, viewer.id, "Viewer")
    task = await make_task(owner, pid, title="card")
    return sqlite_server, people, pid, task["id"]


async def test_typing_reaches_the_page_and_ends_when_its_sender_says_so(team):
    server, (owner, member, viewer, _), _pid, tid = team
    room = f"task:{tid}"
    async with listening(owner, room) as owners, listening(viewer, room) as viewers:
        async with listening(member, room) as members:
            assert await typing(members, tid) == {"ok": True}
            seen = await viewers.wait_event("task.typing", typing=True)
            assert seen["data"] == {
                "taskId": tid,
                "userId": member.id,
                "typing": True,
                "field": "comment",
                "expiresInMs": 5000,
            }
            assert "seq" not in seen and seen["room"] == room
            # A Viewer may say they are writing too (a comment they may not post is their page's
            # business): the hint is about presence, not a write.
            assert await typing(viewers, tid, field="description") == {"ok": True}
            await owners.wait_event("task.typing", userId=viewer.id, typing=True)
            now = await hints(owner, tid)
            assert sorted((h["userId"], h["field"]) for h in now["typing"]) == sorted(
                [(member.id, "comment"), (viewer.id, "description")]
            )
            assert all(4000 < h["expiresInMs"] <= 5000 for h in now["typing"])
            # Another field replaces the first: one hint per person and page.
            assert await typing(members, tid, field="description") == {"ok": True}
            await owners.wait_event("task.typing", userId=member.id, field="description")
            fields = {h["userId"]: h["field"] for h in (await hints(owner, tid))["typing"]}
            assert fields == {member.id: "description", viewer.id: "description"}
            assert await typing(viewers, tid, False, field=None) == {"ok": True}
            ended = await owners.wait_event("task.typing", userId=viewer.id, typing=False)
            assert ended["data"]["expiresInMs"] == 0
        # the member's socket closed: its hint ends
        await owners.wait_event("task.typing", userId=member.id, typing=False)
        assert await hints(owner, tid) == {"typing": []}
        await quiesce(server, owners)
        assert [e["data"]["typing"] for e in owners.named("task.typing")] == [
            True,
            True,
            True,
            False,
            False,
        ]


async def test_typing_lapses_unless_refreshed_and_ends_on_leaving(team):
    server, (owner, member, *_), _pid, tid = team
    shortly(server, 1.0)
    room = f"task:{tid}"
    async with listening(owner, room) as owners, listening(member, room) as members:
        for _ in range(5):  # refreshed every 0.3 s for 1.5 s: alive throughout
            assert (await typing(members, tid))["ok"]
            await asyncio.sleep(0.3)
        await quiesce(server, owners)
        assert [e["data"]["typing"] for e in owners.named("task.typing")] == [True] * 5
        ended = await owners.wait_event("task.typing", typing=False, timeout=2)
        assert ended["data"]["userId"] == member.id
        assert await hints(owner, tid) == {"typing": []}
        assert (await typing(members, tid))["ok"]
        await owners.wait_for(
            lambda e: e.get("event") == "task.typing" and e["data"]["typing"] and e is not ended
        )
        assert (await members.sio.call("unsubscribe", {"room": room}))["ok"]
        await owners.wait_for(
            lambda e: e.get("event") == "task.typing" and not e["data"]["typing"] and e is not ended
        )
        assert (await typing(members, tid))["error"]["code"] == "forbidden"
        assert await hints(owner, tid) == {"typing": []}


async def test_deleting_the_task_ends_typing_on_its_page(team):
    server, (owner, member, *_), pid, tid = team
    other = (await make_task(owner, pid, title="other"))["id"]
    async with (
        listening(owner, f"task:{tid}", f"task:{other}") as owners,
        listening(member, f"task:{tid}", f"task:{other}") as members,
    ):
        assert (await typing(members, tid))["ok"]
        assert (await typing(members, other))["ok"]
        await owners.wait_event("task.typing", taskId=other, typing=True)
        async with owner.http() as http:
            assert (await http.delete(f"/api/tasks/{tid}")).status_code == 204
        ended = await owners.wait_event("task.typing", typing=False)
        assert ended["data"]["taskId"] == tid
        assert [h["userId"] for h in (await hints(owner, other))["typing"]] == [member.id]
        assert (await typing(members, tid))["error"]["code"] == "forbidden"
        await quiesce(server, owners)
        assert [
            (e["data"]["taskId"], e["data"]["typing"]) for e in owners.named("task.typing")
        ] == [(tid, True), (other, True), (tid, False)]


async def test_only_the_pages_people_send_or_see_typing(team):
    server, (owner, member, _viewer, outsider), pid, tid = team
    _other_org, (stranger,) = await quick_team(server, ["Owner"], org_name="Other")
    room = f"task:{tid}"
    async with (
        listening(owner, room) as owners,
        listening(member, f"project:{pid}") as boards,  # the board, not the page
        listening(outsider) as outsiders,
        listening(stranger) as strangers,
    ):
        for attempt in (outsiders, strangers):
            assert (await attempt.subscribe(room))["error"]["code"] == "forbidden"
        answers = [
            await typing(outsiders, tid),
            await typing(strangers, tid),
            await typing(boards, tid),
            await typing(owners, new_id("t")),
        ]
        assert {a["error"]["code"] for a in answers} == {"forbidden"}
        assert len({a["error"]["message"] for a in answers}) == 1
        assert await typing(owners, tid) == {"ok": True}
        await owners.wait_event("task.typing", typing=True)
        # The page's durable events too: only the task room's people get them.
        async with owner.http() as http:
            r = await http.post(f"/api/tasks/{tid}/comments", json={"text": "secret"})
            assert r.status_code == 201, r.text
            r = await http.post(f"/api/tasks/{tid}/subtasks", json={"title": "secret step"})
            assert r.status_code == 201, r.text
        await owners.wait_event("task.subtask.created")
        await quiesce(server, owners, boards, outsiders, strangers)
        assert owners.named("task.comment.created") and owners.named("task.activity.created")
        for listener in (outsiders, strangers):
            assert not [e for e in listener.events if str(e.get("event")).startswith("task.")]
        # The board hears the card's new count, and nothing of the page itself.
        # (The project's counters may go out on the dashboard's beat meanwhile: the card's creation.)
        heard = {e["event"] for e in boards.events if "seq" in e} - {"project.metrics.updated"}
        assert heard == {"kanban.task.updated"}
        assert not [e for e in boards.events if str(e.get("event")).startswith("task.")]


async def test_invalid_payloads_and_the_rate_limit(team):
    _server, (owner, *_), _pid, tid = team
    async with listening(owner, f"task:{tid}") as owners:
        for payload in (
            None,
            [],
            "typing",
            {"taskId": tid},
            {"taskId": tid, "typing": "yes", "field": "comment"},
            {"taskId": tid, "typing": True, "field": "title"},
            {"taskId": tid, "typing": True},  # starting needs a field
            {"taskId": "", "typing": True, "field": "comment"},
            {"taskId": "t" * 33, "typing": True, "field": "comment"},
            {"taskId": tid, "typing": True, "field": "comment", "extra": 1},
            {"task_id": tid, "typing": True, "field": "comment"},
        ):
            answer = await owners.sio.call("task.typing", payload, timeout=10)
            assert answer["ok"] is False and answer["error"]["code"] == "invalid", payload
    # A socket of its own: the refused payloads above counted against the first one's.
    async with listening(owner, f"task:{tid}") as owners:
        passed, refused, seconds = await until_refused(lambda: typing(owners, tid))
        # a burst of 20 passes, then about one every 100 ms
        assert 20 <= passed <= 20 + seconds * 10 + 1, (passed, seconds)
        assert refused["error"]["code"] == "rate_limited", refused
        assert refused["error"]["retryAfterMs"] > 0
