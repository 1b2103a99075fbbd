"""The fan-out fast path (accel/frame_fanout.py) as the official socket.io-client sees it.

Broadcasts are written as one shared WebSocket frame per socket, corked per event-loop
iteration; packets that must go through engine.io's queue (an emit with an ack callback,
a socket on the polling transport, a socket whose writer is busy) keep their order with
the frames around them. Each test drives real servers and real clients and checks that
every client received every event, once, in order.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Self

import pytest
import uvicorn

from tandem import accel
from tandem.accel.direct_frames import text_frame
from tandem.accel.frame_fanout import FrameFanout
from tandem.accel.uvicorn_wsproto import uvicorn_ws
from tandem.app import create_app
from tandem.config import Settings
from tests.harness import Listener, Server, free_port, fresh_database_url, quick_team

# What these tests look at is the accelerator itself; with TANDEM_ACCEL=off the stock path runs instead
# (tests/accel/test_switches.py, test_websocket_closes_with_the_session.py and tests/realtime cover it).
pytestmark = pytest.mark.skipif(
    accel.switched_off(), reason="accelerators are off (TANDEM_ACCEL=off)"
)

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
EVENT = "kanban.task.moved"

CLIENTS_JS = r"""
const { io } = require(process.argv[1]);
const cfg = JSON.parse(process.argv[2]);
const got = cfg.tokens.map(() => []);
let done = 0;
const sockets = cfg.tokens.map((token, i) => {
  const s = io(cfg.url, { transports: cfg.transports, auth: { token }, forceNew: true, reconnection: false });
  s.on(cfg.event, (env) => {
    got[i].push(env.seq);
    if (got[i].length === (Array.isArray(cfg.expect) ? cfg.expect[i] : cfg.expect)) done++;
    if (done === sockets.length) finish();
  });
  return s;
});
function finish() {
  for (const s of sockets) s.close();
  // exit only once the pipe took the whole line: a pipe write past 64 KiB is asynchronous
  process.stdout.write(JSON.stringify({ got, ids: sockets.map((s) => s.id) }) + "\n", () => process.exit(0));
}
Promise.all(sockets.map((s) => new Promise((ok, fail) => {
  s.once("connect", ok);
  s.once("connect_error", fail);
})))
  .then(() => Promise.all(sockets.map((s) => s.timeout(10000).emitWithAck("subscribe", { room: cfg.room }))))
  .then((acks) => {
    if (!acks.every((a) => a && a.ok)) throw new Error("subscribe: " + JSON.stringify(acks));
    console.log(JSON.stringify({ ready: sockets.map((s) => s.id) }));
  })
  .catch((err) => { console.error(String(err)); process.exit(1); });
