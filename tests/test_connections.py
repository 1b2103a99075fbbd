"""Raw connections to `tandem serve`: ones that never finish a request head are closed, a head too
large is refused, and one address cannot hold more connections than its cap."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tandem.config import Settings
from tandem.connections import ConnectionCap
from tests.conftest import PG_URL, REDIS_URL, need
from tests.harness import (
    REDIS_PREFIX,
    delete_redis_keys,
    fresh_database_url,
    postgres_available,
    redis_available,
    tandem_serve,
)

TIMEOUT = 1.0


def _serve(tmp_path: Path, **env_overrides: str) -> Iterator[tuple[str, int]]:
    with tandem_serve(tmp_path, TANDEM_LOG_LEVEL="info", **env_overrides) as (url, port, proc):
        yield url, port
        assert proc.poll() is None, "the server died"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """One server for the module's tests of unfinished heads (each closes what it opens)."""
    yield from _serve(
        tmp_path_factory.mktemp("guarded"), TANDEM_HEADER_TIMEOUT_SECONDS=str(TIMEOUT)
    )


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[tuple[str, int]]:
    yield from _serve(tmp_path, TANDEM_MAX_CONNECTIONS_PER_IP="3", TANDEM_CONNECTION_CAP_EXEMPT="")


async def _answer_and_close(reader: asyncio.StreamReader, within: float) -> tuple[bytes, float]:
    """What the server writes before closing the connection, and how long it took to close."""
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), within)  # read() returns at EOF
    return data, time.monotonic() - started


async def test_a_connection_that_sends_nothing_is_closed(guarded: tuple[str, int]) -> None:
    _, port = guarded
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
    for reader, writer in idle:
        answer, took = await _answer_and_close(reader, TIMEOUT + 5)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert took < TIMEOUT + 2
        writer.close()


async def test_a_half_sent_upgrade_is_closed(guarded: tuple[str, int]) -> None:
    _, port = guarded
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    )
    for _ in range(3):  # trickled, as a slow attacker would, well inside the deadline each time
        await asyncio.sleep(TIMEOUT / 4)
        writer.write(b"X-Slow: 1\r\n")
    answer, _ = await _answer_and_close(reader, TIMEOUT + 5)
    assert answer.startswith(b"HTTP/1.1 408 ")
    writer.close()


async def test_a_request_head_too_large_is_refused(guarded: tuple[str, int]) -> None:
    _, port = guarded
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    for _ in range(80):
        writer.write(b"X-Filler: " + b"a" * 1000 + b"\r\n")
    answer, took = await _answer_and_close(reader, 5)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert took < TIMEOUT
    writer.close()


async def test_requests_and_sockets_that_finish_their_head_are_untouched(
    guarded: tuple[str, int],
) -> None:
    url, port = guarded
    # A head that arrives in pieces, each inside the deadline, is served.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for piece in (b"GET /healthz HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"\r\n"):
        writer.write(piece)
        await asyncio.sleep(TIMEOUT / 4)
    status = await asyncio.wait_for(reader.readline(), 5)
    assert status.startswith(b"HTTP/1.1 200 ")
    writer.close()
    # A keep-alive client's later requests, and a WebSocket long past the deadline, are served.
    async with httpx.AsyncClient(base_url=url) as http:
        for _ in range(3):
            assert (await http.get("/healthz")).status_code == 200
            await asyncio.sleep(TIMEOUT / 2)
    ws_url = url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    async with connect(ws_url) as ws:
        opened = await asyncio.wait_for(ws.recv(), 5)
        assert str(opened).startswith("0{")
        await asyncio.sleep(TIMEOUT * 2.5)
        await ws.send("40")  # a Socket.IO connect without a token: refused, so the socket lives
        assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("44")


async def test_one_address_holds_at_most_its_cap(capped: tuple[str, int]) -> None:
    url, port = capped
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer, took = await _answer_and_close(reader, 5)
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b"Retry-After: 5" in answer
    assert took < 1
    writer.close()
    # One of the three goes; a new connection is then served.
    held[0][1].close()
    await held[0][1].wait_closed()
    await asyncio.sleep(0.2)
    async with httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/healthz")).status_code == 200
    for _, w in held[1:]:
        w.close()


def test_the_cap_counts_by_address_and_spares_exempt_networks() -> None:
    class Open:
        closing = False

        def is_closing(self) -> bool:
            return self.closing

    cap = ConnectionCap(2, ["127.0.0.0/8", "::1", "10.1.0.0/16"])
    first, second = Open(), Open()
    assert cap.admit("203.0.113.5", first)  # type: ignore[arg-type]
    assert cap.admit("203.0.113.5", second)  # type: ignore[arg-type]
    assert not cap.admit("203.0.113.5", Open())  # type: ignore[arg-type]
    assert cap.admit("203.0.113.6", Open())  # type: ignore[arg-type]
    first.closing = True
    assert cap.admit("203.0.113.5", Open())  # type: ignore[arg-type]
    for host in ("127.0.0.1", "::1", "::ffff:127.0.0.1", "10.1.2.3"):
        assert all(cap.admit(host, Open()) for _ in range(5))  # type: ignore[arg-type]
    assert ConnectionCap(0, []).admit("203.0.113.5", Open())  # type: ignore[arg-type]


def test_exempt_networks_are_read_from_the_environment_and_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TANDEM_CONNECTION_CAP_EXEMPT", "10.0.0.0/8, 192.168.1.5")
    assert Settings().connection_cap_exempt == ["10.0.0.0/8", "192.168.1.5"]
    monkeypatch.setenv("TANDEM_CONNECTION_CAP_EXEMPT", "10.0.0.0/8,bogus")
    with pytest.raises(ValueError, match="bogus"):
        Settings()
    monkeypatch.setenv("TANDEM_ALLOWED_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.delenv("TANDEM_CONNECTION_CAP_EXEMPT")
    assert Settings().allowed_origins == ["https://a.example", "https://b.example"]


async def test_spawned_workers_write_tandems_log_lines(tmp_path: Path) -> None:
    need("PostgreSQL", postgres_available(PG_URL))
    need("Redis", redis_available(REDIS_URL))
    prefix = f"{REDIS_PREFIX}-workers-{uuid.uuid4().hex[:6]}"
    async with fresh_database_url("postgresql", tmp_path, PG_URL) as url:
        serving = _serve(
            tmp_path,
            TANDEM_DATABASE_URL=url,
            TANDEM_REDIS_URL=REDIS_URL,
            TANDEM_REDIS_PREFIX=prefix,
            TANDEM_WORKERS="2",
            TANDEM_HEADER_TIMEOUT_SECONDS="0.5",
        )
        _, port = next(serving)
        try:
            idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(6)]
            for reader, writer in idle:
                answer, _ = await _answer_and_close(reader, 5)
                assert answer.startswith(b"HTTP/1.1 408 ")
                writer.close()
        finally:
            serving.close()
            delete_redis_keys(REDIS_URL, prefix)
    # Only the workers accept connections: these lines were written by spawned processes.
    lines = [
        json.loads(line)
        for line in (tmp_path / "server.log").read_text().splitlines()
        if line.startswith("{")
    ]
    closed = [line for line in lines if line.get("logger") == "tandem.http"]
    assert closed and all("no complete request head" in line["msg"] for line in closed)
