"""Prometheus metrics (SPEC §7). One registry per runtime so several apps can live in one process (tests)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10)


class _RoomCollector(Collector):
    def __init__(
        self, rooms: Callable[[], dict[str, int]], connections_by_org: Callable[[], dict[str, int]]
    ) -> None:
        self.rooms = rooms
        self.connections_by_org = connections_by_org

    def collect(self) -> Iterable[GaugeMetricFamily]:
        sizes = GaugeMetricFamily(
            "tandem_room_members", "Local sockets in each room, by room kind", labels=["kind"]
        )
        by_kind: dict[str, int] = {}
        biggest = 0
        for room, size in self.rooms().items():
            kind = room.split(":", 1)[0]
            by_kind[kind] = by_kind.get(kind, 0) + size
            biggest = max(biggest, size)
        for kind, size in sorted(by_kind.items()):
            sizes.add_metric([kind], size)
        yield sizes
        largest = GaugeMetricFamily("tandem_room_largest", "Local sockets in the largest room")
        largest.add_metric([], biggest)
        yield largest
        by_org = GaugeMetricFamily(
            "tandem_connections_by_org", "Local sockets subscribed to each org", labels=["org"]
        )
        for org, count in sorted(self.connections_by_org().items()):
            by_org.add_metric([org], count)
        yield by_org


class Metrics:
    def __init__(self) -> None:
        self._lags: dict[str, MetricWrapperBase] = {}  # dispatch_lag's child per event type
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge("tandem_connections", "Open sockets on this instance", registry=r)
        self.events_emitted = Counter(
            "tandem_events_emitted", "Events published, by type", ["event"], registry=r
        )
        self.dispatch_lag = Histogram(
            "tandem_dispatch_lag_seconds",
            "Commit to publish",
            ["event"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.client_latency = Histogram(
            "tandem_client_latency_seconds",
            "emittedAt to received, reported by clients",
            ["event"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.replays = Counter(
            "tandem_replayed_events", "Events replayed to reconnecting clients", registry=r
        )
        self.resyncs = Counter("tandem_resyncs", "resync.required sent", registry=r)
        self.rate_limited = Counter(
            "tandem_rate_limited", "Requests refused by a rate limit", ["what"], registry=r
        )
        self.connects_refused = Counter(
            "tandem_connects_refused",
            "Socket.IO connects refused, by reason: unauthorized, origin, rate_limited",
            ["reason"],
            registry=r,
        )
        self.connects_shed = Counter(
            "tandem_connects_shed",
            "Socket.IO connects refused because the process was checking too many at once",
            registry=r,
        )
        self.dropped = Counter(
            "tandem_dropped_events",
            "Ephemeral events dropped for a socket over its outbound buffer bound, by type",
            ["event"],
            registry=r,
        )
        self.coalesced = Counter(
            "tandem_coalesced_events",
            "Ephemeral values queued for a socket that a newer one of the same thing replaced",
            ["event"],
            registry=r,
        )
        self.slow_consumer_disconnects = Counter(
            "tandem_slow_consumer_disconnects",
            "Sockets closed because their outbound buffer passed its bound with durable events",
            registry=r,
        )

        self.client_drift = Counter(
            "tandem_client_drift",
            "Drift reports from soaking clients (live state differed from a fresh snapshot), by phase",
            ["phase"],
            registry=r,
        )
        self.flag_changes = Counter(
            "tandem_flag_changes",
            "Feature flag changes made through this instance, by phase and whether automatic",
            ["phase", "automatic"],
            registry=r,
        )
        self.flag_rollbacks = Counter(
            "tandem_flag_rollbacks",
            "Phases turned off for an org by the automatic rollback, by phase and reason",
            ["phase", "reason"],
            registry=r,
        )

    def count_emitted(self, events: Iterable[str]) -> None:
        """Count published events by type, one `inc` a type (a child's lookup takes a lock)."""
        for event, n in Tally(events).items():
            self.events_emitted.labels(event).inc(n)

    def observe_dispatch_lag(self, event: str, seconds: float) -> None:
        child = self._lags.get(event)
        if child is None:
            child = self._lags[event] = self.dispatch_lag.labels(event)
        child.observe(seconds)  # type: ignore[attr-defined]

    def watch_rooms(
        self, rooms: Callable[[], dict[str, int]], connections_by_org: Callable[[], dict[str, int]]
    ) -> None:
        self.registry.register(_RoomCollector(rooms, connections_by_org))
