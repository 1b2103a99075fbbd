"""Helpers for the dashboard's live tests: snapshots over REST, waiting for the emitter."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tandem.dashboard.models import DashboardDirty
from tests.harness import Listener, Person, Server, eventually, quiesce


async def snapshot(person: Person, org_id: str, **params: Any) -> dict[str, Any]:
    async with person.http() as http:
        r = await http.get(f"/api/orgs/{org_id}/dashboard", params=params)
        assert r.status_code == 200, r.text
        return r.json()


async def marks_left(server: Server, org_id: str | None) -> int:
    """The org's changes (every org's, for None) the emitter has not sent yet."""
    async with server.runtime.db.read() as session:
        statement = select(func.count()).select_from(DashboardDirty)
        if org_id is not None:
            statement = statement.where(DashboardDirty.org_id == org_id)
        return int(await session.scalar(statement) or 0)


async def sent(
    server: Server, org_id: str | None, *listeners: Listener, timeout: float = 10.0
) -> None:
    """Until the emitter sent the org's (None: every org's) last change and every listener
    received it."""

    async def cleared() -> bool:
        return await marks_left(server, org_id) == 0

    await eventually(cleared, timeout=timeout, interval=0.05)
    await quiesce(server, *listeners)


def metrics_updates(listener: Listener, org_id: str, room: str) -> list[dict[str, Any]]:
    return [
        e
        for e in listener.events
        if e.get("event") == "dashboard.metrics.updated"
        and e["data"]["organizationId"] == org_id
        and e["room"] == room
    ]


COUNTS = ("openTasks", "completedTasks", "overdueTasks", "activeProjects")


def counts(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: metrics[k] for k in (*COUNTS, "tasksByStatus", "tasksByAssignee")}
