"""Short garbage-collector pauses for a long-running server (`tandem serve`, the benchmark server):
full collections examine only what is new since the last one.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from tandem import accel

NAME = "gc_pacing"
# CPython's public gc API only (freeze, callbacks): no library version to hold it to.
accel.register(
    accel.Accelerator(NAME, "full garbage collections examine only what is new since the last one")
)

THOROUGH_EVERY = 600.0

_installed: _Pacer | None = None


class _Pacer:
    def __init__(self, thorough_every: float, clock: Callable[[], float]) -> None:
        self.thorough_every = thorough_every
        self.clock = clock
        self.last_thorough = clock()
        self.thorough = 0  # full collections that examined everything
        self.partial = 0  # full collections that examined only what was new

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            if self.clock() - self.last_thorough >= self.thorough_every:
                gc.unfreeze()  # this collection examines everything
                self.last_thorough = self.clock()
                self.thorough += 1
            else:
                self.partial += 1
        elif phase == "stop":
            gc.freeze()  # the survivors: the young generations are empty after a full collection


def install(
    thorough_every: float = THOROUGH_EVERY, clock: Callable[[], float] = time.monotonic
) -> _Pacer:
    """Freeze what exists now and pace full collections as below; once per process.

    CPython's cyclic collector stops the event loop while it runs, and a full collection (its
    oldest generation) examines every tracked container in the process. A server holding 1,000
    websocket connections tracks some 300,000 of them: the modules, classes and functions it
    imported, plus about 170 per connection. On the benchmark machine one full collection took
    150-200 ms, a delivery that late for every client of every event in flight (bench/README.md,
    the product path to a room of 1,000: p99 at 50 changes/s).

    `install()` keeps each full collection to what is new since the last one:

    - what exists when the server starts is frozen (`gc.freeze`): imports, never garbage;
    - after each full collection its survivors are frozen too, so the next one examines only the
      containers created since (CPython starts one when those reach a quarter of the survivors of
      the last, so they come sooner and shorter);
    - every `thorough_every` seconds (10 minutes by default) one full collection examines
      everything again (`gc.unfreeze` as it starts): cyclic garbage among frozen objects, such as a
      closed connection's objects that referred to each other, is freed at most that much later.

    Reference counting frees everything else as before, frozen or not; only reference cycles wait
    for a collector, and nothing is lost, only freed later. `uninstall()` undoes it (tests).
    """
    global _installed
    if _installed is not None:
        return _installed
    gc.collect()
    gc.freeze()
    _installed = _Pacer(thorough_every, clock)
    gc.callbacks.append(_installed)
    return _installed


def uninstall() -> None:
    global _installed
    if _installed is None:
        return
    gc.callbacks.remove(_installed)
    _installed = None
    gc.unfreeze()
