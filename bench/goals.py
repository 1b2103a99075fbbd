"""Every goal the benchmark checks, and every threshold behind a verdict, in one place.

A row of the table is (workload, figure key, label, goal). A goal is "ratio<=N" or
"ratio>=N" on Tandem's figure over the reference's, or an absolute bound on a Tandem-only
figure (">=N", "<N"); None shows the figure without a verdict. The goals: memory per idle
connection and fan-out deliveries per server core no worse than Node's socket.io; p99
latency at a fixed broadcast rate no worse than it; at least 1,000 changes/s to a room of 10
and 100/s to a room of 1,000, with p99 under 100 ms at half those rates; and a reconnect storm
of 5,000 clients converged within 10 s of the restarted server's readiness (reconnect_storm.py,
which prints its verdict under its own lines).
"""

from __future__ import annotations

# A load generator core busier than this (% of one core) may have capped the figure it measured.
LOADGEN_SATURATED_PCT = 85
# Other processes on the machine busier than this (% of one core) make wall-clock figures noisy.
MACHINE_BUSY_PCT = 20
# The reconnect storm: this many clients back, subscribed and holding every missed event once within
# this many seconds of the new server's readiness, on one server core, nobody given up.
STORM_GOAL_CLIENTS = 5_000
STORM_GOAL_SECONDS = 10.0

ROWS: list[tuple[str, str, str, str | None]] = [
    ("idle-200", "kb_per_conn", "idle 200: memory per connection (KB)", "ratio<=1"),
    ("idle-200", "connect_rate", "idle 200: connect rate (conn/s)", None),
    ("idle-1k", "kb_per_conn", "idle 1k: memory per connection (KB)", "ratio<=1"),
    ("idle-1k", "connect_rate", "idle 1k: connect rate (conn/s)", None),
    ("idle-5k", "kb_per_conn", "idle 5k: memory per connection (KB)", "ratio<=1"),
    ("idle-5k", "connect_rate", "idle 5k: connect rate (conn/s)", None),
    ("idle-10k", "kb_per_conn", "idle 10k: memory per connection (KB)", "ratio<=1"),
    ("idle-10k", "connect_rate", "idle 10k: connect rate (conn/s)", None),
    ("fanout-100", "deliveries_per_s", "fan-out 100: deliveries/s (wall)", None),
    ("fanout-100", "deliveries_per_cpu_s", "fan-out 100: deliveries/s per server core", "ratio>=1"),
    ("fanout-100", "cpu_s_per_m", "fan-out 100: server CPU-s per 1M deliveries", None),
    ("fanout-1000", "deliveries_per_s", "fan-out 1000: deliveries/s (wall)", None),
    (
        "fanout-1000",
        "deliveries_per_cpu_s",
        "fan-out 1000: deliveries/s per server core",
        "ratio>=1",
    ),
    ("fanout-1000", "cpu_s_per_m", "fan-out 1000: server CPU-s per 1M deliveries", None),
    ("latency", "p50_ms", "latency @rate: p50 (ms)", None),
    ("latency", "p99_ms", "latency @rate: p99 (ms)", "ratio<=1"),
    ("latency", "p999_ms", "latency @rate: p99.9 (ms)", None),
    ("latency", "first_p99_ms", "latency @rate: p99 to the first recipient (ms)", None),
    ("product-10", "changes_per_s", "product, room of 10: changes/s", ">=1000"),
    ("product-10", "changes_per_cpu_s", "product, room of 10: changes/s per server core", ">=1000"),
    ("product-10", "cpu_ms_per_change", "product, room of 10: server CPU-ms per change", None),
    ("product-10", "p50_ms", "product, room of 10: p50 at 500/s (ms)", None),
    ("product-10", "p99_ms", "product, room of 10: p99 at 500/s (ms)", "<100"),
    ("product-10", "first_p99_ms", "product, room of 10: p99 to the first subscriber (ms)", None),
    ("product-1000", "changes_per_s", "product, room of 1000: changes/s", ">=100"),
    (
        "product-1000",
        "changes_per_cpu_s",
        "product, room of 1000: changes/s per server core",
        ">=100",
    ),
    ("product-1000", "cpu_ms_per_change", "product, room of 1000: server CPU-ms per change", None),
    ("product-1000", "deliveries_per_s", "product, room of 1000: deliveries/s", None),
    ("product-1000", "p50_ms", "product, room of 1000: p50 at 50/s (ms)", None),
    ("product-1000", "p99_ms", "product, room of 1000: p99 at 50/s (ms)", "<100"),
    (
        "product-1000",
        "first_p99_ms",
        "product, room of 1000: p99 to the first subscriber (ms)",
        None,
    ),
    ("api-floor", "bare_per_cpu_s", "API floor, FastAPI route: requests/s per server core", None),
    (
        "api-floor",
        "caller_per_cpu_s",
        "API floor, + signed-in caller: requests/s per server core",
        None,
    ),
    (
        "api-floor",
        "caller_cpu_ms",
        "API floor, + signed-in caller: server CPU-ms per request",
        None,
    ),
    ("api-floor", "me_per_cpu_s", "API floor, GET /api/me: requests/s per server core", None),
]

TANDEM_ONLY = ("product", "api-floor")


def goal_met(goal: str | None, tandem: float | None, ratio: float | None) -> str:
    if goal is None:
        return ""
    if goal.startswith("ratio"):
        if ratio is None:
            return "?"
        op, bound = goal[5:7], float(goal[7:])
        return "yes" if (ratio <= bound if op == "<=" else ratio >= bound) else "NO"
    if tandem is None:
        return "?"
    if goal.startswith(">="):
        return "yes" if tandem >= float(goal[2:]) else "NO"
    if goal.startswith("<"):
        return "yes" if tandem < float(goal[1:]) else "NO"
    return ""
