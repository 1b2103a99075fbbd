"""Client-observed latency (emittedAt → received), reported by the SDK for /metrics and, with an
orgId, for that organization's rollout figures (the automatic rollback reads them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import Field, StringConstraints

from tandem.deps import ReadingCallerDep, RuntimeDep
from tandem.flags.schemas import Phase
from tandem.kit.ids import ID_PATTERN
from tandem.realtime.envelope import REGISTRY, Model
from tandem.telemetry import service

router = APIRouter(tags=["telemetry"])


class LatencySample(Model):
    event: Annotated[str, StringConstraints(max_length=64)]
    ms: float = Field(ge=0, le=600_000)


class CallOutcome(Model):
    """Socket acks and REST calls of one phase's pages since the last report; `failed`: those
    answered 5xx or with an ack `internal` (the server's fault, not the client's). More failed
    than calls counts as every call failed."""

    phase: Phase
    calls: int = Field(ge=0, le=100_000)
    failed: int = Field(ge=0, le=100_000)


class LatencyIn(Model):
    samples: list[LatencySample] = Field(max_length=500)
    # The org whose pages the samples come from: they also count toward its rollout figures.
    org_id: Annotated[str, StringConstraints(max_length=32, pattern=ID_PATTERN)] | None = None
    outcomes: list[CallOutcome] = Field(default_factory=list, max_length=6)


@router.post("/telemetry/latency", status_code=204)
async def latency(body: LatencyIn, caller: ReadingCallerDep, runtime: RuntimeDep) -> Response:
    """Record latency samples (and call outcomes) the client measured."""
    for sample in body.samples:
        event = sample.event if sample.event in REGISTRY else "other"  # bounded label set
        runtime.metrics.client_latency.labels(event).observe(sample.ms / 1000)
    if body.org_id is not None and (body.samples or body.outcomes):
        # Its own unit of work: most reports carry no org, and need no write transaction.
        async with runtime.db.unit_of_work() as session:
            await service.attribute(
                session,
                body.org_id,
                caller.id,
                [(s.event, s.ms) for s in body.samples],
                [(o.phase, o.calls, min(o.failed, o.calls)) for o in body.outcomes],
                runtime.settings.rollback_p99_ms,
            )
    return Response(status_code=204)
