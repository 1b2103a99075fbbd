"""The limits on what clients send over the socket (SPEC §4, §5.8): every client event has a limit
per socket and one per client address, counted before its handler runs and refused with the SPEC's
`rate_limited` ack and `retryAfterMs`; Socket.IO connects have a limit per address; past a cap on
handshakes checked at once, connects are shed. Refused connects end in a clean `connect_error`
(`rate_limited`, with retryAfterMs) that Socket.IO clients retry, and get in on the retry.

The limiter's clock is the test's: a refusal's wait passes when the test moves the clock, never by
sleeping, so no decision depends on how fast the machine runs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import socketio
from pydantic import ValidationError
from tests.chat.factories import send, start
from tests.conftest import PG_URL
from tests.harness import (
    REDIS_PREFIX,
    Listener,
    Person,
    Server,
    connect_outcome,
    eventually,
    fresh_database_url,
    listening,
    on,
    quick_team,
    start_server,
)
from tests.projects.factories import make_project, make_task

from tandem.config import Settings
from tandem.realtime.gateway import SHED_RETRY_SECONDS, LimitedHandlers
from tandem.realtime.limits import (
    DEFAULT_EVENT_LIMITS,
    EVENT_LIMITS,
    InboundLimits,
    Limiter,
    Rate,
)

WINDOW = 60.0  # long: nothing refills unless the test moves the clock
NO_CONNECT_EXEMPTION: dict[str, Any] = {"socket_connect_ip_exempt": []}


class Clock:
    """The limiter's time, moved by the test alone."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms / 1000


def frozen(*servers: Server) -> Clock:
    clock = Clock()
    for server in servers:
        server.runtime.limiter.clock = clock
    return clock


@asynccontextmanager
async def limited_server(tmp_path: Path, **settings: Any) -> AsyncIterator[Server]:
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path, **settings) as server,
    ):
        yield server


def assert_rate_limited(ack: Any, most_ms: float) -> int:
    """The SPEC's refusal, exactly: {ok: false, error: {code, message, retryAfterMs}}."""
    assert isinstance(ack, dict) and set(ack) == {"ok", "error"} and ack["ok"] is False, ack
    error = ack["error"]
    assert set(error) == {"code", "message", "retryAfterMs"}, ack
    assert error["code"] == "rate_limited" and isinstance(error["message"], str), ack
    assert error["message"], ack
    assert isinstance(error["retryAfterMs"], int) and 0 < error["retryAfterMs"] <= most_ms, ack
    return error["retryAfterMs"]


def refused_count(server: Server, bucket: str) -> float:
    value = server.runtime.metrics.registry.get_sample_value(
        "tandem_rate_limited_total", {"what": bucket}
    )
    return value or 0.0


def connect_refusal(outcome: Any) -> dict[str, Any]:
    """A refused connect as the client's connect_error received it: {message, data}, with the data
    {code: rate_limited, message, retryAfterMs}; returns the data."""
    assert isinstance(outcome, dict) and outcome.get("message") == "rate_limited", outcome
    data = outcome.get("data")
    assert isinstance(data, dict) and set(data) == {"code", "message", "retryAfterMs"}, outcome
    assert data["code"] == "rate_limited" and data["message"], outcome
    assert isinstance(data["retryAfterMs"], int) and data["retryAfterMs"] > 0, outcome
    return data


class Reconnecting:
    """A python-socketio client with its own reconnection on, quick, as a browser's would be."""

    def __init__(self, server: Server, person: Person) -> None:
        self.server, self.person = server, person
        self.connects = 0
        self.refusals: list[Any] = []
        self.sio = socketio.AsyncClient(
            reconnection=True,
            reconnection_delay=0.05,
            reconnection_delay_max=0.2,
            randomization_factor=0.5,
        )

        @self.sio.event
        async def connect() -> None:
            self.connects += 1

        @self.sio.event
        async def connect_error(data: Any = None) -> None:
            self.refusals.append(data)

    async def token(self) -> dict[str, str]:
        return {"token": await self.person.socket_token()}

    async def connect(self) -> None:
        await self.sio.connect(
            self.server.url, auth=self.token, transports=["websocket"], wait_timeout=10
        )

    async def lose_connection(self) -> None:
        """The network drops under it: the transport ends without a goodbye."""
        await self.sio.eio.ws.close()

    async def close(self) -> None:
        await self.sio.shutdown()


