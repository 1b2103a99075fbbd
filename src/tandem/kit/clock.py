"""Time in one format everywhere: aware UTC datetimes, ISO 8601 with milliseconds and Z."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


# The last datetime formatted and its text: a batch stamps many events with one `now`.
_last: tuple[datetime | None, str] = (None, "")


def iso(value: datetime | None) -> str | None:
    global _last
    if value is None:
        return None
    last = _last
    if value is last[0]:
        return last[1]
    utc = value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # SQLite's are naive
    text = utc.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    _last = (value, text)
    return text


def aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
