"""A page's hint events over the socket ("I am dragging this card", "I am typing here"), wired
one way for every page: a subclass names its socket events and how a hint is announced; this
class builds the board that holds the hints (realtime/hints.py: shared through Redis when
configured), ends a socket's hints when it leaves a room or disconnects and all of them when the
runtime stops, and answers each event's common part — the socket known, one payload, valid —
with the SPEC's failing acks. How often a socket and an address may send each hint is the gateway's
to enforce before the handler runs (realtime/limits.py: socket_hint_*, by default about 10 a second
per socket and event in bursts of 20).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.realtime.envelope import EventData, envelope
from tandem.realtime.gateway import SocketInfo, invalid
from tandem.realtime.hints import Hint, HintBoard, LocalView, RedisView
from tandem.realtime.inbound import Handler, InboundGate, failure

Payload = TypeVar("Payload", bound=BaseModel)


class HintEvents:
    """One gateway's socket events for one kind of page's hints, and the board holding them."""

    board_name: ClassVar[str]  # the gate's extension under which the board is found (snapshots)

    def __init__(self, gate: InboundGate, gateway: Any) -> None:
        self.gateway = gateway
        runtime = gateway.runtime
        settings = runtime.settings
        view = (
            RedisView(settings.redis_url, settings.redis_prefix)
            if settings.redis_url
            else LocalView()
        )
        self.board = HintBoard(self.announce, view, holder_prefix=settings.instance_id)
        gate.extensions[self.board_name] = self.board
        gate.handlers.update(self.handlers())
        gateway.when_left(self.board.dropped)
        runtime.when_stopping(self.board.close)
        runtime.db.on_commit(self.committed)

    def handlers(self) -> dict[str, Handler]:
        """The socket events this page's clients send, by name."""
        raise NotImplementedError

    def committed(self, session: AsyncSession) -> None:
        """After a commit: end the hints whose subject the transaction deleted, if any."""

    async def announce(self, hint: Hint, alive: bool, expires_in_ms: int) -> None:
        """Tell the hint's room that it began, was refreshed (alive) or ended."""
        raise NotImplementedError

    async def publish(self, data: EventData, hint: Hint) -> None:
        env = envelope(data, room=hint.room, actor_id=hint.user_id)
        await self.gateway.publish(env["event"], env, hint.room)

    async def admit(
        self, event: str, sid: str, data: Any, extra: tuple[Any, ...], model: type[Payload]
    ) -> tuple[SocketInfo, Payload] | dict[str, Any]:
        """The sending socket and its validated payload, or the ack refusing them."""
        info = self.gateway.sockets.get(sid)
        if info is None:
            return failure("forbidden", "not connected")
        if extra:
            return failure("invalid", "send one payload object")
        try:
            request = model.model_validate(data)
        except ValidationError as exc:
            return invalid(exc)
        return info, request
