"""Where one dispatcher stops: the outbox -> log -> publish pipeline on PostgreSQL, alone.

A fresh schema is migrated; one process runs Tandem's `Dispatcher` (leader, pinned to
`--dispatcher-cpu`, publishing to Redis as several instances do, or nowhere with `--publish
none`), and a writer process (pinned to `--writer-cpus`) commits events to the outbox at a target
rate: `--per-commit` events a transaction, from `--writers` concurrent units of work. Each step
runs `--seconds` at one rate; reported per step: the rate asked, the events committed and
published a second, the dispatch lag (commit -> published, from the outbox row's time) p50 / p99 /
max, and what was left in the outbox at the end; every event must be published exactly once (exit
status 1 otherwise). As between instances, each writer's commit wakes
the dispatcher with a Redis message.

    uv run python bench/dispatch_ceiling.py --rates 1000,2000,4000,8000
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rates", default="500,1000,2000,4000,8000", help="events a second, per step")
    p.add_argument("--seconds", type=float, default=6.0, help="length of each step")
    p.add_argument("--per-commit", type=int, default=10, help="events in each transaction")
    p.add_argument("--writers", type=int, default=16, help="concurrent units of work")
    p.add_argument("--rooms", type=int, default=100, help="distinct rooms the events go to")
    p.add_argument("--publish", choices=["redis", "none"], default="redis")
    p.add_argument("--database-url", default=PG)
    p.add_argument("--redis-url", default=REDIS)
    p.add_argument("--dispatcher-cpu", default="0")
    p.add_argument("--writer-cpus", default="1")
    return p.parse_args(argv)


def pin(cpus: str) -> None:
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})


# -- the writer process ------------------------------------------------------------------


async def write(
    url: str,
    redis_url: str,
    channel: str,
    rate: float,
    seconds: float,
    per_commit: int,
    writers: int,
    rooms: int,
) -> tuple[int, float]:
    import redis.asyncio as aioredis

    from tandem.db import Database
    from tandem.orgs.events import OrgMemberLeft
    from tandem.realtime import outbox

    redis = aioredis.from_url(redis_url)
    db = Database(url)
    async with db.read() as session:  # connect before the clock starts
        await session.execute(text("SELECT 1"))
    commits_per_second = rate / per_commit
    started = time.monotonic()
    done = 0

    async def writer(index: int) -> None:
        nonlocal done
        n = 0
        while True:
            # Commits spread evenly over the writers: writer i takes every writers-th slot.
            slot = (n * writers + index) / commits_per_second
            if slot >= seconds:
                return
            delay = started + slot - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            async with db.unit_of_work() as session:
                for k in range(per_commit):
                    room = f"org:bench_{(index * per_commit + k) % rooms}"
                    await outbox.record(
                        session,
                        OrgMemberLeft(organization_id=room[4:], user_id=f"u_{n}_{k}"),
                        [room],
                        org_id=None,
                    )
            await redis.publish(channel, b"wake")
            done += per_commit
            n += 1

    await asyncio.gather(*(writer(i) for i in range(writers)))
    elapsed = time.monotonic() - started
    await db.dispose()
    await redis.aclose()
    return done, elapsed


def writer_main(
    url: str,
    redis_url: str,
    channel: str,
    cpus: str,
    rate: float,
    seconds: float,
    per_commit: int,
    writers: int,
    rooms: int,
    out,
) -> None:
    pin(cpus)
    out.send(asyncio.run(write(url, redis_url, channel, rate, seconds, per_commit, writers, rooms)))


# -- the dispatcher ----------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    from tandem.cli import migrate
    from tandem.db import Database
    from tandem.realtime.dispatcher import Dispatcher
    from tandem.realtime.models import OutboxEntry

    pin(args.dispatcher_cpu)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(args.database_url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in args.database_url else "?"
    url = f"{args.database_url}{sep}search_path={schema}"
    redis = None
    try:
        await asyncio.to_thread(migrate, url)
        db = Database(url)
        lags: list[float] = []
        published = 0

        if args.publish == "redis":
            import orjson
            import redis.asyncio as aioredis

            redis = aioredis.from_url(args.redis_url)

        async def publish(envelopes: list[dict]) -> None:
            nonlocal published
            published += len(envelopes)
            if redis is not None:
                pipe = redis.pipeline(transaction=False)
                for env in envelopes:
                    pipe.publish(f"tandem-bench:{schema}", orjson.dumps(env))
                await pipe.execute()

        async def control(_message: dict) -> None:
            return None

        dispatcher = Dispatcher(
            db,
            publish,
            control,
            poll_seconds=0.5,
            observe_lag=lambda _event, lag: lags.append(lag),
        )
        dispatcher.start()
        import redis.asyncio as aioredis

        waker = aioredis.from_url(args.redis_url)
        pubsub = waker.pubsub()
        channel = f"tandem-bench-wake:{schema}"
        await pubsub.subscribe(channel)

        async def wake_on_message() -> None:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    dispatcher.wake()

        listening = asyncio.create_task(wake_on_message())
        print(
            f"dispatch ceiling: PostgreSQL, publish to {args.publish}, {args.per_commit} events a"
            f" commit from {args.writers} writers, {args.rooms} rooms, {args.seconds:.0f} s a step"
        )
        print(
            "  asked/s | committed/s | published/s | lag p50 / p99 / max | left in outbox | dispatcher CPU"
        )
        ctx = multiprocessing.get_context("spawn")
        failed = False
        for rate in [float(r) for r in args.rates.split(",")]:
            lags.clear()
            published = 0
            cpu0 = time.process_time()
            receive, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(
                target=writer_main,
                args=(
                    url,
                    args.redis_url,
                    channel,
                    args.writer_cpus,
                    rate,
                    args.seconds,
                    args.per_commit,
                    args.writers,
                    args.rooms,
                    send,
                ),
            )
            proc.start()
            committed, wrote_for = await asyncio.to_thread(receive.recv)
            kept_up = published  # published while the writers wrote (a step's lag behind them)
            cpu = time.process_time() - cpu0
            await asyncio.to_thread(proc.join)
            await asyncio.sleep(1.0)  # what the dispatcher can still catch up
            async with db.read() as session:
                left = int(await session.scalar(select(func.count()).select_from(OutboxEntry)) or 0)
            q = sorted(lags) or [0.0]
            p99 = q[min(len(q) - 1, int(len(q) * 0.99))]
            print(
                f"  {rate:7.0f} | {committed / wrote_for:11.0f} | {kept_up / wrote_for:11.0f} |"
                f" {statistics.median(q) * 1000:6.1f} / {p99 * 1000:7.1f} / {q[-1] * 1000:7.1f} ms"
                f" | {left:14d} | {cpu / wrote_for * 100:5.0f}%",
                flush=True,
            )
            # Drain whatever is left before the next step.
            await dispatcher.wait_idle(timeout=120)
            if published != committed:  # one room an event: one envelope each, exactly once
                print(f"  published {published} envelopes for {committed} events", flush=True)
                failed = True
        listening.cancel()
        await pubsub.aclose()
        await waker.aclose()
        await dispatcher.stop()
        await db.dispose()
    finally:
        if redis is not None:
            await redis.aclose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