# -- the table ---------------------------------------------------------------


async def test_every_registered_event_has_its_limits_named(sqlite_server: Server) -> None:
    gate = sqlite_server.runtime.gateway.inbound
    assert isinstance(gate.handlers, LimitedHandlers)
    registered = set(gate.handlers)
    assert {
        "subscribe",
        "unsubscribe",
        "kanban.typing",
        "kanban.lock",
        "task.typing",
        "chat.typing",
        "chat.message.send",
        "chat.message.delivered",
        "chat.message.read",
    } <= registered
    # A new client event is named here with its limits (else it runs on the defaults).
    assert registered <= set(EVENT_LIMITS), registered - set(EVENT_LIMITS)
    settings = sqlite_server.settings
    limits = InboundLimits(Limiter(), settings)
    for event in [*EVENT_LIMITS, "any.other"]:
        per_socket, per_address, _bucket = limits.rates(event)
        assert per_socket.burst > 0 and per_socket.window_seconds > 0, event
        assert per_address.burst > 0 and per_address.window_seconds > 0, event
    assert limits.rates("any.other")[:2] == limits.rates(str(uuid.uuid4()))[:2]
    for limit in [*EVENT_LIMITS.values(), DEFAULT_EVENT_LIMITS]:
        for burst, window in (limit.per_socket, limit.per_address):
            assert hasattr(settings, burst) and (
                not isinstance(window, str) or hasattr(settings, window)
            )


