"""Switching accelerators off: one warning and the library's stock path when a library's version differs
from the one an accelerator was written against, and every accelerator off with TANDEM_ACCEL=off."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest
from engineio.async_socket import AsyncSocket
from socketio.async_manager import AsyncManager
from starlette.middleware.gzip import GZipMiddleware

from tandem import accel
from tandem.accel import engineio_socket, frame_fanout, gc_pacing, redis_pipeline, small_json_gzip
from tandem.accel.engineio_socket import ClockedSocket
from tandem.accel.uvicorn_wsproto import DetachableWSProtocol, uvicorn_ws
from tandem.realtime.delivery import make_manager
from tests.conftest import PG_URL
from tests.harness import Listener, fresh_database_url, quick_team, start_server

EVENT = "org.member.updated"


@pytest.fixture(autouse=True)
def fresh_verdicts() -> Iterator[None]:
    accel.reset()
    yield
    accel.reset()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tandem.accel" and r.levelno == logging.WARNING
    ]


async def delivered_through(server, person) -> list[type]:
    """Connect a real client, broadcast to its user room and return the types of the server's sockets."""
    listener = await Listener(server, await person.socket_token()).connect()
    try:
        room = f"user:{person.id}"
        await server.runtime.gateway.publish(
            EVENT, {"event": EVENT, "seq": 1, "room": room, "data": {}}, room
        )
        await listener.wait_for(lambda e: e.get("event") == EVENT)
        return [type(s) for s in server.runtime.sio.eio.sockets.values()]
    finally:
        await listener.close()


async def test_a_mismatched_library_version_logs_one_warning_and_runs_the_stock_path(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.delenv(accel.ENV, raising=False)
    real = accel.installed_version
    monkeypatch.setattr(
        accel,
        "installed_version",
        lambda dist: "4.14.0" if dist == "python-engineio" else real(dist),
    )
    caplog.set_level(logging.INFO, logger="tandem.accel")
    verdicts = accel.log_table()  # what `tandem serve` logs at start-up
    assert verdicts[engineio_socket.NAME] is False and verdicts[frame_fanout.NAME] is False
    assert verdicts[small_json_gzip.NAME] is True and verdicts[redis_pipeline.NAME] is True
    assert sorted(warnings_of(caplog)) == [
        f"accelerator {name} is off, running the stock library path: python-engineio 4.14.0 (written for 4.15.1)"
        for name in sorted([engineio_socket.NAME, frame_fanout.NAME])
    ]

    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path) as server,
    ):
        _, (person,) = await quick_team(server, ["Owner"])
        assert await delivered_through(server, person) == [AsyncSocket]  # engine.io's own socket
        manager = server.runtime.gateway.manager
        assert manager.fast_fanout is False  # python-socketio's own emit
    assert len(warnings_of(caplog)) == 2  # once per accelerator, however often it is asked


async def test_an_accelerator_written_for_another_release_is_off(monkeypatch, caplog):
    monkeypatch.delenv(accel.ENV, raising=False)
    written_for = accel._registry[small_json_gzip.NAME]
    monkeypatch.setitem(
        accel._registry, small_json_gzip.NAME, replace(written_for, requires={"starlette": "0.9"})
    )
    assert small_json_gzip.gzip_middleware() is GZipMiddleware
    assert small_json_gzip.gzip_middleware() is GZipMiddleware
    (warning,) = warnings_of(caplog)
    assert (
        warning.startswith(f"accelerator {small_json_gzip.NAME} is off")
        and "written for 0.9" in warning
    )


async def test_tandem_accel_off_switches_every_accelerator_off(
    tmp_path, monkeypatch, caplog, redis_url
):
    monkeypatch.setenv(accel.ENV, "off")
    caplog.set_level(logging.INFO, logger="tandem.accel")
    verdicts = accel.log_table()
    assert verdicts and not any(verdicts.values())
    assert {
        engineio_socket.NAME,
        frame_fanout.NAME,
        redis_pipeline.NAME,
        gc_pacing.NAME,
        small_json_gzip.NAME,
        "uvicorn_wsproto",
    } <= set(verdicts)
    assert warnings_of(caplog) == []  # off by choice: nothing to warn about
    assert any("all off" in r.getMessage() for r in caplog.records)

    assert uvicorn_ws("wsproto") == "wsproto"  # uvicorn's own wsproto connection
    assert small_json_gzip.gzip_middleware() is GZipMiddleware
    redis_manager = make_manager(redis_url, prefix="tandem-test-switches")
    assert redis_manager.pipelined is False and redis_manager.fast_fanout is False

    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path) as server,
    ):
        _, (person,) = await quick_team(server, ["Owner"])
        assert await delivered_through(server, person) == [AsyncSocket]
        manager = server.runtime.gateway.manager
        assert isinstance(manager, AsyncManager) and manager.fast_fanout is False
        assert [
            m.cls
            for m in server.app.fastapi.user_middleware
            if m.cls in (GZipMiddleware, small_json_gzip.SmallJSONGzip)
        ] == [GZipMiddleware]
        async with server.client() as http:
            r = await http.get("/api/openapi.json")
            assert r.headers["content-encoding"] == "gzip"

    from tandem import cli

    monkeypatch.setenv("TANDEM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TANDEM_SECRET_KEY", "test-secret-key-" + "x" * 32)
    from tandem.config import get_settings

    get_settings.cache_clear()
    try:
        assert (
            cli.paced_app() is not None and gc_pacing._installed is None
        )  # CPython's own collector
    finally:
        gc_pacing.uninstall()
        get_settings.cache_clear()


async def test_with_accelerators_on_the_served_app_uses_them(tmp_path, monkeypatch):
    monkeypatch.delenv(accel.ENV, raising=False)
    assert uvicorn_ws("wsproto") is DetachableWSProtocol
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path) as server,
    ):
        _, (person,) = await quick_team(server, ["Owner"])
        assert await delivered_through(server, person) == [ClockedSocket]
        assert server.runtime.gateway.manager.fast_fanout is True
