"""The Socket.IO gateway: handshake auth, the user room, subscribe with replay, eviction.

Inbound events come through `realtime/inbound.py`, which answers every one; each passes its
event's limits (realtime/limits.py) before its handler runs, payloads are validated here, and
failures answer `{ok: false, error: {code, message}}`.

A connect is refused with a `rate_limited` connect_error (its data `{code, message, retryAfterMs}`)
when its address is past its connects, or when the process is already checking as many handshakes
as it may: in a reconnect storm the excess is turned away at once, to come back on the clients'
backoff, instead of queueing for the database until every handshake times out.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import socketio
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tandem.connections import Networks
from tandem.realtime import log as event_log
from tandem.realtime import rechecks, rooms
from tandem.realtime.delivery import LocalDelivery, make_manager
from tandem.realtime.envelope import ResyncRequired, envelope
from tandem.realtime.handshake import OriginCheck, client_address, connect_refused
from tandem.realtime.inbound import (
    Handler,
    InboundGate,
    InboundPacket,
    UndecodablePayload,
    failure,
)
from tandem.realtime.limits import InboundLimits, retry_after_seconds
from tandem.realtime.transport import SocketServer

if TYPE_CHECKING:
    from tandem.runtime import Runtime

logger = logging.getLogger("tandem.gateway")

# hook(sid, room): the socket left that room, or (room None) is gone altogether.
LeftHook = Callable[[str, str | None], Awaitable[None]]

# What a shed connect's retryAfterMs suggests, spread so the refused do not come back together.
SHED_RETRY_SECONDS = (0.25, 1.0)


class OrjsonAdapter:
    """python-socketio's `json=` hook: orjson, returning str as the library expects."""

    @staticmethod
    def dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(s: str | bytes, *args: Any, **kwargs: Any) -> Any:
        # orjson refuses nesting past 1024 levels; the refusal is made one the gate acknowledges.
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError as exc:
            raise UndecodablePayload(f"the payload is not JSON ({exc})") from None


Model = TypeVar("Model", bound=BaseModel)


class SubscribeRequest(BaseModel):
    # Strict: the wire contract says `after` is an integer seq; "3" or true is a client bug, not a seq.
    model_config = ConfigDict(extra="forbid", strict=True)
    room: str = Field(min_length=3, max_length=rooms.MAX_ROOM_LENGTH)
    after: int | None = Field(default=None, ge=0, le=event_log.MAX_SEQ)


class UnsubscribeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    room: str = Field(min_length=3, max_length=rooms.MAX_ROOM_LENGTH)


def invalid(exc: ValidationError) -> dict[str, Any]:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
    return failure("invalid", f"{where}: {first.get('msg', 'invalid')}")


@dataclass(slots=True)  # one per connection: no instance dict
class SocketInfo:
    user_id: str
    session_id: str
    rooms: dict[str, str | None] = field(default_factory=dict)  # room -> org it belongs to
    address: str = ""  # the client's, as the per-address limits count it


class LimitedHandlers(dict[str, Handler]):
    """The gate's handlers, each put behind its event's limits however it is added (a domain's
    extension adds its own with `update`)."""

    def __init__(self, guard: Callable[[str, Handler], Handler], handlers: dict[str, Handler]):
        super().__init__()
        self.guard = guard
        self.update(handlers)

    def __setitem__(self, event: str, handler: Handler) -> None:
        super().__setitem__(event, self.guard(event, handler))

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for event, handler in dict(*args, **kwargs).items():
            self[event] = handler


