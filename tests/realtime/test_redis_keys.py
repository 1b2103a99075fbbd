"""What Tandem keeps in Redis: every key under the instance's prefix, expiring while it lives,
and nothing left once it stops."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.conftest import PG_URL
from tests.harness import (
    Listener,
    delete_redis_keys,
    eventually,
    fresh_database_url,
    quick_team,
    redis_keys,
    start_server,
)


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
                assert all(ttl > 0 for ttl in live.values()), live

                # The member's last socket closes; the server stops within the grace period.
                await leaves.close()
            await stays.close()
        assert redis_keys(redis_url, prefix) == {}
    finally:
        delete_redis_keys(redis_url, prefix)
