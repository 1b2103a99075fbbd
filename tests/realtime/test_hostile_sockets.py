"""Hostile and broken socket clients: every event is answered, floods are refused at once, binary
packets end the socket. Spoken as raw Engine.IO / Socket.IO over a WebSocket, as an attacker would,
on the accelerated engine.io sockets and on the stock ones (TANDEM_ACCEL=off)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from sqlalchemy import text
from tests.conftest import PG_URL
from tests.harness import (
    Server,
    free_port,
    fresh_database_url,
    open_socket,
    quick_team,
    start_server,
)
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tandem import accel


@pytest.fixture(params=["accelerated", "stock"])
async def served(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Server]:
    if request.param == "stock":
        monkeypatch.setenv(accel.ENV, "off")
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path) as server,
    ):
        yield server


async def acks(ws: ClientConnection, count: int, timeout: float = 20.0) -> dict[int, Any]:
    """The next `count` acks (id -> the ack's payload), skipping pings and events."""
    found: dict[int, Any] = {}
    async with asyncio.timeout(timeout):
        while len(found) < count:
            message = await ws.recv()
            if message == "2":
                await ws.send("3")
                continue
            if isinstance(message, str) and message.startswith("43"):
                body = message[2:]
                start = body.index("[")
                found[int(body[:start])] = json.loads(body[start:])[0]
    return found


async def ack(ws: ClientConnection, packet_id: int, event: str) -> Any:
    await ws.send(f"42{packet_id}{event}")
    return (await acks(ws, 1))[packet_id]


async def ended_by_server(ws: ClientConnection, within: float = 3.0) -> list[Any]:
    """What the server sent until it ended the session: closed the connection, or sent engine.io's
    CLOSE packet (the stock engine.io socket closes the connection itself only at its next receive
    timeout; the session is over at once). Fails if neither happened within `within` seconds."""
    received: list[Any] = []
    async with asyncio.timeout(within):
        try:
            while True:
                received.append(await ws.recv())
                if received[-1] == "1":
                    return received
        except ConnectionClosed:
            return received


def error_code(answer: Any) -> str:
    assert answer["ok"] is False, answer
    assert set(answer["error"]) >= {"code", "message"}, answer
    return answer["error"]["code"]


async def test_unknown_and_reserved_events_are_answered_invalid(served: Server) -> None:
    org_id, (owner,) = await quick_team(served, ["Owner"])
    ws = await open_socket(owner)
    for i, event in enumerate(
        ['["chat.message.shout",{"text":"hi"}]', '["kanban.nope",{}]', '["chat.typed"]'], 1
    ):
        answer = await ack(ws, i, event)
        assert error_code(answer) == "invalid"
        assert "unknown event" in answer["error"]["message"]
    # A known event with a payload it does not take is invalid too, and says what is wrong.
    answer = await ack(ws, 7, '["chat.message.send",{"text":"hi"}]')
    assert error_code(answer) == "invalid" and "conversationId" in answer["error"]["message"]
    # "disconnect" as an event must not run the server's disconnect handler (the socket would
    # then stay in its rooms unchecked); it is just another unknown event.
    assert error_code(await ack(ws, 4, '["disconnect"]')) == "invalid"
    assert error_code(await ack(ws, 5, "[42]")) == "invalid"
    answer = await ack(ws, 6, json.dumps(["subscribe", {"room": f"org:{org_id}"}]))
    assert answer["ok"] is True, answer
    await ws.close()


async def test_a_payload_nested_too_deep_is_answered_invalid(served: Server) -> None:
    org_id, (owner,) = await quick_team(served, ["Owner"])
    ws = await open_socket(owner)
    for depth in (1100, 5000):
        nested = "[" * depth + "]" * depth
        answer = await ack(ws, depth, f'["subscribe",{nested}]')
        assert error_code(answer) == "invalid"
    answer = await ack(ws, 7, "not json at all")
    assert error_code(answer) == "invalid"
    answer = await ack(ws, 8, json.dumps(["subscribe", {"room": f"org:{org_id}"}]))
    assert answer["ok"] is True, answer
    await ws.close()


async def test_a_failing_handler_is_answered_internal_and_logged_once(
    served: Server, caplog: pytest.LogCaptureFixture
) -> None:
    org_id, (owner,) = await quick_team(served, ["Owner"])
    async with served.runtime.db.unit_of_work() as session:
        await session.execute(text("DROP TABLE event_log"))  # every replay now fails
    ws = await open_socket(owner)
    subscribe = json.dumps(["subscribe", {"room": f"org:{org_id}", "after": 0}])
    with caplog.at_level(logging.ERROR, logger="tandem.gateway"):
        for i in range(1, 11):  # fewer than may be in flight at once
            await ws.send(f"42{i}{subscribe}")
        answers = await acks(ws, 10)
    assert [error_code(a) for a in answers.values()] == ["internal"] * 10
    failures = [r for r in caplog.records if r.getMessage() == "socket event failed"]
    assert len(failures) == 1  # one traceback, not one per failed event
    await ws.close()


async def test_a_flood_of_subscribes_is_answered_and_capped(served: Server) -> None:
    org_id, (owner, other) = await quick_team(served, ["Owner", "Member"])
    ws = await open_socket(owner)
    gate = served.runtime.gateway.inbound
    cap = served.settings.socket_max_in_flight
    subscribe = json.dumps(["subscribe", {"room": f"org:{org_id}"}])
    flood = 2000
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, sum(gate.in_flight.values()))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    sender = asyncio.ensure_future(
        asyncio.gather(*(ws.send(f"42{i}{subscribe}") for i in range(1, flood + 1)))
    )
    received = asyncio.create_task(acks(ws, flood, timeout=60))
    await asyncio.sleep(0.05)
    async with other.http() as http:
        started = time.monotonic()
        r = await http.get(f"/api/orgs/{org_id}/members")
        took = time.monotonic() - started
    assert r.status_code == 200, r.text
    assert took < 2.0, f"another person's request took {took:.2f} s during the flood"
    await sender
    answers = await received
    watcher.cancel()
    assert sorted(answers) == list(range(1, flood + 1))
    codes = {"ok" if a.get("ok") else error_code(a) for a in answers.values()}
    assert codes <= {"ok", "rate_limited"}, codes
    assert "rate_limited" in codes
    refused = [a for a in answers.values() if not a.get("ok")]
    assert all(a["error"]["retryAfterMs"] > 0 for a in refused)
    assert peak <= cap, f"{peak} handlers ran at once (cap {cap})"
    await ws.close()


