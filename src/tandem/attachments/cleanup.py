"""A deleted task's files leave the store too.

The database drops a deleted task's attachment rows itself (ON DELETE CASCADE); their bytes are
found here as the task's row is deleted, kept with the session, and removed from the store once
the transaction has committed (never before: a rolled-back delete keeps its files). The tasks
domain needs to know nothing of attachments for it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, object_session

from tandem.attachments.models import Attachment
from tandem.attachments.storage import Store
from tandem.tasks.models import Task

log = logging.getLogger(__name__)
GONE = "tandem_attachment_keys_gone"  # session.info: store keys of the files of deleted tasks
# Each app's store by its database's URL: what a session knows of where its app keeps files.
_stores: dict[str, Store] = {}
_running: set[asyncio.Task[None]] = set()


def register(database_url: str, store: Store) -> None:
    _stores[database_url] = store


@event.listens_for(Task, "before_delete")
def _task_deleting(_mapper: Any, connection: Any, task: Task) -> None:
    found = connection.execute(
        select(Attachment.storage_key, Attachment.thumbnail_key).where(
            Attachment.task_id == task.id
        )
    ).all()
    session = object_session(task)
    if found and session is not None:
        session.info.setdefault(GONE, []).extend(key for row in found for key in row if key)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    keys = session.info.pop(GONE, None)
    bind = session.get_bind() if keys else None
    store = _stores.get(str(bind.engine.url)) if bind is not None else None
    if not keys or store is None:
        return
    task = asyncio.get_running_loop().create_task(_delete(store, keys))
    _running.add(task)
    task.add_done_callback(_running.discard)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(GONE, None)


async def _delete(store: Store, keys: list[str]) -> None:
    for key in keys:
        try:
            await store.delete(key)
        except Exception:  # one file left behind is logged, not a reason to keep the others
            log.exception("could not remove %s from the attachment store", key)
