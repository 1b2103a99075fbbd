"""The event envelope (SPEC §4) and the registry of every event contract.

Each domain declares its events in its own `events.py` as subclasses of
`EventData`; the registry, the generated TypeScript types and the AsyncAPI
document all come from those classes.
"""

from __future__ import annotations

import random
from contextvars import ContextVar
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from tandem.kit.clock import iso, utcnow

PRODUCER = "server"

trace_id_var: ContextVar[str | None] = ContextVar("tandem_trace_id", default=None)


def current_trace_id() -> str:
    value = trace_id_var.get()
    if value is None:
        # Every inbound packet gets one: 128 random bits without uuid4's system call for each.
        value = f"{random.getrandbits(128):032x}"
        trace_id_var.set(value)
    return value


class Model(BaseModel):
    """camelCase JSON on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class EventData(Model):
    """Base of every event payload. Subclasses set `name`, and may set the rest."""

    event_name: ClassVar[str] = ""
    event_version: ClassVar[int] = 1
    event_durable: ClassVar[bool] = True
    event_phase: ClassVar[str | None] = None  # the feature flag that gates it (SPEC §6)
    event_summary: ClassVar[str] = ""
    # Ephemeral events only: the data fields, as sent, that say what the value is of (a person's
    # presence, their typing in one conversation). A newer value with the same ones replaces an
    # older one still queued for a socket that has fallen behind (realtime/delivery.py).
    event_supersedes: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.__dict__.get("event_name"):
            if cls.event_name in REGISTRY and REGISTRY[cls.event_name] is not cls:
                raise RuntimeError(f"event {cls.event_name} declared twice")
            REGISTRY[cls.event_name] = cls


REGISTRY: dict[str, type[EventData]] = {}


def superseding_key(event: str, env: Any) -> str | None:
    """What an ephemeral envelope's value is of, within its room (`event_supersedes`): equal keys,
    the newer value replaces the older. None for a durable event or one without such fields."""
    cls = REGISTRY.get(event)
    if cls is None or cls.event_durable or not cls.event_supersedes or not isinstance(env, dict):
        return None
    data = env.get("data")
    if not isinstance(data, dict):
        return None
    try:
        subject = [str(data[name]) for name in cls.event_supersedes]
    except KeyError:
        return None
    return "\x1f".join([event, str(env.get("room", "")), *subject])


def envelope(
    data: EventData | dict[str, Any],
    *,
    event: str | None = None,
    version: int | None = None,
    room: str,
    seq: int | None = None,
    actor_id: str | None = None,
    trace_id: str | None = None,
    emitted_at: str | None = None,
) -> dict[str, Any]:
    if isinstance(data, EventData):
        event = event or data.event_name
        version = version or data.event_version
        data = data.wire()
    out: dict[str, Any] = {"event": event, "version": version or 1}
    if seq is not None:
        out["seq"] = seq
    out["room"] = room
    out["data"] = data
    out["meta"] = {
        "emittedAt": emitted_at or iso(utcnow()),
        "producer": PRODUCER,
        "traceId": trace_id or current_trace_id(),
        "actorId": actor_id,
    }
    return out


class ResyncRequired(EventData):
    """The log no longer holds what the client asked for: reload the snapshot."""

    event_name: ClassVar[str] = "resync.required"
    event_durable: ClassVar[bool] = False
    event_supersedes: ClassVar[tuple[str, ...]] = ("room",)
    event_summary: ClassVar[str] = (
        "The client's position is older than the log keeps; reload the room's snapshot."
    )

    room: str
    reason: str


class RoomEvicted(EventData):
    """This socket was taken out of a room: its person may no longer see what the room is about."""

    event_name: ClassVar[str] = "room.evicted"
    event_durable: ClassVar[bool] = False
    event_supersedes: ClassVar[tuple[str, ...]] = ("room",)
    event_summary: ClassVar[str] = (
        "This socket was taken out of `room` because its person lost access (removed from the "
        "org, the project or the conversation, or a role that no longer allows it); the page "
        "should say so rather than go stale. Sent only to the sockets taken out."
    )

    room: str
    reason: Literal["access"] = "access"


def load_all_contracts() -> dict[str, type[EventData]]:
    """Import every domain's events module so the registry is complete."""
    import importlib

    for module in (
        "tandem.orgs.events",
        "tandem.projects.events",
        "tandem.tasks.events",
        "tandem.subtasks.events",
        "tandem.comments.events",
        "tandem.attachments.events",
        "tandem.dashboard.events",
        "tandem.chat.events",
    ):
        importlib.import_module(module)
    return dict(REGISTRY)
