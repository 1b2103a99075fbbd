"""Helpers of the rollout tests: set a state, report latency and drift, run one rollback check."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from tandem.flags import rollback
from tests.harness import Person, Server


async def put_state(person: Person, org_id: str, phase: str, body: Any) -> httpx.Response:
    async with person.http() as http:
        return await http.put(f"/api/orgs/{org_id}/flags/{phase}", json=body)


async def states(person: Person, org_id: str) -> dict[str, str]:
    async with person.http() as http:
        r = await http.get(f"/api/orgs/{org_id}/flags")
        assert r.status_code == 200, r.text
        return r.json()["states"]


async def operator_view(person: Person, org_id: str) -> httpx.Response:
    async with person.http() as http:
        return await http.get(f"/api/orgs/{org_id}/realtime")


async def report_latency(
    person: Person, org_id: str | None, event: str, ms: float, count: int, **extra: Any
) -> None:
    body: dict[str, Any] = {"samples": [{"event": event, "ms": ms}] * count, **extra}
    if org_id is not None:
        body["orgId"] = org_id
    async with person.http() as http:
        r = await http.post("/api/telemetry/latency", json=body)
        assert r.status_code == 204, r.text


def drift_report(phase: str, room: str, **changes: Any) -> dict[str, Any]:
    return {
        "phase": phase,
        "room": room,
        "eventTypes": ["org.member.updated"],
        "fields": ["members.u_1.role"],
        "traceIds": ["trace-drift-1"],
        "seq": 12,
        **changes,
    }


async def report_drift(person: Person, org_id: str, body: Any) -> httpx.Response:
    async with person.http() as http:
        return await http.post(f"/api/orgs/{org_id}/realtime/drift", json=body)


def limits(server: Server, **changes: Any) -> rollback.Thresholds:
    return dataclasses.replace(rollback.Thresholds.from_settings(server.settings), **changes)


async def check(server: Server, **changes: Any) -> list[rollback.Verdict]:
    """One run of the automatic rollback's check, as the leader runs it every few seconds."""
    return await rollback.evaluate(
        server.runtime.db, limits(server, **changes), server.runtime.metrics
    )


def metric(server: Server, name: str, **labels: str) -> float:
    return server.runtime.metrics.registry.get_sample_value(name, labels) or 0.0
