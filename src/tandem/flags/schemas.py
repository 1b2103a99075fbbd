"""Request and response models of the flags API: states, drift reports, the operator's view."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from tandem.realtime.envelope import Model
from tandem.realtime.rooms import MAX_ROOM_LENGTH

# service.PHASES as a type, so the OpenAPI document lists the phases (tests check the two agree).
Phase = Literal["members", "dashboard", "kanban", "task", "project", "chat"]
# A phase's state for one org: off (pages poll), soak (live, and the client verifies against
# snapshots in the background), on (live).
State = Literal["on", "off", "soak"]
# What an Owner may set: a state, or "default" to return to the global rule.
StateIn = Literal["on", "off", "soak", "default"]


class FlagsOut(Model):
    flags: dict[str, bool]
    states: dict[str, State]


class FlagOverrideIn(Model):
    """Either `enabled` (null removes the override) or `state`; one of the two, not both."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["enabled"]}, {"required": ["state"]}]}
    )

    enabled: StrictBool | None = None  # "off" or 0 is a client bug, not false
    state: Annotated[
        StateIn | None, WithJsonSchema({"type": "string", "enum": list(get_args(StateIn))})
    ] = None

    @model_validator(mode="after")
    def _one_of_the_two(self) -> FlagOverrideIn:
        given = self.model_fields_set & {"enabled", "state"}
        if len(given) != 1:
            raise ValueError("give either `enabled` or `state`, not both and not neither")
        if "state" in given and self.state is None:
            raise ValueError("state is one of on, off, soak, default")
        return self

    def wanted(self) -> str | None:
        """The state asked for: on, off, soak, or None for the global rule."""
        if "state" in self.model_fields_set:
            return None if self.state == "default" else self.state
        return None if self.enabled is None else ("on" if self.enabled else "off")


Label = Annotated[str, StringConstraints(min_length=1, max_length=80)]
TraceId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class DriftIn(Model):
    """What a soaking client found different between its live state and a fresh snapshot."""

    phase: Phase
    room: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ROOM_LENGTH)]
    event_types: list[Label] = Field(default_factory=list, max_length=20)
    fields: list[Label] = Field(default_factory=list, max_length=50)
    trace_ids: list[TraceId] = Field(default_factory=list, max_length=20)
    seq: int | None = Field(default=None, ge=0, le=2**53 - 1)


class AutoRollbackOut(Model):
    enabled: bool
    window_seconds: int
    p99_ms: float
    max_drift: int
    max_error_rate: float
    max_lag_seconds: float
    min_samples: int


class RuleOut(Model):
    enabled: bool
    rollout_percent: int
    allow_listed: bool
    in_rollout: bool


class FiguresOut(Model):
    """Over the window (eventsPerMinute: the last minute)."""

    connections: int
    events_per_minute: int
    client_p99_ms: float | None
    samples: int
    over_p99: int
    drift: int
    calls: int
    errors: int
    drops: int


class PhaseOut(Model):
    phase: Phase
    state: State
    source: Literal["override", "rule"]
    rule: RuleOut
    figures: FiguresOut


class ActorOut(Model):
    id: str
    name: str


class FlagChangeOut(Model):
    at: str
    phase: Phase
    before: str
    after: str
    reason: str
    automatic: bool
    actor: ActorOut | None
    scope: Literal["org", "global"]


class RealtimeOut(Model):
    auto_rollback: AutoRollbackOut
    phases: list[PhaseOut]
    audit: list[FlagChangeOut]
