"""A Hypothesis state machine: several clients create, edit, move and delete cards on one board,
one at a time and two at once, with placements and baseRevs from their own (possibly stale)
view. After every step each client's board — its snapshot plus the events it received, applied by
the reducer the event-state test uses — must equal the server's snapshot, with unique ranks."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.harness import Listener, Person, Server, quick_team, quiesce
from tests.projects.factories import board, make_project
from tests.projects.test_event_state import apply_board_event, board_state, board_view
from tests.tasks.test_kanban_writes import ranks_unique

EXAMPLES = int(os.environ.get("TANDEM_BOARD_MACHINE_EXAMPLES", "6"))
STEPS = int(os.environ.get("TANDEM_BOARD_MACHINE_STEPS", "14"))
COLUMNS = ["To Do", "In Progress", "Review", "Done"]
PRIORITIES = ["Low", "Medium", "High", "Urgent"]
# What a write may answer: done, or refused because the client's view was stale (409: a
# neighbour moved; 404: the card is gone).
ALLOWED = {200, 201, 204, 404, 409}
answered: Counter[tuple[str, int]] = Counter()  # (method, status): the run did write


class Client:
    def __init__(self, person: Person) -> None:
        self.person = person
        self.state: dict[str, Any] = {}
        self.listener: Listener | None = None
        self.applied = 0
        self.room = ""

    async def open(self, pid: str) -> None:
        snapshot = await board(self.person, pid)
        self.state = board_state(snapshot)
        self.room = f"project:{pid}"
        self.listener = Listener(self.person.server, await self.person.socket_token())
        await self.listener.connect()
        ack = await self.listener.subscribe(self.room, after=snapshot["cursor"])
        assert ack["ok"], ack

    def catch_up(self) -> None:
        assert self.listener is not None
        events = self.listener.events
        for envelope in events[self.applied :]:
            if envelope.get("room") == self.room and "seq" in envelope:
                apply_board_event(self.state, envelope)
        self.applied = len(events)

    def column(self, name: str) -> list[dict[str, Any]]:
        tasks = [t for t in self.state["tasks"].values() if t["status"] == name]
        return sorted(tasks, key=lambda t: (t["rank"], t["id"]))

    def pick(self, index: int) -> dict[str, Any] | None:
        tasks = sorted(self.state["tasks"].values(), key=lambda t: t["id"])
        return tasks[index % len(tasks)] if tasks else None


async def write(person: Person, method: str, path: str, body: Any = None) -> int:
    async with person.http() as http:
        r = await http.request(method, path, json=body)
    assert r.status_code in ALLOWED, (method, path, body, r.status_code, r.text)
    answered[(method, r.status_code)] += 1
    return r.status_code


def neighbour(client: Client, column: str, at: int) -> dict[str, str]:
    """A place in the column as the client sees it: its end, or before/after one of its cards."""
    cards = client.column(column)
    if not cards or at == 0:
        return {}
    card = cards[(at - 1) // 2 % len(cards)]
    return {"beforeTaskId" if at % 2 else "afterTaskId": card["id"]}


def machine(server: Server, pid_of: Any, people: list[Person], run: Any) -> type:
    class Board(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.pid = run(pid_of())
            self.clients = [Client(p) for p in people]
            for client in self.clients:
                run(client.open(self.pid))
            self.serial = 0

        def client(self, i: int) -> Client:
            return self.clients[i % len(self.clients)]

        def create_op(self, c: int, column: int, at: int, with_id: bool) -> Any:
            client = self.client(c)
            self.serial += 1
            name = COLUMNS[column]
            body: dict[str, Any] = {"title": f"card {self.serial}", "status": name}
            body.update(neighbour(client, name, at))
            if with_id:
                body["clientId"] = f"c-{self.serial}"
            return write(client.person, "POST", f"/api/projects/{self.pid}/tasks", body)

        def edit_op(self, c: int, t: int, priority: int, stale: bool) -> Any:
            client = self.client(c)
            task = client.pick(t)
            if task is None:
                return asyncio.sleep(0)
            body = {
                "changes": {"title": f"{task['title']}'", "priority": PRIORITIES[priority]},
                "baseRev": max(0, task["rev"] - 1) if stale else task["rev"],
            }
            return write(client.person, "PATCH", f"/api/tasks/{task['id']}", body)

        def move_op(self, c: int, t: int, column: int, at: int) -> Any:
            client = self.client(c)
            task = client.pick(t)
            if task is None:
                return asyncio.sleep(0)
            body = {"toColumn": COLUMNS[column], "baseRev": task["rev"]}
            body.update(neighbour(client, COLUMNS[column], at))
            return write(client.person, "POST", f"/api/tasks/{task['id']}/move", body)

        def delete_op(self, c: int, t: int) -> Any:
            client = self.client(c)
            task = client.pick(t)
            if task is None:
                return asyncio.sleep(0)
            return write(client.person, "DELETE", f"/api/tasks/{task['id']}")

        @rule(c=st.integers(0, 9), column=st.integers(0, 3), at=st.integers(0, 6), i=st.booleans())
        def create(self, c: int, column: int, at: int, i: bool) -> None:
            run(self.create_op(c, column, at, i))

        @rule(c=st.integers(0, 9), t=st.integers(0, 99), p=st.integers(0, 3), s=st.booleans())
        def edit(self, c: int, t: int, p: int, s: bool) -> None:
            run(self.edit_op(c, t, p, s))

        @rule(
            c=st.integers(0, 9), t=st.integers(0, 99), col=st.integers(0, 3), at=st.integers(0, 6)
        )
        def move(self, c: int, t: int, col: int, at: int) -> None:
            run(self.move_op(c, t, col, at))

        @rule(c=st.integers(0, 9), t=st.integers(0, 99))
        def delete(self, c: int, t: int) -> None:
            run(self.delete_op(c, t))

        @rule(
            t=st.integers(0, 99),
            cols=st.tuples(st.integers(0, 3), st.integers(0, 3)),
            at=st.integers(0, 6),
            p=st.integers(0, 3),
        )
        def at_once(self, t: int, cols: tuple[int, int], at: int, p: int) -> None:
            """Two clients act on one card from the same view: a move and a move, or an edit."""

            async def both() -> None:
                await asyncio.gather(
                    self.move_op(0, t, cols[0], at),
                    self.move_op(1, t, cols[1], 0),
                    self.edit_op(2, t, p, False),
                    self.create_op(1, cols[0], at, True),
                )

            run(both())

        @invariant()
        def every_client_sees_the_server_board(self) -> None:
            listeners = [c.listener for c in self.clients if c.listener is not None]
            run(quiesce(server, *listeners))
            truth = run(board(people[0], self.pid))
            ranks_unique(truth)
            expected = board_view(board_state(truth))
            for client in self.clients:
                client.catch_up()
                assert board_view(client.state) == expected, client.person.name

        def teardown(self) -> None:
            for client in self.clients:
                if client.listener is not None:
                    run(client.listener.close())

    return Board


async def test_every_client_board_equals_the_server_board(server: Server) -> None:
    org_id, people = await quick_team(server, ["Owner", "Member", "Member"])
    loop = asyncio.get_running_loop()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

    async def new_project() -> str:
        return (await make_project(people[0], org_id))["id"]

    Board = machine(server, new_project, people, run)
    config = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    answered.clear()
    await asyncio.to_thread(run_state_machine_as_test, Board, settings=config)
    # Not a vacuous run: each kind of write went through.
    for done in (("POST", 201), ("PATCH", 200), ("POST", 200), ("DELETE", 204)):
        assert answered[done] > 0, answered
