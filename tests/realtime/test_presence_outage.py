"""Presence while Redis is unreachable: a members snapshot still answers, from this instance's sockets."""

from __future__ import annotations

from tests.harness import free_port

from tandem.realtime.presence import RedisPresence


async def test_online_answers_from_local_sockets_when_redis_is_unreachable():
    announced: list[tuple[str, bool]] = []

    async def announce(user_id: str, online: bool) -> None:
        announced.append((user_id, online))

    # Nothing listens on this port: every Redis call fails at once with a connection error.
    presence = RedisPresence(
        announce, 1.0, f"redis://127.0.0.1:{free_port()}/0", "inst", prefix="outage-test"
    )
    presence._sockets["u_here"] = {"sid_1"}  # a socket of this instance, known without Redis
    try:
        assert await presence.online(["u_here", "u_elsewhere"]) == {"u_here"}
        assert await presence.online([]) == set()
    finally:
        await presence._redis.aclose()
