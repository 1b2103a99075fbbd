"""The one door for what a connected client sends: every event is answered, none runs unbounded.

It takes engine.io's `message` handler (a public hook) in front of python-socketio's and handles
Socket.IO EVENT packets itself: a payload that cannot be decoded, an unknown or reserved event
name ("disconnect" sent as an event would otherwise run the server's own disconnect handler), a
socket or person with too many events in flight, a handler that fails: each is answered with the
SPEC's `{ok: false, error}` ack instead of the silence a client would wait on forever. Binary
packets and malformed ones end the socket before anything is buffered; Tandem sends no binary
events, so a client that does is broken or hostile. An engine.io session that has not completed
its Socket.IO connect (or was refused) within the handshake deadline is closed, however well it
answers pings. Every other packet goes on to python-socketio. A domain adds its own client events
with `@extend` (the board's hints: tasks/hints.py); each extension is set up with every gate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, cast

from socketio import packet

logger = logging.getLogger("tandem.gateway")

Handler = Callable[[str, Any, tuple], Awaitable[dict[str, Any]]]
# extension(gate, owner): add handlers to gate.handlers, keep what it needs in gate.extensions;
# `owner` is the gateway whose events these are.
Extension = Callable[["InboundGate", Any], None]
_extensions: list[Extension] = []


def extend(extension: Extension) -> Extension:
    """Register client events of a domain, set up with every gate made from now on."""
    _extensions.append(extension)
    return extension


# Socket.IO packet types as the first character of an engine.io message.
_DISCONNECT, _EVENT, _BINARY_EVENT, _BINARY_ACK = "1", "2", "5", "6"
RETRY_IN_FLIGHT_MS = 100  # what a refused event's `retryAfterMs` suggests: about one handler's time
# engine.io's disconnect waits for the client to take its CLOSE packet; a polling client that never
# polls again would hold the closing task for good.
CLOSE_WAIT_SECONDS = 5.0


def failure(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message, **extra}}


class UndecodablePayload(ValueError):
    """The JSON of a packet could not be read (not JSON, or nested too deep)."""


class InboundPacket(packet.Packet):
    """python-socketio's packet (the `serializer=` hook), keeping a packet whose JSON fails: its type,
    namespace and ack id are read before the payload, so the refusal can still be acknowledged."""

    undecodable: str | None = None

    def decode(self, encoded_packet: Any) -> int:
        try:
            return int(super().decode(encoded_packet) or 0)
        except UndecodablePayload as exc:
            self.data = None
            self.undecodable = str(exc)
            return 0


class LogBudget:
    """At most one line per `every` seconds for a repeated failure; the count of those held back
    goes out with the next one, so a client that fails on purpose cannot fill the disk."""

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self._last: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    def allow(self, key: str) -> int | None:
        """None to stay quiet; otherwise how many lines were held back since the last one."""
        now = time.monotonic()
        if now - self._last.get(key, -self.every) < self.every:
            self._held[key] += 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)


class InboundGate:
    """Dispatches a server's client events to `handlers` (name -> handler(sid, data, extra))."""

    def __init__(
        self,
        sio: Any,
        handlers: dict[str, Handler],
        person_of: Callable[[str], str | None],
        *,
        max_in_flight: int,
        max_in_flight_per_person: int,
        handshake_seconds: float,
        owner: Any = None,
    ) -> None:
        self.sio = sio
        self.handlers = handlers
        self.person_of = person_of
        self.max_in_flight = max_in_flight
        self.max_in_flight_per_person = max_in_flight_per_person
        self.handshake_seconds = handshake_seconds
        self.deadlines: dict[str, asyncio.TimerHandle] = {}  # eio sid -> its handshake deadline
        self.in_flight: Counter[str] = Counter()  # by eio sid
        self.person_in_flight: Counter[str] = Counter()
        self.ended: set[str] = set()  # eio sids being closed: what they still send is dropped
        self.log_budget = LogBudget()
        self.tasks: set[asyncio.Task] = set()
        self._passthrough = sio.eio.handlers["message"]
        self._on_disconnect = sio.eio.handlers["disconnect"]
        self._on_connect = sio.eio.handlers["connect"]
        sio.eio.on("connect", self.connected)
        sio.eio.on("message", self.message)
        sio.eio.on("disconnect", self.disconnected)
        self.extensions: dict[str, Any] = {}
        for extension in _extensions:
            extension(self, owner)

    async def connected(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        result = await self._on_connect(eio_sid, environ)
        if result is not False:
            self._arm(eio_sid)
        return result

    def _arm(self, eio_sid: str) -> None:
        if self.handshake_seconds <= 0 or eio_sid in self.deadlines:
            return
        # A timer, not a task: thousands of sessions opening at once cost a heap entry each.
        self.deadlines[eio_sid] = asyncio.get_running_loop().call_later(
            self.handshake_seconds, self._handshake_due, eio_sid
        )

    def _handshake_due(self, eio_sid: str) -> None:
        self.deadlines.pop(eio_sid, None)
        if self.sio.manager.sid_from_eio_sid(eio_sid, "/") is None:
            self.end(eio_sid, "no Socket.IO connect within the handshake deadline")

    async def disconnected(self, eio_sid: str, *args: Any) -> Any:
        self.ended.discard(eio_sid)
        self.in_flight.pop(eio_sid, None)
        deadline = self.deadlines.pop(eio_sid, None)
        if deadline is not None:
            deadline.cancel()
        return await self._on_disconnect(eio_sid, *args)

    async def message(self, eio_sid: str, data: Any) -> Any:
        if eio_sid in self.ended:
            return None
        if not isinstance(data, str) or data[:1] in (_BINARY_EVENT, _BINARY_ACK):
            return self.end(eio_sid, "binary packets are not accepted")
        if data[:1] != _EVENT:
            try:
                result = await self._passthrough(eio_sid, data)
            except ValueError:  # python-socketio's word for a packet it cannot read
                return self.end(eio_sid, "malformed packet")
            if data[:1] == _DISCONNECT:  # left the namespace, kept the session: a new deadline
                self._arm(eio_sid)
            return result
        try:
            pkt = InboundPacket(encoded_packet=data)
        except ValueError:  # an id or attachment count past the protocol's bounds
            return self.end(eio_sid, "malformed packet")
        namespace = pkt.namespace or "/"
        sid = self.sio.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is None or not self.sio.manager.is_connected(sid, namespace):
            return None  # as python-socketio does: no events before the Socket.IO connect
        refusal = self._refusal(pkt)
        if refusal is not None:
            return await self._ack(eio_sid, pkt, refusal)
        event = cast(list[Any], pkt.data)  # a list with a name first: checked by _refusal
        name, payload, extra = event[0], event[1] if len(event) > 1 else None, tuple(event[2:])
        person = self.person_of(sid)
        if self.in_flight[eio_sid] >= self.max_in_flight or (
            person is not None and self.person_in_flight[person] >= self.max_in_flight_per_person
        ):
            refused = failure(
                "rate_limited",
                "too many events in flight: wait for their acknowledgements",
                retryAfterMs=RETRY_IN_FLIGHT_MS,
            )
            return await self._ack(eio_sid, pkt, refused)
        # Counted here, before the task exists: a burst read in one go must meet the cap too.
        self.in_flight[eio_sid] += 1
        if person is not None:
            self.person_in_flight[person] += 1
        task = asyncio.create_task(self._run(eio_sid, sid, person, pkt, name, payload, extra))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return None

    def _refusal(self, pkt: InboundPacket) -> dict[str, Any] | None:
        if pkt.undecodable is not None:
            return failure("invalid", pkt.undecodable)
        if not isinstance(pkt.data, list) or not pkt.data or not isinstance(pkt.data[0], str):
            return failure("invalid", "an event needs a name")
        if pkt.data[0] not in self.handlers:
            return failure("invalid", f"unknown event {pkt.data[0][:64]!r}")
        return None

    async def _run(
        self,
        eio_sid: str,
        sid: str,
        person: str | None,
        pkt: InboundPacket,
        name: str,
        data: Any,
        extra: tuple,
    ) -> None:
        try:
            result = await self.handlers[name](sid, data, extra)
        except Exception:
            held = self.log_budget.allow(name)
            if held is not None:
                logger.exception(
                    "socket event failed", extra={"event": name, "sid": sid, "heldBack": held}
                )
            result = failure("internal", "the server could not handle this event")
        finally:
            self._release(eio_sid, person)
        await self._ack(eio_sid, pkt, result)

    def _release(self, eio_sid: str, person: str | None) -> None:
        if eio_sid in self.in_flight:
            self.in_flight[eio_sid] -= 1
            if self.in_flight[eio_sid] <= 0:
                del self.in_flight[eio_sid]
        if person is not None:
            self.person_in_flight[person] -= 1
            if self.person_in_flight[person] <= 0:
                del self.person_in_flight[person]

    async def _ack(self, eio_sid: str, pkt: InboundPacket, result: dict[str, Any]) -> None:
        if pkt.id is None or eio_sid in self.ended:
            return
        # Answers count against the socket's outbound bound like events do: a client that sends
        # without ever reading would otherwise queue them without limit. Past it, it is closed.
        socket = self.sio.eio.sockets.get(eio_sid)
        if socket is None or not self.sio.manager.admit_answer(eio_sid, socket):
            return
        answer = InboundPacket(packet.ACK, namespace=pkt.namespace, id=pkt.id, data=[result])
        encoded = answer.encode()
        if self.sio.manager.write_answer(eio_sid, socket, encoded):
            return
        try:
            await self.sio.eio.send(eio_sid, encoded)
        except Exception:  # the socket closed meanwhile: nobody left to answer
            return

    def end(self, eio_sid: str, reason: str) -> None:
        """Tell the client why (a CONNECT_ERROR, which Socket.IO clients show as `connect_error`),
        then close its engine.io session; until then it is not read."""
        self.ended.add(eio_sid)
        held = self.log_budget.allow(reason)
        if held is not None:
            logger.warning("socket closed: %s", reason, extra={"heldBack": held})
        task = asyncio.create_task(self._close(eio_sid, reason))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _close(self, eio_sid: str, reason: str) -> None:
        notice = InboundPacket(packet.CONNECT_ERROR, data={"message": reason})
        try:
            await self.sio.eio.send(eio_sid, notice.encode())
        except Exception:  # already gone
            pass
        try:
            await asyncio.wait_for(self.sio.eio.disconnect(eio_sid), CLOSE_WAIT_SECONDS)
        except TimeoutError:
            pass  # closed, only not yet taken by the client: engine.io's sweep forgets it
        self.ended.discard(eio_sid)
