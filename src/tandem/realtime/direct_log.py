"""Commit, then emit, in one transaction: events written to the log by the transaction that records them.

With one process and nobody else to tell (SQLite without Redis), the outbox only hands committed
events to this process's own dispatcher, which then spends a transaction of its own moving them to
the log. Here a transaction that records events takes their seqs and writes their envelopes to the
durable log itself. SQLite has one writer at a time (BEGIN IMMEDIATE, one writer connection), so
seqs follow commit order; at commit (SQLAlchemy's `after_commit`, before the connection goes back
to the pool and the next writer can begin) the transaction's events join the dispatcher's queue in
that order, and the dispatcher publishes them as it would a batch it drained. What a crash leaves
between commit and publish is past the published watermark, published again by the next
dispatcher, as with the outbox. While the outbox holds anything (events recorded while no
dispatcher ran, or by another process), transactions record there too, so the log's order stays the
order of commits; a transaction that began in the log and records again in a savepoint goes on in
the outbox, after its earlier events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from tandem.realtime import log as event_log
from tandem.realtime.models import OutboxEntry

if TYPE_CHECKING:
    from tandem.db import Database

DIRECT_LOG = "tandem_direct_log"  # session.info: the database's DirectLog (attach)
_IN_LOG = "tandem_direct_in_log"  # session.info: whether this transaction records in the log
_QUEUED = "tandem_direct_queued"  # session.info: its events, for the queue at commit

_OUTBOX_ANY = select(OutboxEntry.id).limit(1)


class Entry(NamedTuple):
    """An event recorded in the log directly, with the fields of an outbox row."""

    event: str
    version: int
    rooms: list[str]
    data: dict[str, Any]
    org_id: str | None
    actor_id: str | None
    trace_id: str
    control: dict[str, Any] | None
    created_at: datetime


class DirectLog:
    """The queue between the transactions that write the log and the dispatcher that publishes it."""

    def __init__(self) -> None:
        self.active = False  # while a dispatcher leads here and publishes what is queued
        self.pending: list[event_log.Appended] = []
        self._on_pending: Callable[[], None] | None = None

    def start(self, on_pending: Callable[[], None]) -> None:
        self._on_pending = on_pending
        self.active = True

    async def takes(self, session: AsyncSession) -> bool:
        """Whether this transaction's next events go to the log directly (else to the outbox)."""
        info = session.info
        in_log = info.get(_IN_LOG)
        if in_log is None:
            in_log = self.active and await session.scalar(_OUTBOX_ANY) is None
        if in_log and session.in_nested_transaction():
            in_log = False  # a savepoint's rollback would leave its events queued
        info[_IN_LOG] = in_log
        return in_log

    async def write(self, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
        """Append these outbox rows' events to the log; they are queued when the transaction commits."""
        appended = await event_log.append(
            session, [Entry(**row) for row in rows], rows[0]["created_at"]
        )
        queue_at_commit(session, appended)

    def committed(self, appended: list[event_log.Appended]) -> None:
        self.pending.extend(appended)
        if self._on_pending is not None:
            self._on_pending()


def attach(db: Database) -> DirectLog:
    """Have this database's writing sessions record events in the log directly (once a dispatcher
    starts the returned DirectLog)."""
    direct = DirectLog()
    db.direct_log = direct
    db.sessions.configure(info={DIRECT_LOG: direct})
    return direct


def queue_at_commit(session: AsyncSession | Session, appended: list[event_log.Appended]) -> None:
    """Queue these events for the dispatcher when the session's transaction commits."""
    session.info.setdefault(_QUEUED, []).extend(appended)


@event.listens_for(Session, "after_commit")
def _queue(session: Session) -> None:
    queued = session.info.pop(_QUEUED, None)
    direct = session.info.get(DIRECT_LOG)
    if queued and direct is not None:
        direct.committed(queued)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # committed (_queue took them) or rolled back
        session.info.pop(_QUEUED, None)
        session.info.pop(_IN_LOG, None)
