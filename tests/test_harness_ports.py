"""The harness's ports for test servers: free, and drawn from a share of their own by each
pytest-xdist worker, so two workers never start servers on the same port."""

from __future__ import annotations

import socket

import pytest

from tests.harness import free_port


def shares(monkeypatch: pytest.MonkeyPatch, workers: int) -> list[set[int]]:
    drawn = []
    for worker in range(workers):
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(workers))
        monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{worker}")
        drawn.append({free_port() for _ in range(40)})
    return drawn


def test_each_worker_draws_ports_apart_from_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second, third = shares(monkeypatch, 3)
    assert max(first) < min(second) and max(second) < min(third)
    assert all(10_000 <= port < 65_536 for port in first | second | third)


def test_a_drawn_port_is_free(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_no_port_is_handed_out_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two servers started together each have a port drawn before either binds it."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "8")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw5")
    drawn = [free_port() for _ in range(300)]
    assert len(set(drawn)) == len(drawn)
