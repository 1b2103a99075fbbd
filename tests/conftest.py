"""Test harness: a real Tandem server on a free port, on SQLite and (when available) PostgreSQL.

Every test gets a fresh database: a SQLite file under its tmp_path, or a fresh
PostgreSQL schema dropped afterwards. The session's servers share one Redis key
prefix of their own, whose keys are deleted when the session ends. PostgreSQL
and Redis come from TANDEM_TEST_POSTGRES_URL /
TANDEM_TEST_REDIS_URL (defaults: the machine's local servers). With
TANDEM_REQUIRE_SERVICES=1 (CI) a missing service fails the test instead of
skipping it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness import (
    REDIS_PREFIX,
    Server,
    delete_redis_keys,
    fresh_database_url,
    postgres_available,
    redis_available,
    start_server,
)

PG_URL = os.environ.get(
    "TANDEM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TANDEM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE = os.environ.get("TANDEM_REQUIRE_SERVICES") == "1"


def need(service: str, available: bool) -> None:
    if available:
        return
    if REQUIRE:
        pytest.fail(f"{service} is required (TANDEM_REQUIRE_SERVICES=1) but not reachable")
    pytest.skip(f"{service} not reachable")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        need("PostgreSQL", postgres_available(PG_URL))
    return request.param


@pytest.fixture
def redis_url() -> str:
    need("Redis", redis_available(REDIS_URL))
    return REDIS_URL


@pytest.fixture
async def database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database_url(backend, tmp_path, PG_URL) as url:
        yield url


@pytest.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[Server]:
    """One Tandem instance, in-process memory fan-out (no Redis)."""
    async with start_server(database_url, tmp_path) as srv:
        yield srv


@pytest.fixture
async def sqlite_server(tmp_path: Path) -> AsyncIterator[Server]:
    """One instance on SQLite only, for tests whose subject is not the database."""
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path) as srv,
    ):
        yield srv


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if redis_available(REDIS_URL):
        delete_redis_keys(REDIS_URL, REDIS_PREFIX)


# Tests that measure time, throughput or memory, or load the machine on purpose: `make test` runs
# them alone (`-m serial`) after the rest has run two at a time (pytest-xdist), so that neither
# disturbs the other's timing.
SERIAL = (  # paths, or node ids
    "tests/accel/test_engineio_socket.py::test_sockets_that_connect_together_do_not_ping_together",
    "tests/auth/test_throttling.py",
    "tests/test_logs.py",
    "tests/battery/test_hostile_traffic.py",
    "tests/battery/test_kill_mid_transaction.py",
    "tests/realtime/test_bench_",
    "tests/realtime/test_hostile_sockets.py",
    "tests/realtime/test_slow_consumers.py",
    "tests/dashboard/test_throttling.py",
    "tests/test_connections.py",
    "tests/test_nginx.py",
    "tests/test_serve.py",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "serial: runs alone in `make test` (see SERIAL)")
    config.addinivalue_line("markers", "browser: the browser tests, a pass of their own")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop running in the main thread
    for as long as its session-wide browser lives, and no asyncio test can start after that."""
    root = Path(str(config.rootpath))
    for item in items:
        where = Path(str(item.path)).relative_to(root).as_posix()
        if where.startswith(SERIAL) or item.nodeid.startswith(SERIAL):
            item.add_marker(pytest.mark.serial)
        if where.startswith("tests/e2e/"):
            # Playwright's loop must start after every asyncio test of its process: `make test`
            # gives them processes of their own.
            item.add_marker(pytest.mark.browser)
    items.sort(key=lambda item: "/tests/e2e/" in str(item.path).replace("\\", "/"))
