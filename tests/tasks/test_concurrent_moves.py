"""Two people move the same card at once, from two connections, on PostgreSQL: afterwards the
card is in exactly one column (where the move committed last put it), ranks are unique, both
moves answered 200, and a board kept from the events equals the server's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.harness import Person, listening, quick_team, quiesce
from tests.projects.factories import board, make_project, make_task
from tests.projects.test_event_state import apply_board_event, board_state, board_view
from tests.tasks.test_kanban_writes import ranks_unique


async def moved(person: Person, task_id: str, body: dict[str, Any]) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.post(f"/api/tasks/{task_id}/move", json=body)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_the_same_card_moved_at_once_ends_in_one_place(server):
    org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
    pid = (await make_project(owner, org_id))["id"]
    card = await make_task(owner, pid, title="card")
    anchors = {
        column: (await make_task(owner, pid, title=column, status=column))["id"]
        for column in ("In Progress", "Review", "Done")
    }
    snapshot = await board(owner, pid)
    state = board_state(snapshot)
    async with listening(owner) as listener:
        assert (await listener.subscribe(f"project:{pid}", after=snapshot["cursor"]))["ok"]
        for round_ in range(12):
            base = (await board(owner, pid))["columns"]
            rev = next(t["rev"] for c in base for t in c["tasks"] if t["id"] == card["id"])
            there = "Review" if round_ % 3 else "Done"
            first = (owner, {"toColumn": "In Progress", "beforeTaskId": anchors["In Progress"]})
            second = (member, {"toColumn": there, "afterTaskId": anchors[there]})
            if round_ % 2:  # both orders: who sends first alternates
                first, second = second, first
            answers = await asyncio.gather(
                moved(first[0], card["id"], {**first[1], "baseRev": rev}),
                moved(second[0], card["id"], {**second[1], "baseRev": rev}),
            )
            movers = [first[0], second[0]]
            later = max(range(2), key=lambda i: answers[i]["task"]["rev"])
            last, earlier = answers[later], answers[1 - later]
            assert last["task"]["rev"] == rev + 2 and earlier["task"]["rev"] == rev + 1
            # The one that committed second overrode the other, and says whom.
            assert earlier["conflict"] is None
            assert last["conflict"]["with"] == [{"field": "status", "userId": movers[1 - later].id}]
            now = await board(owner, pid)
            places = [
                c["name"] for c in now["columns"] for t in c["tasks"] if t["id"] == card["id"]
            ]
            assert places == [last["task"]["status"]]
            ranks_unique(now)
        await quiesce(server, listener)
    for envelope in listener.events:
        if envelope.get("room") == f"project:{pid}" and "seq" in envelope:
            apply_board_event(state, envelope)
    final = await board(member, pid)
    assert board_view(state) == board_view(board_state(final))
