"""What Tandem keeps in Redis: every key under the instance's prefix, expiring while it lives,
nothing left once it stops, and nothing kept for good by an instance that was killed."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import socketio
from tests.conftest import PG_URL
from tests.harness import (
    Listener,
    delete_redis_keys,
    eventually,
    free_port,
    fresh_database_url,
    quick_team,
    redis_keys,
    start_server,
)

from tandem.realtime.presence import RedisPresence


async def test_presence_keys_expire_while_the_server_lives_and_go_when_it_stops(
    tmp_path: Path, redis_url: str
) -> None:
    prefix = f"tandem-test-keys-{uuid.uuid4().hex[:8]}"
    try:
        async with fresh_database_url("sqlite", tmp_path, PG_URL) as url:
            async with start_server(
                url, tmp_path, redis_url=redis_url, redis_prefix=prefix
            ) as server:
                org_id, (owner, member) = await quick_team(server, ["Owner", "Member"])
                stays = await Listener(server, await owner.socket_token()).connect()
                leaves = await Listener(server, await member.socket_token()).connect()
                assert (await stays.subscribe(f"org:{org_id}"))["ok"]
                await eventually(
                    lambda: f"{prefix}:online:{member.id}" in redis_keys(redis_url, prefix)
                )

                live = redis_keys(redis_url, prefix)
                assert {f"{prefix}:online:{owner.id}", f"{prefix}:presence:{owner.id}",
                        f"{prefix}:online-users"} <= set(live)  # fmt: skip
                assert all(ttl != -1 for ttl in live.values()), live  # -1: kept for good

                # The member's last socket closes; the server stops within the grace period.
                await leaves.close()
            await stays.close()
        assert redis_keys(redis_url, prefix) == {}
    finally:
        delete_redis_keys(redis_url, prefix)


async def test_a_killed_instance_leaves_only_keys_that_expire(
    tmp_path: Path, redis_url: str
) -> None:
    prefix = f"tandem-test-killed-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(
        TANDEM_DATA_DIR=str(tmp_path), TANDEM_REDIS_URL=redis_url, TANDEM_REDIS_PREFIX=prefix,
        TANDEM_SERVE_WEB="false", TANDEM_LOG_LEVEL="warning",
    )  # fmt: skip
    cli = [sys.executable, "-m", "tandem.cli"]
    migrate = await asyncio.create_subprocess_exec(
        *cli, "migrate", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    assert await migrate.wait() == 0
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = await asyncio.create_subprocess_exec(
        *cli, "serve", "--port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    sio = socketio.AsyncClient(reconnection=False)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:

            async def healthy() -> bool:
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(healthy, timeout=60, interval=0.1)
            email = f"{uuid.uuid4().hex[:10]}@example.com"
            signed = await http.post(
                "/api/auth/signup",
                json={"email": email, "password": "correct horse battery", "name": "Kay"},
            )
            assert signed.status_code == 201, signed.text
            user_id, access = signed.json()["user"]["id"], signed.json()["accessToken"]
            token = await http.post(
                "/api/auth/socket-token", headers={"Authorization": f"Bearer {access}"}
            )
            await sio.connect(url, auth={"token": token.json()["token"]}, transports=["websocket"])
            await eventually(lambda: f"{prefix}:online:{user_id}" in redis_keys(redis_url, prefix))

        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        left = redis_keys(redis_url, prefix)
        assert f"{prefix}:online:{user_id}" in left  # the killed instance could not clean up
        assert all(ttl != -1 for ttl in left.values()), left  # -1: kept for good
        presence = {
            k: ttl for k, ttl in left.items() if k.split(":")[1].startswith(("online", "presence"))
        }
        assert all(ttl <= RedisPresence.KEY_TTL for ttl in presence.values()), presence
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await sio.disconnect()
        delete_redis_keys(redis_url, prefix)


async def test_a_live_instance_keeps_refreshing_its_keys(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RedisPresence, "REFRESH", 0.2)
    monkeypatch.setattr(RedisPresence, "KEY_TTL", 1)
    prefix = f"tandem-test-refresh-{uuid.uuid4().hex[:8]}"
    try:
        async with (
            fresh_database_url("sqlite", tmp_path, PG_URL) as url,
            start_server(url, tmp_path, redis_url=redis_url, redis_prefix=prefix) as server,
        ):
            _, (owner,) = await quick_team(server, ["Owner"])
            listener = await Listener(server, await owner.socket_token()).connect()
            online = f"{prefix}:online:{owner.id}"
            await eventually(lambda: online in redis_keys(redis_url, prefix))
            await asyncio.sleep(2.5)  # more than twice the keys' lifetime
            kept = redis_keys(redis_url, prefix)
            assert online in kept and 0 < kept[online] <= 1, kept
            await listener.close()
    finally:
        delete_redis_keys(redis_url, prefix)
