"""Small units of work that arrive together share one transaction.

`SharedUnits.run(work, key)` runs `work(session)` in a unit of work it shares with the other works
of its lane handed in while the lane's last batch was being committed, or within the next `turns`
turns of the event loop (on SQLite, where statements never yield, these turns are all a batch has
to gather in), up to `limit` of them, in the order they came, each in its caller's context (its
trace id). A work's `key` picks its lane: one lane on SQLite, which has one writer anyway; several
on PostgreSQL, whose every statement is a round trip a single lane would wait out alone. Works that
write the same rows must share a key (the person whose receipts they are): two lanes then never
wait for each other's locks, and a key's works keep their order. Each caller gets its own work's
result or exception. When any work of a batch raises, the batch is rolled back and each of its
works runs again in a unit of work of its own, so one refusal costs only itself and nothing a
failed work wrote is kept. A work must therefore be safe to run twice when its first run was rolled
back, as any unit of work is. Meant for the most frequent small writes (a chat's receipts): one
BEGIN, COMMIT and dispatcher wake-up for many of them. By default a batch runs its works one by one
(`one_by_one`); a `write` of one's own may write a batch's items with fewer statements, so long as
it writes what running them one by one would, and returns one result per item.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

Result = TypeVar("Result")
Entry = tuple[Any, contextvars.Context]  # an item handed to `run`, with its caller's context
Write = Callable[[AsyncSession, list[Entry]], Awaitable[list[Any]]]
Waiting = tuple[Any, contextvars.Context, "asyncio.Future[Any]"]


async def one_by_one(session: AsyncSession, entries: list[Entry]) -> list[Any]:
    """Each item is a work: run it, in its caller's context, after the ones before it."""
    return [await _in(context, work(session)) for work, context in entries]


class SharedUnits:
    def __init__(
        self,
        db: Any,
        limit: int = 64,
        lanes: int = 1,
        write: Write = one_by_one,
        turns: int = 0,
    ) -> None:
        self.lanes = [_Lane(db, limit, write, turns) for _ in range(lanes)]

    @property
    def batches(self) -> int:
        """Batches committed so far, for tests and metrics."""
        return sum(lane.batches for lane in self.lanes)

    async def run(self, item: Any, key: str = "") -> Any:
        """The item's result, written with the others of its lane's batch (by default the item
        is a work, and its result what it returns)."""
        return await self.lanes[hash(key) % len(self.lanes)].run(item)


class _Lane:
    def __init__(self, db: Any, limit: int, write: Write, turns: int) -> None:
        self.db = db
        self.limit = limit
        self.write = write
        self.turns = turns
        self.waiting: list[Waiting] = []
        self.runner: asyncio.Task[None] | None = None
        self.batches = 0

    async def run(self, item: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting.append((item, contextvars.copy_context(), future))
        if self.runner is None:
            self.runner = asyncio.create_task(self._drain())
            self.runner.add_done_callback(self._ended)
        return await future

    def _ended(self, runner: asyncio.Task[None]) -> None:
        if runner.cancelled() and self.runner is runner:  # cancelled before it began
            self._refuse(self.waiting)
            self.runner = None

    def _refuse(self, waiting: list[Waiting]) -> None:
        """Shutting down: the works not done are refused, none is left waiting forever."""
        for _work, _context, future in waiting:
            future.cancel()
        self.waiting = []

    async def _drain(self) -> None:
        batch: list[Waiting] = []
        try:
            while self.waiting:
                # An idle loop's turn costs microseconds; a busy one's brings the works its
                # callbacks hand in, which then share this batch's statements and commit.
                for _ in range(self.turns):
                    if len(self.waiting) >= self.limit:
                        break
                    await asyncio.sleep(0)
                batch, self.waiting = self.waiting[: self.limit], self.waiting[self.limit :]
                await self._batch(batch)
        except asyncio.CancelledError:
            self._refuse(batch + self.waiting)
            raise
        finally:
            self.runner = None

    async def _batch(self, batch: list[Waiting]) -> None:
        live = [waiting for waiting in batch if not waiting[2].done()]
        if not live:
            return
        if len(live) > 1:
            try:
                async with self.db.unit_of_work() as session:
                    results = await self.write(session, [(item, ctx) for item, ctx, _ in live])
                    if len(results) != len(live):
                        raise ValueError(f"{len(results)} results for {len(live)} items")
            except Exception:
                pass  # each runs alone below, to learn whose it was
            else:
                self.batches += 1
                for (_item, _context, future), result in zip(live, results, strict=True):
                    if not future.done():
                        future.set_result(result)
                return
        for item, context, future in live:
            try:
                async with self.db.unit_of_work() as session:
                    (result,) = await self.write(session, [(item, context)])
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                self.batches += 1
                if not future.done():
                    future.set_result(result)


def _in(context: contextvars.Context, step: Awaitable[Result]) -> asyncio.Task[Result]:
    """Run a work in a task of its own, in its caller's context (a copy: what it sets stays there)."""
    return asyncio.get_running_loop().create_task(step, context=context)  # type: ignore[arg-type]
