"""Everything one Tandem instance runs, wired once: database, tokens, bus, gateway, presence, dispatcher."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from sqlalchemy import select, update

from tandem.auth import service as accounts
from tandem.auth.models import User
from tandem.auth.tokens import Tokens
from tandem.chat import repository as chat
from tandem.chat.events import ChatPresence
from tandem.config import Settings
from tandem.db import Database
from tandem.flags import health, rollback
from tandem.flags import service as flags
from tandem.kit import idempotency
from tandem.kit.clock import iso, utcnow
from tandem.orgs import repository as orgs
from tandem.orgs.events import OrgMemberJoined, OrgMemberPresence
from tandem.realtime import direct_log
from tandem.realtime import log as event_log
from tandem.realtime.bus import LocalBus, RedisBus
from tandem.realtime.dispatcher import Dispatcher
from tandem.realtime.envelope import EventData, envelope
from tandem.realtime.gateway import Gateway
from tandem.realtime.limits import make_limiter
from tandem.realtime.metrics import Metrics
from tandem.realtime.presence import LocalPresence, RedisPresence
from tandem.realtime.rooms import chat_room, org_room

logger = logging.getLogger("tandem")

PRUNE_EVERY_SECONDS = 3600
DROPS_EVERY_SECONDS = 10  # how often an instance adds the events it dropped to the org's figures


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stopping: list[Callable[[], Awaitable[None]]] = []  # see when_stopping
        self.db = Database(settings.effective_database_url)
        self.tokens = Tokens(
            settings.secret_key_value(),
            access_minutes=settings.access_token_minutes,
            refresh_days=settings.refresh_token_days,
            socket_seconds=settings.socket_token_seconds,
        )
        self.metrics = Metrics()
        self.limiter = make_limiter(settings.redis_url, settings.redis_prefix)
        self.limiter.on_refused = lambda bucket: self.metrics.rate_limited.labels(bucket).inc()
        self.bus = (
            RedisBus(settings.redis_url, settings.redis_prefix)
            if settings.redis_url
            else LocalBus()
        )
        self.gateway = Gateway(self)
        self.sio = self.gateway.sio
        if settings.redis_url:
            self.presence: LocalPresence = RedisPresence(
                self.announce_presence,
                settings.presence_grace_seconds,
                settings.redis_url,
                settings.instance_id,
                settings.redis_prefix,
            )
        else:
            self.presence = LocalPresence(
                self.announce_presence,
                settings.presence_grace_seconds,
                settings.data_dir / "presence.json",
                settings.presence_restart_grace_seconds,
            )
        if self.db.is_sqlite and not settings.redis_url and settings.direct_log:
            direct_log.attach(self.db)
        self.dispatcher = Dispatcher(
            self.db,
            self.publish,
            self.bus.publish,
            poll_seconds=settings.dispatcher_poll_seconds,
            can_lead=lambda: self.gateway.manager.caught_up,
            on_published=self._on_published,
            observe_lag=self.metrics.observe_dispatch_lag,
        )
        self.published = asyncio.Condition()
        self.bus.subscribe(self._on_bus)
        self.db.on_commit(self._after_commit)
        self.metrics.watch_rooms(self._room_sizes, self._connections_by_org)
        self._tasks: list[asyncio.Task] = []
        self._background: set[asyncio.Future[None]] = set()
        # Presence changes waiting to be announced, and what tells their callers it is done.
        self._announcing: dict[str, bool] = {}
        self._announced: asyncio.Future[None] | None = None
        self._announcer: asyncio.Future[None] | None = None
        self._drops: Counter[tuple[str, str]] = Counter()  # (org, phase) -> events dropped
        self.gateway.manager.on_dropped = self._count_drop

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        await self.bus.start()
        await self.gateway.manager.start()  # behind Redis: subscribed before serving or publishing
        await self.presence.start()
        self.dispatcher.start()
        self._tasks.append(asyncio.create_task(self._prune_forever(), name="tandem-prune"))
        self._tasks.append(asyncio.create_task(self._rollback_forever(), name="tandem-rollback"))
        self._tasks.append(asyncio.create_task(self._drops_forever(), name="tandem-drops"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # Wait for them and for background publishes: a task cancelled but not yet unwound may hold a
        # pooled connection in a transaction, which dispose() would leave open (and its locks held).
        await asyncio.gather(*self._tasks, *self._background, return_exceptions=True)
        self._tasks.clear()
        await self.flush_drops()
        await self.dispatcher.stop()
        for hook in self._stopping:
            try:
                await hook()
            except Exception:
                logger.exception("a stopping hook failed")
        await self.presence.stop()
        await self.drain_announcements()
        await self.bus.stop()
        await self.limiter.close()
        await self.db.dispose()

    def when_stopping(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run hook() as the instance stops, after its dispatcher and before its connections close."""
        self._stopping.append(hook)

    # -- wiring -----------------------------------------------------------------

    async def socket_identity(
        self, token: object, client: str | None = None
    ) -> tuple[str, str] | None:
        """(user id, login id) for a socket handshake's token, or None: the gateway refuses it.
        `client` is the peer's address, for the refusal's log line."""
        async with self.db.read() as session:
            return await accounts.socket_identity(session, self.tokens, token, client)

    async def ended_logins(self, login_ids: set[str]) -> set[str]:
        async with self.db.read() as session:
            return await accounts.ended_logins(session, login_ids)

    def _after_commit(self, session: Any) -> None:
        if session.info.pop("tandem_outbox", False):
            self.dispatcher.wake()
            if not self.dispatcher.is_leader and self.settings.redis_url:
                self._in_background(self.bus.publish({"type": "wake"}))
        if session.info.pop("tandem_flags_changed", False):
            self._in_background(self.bus.publish({"type": "flags_changed"}))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        # The loop keeps only a weak reference to a task: hold it until it finishes.
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _on_bus(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "wake":
            self.dispatcher.wake()
        elif kind == "published":
            async with self.published:
                self.published.notify_all()
        elif kind == "flags_changed":
            flags.cache.clear()
        else:
            await self.gateway.on_control(message)

    async def _on_published(self, seq: int) -> None:
        if self.settings.redis_url:
            await self.bus.publish({"type": "published", "seq": seq})
        else:
            async with self.published:
                self.published.notify_all()

    async def publish(self, envelopes: list[dict[str, Any]]) -> None:
        """The dispatcher's publisher: envelopes to their rooms on every instance, in order, pipelined to
        Redis; returns once Redis accepted them all (raises if it did not)."""
        await self.gateway.manager.emit_many(
            [(env["event"], env, env["room"]) for env in envelopes]
        )
        self.metrics.count_emitted(env["event"] for env in envelopes)
        for env in envelopes:
            if env["event"] == OrgMemberJoined.event_name:
                # Presence is announced on connect, to the orgs one belonged to then: someone online when
                # they join would look offline to the new org's clients until they reconnected.
                await self._announce_online_to(
                    env["data"]["organizationId"], env["data"]["member"]["userId"]
                )

    async def _announce_online_to(self, org_id: str, user_id: str) -> None:
        if user_id not in await self.presence.online([user_id]):
            return
        async with self.db.read() as session:
            last_active = await session.scalar(
                select(User.last_active_at).where(User.id == user_id)
            )
        data = OrgMemberPresence(
            organization_id=org_id, user_id=user_id, online=True, last_active_at=iso(last_active)
        )
        env = envelope(data, room=org_room(org_id), actor_id=user_id)
        await self.sio.emit(env["event"], env, room=env["room"])
        self.metrics.events_emitted.labels(env["event"]).inc()

    async def announce_presence(self, user_id: str, online: bool) -> None:
        """The presence trackers' hook: a person went online or offline; returns once it is
        announced, or once announcing it failed (logged). Announced in batches, in the order the
        changes came: the changes that arrive while one batch is written go in the next, so a
        reconnect storm writes a transaction per batch instead of one per person."""
        if self._announced is None:
            self._announced = asyncio.get_running_loop().create_future()
        done = self._announced
        self._announcing.pop(user_id, None)  # the newer change of a person goes last
        self._announcing[user_id] = online
        if self._announcer is None or self._announcer.done():
            self._announcer = asyncio.ensure_future(self._announce_pending())
        await asyncio.shield(done)

    async def _announce_pending(self) -> None:
        while self._announcing and self._announced is not None:
            batch, done = self._announcing, self._announced
            self._announcing, self._announced = {}, None
            try:
                await self._announce(batch)
            except asyncio.CancelledError:
                done.cancel()
                raise
            except Exception:
                # The people are still online to the trackers (a members table read now shows
                # them so); only the live announcement is lost. A connect must not fail for it.
                logger.exception("announcing %d presence changes failed", len(batch))
            done.set_result(None)

    async def drain_announcements(self) -> None:
        """Wait until every presence change so far is announced."""
        if self._announcer is not None:
            await asyncio.gather(asyncio.shield(self._announcer), return_exceptions=True)

    async def _announce(self, batch: dict[str, bool]) -> None:
        now = utcnow()
        people = list(batch)
        async with self.db.unit_of_work() as session:
            await session.execute(
                update(User).where(User.id.in_(people)).values(last_active_at=now)
            )
            org_ids = await orgs.active_org_ids_of(session, people)
            all_orgs = {o for ids in org_ids.values() for o in ids}
            enabled = {o for o in all_orgs if await flags.is_enabled(session, "members", o)}
            chatting = {o for o in all_orgs if await flags.is_enabled(session, "chat", o)}
            conversation_ids = await chat.ids_of_people(
                session, {u: [o for o in ids if o in chatting] for u, ids in org_ids.items()}
            )
        at = iso(now)
        for user_id, online in batch.items():
            said: list[tuple[EventData, str]] = [
                (
                    OrgMemberPresence(
                        organization_id=o, user_id=user_id, online=online, last_active_at=at
                    ),
                    org_room(o),
                )
                for o in org_ids[user_id]
                if o in enabled
            ]
            said += [
                (
                    ChatPresence(
                        conversation_id=c, user_id=user_id, online=online, last_active_at=at
                    ),
                    chat_room(c),
                )
                for c in conversation_ids[user_id]
            ]
            for data, room in said:
                env = envelope(data, room=room, actor_id=user_id)
                await self.sio.emit(env["event"], env, room=env["room"])
                self.metrics.events_emitted.labels(env["event"]).inc()

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY_SECONDS)
            if not self.dispatcher.is_leader:
                continue
            try:
                await self.prune_log()
            except Exception:
                logger.exception("pruning the event log failed")

    async def _rollback_forever(self) -> None:
        """The automatic rollback's check (flags/rollback.py), on the leading instance only."""
        limits = rollback.Thresholds.from_settings(self.settings)
        lag = rollback.LagWatch(self.metrics)
        while True:
            await asyncio.sleep(self.settings.rollback_check_seconds)
            if not self.dispatcher.is_leader:
                continue
            try:
                await rollback.evaluate(self.db, limits, self.metrics, lag_p99=lag.p99_seconds())
            except Exception:
                logger.exception("the automatic rollback's check failed")

    def _count_drop(self, sid: str, room: str, event: str) -> None:
        """An event dropped for a socket that fell behind, toward the org of the room it was for
        (as the socket's subscription found it) and the event's phase."""
        info = self.gateway.sockets.get(sid)
        org_id = info.rooms.get(room) if info is not None else None
        phase = health.phase_of_event(event)
        if org_id and phase:
            self._drops[(org_id, phase)] += 1

    async def _drops_forever(self) -> None:
        while True:
            await asyncio.sleep(DROPS_EVERY_SECONDS)
            await self.flush_drops()

    async def flush_drops(self) -> None:
        """Add the drops counted since the last flush to each org's health figures (flags/health.py);
        kept for the next one if the database refuses."""
        drops, self._drops = self._drops, Counter()
        if not drops:
            return
        by_org: dict[str, dict[str, health.Tally]] = {}
        for (org_id, phase), count in drops.items():
            by_org.setdefault(org_id, {})[phase] = health.Tally(drops=count)
        try:
            async with self.db.unit_of_work() as session:
                for org_id, tallies in sorted(by_org.items()):
                    await health.add(session, org_id, tallies)
        except Exception:
            self._drops.update(drops)
            logger.exception("adding dropped events to the health figures failed")

    async def prune_log(self) -> int:
        async with self.db.unit_of_work() as session:
            await idempotency.prune(session)
            return await event_log.prune(
                session,
                retention_days=self.settings.event_retention_days,
                keep_per_room=self.settings.event_retention_min_per_room,
            )

    def _room_sizes(self) -> dict[str, int]:
        return {
            room: len(sids)
            for room, sids in self.gateway.manager.rooms.get("/", {}).items()
            if room and ":" in room
        }

    def _connections_by_org(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for info in self.gateway.sockets.values():
            for org in {o for o in info.rooms.values() if o}:
                counts[org] = counts.get(org, 0) + 1
        return counts
