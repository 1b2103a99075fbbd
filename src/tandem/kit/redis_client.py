"""Redis clients for commands (subscriptions own their connection: realtime/delivery.py, realtime/bus.py).

redis-py keeps connections in a pool, and one that Redis closed (a restart, a timeout on Redis's
side) fails the next command sent on it. These clients send that command once more, on a new
connection, so a Redis that is back costs no error; a Redis that is down still fails the command.
"""

from __future__ import annotations

from typing import Any


def command_client(url: str, **options: Any) -> Any:
    import redis.asyncio as redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError

    return redis.from_url(
        url, retry=Retry(NoBackoff(), 1), retry_on_error=[ConnectionError], **options
    )
