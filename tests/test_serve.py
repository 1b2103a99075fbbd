"""`tandem serve` as a new user runs it: any port or address given on the command line, and a prompt stop."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import socketio

from tests.harness import tandem_serve


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`tandem serve --host 0.0.0.0 --port N` with nothing set in the environment but the data directory."""
    with tandem_serve(tmp_path, "--host", "0.0.0.0") as (url, _, proc):
        yield url, proc


def _signup(url: str) -> tuple[str, str]:
    r = httpx.post(
        url + "/api/auth/signup",
        json={"email": "new@example.com", "password": "a-long-password", "name": "New Person"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return body["user"]["id"], body["accessToken"]


async def test_the_page_opens_its_socket_on_the_port_and_address_given_on_the_command_line(served):
    url, _ = served
    _, access = _signup(url)
    token = httpx.post(
        url + "/api/auth/socket-token", headers={"Authorization": f"Bearer {access}"}
    ).json()["token"]
    for origin_host in ("127.0.0.1", "localhost"):
        page = url.replace("127.0.0.1", origin_host)
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(
            page,
            auth={"token": token},
            headers={"Origin": page},
            transports=["websocket"],
            wait_timeout=10,
        )
        assert client.connected
        await client.disconnect()


def test_sigterm_stops_the_server_within_five_seconds_while_long_polls_wait(served):
    url, proc = served
    user_id, access = _signup(url)
    headers = {"Authorization": f"Bearer {access}"}

    async def wait_for_events() -> None:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
            try:
                await http.get(
                    "/api/events", params={"room": f"user:{user_id}", "after": 0, "wait": 25}
                )
            except httpx.HTTPError:
                pass

    async def scenario() -> float:
        polls = [asyncio.create_task(wait_for_events()) for _ in range(3)]
        await asyncio.sleep(1.0)  # the long-polls are waiting inside the server
        assert not any(p.done() for p in polls)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        while proc.poll() is None and time.monotonic() - started < 15:
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        await asyncio.wait_for(asyncio.gather(*polls), 10)
        return elapsed

    elapsed = asyncio.run(scenario())
    assert proc.poll() is not None, "the server was still running 15 s after SIGTERM"
    assert elapsed < 5.0, f"SIGTERM took {elapsed:.1f} s"


async def test_one_trace_id_follows_a_change_through_the_logs(tmp_path):
    """With debug logs, the trace id a request carries is on its request line, on the outbox
    record of its event, on the dispatcher's line for it, and in the envelope clients receive."""
    trace = "trace-followed-through"
    with tandem_serve(tmp_path, TANDEM_LOG_LEVEL="debug") as (url, _, _proc):
        _, access = _signup(url)
        headers = {"Authorization": f"Bearer {access}"}
        r = httpx.post(url + "/api/orgs", json={"name": "Traced"}, headers=headers)
        assert r.status_code == 201, r.text
        org_id = r.json()["organization"]["id"]
        token = httpx.post(url + "/api/auth/socket-token", headers=headers).json()["token"]
        client = socketio.AsyncClient(reconnection=False)
        received: asyncio.Queue = asyncio.Queue()
        client.on("org.member.updated", received.put_nowait)
        await client.connect(
            url, auth={"token": token}, headers={"Origin": url}, transports=["websocket"]
        )
        ack = await client.call("subscribe", {"room": f"org:{org_id}"}, timeout=10)
        assert ack["ok"], ack
        r = httpx.patch(
            url + "/api/me", json={"name": "Renamed"}, headers={**headers, "X-Trace-Id": trace}
        )
        assert r.status_code == 200 and r.headers["x-trace-id"] == trace
        envelope = await asyncio.wait_for(received.get(), 5)
        assert envelope["meta"]["traceId"] == trace
        await client.disconnect()
        time.sleep(0.3)  # the log lines are written by now; read them before the server stops
        lines = [
            orjson.loads(line)
            for line in (tmp_path / "server.log").read_text().splitlines()
            if line.startswith("{")
        ]
    traced = [line for line in lines if line.get("traceId") == trace]
    said = {line["msg"] for line in traced}
    assert {"request", "event recorded", "event dispatched"} <= said, traced
    request = next(line for line in traced if line["msg"] == "request")
    assert (request["method"], request["path"], request["status"]) == ("PATCH", "/api/me", 200)
    dispatched = next(line for line in traced if line["msg"] == "event dispatched")
    assert dispatched["event"] == "org.member.updated" and dispatched["seq"] == envelope["seq"]
    assert f"org:{org_id}" in dispatched["rooms"]