setTimeout(finish, cfg.timeoutMs);
"""


def client_module() -> str:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    module = BENCH / "node_modules" / "socket.io-client"
    if not module.exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(BENCH)],
            check=True,
            capture_output=True,
        )
    return str(module)


class OfficialClients:
    """N official socket.io-client connections in one Node process, subscribed to a room."""

    def __init__(
        self,
        server: Server,
        tokens: list[str],
        room: str,
        expect: int | list[int],
        transports: tuple[str, ...] = ("websocket",),
    ) -> None:
        self.cfg = {
            "url": server.url,
            "tokens": tokens,
            "room": room,
            "expect": expect,
            "event": EVENT,
            "transports": list(transports),
            "timeoutMs": 20000,
        }
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Self:
        self.proc = await asyncio.create_subprocess_exec(
            "node",
            "-e",
            CLIENTS_JS,
            "--",
            client_module(),
            json.dumps(self.cfg),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=2**24,
        )
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        if not line:
            raise AssertionError((await self.proc.stderr.read()).decode())
        self.ids = json.loads(line)["ready"]
        return self

    async def received(self) -> list[list[int]]:
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        await self.proc.wait()
        return json.loads(line)["got"]

    async def __aexit__(self, *exc: object) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def env(room: str, seq: int) -> dict[str, Any]:
    return {
        "event": EVENT,
        "version": 1,
        "seq": seq,
        "room": room,
        "data": {
            "projectId": "p_1",
            "taskId": f"t_{seq}",
            "toColumn": "Review",
            "text": "é ☃ " * (seq % 50),
        },
        "meta": {
            "emittedAt": "2026-11-26T12:00:00.000Z",
            "producer": "server",
            "traceId": "t",
            "actorId": None,
        },
    }


async def team_tokens(server: Server, n: int) -> tuple[str, list[str]]:
    org_id, people = await quick_team(server, ["Owner"] + ["Member"] * (n - 1))
    return f"org:{org_id}", [await p.socket_token() for p in people]


def count_flushes(manager: FrameFanout) -> list[int]:
    flushes = [0]
    flush = manager._flush

    def counted() -> None:
        flushes[0] += 1
        flush()

    manager._flush = counted  # type: ignore[method-assign]
    return flushes


@pytest.fixture(params=["websockets", "websockets-sansio", "wsproto-stock", "wsproto"])
async def ws_server(request: pytest.FixtureRequest, tmp_path: Path):
    """A server on each of uvicorn's websocket implementations (the harness uses `websockets`),
    and on Tandem's own wsproto connection that `tandem serve` uses (accel/uvicorn_wsproto.py)."""
    async with fresh_database_url("sqlite", tmp_path, "") as url:
        port = free_port()
        settings = Settings(
            database_url=url,
            data_dir=tmp_path,
            port=port,
            secret_key="test-secret-key-" + "x" * 32,
            serve_web=False,
            json_logs=False,
        )
        app = create_app(settings)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="on",
                ws=uvicorn_ws(request.param),
                ws_per_message_deflate=False,
                ws_ping_interval=None,
            )
        )
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        try:
            yield Server(app, port, settings, server, task)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 15)


async def test_the_manager_uses_the_fast_path():
    from tandem.realtime.delivery import TandemManager, TandemRedisManager

    assert issubclass(TandemManager, FrameFanout)
    assert issubclass(TandemRedisManager, FrameFanout)


async def test_a_burst_reaches_every_official_client_once_and_in_order(sqlite_server):
    room, tokens = await team_tokens(sqlite_server, 6)
    manager = sqlite_server.runtime.gateway.manager
    flushes = count_flushes(manager)
    n = 3000  # past CORK_LIMIT frames, so the emitter yields mid-burst
    async with OfficialClients(sqlite_server, tokens, room, expect=n) as clients:
        for seq in range(1, n + 1):
            await sqlite_server.runtime.gateway.publish(EVENT, env(room, seq), room)
        got = await clients.received()
    assert got == [list(range(1, n + 1))] * len(tokens)
    assert 0 < flushes[0] < n  # frames were written directly, and corked


async def test_a_lone_broadcast_goes_out_at_once_and_a_burst_is_joined(sqlite_server):
    """Latency: out of a burst, the first broadcast of an event-loop pass is written while its
    recipients are found; throughput: the pass's later broadcasts, and every broadcast of a burst's
    next passes, wait for the pass's end and go out as one write per socket."""
    room, tokens = await team_tokens(sqlite_server, 3)
    manager = sqlite_server.runtime.gateway.manager

    def held() -> list[int]:
        return sorted(len(frames) for frames in manager._corked.values())

    async def next_pass() -> None:
        await asyncio.sleep(0.05)

    async with OfficialClients(sqlite_server, tokens, room, expect=7) as clients:
        await next_pass()
        await manager.emit(EVENT, env(room, 1), "/", room=room)
        assert held() == []  # already written, nothing held
        await manager.emit(EVENT, env(room, 2), "/", room=room)
        await manager.emit(EVENT, env(room, 3), "/", room=room)
        assert held() == [2, 2, 2]  # joined per socket
        await next_pass()
        assert held() == []  # the pass ended: flushed
        await manager.emit(
            EVENT, env(room, 4), "/", room=room
        )  # still a burst: corked from the first
        await manager.emit(EVENT, env(room, 5), "/", room=room)
        assert held() == [2, 2, 2]
        await next_pass()
        await manager.emit(EVENT, env(room, 6), "/", room=room)
        assert held() == [1, 1, 1]  # the pass before had two broadcasts
        await next_pass()
        await manager.emit(EVENT, env(room, 7), "/", room=room)
        assert held() == []  # after a pass of one, a lone broadcast goes out at once again
        got = await clients.received()
    assert got == [[1, 2, 3, 4, 5, 6, 7]] * 3


