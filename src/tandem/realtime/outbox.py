"""Commit, then emit (SPEC §5.1–5.2): the outbox.

Services call `record()` inside their transaction; the row commits or rolls back with the change,
and realtime/dispatcher.py moves committed rows into the durable log and publishes them (on SQLite
with no Redis the transaction writes the log itself: realtime/direct_log.py). An org's
events are recorded only while its phase's flag is on (the phase gate, registered by the flags
domain); access changes still carry their `control`, which every instance runs after commit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.kit.clock import utcnow
from tandem.realtime.direct_log import DIRECT_LOG
from tandem.realtime.envelope import EventData, current_trace_id
from tandem.realtime.models import OutboxEntry

logger = logging.getLogger("tandem.outbox")

PhaseGate = Callable[[AsyncSession, str, str], Awaitable[bool]]


async def _every_phase_on(session: AsyncSession, phase: str, org_id: str) -> bool:
    return True


_phase_gate: PhaseGate = _every_phase_on


def use_phase_gate(gate: PhaseGate) -> None:
    """Register the feature-flag check: gate(session, phase, org_id) -> whether that org's phase is on."""
    global _phase_gate
    _phase_gate = gate


async def record(
    session: AsyncSession,
    data: EventData,
    rooms: Sequence[str],
    *,
    org_id: str | None,
    actor_id: str | None = None,
    control: dict[str, Any] | None = None,
) -> bool:
    """Record a durable event in the caller's transaction. Returns False when its phase is off for the org.

    `control`, when given, is a side effect every instance runs after commit, after the events
    before it and before this one (e.g. re-check who may stay in the org's rooms).
    """
    enabled = await _enabled(session, data, org_id)
    if not enabled and not control:
        return False
    await _write(
        session, [_row(data, rooms, org_id, actor_id, current_trace_id(), control, enabled)]
    )
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("event recorded", extra={"event": data.event_name, "rooms": list(rooms)})
    return enabled


class Recorded(NamedTuple):
    """One event of `record_many`, with the trace id of the request it comes from."""

    data: EventData
    rooms: Sequence[str]
    org_id: str | None
    actor_id: str | None
    trace_id: str


async def record_many(session: AsyncSession, events: Sequence[Recorded]) -> None:
    """Record durable events (no controls) as `record` one after another would, in one INSERT."""
    gates: dict[tuple[str | None, str | None], bool] = {}
    rows = []
    now = utcnow()
    for event in events:
        gate = (event.data.event_phase, event.org_id)
        if gate not in gates:
            gates[gate] = await _enabled(session, event.data, event.org_id)
        if gates[gate]:
            rows.append(
                _row(
                    event.data,
                    event.rooms,
                    event.org_id,
                    event.actor_id,
                    event.trace_id,
                    None,
                    True,
                    now,
                )
            )
    if rows:
        await _write(session, rows)


async def _enabled(session: AsyncSession, data: EventData, org_id: str | None) -> bool:
    if not data.event_durable:
        raise ValueError(f"{data.event_name} is ephemeral; it has no place in the outbox")
    return (
        not data.event_phase
        or org_id is None
        or await _phase_gate(session, data.event_phase, org_id)
    )


def _row(
    data: EventData,
    rooms: Sequence[str],
    org_id: str | None,
    actor_id: str | None,
    trace_id: str,
    control: dict[str, Any] | None,
    enabled: bool,
    now: datetime | None = None,
) -> dict[str, Any]:
    # Access changes still apply when the phase's events are off: the row then carries no rooms.
    return {
        "event": data.event_name,
        "version": data.event_version,
        "rooms": list(rooms) if enabled else [],
        "data": data.wire(),
        "org_id": org_id,
        "actor_id": actor_id,
        "trace_id": trace_id,
        "control": control,
        "created_at": now or utcnow(),
    }


def reauthorize(user_id: str, org_id: str) -> dict[str, str]:
    """A `control` for `record`: after commit, every instance re-checks which of this person's
    sockets may stay in the org's rooms (project, task and chat rooms included: their grants rest
    on the org), and takes the others out within a second."""
    return {"type": "reauthorize", "userId": user_id, "orgId": org_id}


async def record_control(session: AsyncSession, control: dict[str, Any]) -> None:
    """Record a side effect for every instance (e.g. close a login's sockets) to run after commit."""
    await _write(
        session,
        [
            {
                "event": "control",
                "version": 1,
                "rooms": [],
                "data": {},
                "org_id": None,
                "actor_id": None,
                "trace_id": current_trace_id(),
                "control": control,
                "created_at": utcnow(),
            }
        ],
    )


async def _write(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    direct = session.info.get(DIRECT_LOG)
    if direct is not None and await direct.takes(session):
        await direct.write(session, rows)
        return
    await session.execute(_RECORD, rows[0] if len(rows) == 1 else rows)
    session.info["tandem_outbox"] = True


# A Core insert, written at once: the order of a transaction's events is the order of its record() calls.
_RECORD = insert(OutboxEntry.__table__)
