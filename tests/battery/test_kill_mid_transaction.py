"""SIGKILL while a write's transaction is open: the process dies between its first statement and its
commit. PostgreSQL rolls the transaction back when it finds the client gone, so the change must be
nowhere afterwards (not in the table, not in the log, not on any socket), the surviving instance
takes over the dispatcher, and the client's retry there makes the change exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tandem.db import make_engine
from tests.battery.faults import (
    PrivateRedis,
    Subscriber,
    cluster,
    logged_events,
    members_of,
    org_team,
)

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


@pytest.fixture
async def redis(tmp_path: Path):
    server = PrivateRedis(tmp_path / "redis")
    await server.start()
    try:
        yield server
    finally:
        server.kill()


async def wait_for_a_blocked_write(conn, cut: asyncio.Task, timeout: float = 30.0) -> None:
    """Until another backend of this database waits on a row lock (the PATCH, mid-transaction)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        # Not `state = 'active'`: a backend waiting inside asyncpg's extended protocol may show
        # as idle while it waits for the row.
        "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
    )
    for _ in range(int(timeout / 0.05)):
        if await conn.scalar(query):
            return
        if cut.done():  # answered without waiting for the row: say how
            raise AssertionError(f"the PATCH did not wait for the locked row: {cut.result()}")
        await asyncio.sleep(0.05)
    raise AssertionError("the PATCH never reached the locked row")


async def test_a_write_cut_by_sigkill_mid_transaction_leaves_no_trace(
    database_url: str, redis: PrivateRedis, tmp_path: Path
):
    async with cluster(database_url, redis.url, tmp_path) as (a, b):
        org_id, owner, (target, *_) = await org_team(a, 2)
        table, cursor = await members_of(b, owner, org_id)
        watcher = Subscriber(owner, org_id, [a, b], 1, table, cursor)  # on b, which survives
        await watcher.start()
        holder = make_engine(database_url)
        try:
            async with holder.connect() as lock_conn, holder.connect() as probe:
                # Hold the target's membership row, so a's PATCH stops inside its transaction.
                await lock_conn.execute(
                    text(
                        "SELECT role FROM memberships WHERE org_id = :o AND user_id = :u FOR UPDATE"
                    ),
                    {"o": org_id, "u": target.id},
                )
                path = f"/api/orgs/{org_id}/members/{target.id}"
                async with a.client(owner.access) as http:
                    cut = asyncio.create_task(http.patch(path, json={"role": "Admin"}))
                    await wait_for_a_blocked_write(probe, cut)
                    a.kill()
                    with pytest.raises(httpx.TransportError):
                        await cut
                await (
                    lock_conn.rollback()
                )  # the dead client's backend goes on, finds it gone, rolls back

            await asyncio.sleep(1.0)  # time for a stray event to arrive, were there one
            members, _ = await members_of(b, owner, org_id)
            assert members[target.id]["role"] == "Member"
            assert await logged_events(b, owner, f"org:{org_id}", cursor) == []
            assert watcher.applied == [], "an event of a write that never committed was delivered"

            async with b.client(owner.access) as http:  # the client's retry, on the survivor
                r = await http.patch(path, json={"role": "Admin"})
                assert r.status_code == 200, r.text
            for _ in range(100):
                if watcher.applied:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            logged = await logged_events(b, owner, f"org:{org_id}", cursor)
            assert [e["event"] for e in logged] == ["org.member.updated"]
            assert [e["seq"] for e in watcher.applied] == [logged[0]["seq"]]
            assert watcher.members[target.id]["role"] == "Admin"
            assert watcher.duplicates == 0 and watcher.resyncs == 0
        finally:
            await watcher.close()
            await holder.dispose()
