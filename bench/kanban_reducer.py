"""The bench's Kanban reducer: a client's board (the snapshot of GET /api/projects/{id}/board
with every `kanban.task.*` event it received applied, in seq order), and how it differs from the
server's snapshot. It is the bench's own reading of the events' contract (tasks/events.py): a
client that applies them in order to its snapshot must end with the server's board, counts
included."""

from __future__ import annotations

from dataclasses import dataclass, field


def rank_key(task: dict) -> bytes:
    return task["rank"].encode()  # tasks sort by rank as byte strings (tasks/events.py)


@dataclass
class Board:
    """A client's board: the snapshot's columns, a count per column kept from the events (as a
    client showing counts without every card would), and the tasks by id."""

    columns: list[str]
    counts: dict[str, int]
    tasks: dict[str, dict]
    anomalies: list[str] = field(default_factory=list)
    already: int = 0  # events whose change the snapshot already held

    @classmethod
    def of(cls, snapshot: dict) -> Board:
        cols = snapshot["columns"]
        return cls(
            [c["name"] for c in cols],
            {c["name"]: c["count"] for c in cols},
            {t["id"]: dict(t) for c in cols for t in c["tasks"]},
        )

    def apply(self, event: str, data: dict) -> None:
        """One event, in seq order. The snapshot may already hold a change whose event comes after
        its cursor (the cursor is read before the state, SPEC §5.4): such an event (the task's rev
        is already as new) changes nothing, and a task the snapshot no longer holds is skipped
        until its deletion arrives. Whether that was right shows at the end, in the comparison
        with the server's board."""
        if event == "kanban.task.created":
            task = data["task"]
            if task["id"] in self.tasks:
                self.already += 1
                return
            self.tasks[task["id"]] = dict(task)
            self.counts[task["status"]] = self.counts.get(task["status"], 0) + 1
        elif event in ("kanban.task.updated", "kanban.task.moved", "kanban.task.deleted"):
            task = self.tasks.get(data["taskId"])
            if task is None or (event != "kanban.task.deleted" and task["rev"] >= data["rev"]):
                self.already += 1
                return
            if event == "kanban.task.deleted":
                self._leave(task, data["status"])
                del self.tasks[task["id"]]
            elif event == "kanban.task.moved":
                self._leave(task, data["fromColumn"])
                self.counts[data["toColumn"]] = self.counts.get(data["toColumn"], 0) + 1
                task.update(status=data["toColumn"], rank=data["rank"])
                task.update(completedAt=data["completedAt"])
            else:
                changes = data["changes"]
                if "status" in changes and changes["status"] != task["status"]:
                    self._leave(task, task["status"])
                    self.counts[changes["status"]] = self.counts.get(changes["status"], 0) + 1
                task.update(changes)
            if event != "kanban.task.deleted":
                task.update(rev=data["rev"], updatedAt=data["updatedAt"])
        else:
            return
        for task_id, key in (data.get("rebalanced") or {}).items():
            if task_id in self.tasks:
                self.tasks[task_id]["rank"] = key

    def _leave(self, task: dict, column: str) -> None:
        if task["status"] != column:
            self.anomalies.append(f"{task['id']} left {column} but was in {task['status']}")
        self.counts[task["status"]] -= 1

    def view(self) -> list[dict]:
        """The board as the snapshot shows it: columns in order, each with its count and cards."""
        by_column: dict[str, list[dict]] = {name: [] for name in self.columns}
        for task in self.tasks.values():
            by_column.setdefault(task["status"], []).append(task)
        return [
            {"name": name, "count": self.counts.get(name, 0), "tasks": sorted(ts, key=rank_key)}
            for name, ts in by_column.items()
        ]


def differences(mine: list[dict], server: list[dict], limit: int = 5) -> list[str]:
    """How a client's board differs from the server's snapshot (empty when they are equal)."""
    out: list[str] = []
    if [c["name"] for c in mine] != [c["name"] for c in server]:
        out.append(f"columns {[c['name'] for c in mine]} != {[c['name'] for c in server]}")
    for a, b in zip(mine, server, strict=False):
        if a["count"] != b["count"]:
            out.append(f"{a['name']}: count {a['count']} != {b['count']}")
        ids_a, ids_b = [t["id"] for t in a["tasks"]], [t["id"] for t in b["tasks"]]
        if ids_a != ids_b:
            missing, extra = set(ids_b) - set(ids_a), set(ids_a) - set(ids_b)
            out.append(
                f"{a['name']}: cards differ (missing {len(missing)}, extra {len(extra)}, "
                f"order {'differs' if not missing and not extra else '-'})"
            )
        server_tasks = {t["id"]: t for t in b["tasks"]}
        for t in a["tasks"]:
            other = server_tasks.get(t["id"])
            if other is not None and other != t:
                fields = sorted(k for k in set(t) | set(other) if t.get(k) != other.get(k))
                out.append(f"{a['name']}: {t['id']} differs in {', '.join(fields)}")
    return out[:limit] + ([f"... {len(out) - limit} more"] if len(out) > limit else [])
