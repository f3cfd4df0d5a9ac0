"""UTC time helpers. All tsbot times are timezone-aware UTC; candle times are the bar's open time.

Epoch integers are milliseconds since 1970-01-01T00:00:00Z (the convention of exchange APIs).
"""

from __future__ import annotations

from datetime import UTC, datetime

from tsbot.core.errors import DataError


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    """Return ``value`` as aware UTC. A naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_utc(text: str) -> datetime:
    """Parse an ISO-8601 date or date-time; a value without an offset is UTC.

    Raises:
        DataError: the text is not ISO-8601.
    """
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise DataError(f"not an ISO-8601 time: {text!r} (expected e.g. 2022-05-01T12:00:00Z)") from exc
    return to_utc(value)


def to_ms(value: datetime) -> int:
    """Milliseconds since the epoch of an aware (or UTC-naive) datetime."""
    return int(to_utc(value).timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """Aware UTC datetime from milliseconds since the epoch."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
