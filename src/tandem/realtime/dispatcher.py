"""Commit, then emit (SPEC §5.1–5.2): the dispatcher.

One dispatcher at a time (a PostgreSQL advisory lock; on SQLite the single process) moves
committed outbox rows (realtime/outbox.py) into the durable log in the order it sees them, giving
each the next global `seq`, then publishes them. A batch is published in one call that returns
only once every instance can deliver it (behind Redis: once Redis accepted every message), so the
`published` watermark never passes an event Redis did not take. A crash after the log commit, or
a publish that failed, is repaired when a dispatcher starts again: everything past the watermark
is published again (clients drop duplicates by seq). On SQLite without Redis the transactions that
record events write them to the log themselves (realtime/direct_log.py) and this dispatcher
publishes what they queued, reading the outbox only when something was recorded there and every
`poll_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from tandem.kit.clock import utcnow
from tandem.realtime import direct_log, leader
from tandem.realtime import log as event_log
from tandem.realtime.models import EventRecord, LogState, OutboxEntry

if TYPE_CHECKING:
    from tandem.db import Database

logger = logging.getLogger("tandem.outbox")

ADVISORY_LOCK_KEY = 0x7A4D0E  # "tandem dispatcher"
BATCH = 500
SAVE_PUBLISHED_SECONDS = 1.0  # while busy, the published watermark is saved this often
STOP_SECONDS = 5.0  # a pass (and the leader's jobs) may finish before stop() cancels it

# Publishes envelopes in order; returns once they reached every instance's pub/sub, raises if they did not.
Publisher = Callable[[list[dict[str, Any]]], Awaitable[None]]
ControlHandler = Callable[[dict[str, Any]], Awaitable[None]]


class Dispatcher:
    def __init__(
        self,
        db: Database,
        publish: Publisher,
        control: ControlHandler,
        *,
        poll_seconds: float = 0.5,
        can_lead: Callable[[], bool] | None = None,
        on_published: Callable[[int], Awaitable[None]] | None = None,
        observe_lag: Callable[[str, float], None] | None = None,
    ) -> None:
        self.db = db
        self.publish = publish
        self.control = control
        self.poll_seconds = poll_seconds
        # False while this instance cannot publish in order (its Redis subscription is catching
        # up): it leaves the lead to another instance rather than take it and fail.
        self.can_lead = can_lead
        self.on_published = on_published
        self.observe_lag = observe_lag
        # Events written to the log by their own transactions, for this dispatcher to publish; the
        # outbox is then read only when something was recorded there, and every poll_seconds.
        self.direct = db.direct_log
        self._wake = asyncio.Event()
        self._outbox_written = True
        self._drained_at = 0.0  # time.monotonic() of the last pass through the outbox
        self._stopping = False
        self._task: asyncio.Task | None = None
        self._lock_conn: AsyncConnection | None = None
        self.is_leader = False
        self.published_seq = 0
        self._saved_published = 0
        self._saved_at = 0.0  # time.monotonic() of the last save
        self._idle = asyncio.Event()
        self._passes = 0  # drain passes begun
        self._idle_pass = 0  # the latest pass that ended with an empty outbox
        self._jobs_due = 0.0  # time.monotonic() from which the leader's jobs run again
        self._jobs_skipped = False  # a pass ended before they were due: they run when they are

    def wake(self) -> None:
        """Something was recorded in the outbox (or a caller wants a pass through it)."""
        self._outbox_written = True
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="tandem-dispatcher")

    async def stop(self) -> None:
        if self.direct is not None:
            self.direct.active = (
                False  # from now on, events wait in the outbox for the next dispatcher
            )
        if self._task:
            # Asked, not cancelled: the loop ends between passes. A pass cancelled inside its
            # transaction can leave that transaction open with the published watermark's row
            # locked, and the save below would then wait on it for ever.
            self._stopping = True
            self.wake()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_SECONDS)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
            except (asyncio.CancelledError, Exception):
                pass
        if self.is_leader and self.published_seq > self._saved_published:
            # The watermark otherwise rides with the next pass (at most poll_seconds later): save it now,
            # so the next leader does not publish again what this one already did.
            try:
                async with self.db.unit_of_work() as session:
                    await event_log.set_state(session, event_log.PUBLISHED, self.published_seq)
                self._saved_published = self.published_seq
            except Exception:
                logger.warning("could not save the published watermark at stop", exc_info=True)
        await self._release()

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """For tests and shutdown: wait until a drain pass that began after this call found the outbox empty.

        A pass already running may have read the outbox before the caller's commit, so its
        "empty" says nothing about that commit.
        """
        target = self._passes + 1
        self.wake()

        async def reached() -> None:
            while self._idle_pass < target:
                self._idle.clear()
                await self._idle.wait()

        await asyncio.wait_for(reached(), timeout)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                if not self.is_leader and (self.can_lead is None or self.can_lead()):
                    self.is_leader = await self._acquire()
                    if self.is_leader:
                        logger.info("dispatcher is leader")
                        if self.direct is not None:
                            self.direct.pending.clear()  # in the log, past the watermark: just below
                        await self._republish_unpublished()
                        if self.direct is not None:
                            self.direct.start(self._wake.set)
                        # A leader that died may have committed a batch without running its side effects
                        # (evictions, closing a logged-out login's sockets): every instance re-checks its sockets.
                        await self.control({"type": "reauthorize_all"})
                if self.is_leader:
                    self._passes += 1
                    this_pass = self._passes
                    if self._outbox_due():
                        # A batch short of BATCH already took every row committed before it read the
                        # outbox: that pass counts as "found it empty" without another transaction.
                        while await self.drain_once() >= BATCH:
                            pass
                    if self.direct is not None:
                        await self._publish_pending()
                    self._idle_pass = this_pass
                    self._idle.set()
                    now = time.monotonic()
                    self._jobs_skipped = now < self._jobs_due
                    if not self._jobs_skipped:
                        self._jobs_due = now + leader.JOB_SECONDS
                        await leader.run_jobs(self.db)
                    await self._check_leadership()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("dispatcher error; retrying")
                await self._release()
                await asyncio.sleep(0.5)
            if self._stopping:
                break
            try:
                # Not wait_for: on Python 3.11 it wraps the wait in a task of its own, one more turn
                # of the event loop between a commit and its events' publishing.
                async with asyncio.timeout(self._wait_seconds()):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    def _wait_seconds(self) -> float:
        """How long to wait for a wake-up: a leader whose last pass came too soon for its jobs runs
        them once they are due, woken or not."""
        if not self.is_leader:
            return 2.0
        if self._jobs_skipped:
            return max(0.0, min(self.poll_seconds, self._jobs_due - time.monotonic()))
        return self.poll_seconds

    def _outbox_due(self) -> bool:
        now = time.monotonic()
        if (
            self.direct is None
            or self._outbox_written
            or now - self._drained_at >= self.poll_seconds
        ):
            self._outbox_written = False
            self._drained_at = now
            return True
        return False

    async def _acquire(self) -> bool:
        if self.db.is_sqlite:
            return True
        conn = await self.db.engine.connect()
        # Advisory locks are database-wide: key them by schema too, so several Tandems (or test runs)
        # sharing one database in different schemas each get their own dispatcher.
        got = await conn.scalar(
            text("SELECT pg_try_advisory_lock(:k, hashtext(current_schema()))"),
            {"k": ADVISORY_LOCK_KEY},
        )
        await conn.commit()
        if got:
            self._lock_conn = conn
            return True
        await conn.close()
        return False

    async def _check_leadership(self) -> None:
        if self._lock_conn is None:
            return
        try:
            await self._lock_conn.execute(text("SELECT 1"))
            await self._lock_conn.commit()
        except Exception:
            logger.warning("lost the dispatcher lock connection")
            await self._release()

    async def _release(self) -> None:
        self.is_leader = False
        if self.direct is not None:
            self.direct.active = False
        conn, self._lock_conn = self._lock_conn, None
        if conn is None:
            return
        try:
            # A session-level advisory lock outlives a connection returned to the pool: drop the connection
            # itself, so another dispatcher (here or elsewhere) can take over at once.
            await conn.invalidate()
        except Exception:
            logger.debug("closing the dispatcher lock connection failed", exc_info=True)
        try:
            await conn.close()
        except Exception:
            logger.debug("closing the dispatcher lock connection failed", exc_info=True)

    async def drain_once(self) -> int:
        """Move one batch from the outbox to the log, then publish it. Returns how many events moved."""
        # Core statements built once (below): ORM objects and a flush would cost more than the SQL itself.
        async with self.db.unit_of_work() as session:
            rows = (await session.execute(_TAKE_BATCH)).all()
            if self.published_seq > self._saved_published and (
                not rows or time.monotonic() - self._saved_at >= SAVE_PUBLISHED_SECONDS
            ):
                # The watermark rides along with a batch's transaction rather than costing one of
                # its own: with the pass that finds the outbox empty, and while busy, once a
                # while (a crash then publishes again at most that much: clients drop by seq).
                await event_log.set_state(session, event_log.PUBLISHED, self.published_seq)
                self._saved_published = self.published_seq
                self._saved_at = time.monotonic()
            if not rows:
                return 0
            batch = await event_log.append(session, rows, utcnow())
            await session.execute(_DELETE_TAKEN, {"ids": [r.id for r in rows]})
            if self.direct is not None:
                # Behind what the direct log queued before this commit, ahead of what it queues after.
                direct_log.queue_at_commit(session, batch)
        if self.direct is not None:
            await self._publish_pending()
        else:
            await self._publish_batch(batch)
        return len(rows)

    async def _publish_pending(self) -> None:
        """Publish what the direct log queued, in commit order."""
        assert self.direct is not None
        while self.direct.pending:
            batch, self.direct.pending = self.direct.pending, []
            await self._publish_batch(batch)

    async def _publish_batch(self, batch: list[tuple[Any, int, list[dict[str, Any]]]]) -> None:
        now = time.time()
        last = self.published_seq
        pending: list[
            dict[str, Any]
        ] = []  # events since the last control message, published together
        for row, seq, envelopes in batch:
            if row.control:  # after the events before it, before its own
                if pending:
                    await self.publish(pending)
                    pending = []
                await self.control(row.control)
            pending.extend(envelopes)
            if envelopes and logger.isEnabledFor(logging.DEBUG):
                # The request's traceId, carried by the outbox row: one trace through the logs.
                logger.debug(
                    "event dispatched",
                    extra={
                        "event": row.event,
                        "seq": seq,
                        "rooms": row.rooms,
                        "traceId": row.trace_id,
                    },
                )
            if self.observe_lag is not None and row.created_at is not None:
                self.observe_lag(row.event, max(0.0, now - row.created_at.timestamp()))
            last = max(last, seq)
        if pending:
            await self.publish(pending)  # raises if Redis did not take them: the watermark stays
        if last > self.published_seq:
            self.published_seq = last
            if self.on_published is not None:
                await self.on_published(last)

    async def _republish_unpublished(self) -> None:
        async with self.db.read() as session:
            published = await session.scalar(
                select(LogState.value).where(LogState.name == event_log.PUBLISHED)
            )
            published = int(published or 0)
            latest = await event_log.latest_seq(session)
            self._saved_published = published
            if latest <= published:
                self.published_seq = latest
                return
            rows = (
                await session.scalars(
                    select(EventRecord.envelope)
                    .where(EventRecord.seq > published)
                    .order_by(EventRecord.seq)
                )
            ).all()
        logger.info("republishing %d events committed but not published", len(rows))
        for start in range(0, len(rows), BATCH):
            await self.publish(list(rows[start : start + BATCH]))
        self.published_seq = latest
        if self.on_published is not None:
            await self.on_published(latest)


_OUTBOX = OutboxEntry.__table__
_TAKE_BATCH = select(_OUTBOX).order_by(_OUTBOX.c.id).limit(BATCH).with_for_update()
_DELETE_TAKEN = delete(OutboxEntry.__table__).where(
    _OUTBOX.c.id.in_(bindparam("ids", expanding=True))
)