def test_the_limits_are_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    # 500 people behind one address: their reconnect (a few rooms each) fits the address's bursts.
    assert defaults.socket_connect_ip_burst >= 1000
    assert defaults.socket_subscribe_ip_burst >= 500 * 4
    assert defaults.socket_connect_ip_exempt == ["127.0.0.0/8", "::1"]
    assert defaults.socket_max_handshakes > 0
    for name, value in {
        "TANDEM_SOCKET_SUBSCRIBE_IP_BURST": "7",
        "TANDEM_SOCKET_SUBSCRIBE_IP_WINDOW_SECONDS": "3.5",
        "TANDEM_SOCKET_UNSUBSCRIBE_BURST": "8",
        "TANDEM_SOCKET_HINT_BURST": "9",
        "TANDEM_SOCKET_HINT_IP_WINDOW_SECONDS": "1.5",
        "TANDEM_SOCKET_CHAT_SEND_BURST": "10",
        "TANDEM_SOCKET_RECEIPT_IP_BURST": "11",
        "TANDEM_SOCKET_EVENT_BURST": "12",
        "TANDEM_SOCKET_EVENT_IP_BURST": "0",
        "TANDEM_SOCKET_CONNECT_IP_BURST": "13",
        "TANDEM_SOCKET_CONNECT_IP_WINDOW_SECONDS": "2",
        "TANDEM_SOCKET_CONNECT_IP_EXEMPT": "10.0.0.0/8, 192.168.1.5",
        "TANDEM_SOCKET_MAX_HANDSHAKES": "3",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    limits = InboundLimits(Limiter(), settings)
    assert limits.rates("subscribe")[1] == Rate(7, 3.5)
    assert limits.rates("unsubscribe")[0].burst == 8
    assert limits.rates("kanban.lock")[0].burst == 9
    assert limits.rates("task.typing")[1].window_seconds == 1.5
    assert limits.rates("chat.message.send")[0].burst == 10
    assert limits.rates("chat.message.read")[1].burst == 11
    assert limits.rates("some.new.event")[:2] == (Rate(12, 10.0), Rate(0, 10.0))
    assert (settings.socket_connect_ip_burst, settings.socket_connect_ip_window_seconds) == (13, 2)
    assert settings.socket_connect_ip_exempt == ["10.0.0.0/8", "192.168.1.5"]
    assert settings.socket_max_handshakes == 3
    monkeypatch.setenv("TANDEM_SOCKET_CONNECT_IP_EXEMPT", '["::1"]')
    assert Settings().socket_connect_ip_exempt == ["::1"]
    monkeypatch.setenv("TANDEM_SOCKET_CONNECT_IP_EXEMPT", "not-a-network")
    with pytest.raises(ValidationError, match="socket_connect_ip_exempt"):
        Settings()


# -- per socket ------------------------------------------------------------------


async def test_every_event_past_its_socket_limit_is_refused_and_runs_after_the_wait(
    tmp_path: Path,
) -> None:
    async with limited_server(
        tmp_path,
        socket_subscribe_limit_per_minute=3,
        socket_unsubscribe_burst=2,
        socket_unsubscribe_window_seconds=WINDOW,
        socket_hint_burst=2,
        socket_hint_window_seconds=WINDOW,
        socket_chat_send_burst=2,
        socket_chat_send_window_seconds=WINDOW,
        socket_receipt_burst=2,
        socket_receipt_window_seconds=WINDOW,
    ) as server:
        clock = frozen(server)
        org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
        pid = (await make_project(ada, org_id))["id"]
        tid = (await make_task(ada, pid, title="card"))["id"]
        cid = (await start(ada, org_id, bo))["id"]
        said = [(await send(bo, cid, f"m{i}"))["messageId"] for i in range(8)]
        rooms = [f"project:{pid}", f"task:{tid}", f"chat:{cid}"]
        sends = iter(range(100))
        reads = iter(said)

        def payload(event: str) -> dict[str, Any]:
            return {
                "subscribe": lambda: {"room": f"org:{org_id}"},
                "unsubscribe": lambda: {"room": f"org:{org_id}"},
                "kanban.typing": lambda: {
                    "projectId": pid,
                    "taskId": tid,
                    "typing": True,
                    "field": "title",
                },
                "kanban.lock": lambda: {"projectId": pid, "taskId": tid, "locked": True},
                "task.typing": lambda: {"taskId": tid, "typing": True, "field": "comment"},
                "chat.typing": lambda: {"conversationId": cid, "typing": True},
                "chat.message.send": lambda: {
                    "conversationId": cid,
                    "clientId": f"c{next(sends)}",
                    "text": "hi",
                },
                "chat.message.delivered": lambda: {"conversationId": cid, "messageIds": said},
                "chat.message.read": lambda: {"conversationId": cid, "messageId": next(reads)},
            }[event]()

        for event in EVENT_LIMITS:
            # A socket per event, in the rooms its events need (subscribe's own test needs none).
            needs = [] if event in ("subscribe", "unsubscribe") else rooms
            burst = 3 if event == "subscribe" else 2
            async with listening(ada, *needs) as socket:
                before = refused_count(server, f"{event}-socket")
                for _ in range(burst):
                    ack = await socket.sio.call(event, payload(event), timeout=10)
                    assert ack["ok"] is True, (event, ack)
                ack = await socket.sio.call(event, payload(event), timeout=10)
                wait = assert_rate_limited(ack, 30_000)
                assert wait > 15_000, (event, ack)  # one more every 60 / burst s
                assert refused_count(server, f"{event}-socket") == before + 1, event
                # Refused before its handler ran: nothing counted against the person either.
                assert refused_count(server, "chat-send-user") == 0
                assert refused_count(server, "chat-typing-user") == 0
                clock.advance(wait - 1000)
                assert_rate_limited(await socket.sio.call(event, payload(event), timeout=10), 1000)
                clock.advance(1000)
                ack = await socket.sio.call(event, payload(event), timeout=10)
                assert ack["ok"] is True, (event, ack)
                # Another socket of the same person has its own allowance.
                async with listening(ada, *needs) as other:
                    assert (await other.sio.call(event, payload(event), timeout=10))["ok"]


async def test_an_event_without_an_entry_gets_the_default_limits(tmp_path: Path) -> None:
    async with limited_server(
        tmp_path,
        socket_event_burst=2,
        socket_event_window_seconds=WINDOW,
        socket_event_ip_burst=3,
        socket_event_ip_window_seconds=WINDOW,
    ) as server:
        clock = frozen(server)
        ran: list[str] = []

        async def echo(sid: str, data: Any, extra: tuple) -> dict[str, Any]:
            ran.append(sid)
            return {"ok": True}

        # As a domain's extension adds its events: after the gate was made.
        server.runtime.gateway.inbound.handlers.update({"probe.echo": echo})
        _, (ada, bo) = await quick_team(server, ["Owner", "Member"])
        async with listening(ada) as first, listening(bo) as second:
            assert [(await first.sio.call("probe.echo", {}))["ok"] for _ in range(2)] == [True] * 2
            assert_rate_limited(await first.sio.call("probe.echo", {}), 30_000)
            assert (await second.sio.call("probe.echo", {}))["ok"]  # the address's third
            wait = assert_rate_limited(await second.sio.call("probe.echo", {}), 20_000)
            assert refused_count(server, "probe.echo-ip") == 1
            assert len(ran) == 3
            assert wait <= 20_000
            # The refused one had passed the socket's limit, so its socket waits for that too.
            clock.advance(30_000)
            assert (await second.sio.call("probe.echo", {}))["ok"]
            assert len(ran) == 4


# -- per address -------------------------------------------------------------------


async def test_the_address_limit_counts_every_socket_from_it(tmp_path: Path) -> None:
    async with limited_server(
        tmp_path,
        socket_subscribe_ip_burst=3,
        socket_subscribe_ip_window_seconds=WINDOW,
        socket_hint_ip_burst=2,
        socket_hint_ip_window_seconds=WINDOW,
    ) as server:
        clock = frozen(server)
        org_id, (ada, bo) = await quick_team(server, ["Owner", "Member"])
        pid = (await make_project(ada, org_id))["id"]
        tid = (await make_task(ada, pid))["id"]
        room = f"project:{pid}"
        async with listening(ada, room) as adas, listening(bo) as bos:
            # One subscribe from ada's socket, one now from bo's: the address's third is the last.
            assert (await bos.subscribe(room))["ok"]
            assert (await adas.subscribe(f"org:{org_id}"))["ok"]
            wait = assert_rate_limited(await bos.subscribe(f"org:{org_id}"), 20_000)
            assert_rate_limited(await adas.subscribe(f"org:{org_id}"), 20_000)
            assert refused_count(server, "subscribe-ip") == 2
            typing = {"projectId": pid, "taskId": tid, "typing": False}
            assert (await adas.sio.call("kanban.typing", typing))["ok"]
            assert (await bos.sio.call("kanban.typing", typing))["ok"]
            hint_wait = assert_rate_limited(await adas.sio.call("kanban.typing", typing), 30_000)
            # Each event has a bucket of its own at the address too.
            lock = {"projectId": pid, "taskId": tid, "locked": True}
            assert (await adas.sio.call("kanban.lock", lock))["ok"]
            clock.advance(max(wait, hint_wait))
            assert (await bos.subscribe(f"org:{org_id}"))["ok"]
            assert (await adas.sio.call("kanban.typing", typing))["ok"]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_the_limits_hold_across_two_instances_sharing_redis(
    database_url: str, tmp_path: Path, redis_url: str
) -> None:
    shared = {
        "redis_url": redis_url,
        "redis_prefix": f"{REDIS_PREFIX}:{uuid.uuid4().hex[:8]}",
        "socket_subscribe_ip_burst": 3,
        "socket_subscribe_ip_window_seconds": WINDOW,
        "socket_unsubscribe_burst": 2,
        "socket_unsubscribe_window_seconds": WINDOW,
        "socket_connect_ip_burst": 4,
        "socket_connect_ip_window_seconds": WINDOW,
        **NO_CONNECT_EXEMPTION,
    }
    async with (
        start_server(database_url, tmp_path, instance_id="a", **shared) as a,
        start_server(database_url, tmp_path, instance_id="b", **shared) as b,
    ):
        clock = frozen(a, b)
        org_id, (ada,) = await quick_team(a, ["Owner"])
        room = f"org:{org_id}"
        ada_b = on(ada, b)
        async with listening(ada, room) as on_a, listening(ada_b, room) as on_b:
            assert (await on_b.subscribe(room))["ok"]  # the address's third, over both instances
            wait = assert_rate_limited(await on_a.subscribe(room), 20_000)
            assert_rate_limited(await on_b.subscribe(room), 20_000)
            # Two connects so far (one on each); two more, then the address's connects are spent.
            assert await connect_outcome(a, {"token": await ada.socket_token()}) == "connected"
            assert await connect_outcome(b, {"token": await ada.socket_token()}) == "connected"
            refusal = connect_refusal(await connect_outcome(a, {"token": await ada.socket_token()}))
            connect_refusal(await connect_outcome(b, {"token": await ada.socket_token()}))
            # A socket's own limit is kept where the socket lives, and counted there.
            leave = {"room": "org:none"}
            assert [(await on_b.sio.call("unsubscribe", leave))["ok"] for _ in range(2)] == [
                True,
                True,
            ]
            socket_wait = assert_rate_limited(await on_b.sio.call("unsubscribe", leave), 30_000)
            assert refused_count(b, "unsubscribe-socket") == 1
            assert refused_count(a, "unsubscribe-socket") == 0
            assert (await on_a.sio.call("unsubscribe", leave))["ok"]
            clock.advance(max(wait, refusal["retryAfterMs"], socket_wait))
            assert (await on_a.subscribe(room))["ok"]
            assert (await on_b.sio.call("unsubscribe", leave))["ok"]
            assert await connect_outcome(b, {"token": await ada.socket_token()}) == "connected"


# -- connects ------------------------------------------------------------------------


async def test_connects_past_the_address_limit_are_refused_and_the_client_retries_in(
    tmp_path: Path,
) -> None:
    async with limited_server(
        tmp_path,
        socket_connect_ip_burst=2,
        socket_connect_ip_window_seconds=WINDOW,
        **NO_CONNECT_EXEMPTION,
    ) as server:
        clock = frozen(server)
        _, (ada,) = await quick_team(server, ["Owner"])
        client = Reconnecting(server, ada)
        try:
            await client.connect()  # the first of two
            assert await connect_outcome(server, {"token": await ada.socket_token()}) == "connected"
            refused = await connect_outcome(server, {"token": await ada.socket_token()})
            wait = connect_refusal(refused)["retryAfterMs"]
            assert 25_000 < wait <= 30_000, refused
            assert refused_count(server, "socket-connect-ip") == 1
            failures = server.runtime.metrics.registry.get_sample_value(
                "tandem_connects_refused_total", {"reason": "rate_limited"}
            )
            assert failures == 1  # the operator's connection failures, by reason
            # Its connection drops: Socket.IO's reconnection tries again, and is refused cleanly.
            await client.lose_connection()
            await eventually(lambda: len(client.refusals) >= 2, timeout=30)
            for refusal in client.refusals:
                connect_refusal(refusal)
            assert client.connects == 1 and not client.sio.connected
            clock.advance(wait)
            await eventually(lambda: client.sio.connected, timeout=30)
            assert client.connects == 2
            assert (await client.sio.call("unsubscribe", {"room": "org:none"}, timeout=10))["ok"]
        finally:
            await client.close()
        # A wrong token is still `unauthorized`, not counted as a limit.
        clock.advance(wait)
        assert (await connect_outcome(server, {"token": "nope"}))["message"] == "unauthorized"


async def test_loopback_connects_are_not_counted_by_default(sqlite_server: Server) -> None:
    assert sqlite_server.settings.socket_connect_ip_exempt == ["127.0.0.0/8", "::1"]
    _, (ada,) = await quick_team(sqlite_server, ["Owner"])
    sqlite_server.runtime.settings.socket_connect_ip_burst = 1
    for _ in range(3):
        assert await connect_outcome(sqlite_server, {"token": await ada.socket_token()}) == (
            "connected"
        )
    assert refused_count(sqlite_server, "socket-connect-ip") == 0


# -- shedding --------------------------------------------------------------------------


class HeldHandshakes:
    """Holds the token check of the next handshake until released: one handshake in progress."""

    def __init__(self, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
        self.server = server
        self.release = asyncio.Event()
        self.holding = False
        real = server.runtime.socket_identity

        async def held(token: object, client: str | None = None) -> Any:
            if not self.holding and not self.release.is_set():
                self.holding = True
                await self.release.wait()
            return await real(token, client)

        monkeypatch.setattr(server.runtime, "socket_identity", held)


def shed_count(server: Server) -> float:
    value = server.runtime.metrics.registry.get_sample_value("tandem_connects_shed_total")
    return value or 0.0


async def test_connects_past_the_handshake_cap_are_shed_cleanly_and_get_in_on_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with limited_server(tmp_path, socket_max_handshakes=1) as server:
        _, (ada, bo) = await quick_team(server, ["Owner", "Member"])
        tokens = [await bo.socket_token() for _ in range(10)]
        client = Reconnecting(server, ada)
        await client.connect()
        try:
            hold = HeldHandshakes(server, monkeypatch)
            held = socketio.AsyncClient(reconnection=False)
            first = asyncio.create_task(
                held.connect(
                    server.url, auth={"token": tokens[0]}, transports=["websocket"], wait_timeout=60
                )
            )
            await eventually(lambda: server.runtime.gateway.handshaking == 1, timeout=10)
            # While one handshake is checked, every other connect is refused at once.
            storm = await asyncio.gather(
                *(connect_outcome(server, {"token": token}) for token in tokens[1:])
            )
            low, high = (round(s * 1000) for s in SHED_RETRY_SECONDS)
            for refused in storm:
                assert low <= connect_refusal(refused)["retryAfterMs"] <= high, refused
            assert shed_count(server) == len(storm)
            # A client that loses its connection meanwhile is shed too, and keeps retrying.
            await client.lose_connection()
            await eventually(lambda: len(client.refusals) >= 1, timeout=30)
            connect_refusal(client.refusals[0])
            hold.release.set()
            await first
            assert held.connected
            await held.disconnect()
            await eventually(lambda: client.sio.connected, timeout=30)
            # Each comes back on its own backoff: one at a time here (the storm test: all at once).
            retried = [await connect_outcome(server, {"token": token}) for token in tokens[1:]]
            assert retried == ["connected"] * len(retried)
            assert server.runtime.gateway.handshaking == 0
        finally:
            await client.close()


async def test_a_reconnect_storm_gets_in_with_retries_and_never_times_out(
    tmp_path: Path,
) -> None:
    async with limited_server(tmp_path, socket_max_handshakes=1) as server:
        people = [(await quick_team(server, ["Owner"]))[1][0] for _ in range(3)]

        async def until_in(person: Person) -> list[Any]:
            """Connect as a client's retry loop does; returns the refusals on the way."""
            refusals: list[Any] = []
            for _ in range(200):
                listener = Listener(server, await person.socket_token())
                errors: list[Any] = []
                listener.sio.on(
                    "connect_error", lambda data=None, errors=errors: errors.append(data)
                )
                try:
                    await listener.connect()
                except socketio.exceptions.ConnectionError:
                    assert errors, "refused without a connect_error"
                    refusals.append(connect_refusal(errors[0]))
                    await asyncio.sleep(refusals[-1]["retryAfterMs"] / 1000)
                    continue
                await listener.close()
                return refusals
            raise AssertionError("never got in")

        outcomes = await asyncio.gather(*(until_in(people[i % 3]) for i in range(24)))
        shed = sum(len(refusals) for refusals in outcomes)
        assert shed_count(server) == shed
        assert server.runtime.gateway.handshaking == 0
