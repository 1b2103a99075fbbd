"""ClockedSocket and PacketQueue (accel/engineio_socket.py): engine.io sockets without the idle tasks.

The queue is checked on its own; the socket with real servers and the official
socket.io-client (websocket, polling, polling upgraded to websocket), and with python-socketio's
client through the harness: pings keep flowing, on one clock for every socket, at each socket's
interval; a client that stops answering is timed out; a server-side disconnect closes the client; an
idle socket holds no writer task, its connection no instance dict, and the environ is trimmed once
the connect handler ran.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from types import SimpleNamespace

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tandem import accel
from tandem.accel import engineio_socket
from tandem.accel.engineio_socket import KEPT_ENVIRON, ClockedSocket, PacketQueue, SocketClock
from tandem.accel.uvicorn_wsproto import DetachableWSProtocol, Flag
from tests.accel.test_frame_fanout import EVENT, OfficialClients, env, team_tokens
from tests.harness import Listener, eventually, quick_team

# What these tests look at is the accelerator itself; with TANDEM_ACCEL=off the stock path runs instead
# (tests/accel/test_switches.py, test_websocket_closes_with_the_session.py and tests/realtime cover it).
pytestmark = pytest.mark.skipif(
    accel.switched_off(), reason="accelerators are off (TANDEM_ACCEL=off)"
)

# -- the queue ------------------------------------------------------------------


async def test_the_queue_hands_out_packets_in_order_and_wakes_a_waiting_getter():
    q = PacketQueue()
    waiting = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    q.put_nowait("a")
    await q.put("b")
    assert await waiting == "a"
    assert q.get_nowait() == "b"
    assert q.empty() and q.qsize() == 0
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()


async def test_join_waits_until_every_packet_is_done():
    q = PacketQueue()
    q.put_nowait(1)
    q.put_nowait(2)
    joined = asyncio.ensure_future(q.join())
    q.get_nowait()
    q.task_done()
    await asyncio.sleep(0)
    assert not joined.done()
    q.get_nowait()
    q.task_done()
    await asyncio.wait_for(joined, 1)
    with pytest.raises(ValueError):
        q.task_done()
    await q.join()  # nothing unfinished: returns at once


async def test_a_cancelled_getter_does_not_swallow_a_packet():
    q = PacketQueue()
    first = asyncio.ensure_future(q.get())
    second = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    q.put_nowait("x")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs: `second` must get the packet
    assert await asyncio.wait_for(second, 1) == "x"


async def test_on_put_is_called_after_each_put():
    q = PacketQueue()
    seen: list[int] = []
    q.on_put = lambda: seen.append(q.qsize())
    q.put_nowait("a")
    q.put_nowait("b")
    assert seen == [1, 2]


async def test_taking_over_an_asyncio_queue_keeps_its_packets_and_their_count():
    old: asyncio.Queue = asyncio.Queue()
    await old.put("open")
    await old.put("ping")
    q = PacketQueue.taking_over(old)
    assert [q.get_nowait(), q.get_nowait()] == ["open", "ping"]
    q.task_done()
    q.task_done()
    await asyncio.wait_for(q.join(), 1)


async def test_the_flag_wakes_its_waiters_when_set():
    flag = Flag()
    assert flag.is_set() and await flag.wait()
    flag.clear()
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True, True]


# -- the socket, with real servers and clients -------------------------------------


def clocked_sockets(server) -> list[ClockedSocket]:
    return list(server.runtime.sio.eio.sockets.values())


def engineio_tasks() -> list[asyncio.Task]:
    """Per-connection tasks running engine.io's or engineio_socket.py's code (not the ASGI server's own tasks,
    nor engine.io's one service task per server)."""

    def where(task: asyncio.Task) -> str:
        code = getattr(task.get_coro(), "cr_code", None)
        return code.co_filename if code else ""

    return [
        t
        for t in asyncio.all_tasks()
        if ("/engineio/" in where(t) or where(t).endswith("/tandem/accel/engineio_socket.py"))
        and t.get_coro().__qualname__ != "AsyncServer._service_task"
    ]


async def test_official_clients_get_clocked_sockets_with_no_idle_task_and_a_trimmed_environ(
    sqlite_server,
):
    room, tokens = await team_tokens(sqlite_server, 3)
    sio = sqlite_server.runtime.sio
    async with OfficialClients(sqlite_server, tokens, room, expect=20) as clients:
        sockets = clocked_sockets(sqlite_server)
        assert len(sockets) == 3 and all(type(s) is ClockedSocket for s in sockets)
        await eventually(lambda: all(s.queue.idle and s._writer is None for s in sockets))
        # no writer, receive or ping task: the ASGI server's task reads the connection
        assert engineio_tasks() == []
        for s in sockets:
            environ = sio.environ[s.sid]
            assert set(environ) <= KEPT_ENVIRON
            assert "asgi.send" in environ and "wsgi.input" not in environ
        for seq in range(1, 21):  # a broadcast still reaches every client, written directly
            await sqlite_server.runtime.gateway.publish(EVENT, env(room, seq), room)
        assert await clients.received() == [list(range(1, 21))] * 3


async def test_a_client_that_starts_on_polling_and_upgrades_gets_every_event(sqlite_server):
    room, tokens = await team_tokens(sqlite_server, 2)
    async with OfficialClients(
        sqlite_server, tokens, room, expect=100, transports=("polling", "websocket")
    ) as clients:
        await eventually(lambda: all(s.upgraded for s in clocked_sockets(sqlite_server)))
        for seq in range(1, 101):
            await sqlite_server.runtime.gateway.publish(EVENT, env(room, seq), room)
            if seq % 10 == 0:
                await asyncio.sleep(0.01)
        assert await clients.received() == [list(range(1, 101))] * 2
    await eventually(
        lambda: not sqlite_server.runtime.sio.eio.sockets
    )  # the detached upgrade cleans up too


def coroutine_chain(task: asyncio.Task) -> list[str]:
    """Where a suspended task waits: the qualified names and files of its coroutines, outermost first."""
    chain, coro = [], task.get_coro()
    while coro is not None and hasattr(coro, "cr_code"):
        chain.append(f"{coro.cr_code.co_filename}:{coro.__qualname__}")
        coro = coro.cr_await
    return chain


async def test_an_idle_connection_waits_outside_the_request_handling(sqlite_server):
    """DetachableWSProtocol's DETACH: once the websocket is accepted, engine.io's and Socket.IO's request
    handling and the middleware return; the connection's task reads from a shallow stack."""
    room, tokens = await team_tokens(sqlite_server, 2)
    async with OfficialClients(sqlite_server, tokens, room, expect=1) as clients:
        protocols = [
            p
            for p in sqlite_server._server.server_state.connections
            if isinstance(p, DetachableWSProtocol)
        ]
        tasks = [
            t
            for t in sqlite_server._server.server_state.tasks
            if t.get_coro().cr_frame.f_locals.get("self") in protocols
        ]
        assert len(tasks) == 2
        for task in tasks:
            chain = coroutine_chain(task)
            assert chain[0].endswith("DetachableWSProtocol.run_asgi")
            assert any(c.endswith("WebSocketTransport._websocket_handler") for c in chain)
            assert not any(
                "/engineio/" in c or "/socketio/" in c or "/middleware/" in c for c in chain
            ), chain
            assert len(chain) <= 6, chain
        await sqlite_server.runtime.gateway.publish(EVENT, env(room, 1), room)
        assert await clients.received() == [[1], [1]]
    await eventually(
        lambda: (
            not sqlite_server.runtime.sio.eio.sockets and not sqlite_server.runtime.gateway.sockets
        )
    )


async def test_pings_flow_on_the_timer_and_a_server_disconnect_closes_the_client(
    sqlite_server, monkeypatch
):
    pings: list[str] = []
    ping_due = ClockedSocket._ping_due

    def counted(self: ClockedSocket) -> None:
        pings.append(self.sid)
        ping_due(self)

    monkeypatch.setattr(ClockedSocket, "_ping_due", counted)
    eio = sqlite_server.runtime.sio.eio
    eio.ping_interval, eio.ping_timeout = 0.2, 0.5  # a client not pinged within 0.7 s gives up
    _, (person,) = await quick_team(sqlite_server, ["Owner"])
    listener = await Listener(sqlite_server, await person.socket_token()).connect()
    try:
        (socket,) = clocked_sockets(sqlite_server)
        await eventually(
            lambda: len(pings) >= 4
        )  # several ping/pong rounds, each past the client's patience
        assert listener.sio.connected and not socket.closed
        sid = next(iter(sqlite_server.runtime.gateway.sockets))
        await sqlite_server.runtime.sio.disconnect(sid)
        await eventually(lambda: not listener.sio.connected)
        await eventually(
            lambda: socket.closed and socket._writer is None and socket._ping_at is None
        )
    finally:
        await listener.close()


async def test_a_client_that_goes_away_leaves_nothing_behind(sqlite_server):
    room, tokens = await team_tokens(sqlite_server, 2)
    async with OfficialClients(sqlite_server, tokens, room, expect=1) as clients:
        sockets = clocked_sockets(sqlite_server)
        await sqlite_server.runtime.gateway.publish(EVENT, env(room, 1), room)
        assert await clients.received() == [[1], [1]]  # the clients close once they got it
    await eventually(lambda: not sqlite_server.runtime.sio.eio.sockets)
    await eventually(lambda: engineio_tasks() == [])
    assert all(
        s.closed and s._writer is None and s._ping_at is None and s._task is None for s in sockets
    )


def counting_pings(monkeypatch) -> dict[str, list[float]]:
    """The loop time of every ping the clock sends, by socket."""
    pings: dict[str, list[float]] = {}
    ping_due = ClockedSocket._ping_due

    def counted(self: ClockedSocket) -> None:
        pings.setdefault(self.sid, []).append(asyncio.get_running_loop().time())
        ping_due(self)

    monkeypatch.setattr(ClockedSocket, "_ping_due", counted)
    return pings


async def test_one_clock_pings_every_socket_at_its_interval(sqlite_server, monkeypatch):
    pings = counting_pings(monkeypatch)
    eio = sqlite_server.runtime.sio.eio
    # A generous timeout: on a loaded machine a 0.5 s one dropped a socket before the test looked.
    eio.ping_interval, eio.ping_timeout = 0.2, 3.0
    _, people = await quick_team(sqlite_server, ["Owner", "Member", "Member"])
    listeners = [await Listener(sqlite_server, await p.socket_token()).connect() for p in people]
    try:
        sockets = clocked_sockets(sqlite_server)
        assert len(sockets) == 3
        await eventually(lambda: all(len(pings.get(s.sid, ())) >= 4 for s in sockets))
        clock = eio._tandem_clock
        assert isinstance(clock, SocketClock)
        # a ping and a receive timeout per socket, on one heap under one loop timer
        assert clock.pending() <= 2 * len(sockets)
        for s in sockets:
            times = pings[s.sid]
            # each ping comes an interval after the previous one was answered, never sooner
            assert all(b - a >= eio.ping_interval - 0.002 for a, b in itertools.pairwise(times))
        assert all(listener.sio.connected for listener in listeners) and not any(
            s.closed for s in sockets
        )
    finally:
        for listener in listeners:
            await listener.close()
    await eventually(lambda: not eio.sockets)
    assert all(s._ping_at is None and s._task is None for s in sockets)


async def test_sockets_that_connect_together_do_not_ping_together(sqlite_server, monkeypatch):
    """Each socket's first ping comes ping_interval less a random share of up to half of it after its
    handshake (never later than the interval the client waits for), so clients that connected at once
    are pinged apart, and stay apart: every later ping comes an interval after the last answer."""
    pings = counting_pings(monkeypatch)
    draws = iter([0.0, 0.5, 0.999])  # the random share each socket draws, in connection order
    monkeypatch.setattr(engineio_socket, "random", SimpleNamespace(random=lambda: next(draws)))
    scheduled: dict[
        str, float
    ] = {}  # loop time of each socket's first schedule_ping (its handshake)
    schedule_ping = ClockedSocket.schedule_ping

    def recorded(self: ClockedSocket) -> None:
        scheduled.setdefault(self.sid, asyncio.get_running_loop().time())
        schedule_ping(self)

    monkeypatch.setattr(ClockedSocket, "schedule_ping", recorded)
    eio = sqlite_server.runtime.sio.eio
    eio.ping_interval, eio.ping_timeout = 0.6, 3.0
    _, people = await quick_team(sqlite_server, ["Owner", "Member", "Member"])
    listeners = [await Listener(sqlite_server, await p.socket_token()).connect() for p in people]
    try:
        sockets = sorted(clocked_sockets(sqlite_server), key=lambda s: scheduled[s.sid])
        assert len(sockets) == 3
        await eventually(lambda: all(len(pings.get(s.sid, ())) >= 2 for s in sockets))
        first = [pings[s.sid][0] - scheduled[s.sid] for s in sockets]
        for delay, share in zip(first, [0.0, 0.5, 0.999], strict=True):
            expected = eio.ping_interval * (1 - engineio_socket.FIRST_PING_SPREAD * share)
            assert expected - 0.002 <= delay <= expected + 0.1, (first, expected)
        assert first[0] - first[2] >= 0.25  # 0.6 s against 0.3 s after their handshakes
        for s in sockets:
            times = pings[s.sid]
            assert all(b - a >= eio.ping_interval - 0.002 for a, b in itertools.pairwise(times))
        assert all(listener.sio.connected for listener in listeners)
    finally:
        for listener in listeners:
            await listener.close()


async def test_a_client_that_stops_answering_pings_is_timed_out(sqlite_server, monkeypatch):
    """A raw engine.io client that connects, then never answers a ping: the server closes it once
    ping_interval + ping_timeout pass without a packet from it, as python-engineio does."""
    pings = counting_pings(monkeypatch)
    eio = sqlite_server.runtime.sio.eio
    eio.ping_interval, eio.ping_timeout = 0.2, 0.3
    _, (person,) = await quick_team(sqlite_server, ["Owner"])
    token = await person.socket_token()
    url = f"ws://127.0.0.1:{sqlite_server.port}/socket.io/?EIO=4&transport=websocket"
    received: list[str] = []
    async with ws_connect(url, ping_interval=None) as ws:
        assert (await ws.recv()).startswith("0")  # engine.io OPEN
        await ws.send("40" + json.dumps({"token": token}))
        assert (await ws.recv()).startswith("40")  # Socket.IO CONNECT accepted
        (socket,) = clocked_sockets(sqlite_server)
        assert sqlite_server.runtime.gateway.sockets
        with pytest.raises(ConnectionClosed):
            while True:
                received.append(await asyncio.wait_for(ws.recv(), 10))
    assert received and set(received) == {"2"}  # pinged, never answered, then closed by the server
    assert len(pings[socket.sid]) == 1  # no new ping without the previous one's pong
    await eventually(
        lambda: socket.closed and not eio.sockets and not sqlite_server.runtime.gateway.sockets
    )
    assert socket._task is None and socket._writer is None


async def test_a_talking_client_is_not_timed_out(sqlite_server):
    """Every packet received starts a new receive timeout: a client that answers pings stays."""
    eio = sqlite_server.runtime.sio.eio
    eio.ping_interval, eio.ping_timeout = 0.1, 0.1
    _, (person,) = await quick_team(sqlite_server, ["Owner"])
    token = await person.socket_token()
    url = f"ws://127.0.0.1:{sqlite_server.port}/socket.io/?EIO=4&transport=websocket"
    async with ws_connect(url, ping_interval=None) as ws:
        assert (await ws.recv()).startswith("0")
        await ws.send("40" + json.dumps({"token": token}))
        assert (await ws.recv()).startswith("40")
        for _ in range(8):  # 8 rounds of 0.1 s, well past one receive timeout of 0.2 s
            assert await asyncio.wait_for(ws.recv(), 10) == "2"
            await ws.send("3")
        (socket,) = clocked_sockets(sqlite_server)
        assert not socket.closed


async def test_an_open_connection_keeps_no_instance_dict_and_no_event_deque(sqlite_server):
    room, tokens = await team_tokens(sqlite_server, 2)
    async with OfficialClients(sqlite_server, tokens, room, expect=1) as clients:
        protocols = [
            p
            for p in sqlite_server._server.server_state.connections
            if isinstance(p, DetachableWSProtocol)
        ]
        assert len(protocols) == 2
        for p in protocols:
            assert vars(p) == {}  # every attribute uvicorn sets is one of the slots
            assert type(p.conn.connection._events) is not type(p.conn.handshake)
            assert not p.conn.connection._events and hasattr(p.conn.connection._events, "popleft")
        await sqlite_server.runtime.gateway.publish(EVENT, env(room, 1), room)
        assert await clients.received() == [[1], [1]]
