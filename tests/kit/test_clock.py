"""Timestamps on the wire: ISO 8601 in UTC with milliseconds and Z, whatever the datetime's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from tandem.kit.clock import iso, utcnow


def test_every_datetime_is_written_in_utc_with_milliseconds():
    assert iso(None) is None
    assert iso(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)) == "2026-01-02T03:04:05.678Z"
    assert iso(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"  # SQLite's: naive, UTC
    plus_two = timezone(timedelta(hours=2))
    assert iso(datetime(2026, 1, 2, 3, 4, 5, tzinfo=plus_two)) == "2026-01-02T01:04:05.000Z"


def test_a_batch_stamped_with_one_now_and_the_next_one_each_get_their_own_text():
    now = utcnow()
    later = now + timedelta(milliseconds=5)
    first = [iso(now) for _ in range(3)]
    assert first == [now.isoformat(timespec="milliseconds").replace("+00:00", "Z")] * 3
    assert iso(later) == later.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert iso(now) == first[0]
    naive = datetime(2026, 5, 6, 7, 8, 9)
    assert iso(naive) == "2026-05-06T07:08:09.000Z"
    assert iso(naive.replace(tzinfo=UTC)) == "2026-05-06T07:08:09.000Z"