class Gateway:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.manager: LocalDelivery = make_manager(settings.redis_url, settings.redis_prefix)  # type: ignore[assignment]
        self.manager.configure(settings, runtime.metrics)
        self.sio = SocketServer(
            async_mode="asgi",
            client_manager=self.manager,
            cors_allowed_origins=OriginCheck(
                settings.allowed_origins, lambda: self._refused("origin")
            ),
            max_http_buffer_size=settings.max_socket_payload,
            json=OrjsonAdapter,
            serializer=InboundPacket,
            logger=False,
            engineio_logger=False,
            ping_interval=settings.socket_ping_seconds,
            ping_timeout=settings.socket_ping_seconds,
        )
        if settings.socket_handshake_seconds > 0:
            self.sio.upgrade_seconds = settings.socket_handshake_seconds
        self.sockets: dict[str, SocketInfo] = {}
        # Re-checks of access begun here (realtime/rechecks.py): a subscribe that one began
        # during asks again once its socket is in the room, where later re-checks find it.
        self.rechecks = 0
        self._left_hooks: list[LeftHook] = []
        self.limits = InboundLimits(runtime.limiter, settings)
        self.connect_exempt = Networks(settings.socket_connect_ip_exempt)
        self.handshaking = 0  # connects being checked now
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        self.inbound = InboundGate(
            self.sio,
            LimitedHandlers(
                self.limited,
                {"subscribe": self.on_subscribe, "unsubscribe": self.on_unsubscribe},
            ),
            self.person_of,
            max_in_flight=settings.socket_max_in_flight,
            max_in_flight_per_person=settings.socket_max_in_flight_per_person,
            handshake_seconds=settings.socket_handshake_seconds,
            owner=self,
        )
        if hasattr(self.manager, "on_resubscribed"):
            self.manager.on_resubscribed = self.catch_up_after_outage

    async def catch_up_after_outage(self) -> None:
        """This instance missed what other instances published while its Redis subscription was
        down: close its sockets, so their clients reconnect and replay from their last seq."""
        sids = list(self.sockets)
        if not sids:
            return
        logger.warning("closing %d sockets to replay what Redis did not deliver", len(sids))
        for sid in sids:
            await self.sio.disconnect(sid, ignore_queue=True)

    def when_left(self, hook: LeftHook) -> None:
        """Call hook(sid, room) after a socket leaves a room (it unsubscribed or was evicted), and
        hook(sid, None) once the socket is gone: what a domain keeps per socket ends with it."""
        self._left_hooks.append(hook)

    async def left(self, sid: str, room: str | None) -> None:
        for hook in self._left_hooks:
            try:
                await hook(sid, room)
            except Exception:
                logger.exception("a room-leaving hook failed", extra={"sid": sid, "room": room})

    def person_of(self, sid: str) -> str | None:
        info = self.sockets.get(sid)
        return info.user_id if info is not None else None

    def limited(self, event: str, handler: Handler) -> Handler:
        """`handler`, run only within `event`'s limits; past one, the `rate_limited` ack instead."""

        async def run(sid: str, data: Any, extra: tuple) -> dict[str, Any]:
            info = self.sockets.get(sid)
            if info is not None:
                refused = await self.limits.refusal(event, sid, info.address)
                if refused is not None:
                    return refused
            return await handler(sid, data, extra)

        return run

    # -- connection ---------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        settings = self.runtime.settings
        if 0 < settings.socket_max_handshakes <= self.handshaking:
            self.runtime.metrics.connects_shed.inc()
            held = self.inbound.log_budget.allow("connect shed")
            if held is not None:
                logger.warning(
                    "connects shed: too many handshakes at once", extra={"heldBack": held}
                )
            raise connect_refused(
                "the server is busy accepting connections; try again shortly",
                random.uniform(*SHED_RETRY_SECONDS),
            )
        self.handshaking += 1
        try:
            await self._connect(sid, environ, auth)
        finally:
            self.handshaking -= 1

    async def _connect(self, sid: str, environ: dict, auth: Any) -> None:
        settings = self.runtime.settings
        client = client_address(environ)
        if client not in self.connect_exempt:
            wait = await self.runtime.limiter.hit(
                "socket-connect-ip",
                client,
                settings.socket_connect_ip_burst,
                settings.socket_connect_ip_window_seconds,
            )
            if wait:
                self._refused("rate_limited")
                raise connect_refused(
                    f"too many connects from this address; try again in "
                    f"{retry_after_seconds(wait)} s",
                    wait,
                )
        token = auth.get("token") if isinstance(auth, dict) else None
        identity = await self.runtime.socket_identity(token, client or None)
        if identity is None:
            self._refused("unauthorized")
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        user_id, login_id = identity
        self.sockets[sid] = SocketInfo(user_id, login_id, address=client)
        own_room = rooms.user_room(user_id)
        await self.sio.enter_room(sid, own_room)
        self.sockets[sid].rooms[own_room] = None
        self.runtime.metrics.connections.inc()
        logger.info("socket connected", extra={"sid": sid, "user_id": user_id})
        await self.runtime.presence.connected(user_id, sid)

    def _refused(self, reason: str) -> None:
        self.runtime.metrics.connects_refused.labels(reason).inc()

    async def on_disconnect(self, sid: str, *args: Any) -> None:
        info = self.sockets.pop(sid, None)
        self.manager.release_all(sid)
        await self.left(sid, None)
        if info is None:
            return
        self.runtime.metrics.connections.dec()
        logger.info("socket disconnected", extra={"sid": sid, "user_id": info.user_id})
        await self.runtime.presence.disconnected(info.user_id, sid)

    # -- rooms ----------------------------------------------------------------

    def _inbound(
        self, sid: str, model: type[Model], data: Any, extra: tuple
    ) -> tuple[SocketInfo, Model] | dict:
        """The caller and its validated payload, or the failure ack to answer with."""
        info = self.sockets.get(sid)
        if info is None:
            return failure("forbidden", "not connected")
        if extra:  # without this the handler raises and the client waits for an ack forever
            return failure("invalid", "send one payload object")
        try:
            return info, model.model_validate(data)
        except ValidationError as exc:
            return invalid(exc)

    async def on_subscribe(self, sid: str, data: Any, extra: tuple) -> dict[str, Any]:
        parsed = self._inbound(sid, SubscribeRequest, data, extra)
        if isinstance(parsed, dict):
            return parsed
        info, request = parsed
        room = request.room
        # Held from the start: a socket already in the room gets what arrives meanwhile after
        # its replay, in order.
        self.manager.hold(sid, room)
        last: int | None = None
        try:
            rechecks = self.rechecks
            async with self.runtime.db.read() as session:
                grant = await rooms.authorize(session, info.user_id, room)
            if grant is None:
                # (a socket already in the room keeps what arrived meanwhile; re-checks evict it)
                await self._flush_held(sid, room, None)
                return failure("forbidden", "you cannot subscribe to this room")
            await self.sio.enter_room(sid, room)
            info.rooms[room] = grant.org_id
            if self.rechecks != rechecks:
                # Access changed while this was authorized: the re-check may have missed the
                # socket, not yet in the room then.
                async with self.runtime.db.read() as session:
                    grant = await rooms.authorize(session, info.user_id, room)
                if grant is None:
                    await self.leave(sid, info, room)
                    return failure("forbidden", "you cannot subscribe to this room")
                info.rooms[room] = grant.org_id
            # The replay reads in a session begun once the socket is held in the room: on SQLite a
            # session's snapshot dates from its first read, and an event committed after that
            # snapshot but published before the socket joined would reach it neither way.
            async with self.runtime.db.read() as session:
                replayed = 0
                if request.after is not None:
                    replay = await event_log.read_after(session, room, request.after)
                    if replay.resync:
                        self.runtime.metrics.resyncs.inc()
                        resync = ResyncRequired(
                            room=room, reason="the event log no longer reaches your position"
                        )
                        env = envelope(resync, room=room)
                        await self.sio.emit(env["event"], env, to=sid, ignore_queue=True)
                    for env in replay.events:
                        await self.sio.emit(env["event"], env, to=sid, ignore_queue=True)
                    replayed = len(replay.events)
                    if replayed:
                        self.runtime.metrics.replays.inc(replayed)
                    last = replay.events[-1]["seq"] if replay.events else request.after
                if replayed:
                    latest = replay.events[-1]["seq"]  # the replay read the log to its end
                else:
                    latest = await event_log.room_latest_seq(session, room)
            if last is not None:  # an `after` past the log's end must not hold back live events
                last = min(last, latest)
            last = await self._flush_held(sid, room, last)
        finally:
            self.manager.release(sid, room, floor=last)
        logger.debug("socket subscribed", extra={"sid": sid, "room": room, "replayed": replayed})
        return {"ok": True, "room": room, "seq": latest, "replayed": replayed}

    async def _flush_held(self, sid: str, room: str, last: int | None) -> int | None:
        """Send what arrived live during the replay, in order, skipping what the replay already sent.

        Returns the last seq sent to the socket (None when nothing was replayed or flushed)."""
        while True:
            held = self.manager.take_held(sid, room)
            if not held:
                return last
            for event, env in held:
                seq = env.get("seq") if isinstance(env, dict) else None
                if last is not None and seq is not None and seq <= last:
                    continue
                await self.sio.emit(event, env, to=sid, ignore_queue=True)
                if seq is not None:
                    last = seq

    async def on_unsubscribe(self, sid: str, data: Any, extra: tuple) -> dict[str, Any]:
        parsed = self._inbound(sid, UnsubscribeRequest, data, extra)
        if isinstance(parsed, dict):
            return parsed
        info, request = parsed
        if request.room == rooms.user_room(info.user_id):
            return failure("invalid", "the user room cannot be left")
        await self.leave(sid, info, request.room)
        return {"ok": True}

    async def leave(self, sid: str, info: SocketInfo, room: str) -> None:
        """Take the socket out of the room (unsubscribe, refusal, eviction)."""
        info.rooms.pop(room, None)
        await self.sio.leave_room(sid, room)
        await self.left(sid, room)

    # -- control (from the bus, on every instance) ----------------------------

    async def on_control(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "reauthorize":
            await rechecks.reauthorize(self, message["userId"], message.get("orgId"))
        elif kind == "reauthorize_all":
            await rechecks.reauthorize_all(self)
        elif kind == "disconnect_session":
            for sid, info in list(self.sockets.items()):
                if info.session_id == message["sessionId"]:
                    await self.sio.disconnect(sid, ignore_queue=True)

    # -- publishing -----------------------------------------------------------

    async def publish(self, event: str, env: dict[str, Any], room: str) -> None:
        await self.sio.emit(event, env, room=room)
        self.runtime.metrics.events_emitted.labels(event).inc()
