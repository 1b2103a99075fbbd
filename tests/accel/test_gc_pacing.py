"""accel/gc_pacing.py: full collections examine only what is new, and a thorough one comes every so often."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from tandem import accel
from tandem.accel import gc_pacing


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def paced() -> Iterator[tuple[gc_pacing._Pacer, Clock]]:
    clock = Clock()
    pacer = gc_pacing.install(thorough_every=600, clock=clock)
    try:
        yield pacer, clock
    finally:
        gc_pacing.uninstall()


def tracked(obj: object) -> bool:
    """Whether the collector examines `obj` (frozen objects are in no generation)."""
    return any(o is obj for o in gc.get_objects())


def cycle() -> tuple[Node, weakref.ref]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(b)


def test_what_exists_at_start_and_what_survives_a_full_collection_is_frozen(paced):
    pacer, _ = paced
    assert gc.get_freeze_count() > 0
    kept = [object()]
    assert tracked(kept)
    gc.collect()
    assert not tracked(kept)  # a survivor: the next full collection does not examine it
    fresh = [object()]
    assert tracked(fresh)
    assert pacer.partial >= 1


def test_a_frozen_cycle_is_freed_by_the_next_thorough_collection(paced):
    pacer, clock = paced
    head, tail = cycle()
    gc.collect()  # survives (still referenced), so it is frozen
    del head
    gc.collect()
    assert tail() is not None  # garbage now, but frozen: a partial collection does not see it
    clock.now += 600
    gc.collect()
    assert tail() is None
    assert pacer.thorough == 1


def test_a_young_cycle_is_freed_by_any_collection(paced):
    head, tail = cycle()
    del head
    gc.collect()
    assert tail() is None


def test_reference_counting_frees_frozen_objects(paced):
    node = Node()
    ref = weakref.ref(node)
    gc.collect()
    assert not tracked(node)
    del node
    assert ref() is None


def test_uninstall_unfreezes_and_stops_pacing():
    clock = Clock()
    pacer = gc_pacing.install(thorough_every=600, clock=clock)
    assert gc_pacing.install() is pacer  # once per process
    gc_pacing.uninstall()
    assert gc.get_freeze_count() == 0
    assert pacer not in gc.callbacks
    head, tail = cycle()
    gc.collect()
    del head
    gc.collect()
    assert tail() is None


def test_tandem_serve_paces_the_collector(tmp_path, monkeypatch):
    """`tandem serve`'s factory (each worker's app) installs the pacing unless accelerators are off;
    `--gc stock` uses create_app."""
    from tandem import cli
    from tandem.config import get_settings

    monkeypatch.setenv("TANDEM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TANDEM_SECRET_KEY", "test-secret-key-" + "x" * 32)
    get_settings.cache_clear()
    try:
        app = cli.paced_app()
        # CPython's own collector when the accelerator is off (TANDEM_ACCEL=off)
        assert app is not None and (gc_pacing._installed is not None) == accel.enabled(
            gc_pacing.NAME
        )
    finally:
        gc_pacing.uninstall()
        get_settings.cache_clear()
