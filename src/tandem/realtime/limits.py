"""Rate limits by named bucket, in one process or shared by every instance through Redis.

A bucket is a name ("login-ip", "chat-send") and a key within it (an address, a person). Each hit
is judged by the generic cell rate algorithm: a bucket allows `limit` hits at once and then one
more every `window / limit` seconds, so there is no window edge at which twice the limit gets
through. Decisions are computed in whole milliseconds from the caller's clock, by the same
arithmetic in Python and in the Redis script, so both implementations decide a sequence of hits
identically. In Redis every key starts with the configured prefix and expires once its bucket is
full again; when Redis cannot be reached the instance keeps deciding on its own rather than
refusing everyone or letting everyone through.

EVENT_LIMITS is the one place where each client -> server socket event finds its two limits, per
socket and per client address, as settings; the gateway applies them before any handler runs.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tandem.kit.errors import RateLimited
from tandem.kit.redis_client import command_client
from tandem.realtime.inbound import failure

logger = logging.getLogger("tandem.limits")

Clock = Callable[[], float]

# The bucket's state is its "theoretical arrival time": when it will be full again.
_GCRA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if tat < now then tat = now end
local next_tat = tat + interval
local wait = next_tat - now - window
if wait > 0 then return wait end
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now)
return 0
"""


def _decide(tat_ms: int | None, now_ms: int, interval_ms: int, window_ms: int) -> tuple[int, int]:
    """(milliseconds to wait, 0 if allowed; the bucket's new state)."""
    tat = max(tat_ms if tat_ms is not None else now_ms, now_ms)
    next_tat = tat + interval_ms
    wait = next_tat - now_ms - window_ms
    return (wait, tat) if wait > 0 else (0, next_tat)


