"""Structured JSON logs with the request's traceId; repeated lines are held to a budget."""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from tandem.realtime.envelope import trace_id_var

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        trace = trace_id_var.get()
        if trace:
            out["traceId"] = trace
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


@dataclass(slots=True)
class _Window:
    start: float
    seen: int = 0


class RepeatLimit(logging.Filter):
    """At most `limit` records per `interval` seconds for each (logger, level, message template);
    the rest are dropped and counted, and once that window is over one summary line says how many.

    A client can make the server repeat a line as often as it sends a packet (an info line per
    subscribe, a traceback per failing event): without a budget one client filled 430 MB of logs.
    The template, not the formatted text, is the key, so lines differing only in their arguments
    (a sid, a room) count as one kind. A window's summary goes out with the first record of any
    kind after the window ends, or on `flush`.
    """

    def __init__(
        self,
        emit: Callable[[logging.LogRecord], object],
        *,
        limit: int = 20,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.emit = emit
        self.limit = limit
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, int, str], _Window] = {}
        self._next_sweep = 0.0

    # Lines whose text is built before logging (an f-string) each make a key of their own: past
    # this many kinds in one window, new kinds pass untracked, so the budget's memory stays bounded.
    MAX_KINDS = 10_000

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "repeatSummary", False):
            return True
        now = self.clock()
        key = (record.name, record.levelno, str(record.msg))
        with self._lock:
            ended = self._sweep(now) if now >= self._next_sweep else []
            window = self._windows.get(key)
            if window is None and len(self._windows) < self.MAX_KINDS:
                window = self._windows[key] = _Window(now)
                self._next_sweep = min(self._next_sweep, now + self.interval)
            if window is not None:
                window.seen += 1
            passes = window is None or window.seen <= self.limit
        for summary in ended:
            self.emit(summary)
        return passes

    def flush(self) -> None:
        """Write the summaries of every window with lines held back, whether it has ended or not."""
        with self._lock:
            ended = self._sweep(float("inf"))
        for summary in ended:
            self.emit(summary)

    def _sweep(self, now: float) -> list[logging.LogRecord]:
        """Close the windows that have ended; their summaries, to write outside the lock."""
        summaries = []
        next_end = float("inf")
        for key, window in list(self._windows.items()):
            end = window.start + self.interval
            if now < end:
                next_end = min(next_end, end)
                continue
            del self._windows[key]
            if window.seen > self.limit:
                summaries.append(self._summary(key, window.seen - self.limit))
        self._next_sweep = next_end
        return summaries

    def _summary(self, key: tuple[str, int, str], suppressed: int) -> logging.LogRecord:
        name, level, template = key
        return logging.makeLogRecord(
            {
                "name": name,
                "levelno": level,
                "levelname": logging.getLevelName(level),
                "msg": "%s … suppressed %d similar lines in %d s",
                "args": (template, suppressed, round(self.interval)),
                "repeatSummary": True,
                "suppressed": suppressed,
            }
        )


def configure(
    level: str = "info",
    json_logs: bool = True,
    *,
    repeat_limit: int = 20,
    repeat_interval: float = 60.0,
) -> RepeatLimit:
    """Tandem's loggers write to stderr, each kind of line at most `repeat_limit` times per
    `repeat_interval` seconds (then one summary); returns that filter, for a final `flush`."""
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter())
        handler.formatter.converter = __import__("time").gmtime  # type: ignore[union-attr]
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    repeats = RepeatLimit(handler.handle, limit=repeat_limit, interval=repeat_interval)
    handler.addFilter(repeats)
    root = logging.getLogger("tandem")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # The libraries under Tandem log a traceback for each bad packet or connection a client sends;
    # their lines get the same budget, written wherever those loggers write.
    library_repeats = RepeatLimit(_handle_as_logged, limit=repeat_limit, interval=repeat_interval)
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, RepeatLimit)]:
            logger.removeFilter(old)
        logger.addFilter(library_repeats)
    global _installed
    if _installed is None:
        atexit.register(_flush_at_exit)
    _installed = (handler, repeats)
    return repeats


LIBRARY_LOGGERS = ("uvicorn.error", "engineio.server", "socketio.server", "asyncio")


def _handle_as_logged(record: logging.LogRecord) -> None:
    logging.getLogger(record.name).handle(record)


# The handler and filter `configure` last installed: at interpreter exit (the serving process, or a
# spawned worker that configured its logging) the summaries still held back are written.
_installed: tuple[logging.Handler, RepeatLimit] | None = None


def _flush_at_exit() -> None:
    if _installed is None:
        return
    handler, repeats = _installed
    stream = getattr(handler, "stream", None)
    if stream is not None and getattr(stream, "closed", False):
        return  # its stream went first (a test runner's capture): nowhere left to write
    if handler in logging.getLogger("tandem").handlers:  # not replaced since (as tests do)
        repeats.flush()