async def test_a_batch_of_several_goes_out_as_one_write_per_socket(sqlite_server):
    """The dispatcher publishes a batch with emit_many: out of a burst, its first broadcast is
    joined with the rest instead of going out alone (two writes per socket); one broadcast alone
    still goes out at once."""
    room, tokens = await team_tokens(sqlite_server, 3)
    manager = sqlite_server.runtime.gateway.manager

    def held() -> list[int]:
        return sorted(len(frames) for frames in manager._corked.values())

    async with OfficialClients(sqlite_server, tokens, room, expect=5) as clients:
        await asyncio.sleep(0.05)
        emitted = asyncio.create_task(
            manager.emit_many([(EVENT, env(room, s), room) for s in (1, 2, 3)])
        )
        await asyncio.sleep(0)  # the task runs its emits in this pass; the flush comes after
        assert held() == [3, 3, 3]
        await emitted
        await asyncio.sleep(0.05)
        await manager.emit_many([(EVENT, env(room, 4), room)])
        assert held() == [1, 1, 1]  # the pass before had several broadcasts
        await asyncio.sleep(0.05)
        await manager.emit_many([(EVENT, env(room, 5), room)])
        assert held() == []  # out of a burst, a batch of one goes out at once
        got = await clients.received()
    assert got == [[1, 2, 3, 4, 5]] * 3


async def test_every_uvicorn_websocket_implementation_takes_the_fast_path(ws_server):
    room, tokens = await team_tokens(ws_server, 3)
    flushes = count_flushes(ws_server.runtime.gateway.manager)
    async with OfficialClients(ws_server, tokens, room, expect=500) as clients:
        for seq in range(1, 501):
            await ws_server.runtime.gateway.publish(EVENT, env(room, seq), room)
            if seq % 50 == 0:
                await asyncio.sleep(0.01)
        got = await clients.received()
    assert got == [list(range(1, 501))] * 3
    assert flushes[0] > 0


async def test_queued_packets_and_direct_frames_keep_their_order(sqlite_server):
    """An emit with an ack callback goes through engine.io's queue; broadcasts right after it
    must not overtake it on that socket, nor anything still in its queue."""
    room, tokens = await team_tokens(sqlite_server, 3)
    sio = sqlite_server.runtime.sio
    everyone = [s for s in range(1, 301) if s % 10 and s % 25]
    async with OfficialClients(
        sqlite_server, tokens, room, expect=[len(everyone), 300, len(everyone)]
    ) as clients:
        target = clients.ids[1]
        for seq in range(1, 301):
            if (
                seq % 25 == 0
            ):  # to one socket, through the queue (a callback forces the library's path)
                await sio.emit(EVENT, env(room, seq), to=target, callback=lambda *a: None)
            elif seq % 10 == 0:  # to one socket, no callback: the fast path with a single recipient
                await sio.emit(EVENT, env(room, seq), to=target)
            else:
                await sio.emit(EVENT, env(room, seq), room=room)
            if seq % 7 == 0:
                await asyncio.sleep(0)
        got = await clients.received()
    assert got[0] == everyone
    assert got[1] == list(range(1, 301))
    assert got[2] == everyone