async def test_a_socket_is_rate_limited_on_subscribes(tmp_path: Path) -> None:
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path, socket_subscribe_limit_per_minute=5) as server,
    ):
        org_id, (owner,) = await quick_team(server, ["Owner"])
        ws = await open_socket(owner)
        subscribe = json.dumps(["subscribe", {"room": f"org:{org_id}"}])
        answers = [await ack(ws, i, subscribe) for i in range(1, 8)]
        assert [a["ok"] for a in answers] == [True] * 5 + [False] * 2
        assert error_code(answers[-1]) == "rate_limited"
        assert answers[-1]["error"]["retryAfterMs"] > 0
        await ws.close()


@pytest.mark.parametrize(
    "first",
    [
        '451-["subscribe",{"_placeholder":true,"num":0}]',
        '459999999999-["subscribe",{"_placeholder":true,"num":0}]',
        '461-0[{"_placeholder":true,"num":0}]',
    ],
)
async def test_a_binary_packet_closes_the_socket_with_a_reason(served: Server, first: str) -> None:
    _, (owner,) = await quick_team(served, ["Owner"])
    ws = await open_socket(owner)
    await ws.send(first)
    chunk = b"\0" * 65_000
    for _ in range(20):
        try:
            await ws.send(chunk)
        except ConnectionClosed:
            break
    received = await ended_by_server(ws)
    notices = [m for m in received if isinstance(m, str) and m.startswith("44")]
    assert notices and "binary" in json.loads(notices[0][2:])["message"], received
    assert served.runtime.gateway.sockets == {}


