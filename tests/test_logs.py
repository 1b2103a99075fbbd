"""Tandem's log setup: JSON lines on stderr, and no line repeated without bound."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator

import orjson
import pytest

from tandem import logs


@pytest.fixture
def tandem_logger() -> Iterator[logging.Logger]:
    """The "tandem" logger, put back as it was: `configure` replaces its handlers."""
    logger = logging.getLogger("tandem")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        yield logger
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def lines(err: str) -> list[dict]:
    return [orjson.loads(line) for line in err.splitlines() if line.strip()]


def test_ten_thousand_identical_lines_write_a_few_and_one_summary(
    tandem_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    repeats = logs.configure("info", repeat_limit=5, repeat_interval=0.3)
    gateway = logging.getLogger("tandem.gateway")
    for i in range(10_000):
        gateway.info("socket subscribed", extra={"sid": f"s{i}", "room": "org:org_1"})
    written = lines(capsys.readouterr().err)
    assert [line["msg"] for line in written] == ["socket subscribed"] * 5
    assert [line["sid"] for line in written] == ["s0", "s1", "s2", "s3", "s4"]

    time.sleep(0.35)  # the window ends; the next line of any kind brings its summary
    logging.getLogger("tandem.http").info("a later line")
    written = lines(capsys.readouterr().err)
    summary, later = written
    assert summary["logger"] == "tandem.gateway" and summary["level"] == "info"
    assert summary["suppressed"] == 9_995
    assert (
        "socket subscribed" in summary["msg"] and "suppressed 9995 similar lines" in summary["msg"]
    )
    assert later["msg"] == "a later line"

    for i in range(3):  # a new window: the line is written again
        gateway.info("socket subscribed", extra={"sid": f"t{i}"})
    assert [line["sid"] for line in lines(capsys.readouterr().err)] == ["t0", "t1", "t2"]
    repeats.flush()
    assert capsys.readouterr().err == ""  # nothing was held back in that window


def test_tracebacks_of_one_failing_event_are_limited_too(
    tandem_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    repeats = logs.configure("info", repeat_limit=2, repeat_interval=60)
    gateway = logging.getLogger("tandem.gateway")
    for _ in range(1_000):
        try:
            raise RuntimeError("a handler failed")
        except RuntimeError:
            gateway.exception("socket event failed", extra={"event": "subscribe"})
    repeats.flush()
    written = lines(capsys.readouterr().err)
    assert len(written) == 3
    assert all("RuntimeError" in line["exc"] for line in written[:2])
    assert written[2]["suppressed"] == 998 and written[2]["level"] == "error"
    assert "exc" not in written[2]


def test_distinct_lines_all_pass(
    tandem_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("debug", repeat_limit=1, repeat_interval=60)
    for i in range(500):
        logging.getLogger("tandem.orgs").info(f"distinct line {i}")
    # The same template at another level or from another logger is another kind of line.
    logging.getLogger("tandem.orgs").warning("distinct line 0")
    logging.getLogger("tandem.auth").info("distinct line 0")
    logging.getLogger("tandem.auth").debug("distinct line 0")
    written = lines(capsys.readouterr().err)
    assert len(written) == 503
    assert [line["msg"] for line in written[:500]] == [f"distinct line {i}" for i in range(500)]


def test_the_budget_holds_its_memory_when_every_line_is_new() -> None:
    passed: list[logging.LogRecord] = []
    repeats = logs.RepeatLimit(passed.append, limit=1, interval=60)
    for i in range(logs.RepeatLimit.MAX_KINDS + 100):
        record = logging.makeLogRecord({"name": "tandem.x", "msg": f"line {i}"})
        assert repeats.filter(record)
    assert len(repeats._windows) == logs.RepeatLimit.MAX_KINDS


def test_the_last_summary_is_written_when_the_process_exits() -> None:
    """A serving process that stops mid-window still says how many lines it held back."""
    script = (
        "import logging\n"
        "from tandem import logs\n"
        "logs.configure('info', repeat_limit=5, repeat_interval=3600)\n"
        "for i in range(30):\n"
        "    logging.getLogger('tandem.gateway').info('socket subscribed', extra={'sid': i})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    written = lines(done.stderr)
    assert [line["msg"] for line in written[:5]] == ["socket subscribed"] * 5
    assert len(written) == 6
    assert written[5]["suppressed"] == 25 and "suppressed 25 similar lines" in written[5]["msg"]


def test_the_libraries_tracebacks_get_a_budget_too(
    tandem_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    server_errors = logging.getLogger("uvicorn.error")
    saved = (server_errors.handlers[:], server_errors.propagate, server_errors.filters[:])
    handler = logging.StreamHandler(sys.stderr)
    server_errors.handlers[:] = [handler]
    server_errors.propagate = False
    try:
        logs.configure("info", repeat_limit=3, repeat_interval=60)
        logs.configure("info", repeat_limit=3, repeat_interval=60)  # again: still one budget
        for _ in range(500):
            try:
                raise ValueError("a bad packet")
            except ValueError:
                server_errors.exception("Exception in ASGI application")
        err = capsys.readouterr().err
        assert err.count("Traceback") == 3
        assert err.count("Exception in ASGI application") == 3
    finally:
        server_errors.handlers[:], server_errors.propagate, server_errors.filters[:] = saved
