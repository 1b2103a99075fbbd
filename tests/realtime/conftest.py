"""Fixtures shared by the real-time tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.harness import Server, fresh_database_url, launch


@pytest.fixture
async def slow_poll(tmp_path: Path) -> AsyncIterator[Server]:
    """SQLite, no Redis, and a dispatcher that looks at the outbox only when told to (and passes
    by itself once a minute)."""
    async with fresh_database_url("sqlite", tmp_path, "") as url:
        server = await launch(url, tmp_path, dispatcher_poll_seconds=60)
        try:
            yield server
        finally:
            await server.stop()
