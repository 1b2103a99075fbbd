"""A request's trace id (realtime/envelope.py): made once per context, the same for everything that
context records, different from every other context's."""

from __future__ import annotations

import contextvars
import re

from tandem.realtime.envelope import current_trace_id


def test_each_context_gets_its_own_trace_id_and_keeps_it():
    def twice() -> tuple[str, str]:
        return current_trace_id(), current_trace_id()

    seen = [contextvars.Context().run(twice) for _ in range(2000)]
    assert all(first == second for first, second in seen)
    ids = [first for first, _ in seen]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
