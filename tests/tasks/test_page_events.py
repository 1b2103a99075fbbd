"""Snapshot + events = state (STYLE item 8, SPEC §5.4) for the whole task page: its task,
subtasks, comments, files and history. Snapshot with its cursor, subscribe to `task:{id}` after
it, act, apply the events with the page's reducer rules, fetch a new snapshot, require the two be
equal; the board's copy of the task (its subtaskCount) too. An action that emits nothing fails."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import quick_team
from tests.projects.factories import make_project, make_task, move
from tests.projects.test_event_state import on_board, request, verify_action


def page_state(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: snapshot[k] for k in ("task", "subtasks", "comments", "attachments", "activity")}


def apply_page_event(state: dict[str, Any], envelope: dict[str, Any]) -> None:
    event, data = envelope["event"], envelope["data"]
    if event == "task.updated":
        state["task"] = {
            **state["task"],
            **data["changes"],
            "rev": data["rev"],
            "updatedAt": data["updatedAt"],
        }
    elif event == "kanban.task.deleted":
        state["task"] = None
    elif event == "task.subtask.created":
        state["subtasks"].append(data["subtask"])
    elif event == "task.subtask.updated":
        state["subtasks"] = [
            data["subtask"] if s["id"] == data["subtask"]["id"] else s for s in state["subtasks"]
        ]
    elif event == "task.subtask.deleted":
        state["subtasks"] = [s for s in state["subtasks"] if s["id"] != data["subtaskId"]]
    elif event == "task.comment.created":
        state["comments"].append(data["comment"])
    elif event == "task.comment.updated":
        state["comments"] = [
            data["comment"] if c["id"] == data["comment"]["id"] else c for c in state["comments"]
        ]
    elif event == "task.comment.deleted":
        state["comments"] = [c for c in state["comments"] if c["id"] != data["commentId"]]
    elif event == "task.activity.created":
        state["activity"] = [data["activity"], *state["activity"]][:50]
    else:
        raise AssertionError(f"no task page rule for {event}")
    state["subtasks"].sort(key=lambda s: (s["rank"], s["id"]))


def on_page(person: Any, task_id: str, action: Any) -> Any:
    return verify_action(
        person, f"task:{task_id}", f"/api/tasks/{task_id}", page_state, apply_page_event, action
    )


@pytest.fixture
async def page(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    project = await make_project(owner, org_id)
    task = await make_task(owner, project["id"], description="one two three")
    return owner, member, project["id"], task["id"]


async def created_id(person: Any, path: str, body: dict[str, Any], key: str) -> str:
    async with person.http() as http:
        r = await http.post(path, json=body)
        assert r.status_code == 201, r.text
        return r.json()[key]["id"]


async def test_subtask_events_rebuild_the_page_and_the_card(page):
    owner, member, pid, tid = page
    ids: list[str] = []

    async def add_two() -> None:
        for title in ("first", "second"):
            ids.append(
                await created_id(owner, f"/api/tasks/{tid}/subtasks", {"title": title}, "subtask")
            )

    assert (
        await on_page(member, tid, add_two)
        == [
            "task.subtask.created",
            "task.updated",
            "task.activity.created",
        ]
        * 2
    )
    tick = request(owner, "PATCH", f"/api/subtasks/{ids[0]}", {"done": True, "title": "1st"})
    assert await on_page(member, tid, tick) == [
        "task.subtask.updated",
        "task.updated",
        "task.activity.created",
    ]
    reorder = request(owner, "PATCH", f"/api/subtasks/{ids[1]}", {"beforeSubtaskId": ids[0]})
    assert await on_page(member, tid, reorder) == ["task.subtask.updated", "task.activity.created"]

    async def crowd() -> None:  # keys grow until the list is respaced: those moved are sent
        for i in range(30):
            body = {"title": f"n{i}", "afterSubtaskId": ids[1]}
            await created_id(member, f"/api/tasks/{tid}/subtasks", body, "subtask")

    names = await on_page(member, tid, crowd)
    assert names.count("task.subtask.created") == 30
    remove = request(owner, "DELETE", f"/api/subtasks/{ids[0]}", status=204)
    assert await on_page(member, tid, remove) == [
        "task.subtask.deleted",
        "task.updated",
        "task.activity.created",
    ]
    # The board's card follows the counts through kanban.task.updated.
    assert await on_board(
        member, pid, request(owner, "PATCH", f"/api/subtasks/{ids[1]}", {"done": True})
    ) == ["kanban.task.updated"]


async def test_comment_events_rebuild_the_page(page):
    owner, member, _pid, tid = page
    ids: list[str] = []

    async def post() -> None:
        body = {"text": "<b>hello</b>", "clientId": "c-1"}
        ids.append(await created_id(member, f"/api/tasks/{tid}/comments", body, "comment"))

    assert await on_page(owner, tid, post) == ["task.comment.created", "task.activity.created"]
    # The same clientId again: the first comment, and nothing new to tell.
    await request(
        member,
        "POST",
        f"/api/tasks/{tid}/comments",
        {"text": "<b>hello</b>", "clientId": "c-1"},
        201,
    )()
    edit = request(member, "PATCH", f"/api/comments/{ids[0]}", {"text": "hello again"})
    assert await on_page(owner, tid, edit) == ["task.comment.updated", "task.activity.created"]
    remove = request(owner, "DELETE", f"/api/comments/{ids[0]}", status=204)
    assert await on_page(member, tid, remove) == ["task.comment.deleted", "task.activity.created"]


async def test_task_writes_rebuild_the_page(page):
    owner, member, _pid, tid = page
    edit = request(
        owner, "PATCH", f"/api/tasks/{tid}", {"changes": {"priority": "Urgent", "title": "T"}}
    )
    assert await on_page(member, tid, edit) == ["task.updated", "task.activity.created"]
    merged = request(
        member,
        "PATCH",
        f"/api/tasks/{tid}",
        {"changes": {"description": "one 2 three"}, "descriptionBase": "one two three"},
    )
    assert await on_page(owner, tid, merged) == ["task.updated", "task.activity.created"]
    assert await on_page(member, tid, lambda: move(owner, tid, toColumn="Done")) == [
        "task.updated",
        "task.activity.created",
    ]
    gone = request(owner, "DELETE", f"/api/tasks/{tid}", status=204)
    assert await on_page(member, tid, gone) == ["kanban.task.deleted"]
