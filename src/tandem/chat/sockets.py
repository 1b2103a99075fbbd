"""The messages page's durable writes over the socket: `chat.message.send`, `chat.message.delivered`
and `chat.message.read` (docs/chat.md). Each runs the same service body as its REST route, a send
in a unit of work of its own, receipts arriving together in a shared one (kit/shared_units.py),
and answers with the SPEC's ack: a conversation the sender is not in is
`forbidden`, exactly as one that does not exist; a clientId reused for another text is `conflict`;
a send past the person's allowance (here) or the socket's or address's (the gateway's, before the
handler runs: realtime/limits.py) is `rate_limited` with `retryAfterMs`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from itertools import groupby
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tandem.chat import messages, receipts
from tandem.chat.policy import MessageNotFound
from tandem.chat.schemas import SendIn, SocketDeliveredIn, SocketReadIn
from tandem.kit.clock import iso
from tandem.kit.errors import AppError, Conflict, Forbidden, NotFound
from tandem.kit.shared_units import Entry, SharedUnits, one_by_one
from tandem.realtime.envelope import current_trace_id
from tandem.realtime.gateway import SocketInfo, invalid
from tandem.realtime.inbound import Handler, InboundGate, extend, failure
from tandem.realtime.limits import retry_after_ms
from tandem.tasks.service import ClientIdReused

Payload = TypeVar("Payload", bound=BaseModel)
RECEIPT_LANES = 8  # well under the PostgreSQL pool (db.py), beside the sends and the requests
# Turns of the event loop a receipt batch waits for more to join it: at 200 messages a second on
# SQLite, 8 turns took the server's CPU a message from 4.75 to 4.45 ms (bench/README.md).
RECEIPT_GATHER_TURNS = 8


def refusal(exc: AppError) -> dict[str, Any]:
    """A service's refusal as an ack: a conversation the caller is not in is `forbidden` (as one
    that does not exist), messages not in it are `invalid`."""
    if isinstance(exc, ClientIdReused | Conflict):
        return failure("conflict", exc.message)
    if isinstance(exc, MessageNotFound):
        return failure("invalid", exc.message)
    if isinstance(exc, NotFound):
        return failure("forbidden", exc.message)
    if isinstance(exc, Forbidden):
        return failure("forbidden", exc.message)
    return failure("invalid", exc.message)


async def budget(
    gateway: Any, sid: str, user_id: str, kind: str, message: str
) -> dict[str, Any] | None:
    """One more chat `kind` event ("send", "typing") from this person, over all their sockets,
    within the settings `chat_{kind}_burst` / `_window_seconds` (through the limiter: across
    instances with Redis), or the `rate_limited` ack that refuses it. The address's allowance,
    `chat_{kind}_ip_*`, was counted before the handler ran (realtime/limits.py)."""
    settings = gateway.runtime.settings
    wait = await gateway.runtime.limiter.hit(
        f"chat-{kind}-user",
        user_id,
        getattr(settings, f"chat_{kind}_burst"),
        getattr(settings, f"chat_{kind}_window_seconds"),
    )
    if wait:
        return failure("rate_limited", message, retryAfterMs=retry_after_ms(wait))
    return None


class ChatSockets:
    def __init__(self, gate: InboundGate, gateway: Any) -> None:
        self.gateway = gateway
        # Receipts are a message's most frequent writes (one or two per recipient): those that
        # arrive together share a transaction; on PostgreSQL, several lanes of such at once.
        db = gateway.runtime.db
        self.receipts = SharedUnits(
            db,
            lanes=1 if db.is_sqlite else RECEIPT_LANES,
            write=write_receipts,
            turns=RECEIPT_GATHER_TURNS,
        )
        gate.handlers.update(self.handlers())

    def handlers(self) -> dict[str, Handler]:
        return {
            "chat.message.send": self.on_send,
            "chat.message.delivered": self.on_delivered,
            "chat.message.read": self.on_read,
        }

    def _admit(
        self, sid: str, data: Any, extra: tuple[Any, ...], model: type[Payload]
    ) -> tuple[SocketInfo, Payload] | dict[str, Any]:
        info = self.gateway.sockets.get(sid)
        if info is None:
            return failure("forbidden", "not connected")
        if extra:
            return failure("invalid", "send one payload object")
        try:
            return info, model.model_validate(data)
        except ValidationError as exc:
            return invalid(exc)

    async def _run(
        self, work: Callable[[AsyncSession], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        try:
            async with self.gateway.runtime.db.unit_of_work() as session:
                return await work(session)
        except AppError as exc:
            return refusal(exc)

    async def _receipt(self, receipt: Receipt) -> dict[str, Any]:
        try:
            # Keyed by person: only their receipts move their cursor rows, so lanes never wait
            # for each other's locks.
            await self.receipts.run(receipt, receipt.actor_id)
        except AppError as exc:
            return refusal(exc)
        return {"ok": True}

    async def on_send(self, sid: str, data: Any, extra: tuple[Any, ...]) -> dict[str, Any]:
        admitted = self._admit(sid, data, extra, SendIn)
        if isinstance(admitted, dict):
            return admitted
        info, request = admitted
        refused = await budget(
            self.gateway, sid, info.user_id, "send", "too many messages; slow down"
        )
        if refused is not None:
            return refused

        async def work(session: AsyncSession) -> dict[str, Any]:
            message, _created = await messages.send_message(
                session, request.conversation_id, info.user_id, request.text, request.client_id
            )
            return {"ok": True, "messageId": message.id, "sentAt": iso(message.sent_at)}

        return await self._run(work)

    async def on_delivered(self, sid: str, data: Any, extra: tuple[Any, ...]) -> dict[str, Any]:
        admitted = self._admit(sid, data, extra, SocketDeliveredIn)
        if isinstance(admitted, dict):
            return admitted
        info, request = admitted
        return await self._receipt(
            Receipt("delivered", request.conversation_id, info.user_id, tuple(request.message_ids))
        )

    async def on_read(self, sid: str, data: Any, extra: tuple[Any, ...]) -> dict[str, Any]:
        admitted = self._admit(sid, data, extra, SocketReadIn)
        if isinstance(admitted, dict):
            return admitted
        info, request = admitted
        return await self._receipt(
            Receipt("read", request.conversation_id, info.user_id, (request.message_id,))
        )


class Receipt(NamedTuple):
    """A receipt from a socket, run alone by calling it or with others by `write_receipts`."""

    kind: str  # "delivered" or "read"
    conversation_id: str
    actor_id: str
    message_ids: tuple[str, ...]

    @property
    def one_message(self) -> bool:
        return len(self.message_ids) == 1

    async def __call__(self, session: AsyncSession) -> None:
        if self.kind == "delivered":
            await receipts.mark_delivered(
                session, self.conversation_id, self.actor_id, self.message_ids
            )
        else:
            await receipts.mark_read(
                session, self.conversation_id, self.actor_id, self.message_ids[0]
            )


async def write_receipts(session: AsyncSession, entries: list[Entry]) -> list[None]:
    """A batch of receipts in order: each run of one-message receipts (a message's recipients
    answering together) written by mark_together, the others one by one."""
    for together, run in groupby(entries, key=lambda entry: entry[0].one_message):
        group = list(run)
        if together and len(group) > 1:
            marks = [
                receipts.Mark(
                    r.kind,
                    r.conversation_id,
                    r.actor_id,
                    r.message_ids[0],
                    context.run(current_trace_id),
                )
                for r, context in group
            ]
            await receipts.mark_together(session, marks)
        else:
            await one_by_one(session, group)
    return [None] * len(entries)


@extend
def _set_up(gate: InboundGate, gateway: Any) -> None:
    if gateway is not None and hasattr(gateway, "runtime"):
        ChatSockets(gate, gateway)
