"""bench/tandem_server.py --workers 2: two uvicorn workers of the real app on one port, on
PostgreSQL and Redis. A bench broadcast published in one worker reaches the clients of both,
through the Redis manager; the run's schema and its Redis keys are gone when the server stops."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import socketio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.conftest import PG_URL, REDIS_URL, need
from tests.harness import (
    delete_redis_keys,
    eventually,
    free_port,
    postgres_available,
    redis_available,
    redis_keys,
    wait_ready,
)

ROOT = Path(__file__).resolve().parents[2]
EVENT = "kanban.task.moved"


async def connect(url: str, token: str) -> tuple[socketio.AsyncClient, int, list[dict]]:
    client = socketio.AsyncClient(reconnection=False)
    received: list[dict] = []
    client.on(EVENT, received.append)
    await client.connect(url, auth={"token": token}, transports=["websocket"])
    reply = await client.call("bench.whoami", {}, timeout=10)
    return client, reply["pid"], received


async def schema_exists(name: str) -> bool:
    engine = create_async_engine(PG_URL)
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(
                text("SELECT count(*) FROM pg_namespace WHERE nspname = :n"), {"n": name}
            )
    finally:
        await engine.dispose()
    return bool(found)


async def test_a_broadcast_reaches_the_clients_of_every_worker(tmp_path: Path) -> None:
    need("PostgreSQL", postgres_available(PG_URL))
    need("Redis", redis_available(REDIS_URL))
    port = free_port()
    info_file, log = tmp_path / "info.json", tmp_path / "server.log"
    prefix = f"tandem-test-bench-{uuid.uuid4().hex[:8]}"
    with open(log, "wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "bench" / "tandem_server.py"),
            "--workers", "2", "--port", str(port), "--users", "16", "--info", str(info_file),
            "--database-url", PG_URL, "--redis-url", REDIS_URL,
            stdout=asyncio.subprocess.PIPE, stderr=err, env={**os.environ, "TANDEM_REDIS_PREFIX": prefix},
        )  # fmt: skip
    clients: list[tuple[socketio.AsyncClient, int, list[dict]]] = []
    try:
        await wait_ready(proc, log)
        info = json.loads(info_file.read_text())
        assert info["workers"] == 2
        # The kernel hands each connection to whichever worker accepts first: connect until
        # both workers hold some (a few rounds of the seeded people's tokens at most).
        for _ in range(6):
            clients += await asyncio.gather(*(connect(info["url"], t) for t in info["tokens"]))
            if len({pid for _, pid, _ in clients}) == 2:
                break
        pids = {pid for _, pid, _ in clients}
        assert len(pids) == 2, f"every connection went to one worker: {pids}"

        for client, _, _ in clients:
            assert (await client.call("subscribe", {"room": info["room"]}, timeout=10))["ok"]
        # Published in the driver's worker; the other worker's clients get it through Redis.
        driver = clients[0][0]
        assert (await driver.call("bench.emit", {"room": info["room"], "size": 350}))["ok"]
        for _ in range(200):
            if all(received for _, _, received in clients):
                break
            await asyncio.sleep(0.05)
        for pid in pids:
            got = [len(received) for _, p, received in clients if p == pid]
            assert got and all(n == 1 for n in got), f"worker {pid}: events per client {got}"
        assert clients[-1][2][0]["room"] == info["room"]
        # Presence keeps its keys under the run's prefix.
        await eventually(lambda: f"{prefix}:online-users" in redis_keys(REDIS_URL, prefix))
    finally:
        for client, _, _ in clients:
            await client.disconnect()
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert not await schema_exists(info["run"])
    left = redis_keys(REDIS_URL, prefix)
    delete_redis_keys(REDIS_URL, prefix)
    assert left == {}
