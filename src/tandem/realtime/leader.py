"""Work one instance at a time must do (the dashboard's coalesced metrics): registered here, run by
the dispatcher that holds the lead (realtime/dispatcher.py) after its drain passes, at most every
`JOB_SECONDS` and at least every `poll_seconds`. A job that fails is logged and tried again the
next time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tandem.db import Database

logger = logging.getLogger("tandem.outbox")

LeaderJob = Callable[["Database"], Awaitable[None]]
# A busy dispatcher passes hundreds of times a second; each job asks the database for its work, so
# the jobs run at most this often (a mark waits this much longer at most).
JOB_SECONDS = 0.05
_jobs: list[LeaderJob] = []


def every_leader_pass(job: LeaderJob) -> LeaderJob:
    """Register job(db), run by the leading dispatcher after its drain passes."""
    _jobs.append(job)
    return job


async def run_jobs(db: Database) -> None:
    for job in _jobs:
        try:
            await job(db)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("leader job %s failed", getattr(job, "__name__", job))
