"""Canvas event timestamps -> integer microseconds since the Unix epoch, UTC.

Rows carry event times as ``int`` microseconds between steps: an int pickles
about eight times cheaper than a ``datetime`` in a shuffle, and comparisons
after truncation to microseconds are then exact.
"""
from __future__ import annotations

import datetime as dt
import re

# YYYY-MM-DD, 'T' or ' ', HH:MM:SS, optional .fraction (1-9 digits), an optional
# single space, then Z, +HH:MM or +HHMM. Anything else (no offset, '.' without
# digits, lowercase 'z') is rejected on purpose: a guessed offset is a wrong time.
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})"
    r"(?:\.(\d{1,9}))? ?(?:(Z)|([+-])(\d{2}):?(\d{2}))",
    re.ASCII,
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROS_PER_DAY = 86_400_000_000


def _micros_since_epoch(moment: dt.datetime) -> int:
    delta = moment - _EPOCH
    return delta.days * _MICROS_PER_DAY + delta.seconds * 1_000_000 + delta.microseconds


# Rows become Python datetimes (Arrow conversion, event_date partitions), which
# exist for the UTC years 1 to 9999 only: an instant outside them cannot be a row.
MIN_EVENT_MICROS = _micros_since_epoch(dt.datetime.min.replace(tzinfo=dt.UTC))
MAX_EVENT_MICROS = _micros_since_epoch(dt.datetime.max.replace(tzinfo=dt.UTC))


class TimestampError(ValueError):
    """The text is not an ISO 8601 timestamp with a UTC offset we accept."""


def parse_event_time(text: str) -> int:
    """Parse an ISO 8601 timestamp with offset and return UTC epoch microseconds.

    An instant outside the UTC years 1 to 9999 (``0001-01-01T00:30:00+01:00``)
    is a :class:`TimestampError` like any other unusable time.

    >>> parse_event_time("2019-11-05 07:38:00 -0800") == parse_event_time("2019-11-05T15:38:00Z")
    True
    """
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise TimestampError(f"not an ISO 8601 timestamp with offset: {text[:64]!r}")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    offset_hours, offset_minutes = (0, 0) if zulu else (int(off_h), int(off_m))
    if offset_hours > 23 or offset_minutes > 59:
        raise TimestampError(f"offset out of range: {text[:64]!r}")
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        local = dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros,
            tzinfo=dt.UTC,
        )
    except ValueError as error:
        raise TimestampError(f"no such date or time: {text[:64]!r}") from error
    offset = (offset_hours * 60 + offset_minutes) * 60_000_000
    if sign == "-":
        offset = -offset
    utc_micros = _micros_since_epoch(local) - offset
    if not MIN_EVENT_MICROS <= utc_micros <= MAX_EVENT_MICROS:
        raise TimestampError(f"outside the UTC years 1 to 9999: {text[:64]!r}")
    return utc_micros


def micros_to_datetime(micros: int) -> dt.datetime:
    """UTC-aware datetime for epoch microseconds (for display and tests)."""
    return _EPOCH + dt.timedelta(microseconds=micros)


def utc_date(micros: int) -> str:
    """The UTC calendar date ``YYYY-MM-DD`` of epoch microseconds."""
    return micros_to_datetime(micros).date().isoformat()