async def test_a_binary_frame_alone_closes_the_socket(served: Server) -> None:
    _, (owner,) = await quick_team(served, ["Owner"])
    ws = await open_socket(owner)
    await ws.send(b"\x01\x02")
    received = await ended_by_server(ws)
    assert any(isinstance(m, str) and m.startswith("44") for m in received), received


async def polling_session(http: aiohttp.ClientSession, base: str) -> str:
    async with http.get(base + "&transport=polling") as response:
        body = await response.text()
    assert body.startswith("0"), body
    return json.loads(body[1:])["sid"]


async def test_an_oversized_polling_body_is_refused_at_once(served: Server) -> None:
    base = f"{served.url}/socket.io/?EIO=4"
    limit = served.settings.max_socket_payload
    async with aiohttp.ClientSession() as http:
        sid = await polling_session(http, base)
        post = f"{base}&transport=polling&sid={sid}"

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(limit // 8192 + 2):
                yield b"4" * 8192

        for body in (b"4" + b"x" * (limit + 1), chunked()):
            started = time.monotonic()
            async with http.post(post, data=body, timeout=aiohttp.ClientTimeout(total=5)) as r:
                assert r.status == 413
                assert (await r.json())["error"]["code"] == "too_large"
            assert time.monotonic() - started < 1.0
    # The server still stops promptly (the refused body left nothing waiting).
    started = time.monotonic()
    await served.stop()
    assert time.monotonic() - started < 5.0


async def test_a_polling_client_within_the_limits_still_works(served: Server) -> None:
    org_id, (owner,) = await quick_team(served, ["Owner"])
    token = await owner.socket_token()
    base = f"{served.url}/socket.io/?EIO=4"
    async with aiohttp.ClientSession() as http:
        sid = await polling_session(http, base)
        post = f"{base}&transport=polling&sid={sid}"
        async with http.post(post, data="40" + json.dumps({"token": token})) as r:
            assert r.status == 200
        async with http.get(post) as r:
            assert (await r.text()).startswith("40")
        room = f"org:{org_id}"
        async with http.post(post, data="421" + json.dumps(["subscribe", {"room": room}])) as r:
            assert r.status == 200
        async with http.get(post) as r:
            answer = json.loads((await r.text())[3:])[0]
        assert answer["ok"] is True, answer


@pytest.fixture
def tandem_serve(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen]]:
    """`tandem serve` as deployed, on a free port, with an empty data directory."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("TANDEM_") or k == "TANDEM_ACCEL"
    }
    env.update(TANDEM_DATA_DIR=str(tmp_path), TANDEM_LOG_LEVEL="warning")
    subprocess.run(
        [sys.executable, "-m", "tandem.cli", "migrate"], env=env, check=True, capture_output=True
    )
    port = free_port()
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandem.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "tandem serve did not start"
            time.sleep(0.1)
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.parametrize("accelerators", ["on", "off"])
async def test_tandem_serve_refuses_big_frames_and_bodies_and_still_stops(
    accelerators: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.setenv(accel.ENV, accelerators)
    port, proc = request.getfixturevalue("tandem_serve")
    url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
    async with ws_connect(url, ping_interval=None, max_size=None) as ws:
        assert (await ws.recv()).startswith("0")  # no sign-in needed to send a frame
        await ws.send("4" + "x" * (1024 * 1024))
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(3):
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    base = f"http://127.0.0.1:{port}/socket.io/?EIO=4"
    async with aiohttp.ClientSession() as http:
        sid = await polling_session(http, base)
        post = f"{base}&transport=polling&sid={sid}"
        async with http.post(post, data=b"4" + b"x" * 100_000) as r:
            assert r.status == 413
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    await asyncio.to_thread(proc.wait, 10)
    assert time.monotonic() - started < 5.0


@pytest.fixture(params=["accelerated", "stock"])
async def quick_deadline(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Server]:
    """A server whose handshake deadline is short, with fast pings the client answers."""
    if request.param == "stock":
        monkeypatch.setenv(accel.ENV, "off")
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path, socket_handshake_seconds=0.5) as server,
    ):
        yield server


async def pinged_until_ended(ws: ClientConnection, within: float) -> list[Any]:
    """Answer every ping (a live client) until the server ends the session."""
    received: list[Any] = []
    async with asyncio.timeout(within):
        try:
            while True:
                message = await ws.recv()
                received.append(message)
                if message == "2":
                    await ws.send("3")
                elif message == "1":
                    return received
        except ConnectionClosed:
            return received


async def test_a_session_that_never_connects_is_closed(quick_deadline: Server) -> None:
    ws, _ = await raw_session(quick_deadline)
    started = time.monotonic()
    received = await pinged_until_ended(ws, 3.0)
    assert 0.3 < time.monotonic() - started < 3.0
    assert any(isinstance(m, str) and m.startswith("44") for m in received), received
    await eventually_no_sessions(quick_deadline)


async def test_a_refused_session_is_closed(quick_deadline: Server) -> None:
    ws, _ = await raw_session(quick_deadline)
    await ws.send("40" + json.dumps({"token": "forged"}))
    refused = await ws.recv()
    assert isinstance(refused, str) and refused.startswith("44"), refused
    assert "unauthorized" in refused
    await pinged_until_ended(ws, 3.0)
    await eventually_no_sessions(quick_deadline)


async def test_a_connected_socket_outlives_the_handshake_deadline(quick_deadline: Server) -> None:
    org_id, (owner,) = await quick_team(quick_deadline, ["Owner"])
    ws = await open_socket(owner)
    await asyncio.sleep(1.0)
    answer = await ack(ws, 1, json.dumps(["subscribe", {"room": f"org:{org_id}"}]))
    assert answer["ok"] is True, answer
    await ws.close()


async def raw_session(server: Server) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await ws_connect(
        f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket", ping_interval=None
    )
    opening = await ws.recv()
    assert isinstance(opening, str) and opening.startswith("0")
    return ws, json.loads(opening[1:])


async def eventually_no_sessions(server: Server) -> None:
    async with asyncio.timeout(3):
        while server.runtime.sio.eio.sockets:
            await asyncio.sleep(0.02)


async def test_one_persons_sockets_share_an_in_flight_cap(tmp_path: Path) -> None:
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(
            url, tmp_path, socket_max_in_flight=16, socket_max_in_flight_per_person=3
        ) as server,
    ):
        org_id, (owner,) = await quick_team(server, ["Owner"])
        first, second = await open_socket(owner), await open_socket(owner)
        subscribe = json.dumps(["subscribe", {"room": f"org:{org_id}"}])
        await asyncio.gather(
            *(ws.send(f"42{i}{subscribe}") for ws in (first, second) for i in range(1, 11))
        )
        answers = [*(await acks(first, 10)).values(), *(await acks(second, 10)).values()]
        refused = [a for a in answers if not a.get("ok")]
        assert refused and {error_code(a) for a in refused} == {"rate_limited"}
        assert len(answers) - len(refused) >= 3
        await first.close()
        await second.close()


async def test_a_malformed_packet_closes_the_socket(served: Server) -> None:
    _, (owner,) = await quick_team(served, ["Owner"])
    ws = await open_socket(owner)
    await ws.send("42" + "1" * 120 + '["subscribe",{}]')  # an ack id past the protocol's bound
    received = await ended_by_server(ws)
    notices = [m for m in received if isinstance(m, str) and m.startswith("44")]
    assert notices and "malformed" in json.loads(notices[0][2:])["message"], received


async def test_a_binary_packet_over_polling_ends_the_session(served: Server) -> None:
    _, (owner,) = await quick_team(served, ["Owner"])
    token = await owner.socket_token()
    base = f"{served.url}/socket.io/?EIO=4"
    async with aiohttp.ClientSession() as http:
        sid = await polling_session(http, base)
        post = f"{base}&transport=polling&sid={sid}"
        async with http.post(post, data="40" + json.dumps({"token": token})) as r:
            assert r.status == 200
        async with http.get(post) as r:
            assert (await r.text()).startswith("40")
        async with http.post(post, data="bAQID") as r:  # a base64 binary message
            assert r.status == 200
        async with http.get(post, timeout=aiohttp.ClientTimeout(total=5)) as r:
            answer = r.status, await r.text()
    # engine.io drops a closed polling session at once: the next poll learns the session is over
    # (the reason reaches websocket clients only).
    assert answer[0] == 400 and "disconnected" in answer[1], answer
    assert served.runtime.gateway.sockets == {}


async def test_a_session_that_leaves_the_namespace_is_closed(quick_deadline: Server) -> None:
    _, (owner,) = await quick_team(quick_deadline, ["Owner"])
    ws = await open_socket(owner)
    await asyncio.sleep(0.6)  # past the first deadline: connected sockets are not touched
    await ws.send("41")  # Socket.IO DISCONNECT, keeping the engine.io session
    started = time.monotonic()
    await pinged_until_ended(ws, 3.0)
    assert time.monotonic() - started > 0.3
    await eventually_no_sessions(quick_deadline)


@pytest.mark.parametrize("quick_deadline", ["accelerated", "stock"], indirect=True)
@pytest.mark.parametrize("body", [b"6", b"2probe", b"9", b"", b"4hello\x1e7"])
async def test_a_polling_packet_a_client_may_not_send_ends_the_session(
    quick_deadline: Server, body: bytes
) -> None:
    base = f"{quick_deadline.url}/socket.io/?EIO=4"
    async with aiohttp.ClientSession() as http:
        sid = await polling_session(http, base)
        post = f"{base}&transport=polling&sid={sid}"
        started = time.monotonic()
        async with http.post(post, data=body, timeout=aiohttp.ClientTimeout(total=5)) as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "invalid"
        assert time.monotonic() - started < 1.0
        async with http.get(f"{base}&transport=polling&sid={sid}") as r:
            assert r.status == 400 or (await r.text()).startswith("1")  # gone, or told CLOSE
    await eventually_no_sessions(quick_deadline)


@pytest.mark.parametrize("quick_deadline", ["accelerated", "stock"], indirect=True)
@pytest.mark.parametrize("frame", ["9", "", "x{}"])
async def test_a_websocket_packet_a_client_may_not_send_closes_it(
    quick_deadline: Server, frame: str
) -> None:
    ws, _ = await raw_session(quick_deadline)
    await ws.send(frame)
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(3):
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002
    await eventually_no_sessions(quick_deadline)


@pytest.mark.parametrize("quick_deadline", ["accelerated", "stock"], indirect=True)
async def test_an_upgrade_that_never_sends_upgrade_is_closed(quick_deadline: Server) -> None:
    base = f"{quick_deadline.url}/socket.io/?EIO=4"
    async with aiohttp.ClientSession() as http:
        sid = await polling_session(http, base)
        ws = await ws_connect(
            f"ws://127.0.0.1:{quick_deadline.port}/socket.io/?EIO=4&transport=websocket&sid={sid}",
            ping_interval=None,
        )
        await ws.send("2probe")
        assert await asyncio.wait_for(ws.recv(), 3) == "3probe"
        started = time.monotonic()
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(3):
                while True:
                    await ws.recv()
        assert time.monotonic() - started < 0.5 + 1.0  # the handshake deadline, 0.5 s here
