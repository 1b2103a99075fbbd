"""Client-observed latency (emittedAt → received), reported by the SDK for /metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import Field, StringConstraints

from tandem.deps import ReadingCallerDep, RuntimeDep
from tandem.realtime.envelope import REGISTRY, Model

router = APIRouter(tags=["telemetry"])


class LatencySample(Model):
    event: Annotated[str, StringConstraints(max_length=64)]
    ms: float = Field(ge=0, le=600_000)


class LatencyIn(Model):
    samples: list[LatencySample] = Field(max_length=500)


@router.post("/telemetry/latency", status_code=204)
async def latency(body: LatencyIn, caller: ReadingCallerDep, runtime: RuntimeDep) -> Response:
    """Record latency samples the client measured."""
    for sample in body.samples:
        event = sample.event if sample.event in REGISTRY else "other"  # bounded label set
        runtime.metrics.client_latency.labels(event).observe(sample.ms / 1000)
    return Response(status_code=204)