async def test_the_writer_sends_queued_text_as_frames_and_binary_through_the_library(
    sqlite_server,
):
    """What goes through a socket's queue (acks, a connect's answer, emits with a callback) is
    written by its writer as frames, several in one write; a binary packet goes through the
    library's send, in its place, and so does a broadcast that holds bytes."""
    room, tokens = await team_tokens(sqlite_server, 1)
    sio = sqlite_server.runtime.sio
    manager = sqlite_server.runtime.gateway.manager
    outcomes: list[bool] = []
    write_queued = manager.write_queued

    def recorded(socket: Any) -> bool:
        outcomes.append(write_queued(socket))
        return outcomes[-1]

    manager.write_queued = recorded  # type: ignore[method-assign]
    async with OfficialClients(sqlite_server, tokens, room, expect=60) as clients:
        target = clients.ids[0]
        for seq in range(1, 61):
            data = env(room, seq)
            if seq % 10 == 0:
                data["data"]["blob"] = b"\x00\xff"  # a binary attachment: two engine.io packets
            if seq % 20 == 10:  # a broadcast with one: the fan-out leaves it to the library too
                await sio.emit(EVENT, data, room=room)
            else:
                await sio.emit(EVENT, data, to=target, callback=lambda *a: None)
            if seq % 6 == 0:
                await asyncio.sleep(0.01)
        got = await clients.received()
    assert got[0] == list(range(1, 61))
    assert True in outcomes and False in outcomes


async def test_polling_clients_get_the_same_events_through_the_queue(sqlite_server):
    room, tokens = await team_tokens(sqlite_server, 4)
    async with (
        OfficialClients(
            sqlite_server, tokens[:2], room, expect=200, transports=("polling",)
        ) as polling,
        OfficialClients(sqlite_server, tokens[2:], room, expect=200) as ws,
    ):
        for seq in range(1, 201):
            await sqlite_server.runtime.gateway.publish(EVENT, env(room, seq), room)
        assert await polling.received() == [list(range(1, 201))] * 2
        assert await ws.received() == [list(range(1, 201))] * 2


async def test_skip_sid_and_closed_sockets_are_left_out(sqlite_server):
    room, tokens = await team_tokens(sqlite_server, 3)
    sio = sqlite_server.runtime.sio
    async with OfficialClients(sqlite_server, tokens, room, expect=50) as clients:
        skipped = clients.ids[0]
        for seq in range(1, 51):
            await sio.emit(EVENT, env(room, seq), room=room, skip_sid=skipped)
        for seq in range(1, 51):
            await sio.emit(EVENT, env(room, seq), to=skipped)
        got = await clients.received()
    assert got == [list(range(1, 51))] * 3


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_text_frame_lengths(size):
    payload = b"x" * size
    frame = text_frame(payload)
    assert frame[0] == 0x81  # FIN, text
    assert not frame[1] & 0x80  # a server never masks
    if size < 126:
        assert frame[1] == size and frame[2:] == payload
    elif size < 65536:
        assert (
            frame[1] == 126 and int.from_bytes(frame[2:4], "big") == size and frame[4:] == payload
        )
    else:
        assert (
            frame[1] == 127 and int.from_bytes(frame[2:10], "big") == size and frame[10:] == payload
        )


async def test_the_open_check_follows_each_connection(ws_server):
    """The fast path writes to a socket only while its check says the connection is open and
    writable: on every implementation, the check follows flow control and the closing handshake."""
    from tandem.accel.direct_frames import is_open_check

    _, people = await quick_team(ws_server, ["Owner"])
    listener = await Listener(ws_server, await people[0].socket_token()).connect()
    eio = ws_server.runtime.sio.eio
    (eio_sid,) = eio.sockets
    protocol = ws_server.runtime.sio.environ[eio_sid]["asgi.send"].__self__
    is_open = is_open_check(protocol)
    assert is_open is not None and is_open()
    writable = getattr(protocol, "writable", None)
    if writable is not None:  # uvicorn's sans-io implementations pause writes with it
        writable.clear()
        assert not is_open()
        writable.set()
        assert is_open()
    await listener.close()
    for _ in range(100):
        if not is_open():
            break
        await asyncio.sleep(0.02)
    assert not is_open()