def _shape(limit: int, window_seconds: float) -> tuple[int, int]:
    window_ms = max(1, round(window_seconds * 1000))
    return max(1, window_ms // limit), window_ms


def retry_after_seconds(wait: float) -> int:
    """A wait as the whole seconds a Retry-After header carries: rounded up, at least 1."""
    return max(1, math.ceil(wait))


class Limiter:
    """Buckets in this process's memory; right for a single instance."""

    SWEEP_SECONDS = 10.0

    def __init__(self, *, clock: Clock = time.time) -> None:
        self.clock = clock
        self._state: dict[tuple[str, str], int] = {}
        self._next_sweep = 0.0
        # Told the bucket of every refusal (the runtime counts them in tandem_rate_limited_total).
        self.on_refused: Callable[[str], None] | None = None

    async def hit(self, bucket: str, key: str, limit: int, window_seconds: float) -> float:
        """Count one hit: 0.0 when allowed, else the seconds until one would be. A limit of 0 or
        less turns the bucket off."""
        if limit <= 0:
            return 0.0
        wait = await self._take(bucket, key, limit, window_seconds)
        if wait and self.on_refused is not None:
            self.on_refused(bucket)
        return wait

    async def _take(self, bucket: str, key: str, limit: int, window_seconds: float) -> float:
        return self._hit_local(bucket, key, limit, window_seconds, self._now_ms())

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _hit_local(
        self, bucket: str, key: str, limit: int, window_seconds: float, now_ms: int
    ) -> float:
        self._sweep(now_ms)
        interval_ms, window_ms = _shape(limit, window_seconds)
        wait, tat = _decide(self._state.get((bucket, key)), now_ms, interval_ms, window_ms)
        if not wait:
            self._state[(bucket, key)] = tat
        return wait / 1000

    def _sweep(self, now_ms: int) -> None:
        # A full bucket needs no state; dropping them keeps a flood of distinct keys from growing memory.
        if now_ms / 1000 < self._next_sweep:
            return
        self._next_sweep = now_ms / 1000 + self.SWEEP_SECONDS
        self._state = {k: tat for k, tat in self._state.items() if tat > now_ms}

    async def close(self) -> None:
        self._state.clear()


class RedisLimiter(Limiter):
    """Buckets in Redis, so a limit holds across every instance that shares it."""

    def __init__(self, url: str, prefix: str = "tandem", *, clock: Clock = time.time) -> None:
        super().__init__(clock=clock)
        from redis.exceptions import RedisError

        self._failures = (RedisError, OSError)
        self._redis: Any = command_client(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix
        self._script = self._redis.register_script(_GCRA)
        self._warned_at = 0.0

    def key(self, bucket: str, key: str) -> str:
        # Hashed: keys may be email addresses, which have no business lying around in Redis.
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"{self.prefix}:limit:{bucket}:{digest}"

    async def _take(self, bucket: str, key: str, limit: int, window_seconds: float) -> float:
        now_ms = self._now_ms()
        interval_ms, window_ms = _shape(limit, window_seconds)
        try:
            wait = await self._script(
                keys=[self.key(bucket, key)], args=[now_ms, interval_ms, window_ms]
            )
        except self._failures as exc:
            self._warn(exc)
            return self._hit_local(bucket, key, limit, window_seconds, now_ms)
        return int(wait) / 1000

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 60:
            self._warned_at = now
            logger.warning("rate limits fall back to this instance alone: Redis failed (%s)", exc)

    async def close(self) -> None:
        await super().close()
        await self._redis.aclose()


def make_limiter(redis_url: str, prefix: str) -> Limiter:
    return RedisLimiter(redis_url, prefix) if redis_url else Limiter()


async def enforce(
    limiter: Limiter, bucket: str, key: str, limit: int, window_seconds: float
) -> None:
    """Count one hit, or refuse it with 429 and a Retry-After header."""
    wait = await limiter.hit(bucket, key, limit, window_seconds)
    if wait:
        seconds = retry_after_seconds(wait)
        raise RateLimited(
            f"too many attempts; try again in {seconds} s", headers={"Retry-After": str(seconds)}
        )


# -- client events over the socket ---------------------------------------------------------------

# A limit as named in the settings: (the burst's setting, the window's setting or its seconds).
Named = tuple[str, str | float]


@dataclass(frozen=True, slots=True)
class EventLimits:
    """One client event's two limits: per socket, and per client address over all its sockets."""

    per_socket: Named
    per_address: Named
    # The per-address bucket when another door shares it (the REST route of the same action);
    # otherwise the event has one of its own.
    address_bucket: str | None = None


def _pair(prefix: str) -> Named:
    return f"{prefix}_burst", f"{prefix}_window_seconds"


_HINT = EventLimits(_pair("socket_hint"), _pair("socket_hint_ip"))
_RECEIPT = EventLimits(_pair("socket_receipt"), _pair("socket_receipt_ip"))

# Every client -> server event's limits, by the settings that hold them (config.py). An event not
# named here (a domain's new one) has DEFAULT_EVENT_LIMITS; tests/realtime/test_inbound_limits.py
# fails when a registered event is missing here.
EVENT_LIMITS: dict[str, EventLimits] = {
    "subscribe": EventLimits(
        ("socket_subscribe_limit_per_minute", 60.0), _pair("socket_subscribe_ip")
    ),
    "unsubscribe": EventLimits(_pair("socket_unsubscribe"), _pair("socket_unsubscribe_ip")),
    "kanban.typing": _HINT,
    "kanban.lock": _HINT,
    "task.typing": _HINT,
    "chat.typing": EventLimits(_pair("socket_hint"), _pair("chat_typing_ip")),
    "chat.message.send": EventLimits(
        _pair("socket_chat_send"), _pair("chat_send_ip"), address_bucket="chat-send-ip"
    ),
    "chat.message.delivered": _RECEIPT,
    "chat.message.read": _RECEIPT,
}
DEFAULT_EVENT_LIMITS = EventLimits(_pair("socket_event"), _pair("socket_event_ip"))


@dataclass(frozen=True, slots=True)
class Rate:
    burst: int  # 0 or less: no limit
    window_seconds: float


def rate(settings: Any, named: Named) -> Rate:
    burst, window = named
    seconds = getattr(settings, window) if isinstance(window, str) else window
    return Rate(int(getattr(settings, burst)), float(seconds))


def retry_after_ms(wait: float) -> int:
    return max(1, round(wait * 1000))


class InboundLimits:
    """Judges each client event against its event's limits before its handler runs: counted per
    client address (bucket `{event}-ip`, or the one it shares) through the limiter, so across
    instances with Redis, and per socket (bucket `{event}-socket`, keyed by the socket's id) in
    this process, where the socket lives: no Redis round trip for it."""

    def __init__(self, limiter: Limiter, settings: Any) -> None:
        self.limiter = limiter
        self.settings = settings
        self.local = limiter if type(limiter) is Limiter else Limiter(clock=lambda: limiter.clock())
        if self.local is not limiter:
            self.local.on_refused = self._refused
        self._rates: dict[str, tuple[Rate, Rate, str]] = {}

    def _refused(self, bucket: str) -> None:
        if self.limiter.on_refused is not None:  # counted as the shared limiter's refusals are
            self.limiter.on_refused(bucket)

    def rates(self, event: str) -> tuple[Rate, Rate, str]:
        """(per socket, per address, the per-address bucket) of an event, read once."""
        found = self._rates.get(event)
        if found is None:
            limits = EVENT_LIMITS.get(event, DEFAULT_EVENT_LIMITS)
            found = self._rates[event] = (
                rate(self.settings, limits.per_socket),
                rate(self.settings, limits.per_address),
                limits.address_bucket or f"{event}-ip",
            )
        return found

    async def refusal(self, event: str, sid: str, address: str) -> dict[str, Any] | None:
        """None when this event may run, else the `rate_limited` ack that refuses it."""
        per_socket, per_address, address_bucket = self.rates(event)
        wait = await self.local.hit(
            f"{event}-socket", sid, per_socket.burst, per_socket.window_seconds
        )
        if not wait and address:
            wait = await self.limiter.hit(
                address_bucket, address, per_address.burst, per_address.window_seconds
            )
        if not wait:
            return None
        return failure(
            "rate_limited",
            f"too many {event} events; try again in {retry_after_seconds(wait)} s",
            retryAfterMs=retry_after_ms(wait),
        )
