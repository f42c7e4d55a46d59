"""Unit tests of transforms/timestamps.py against the "Timestamps" rules of the contract."""
from __future__ import annotations

import datetime as dt

import pytest

from transforms.timestamps import TimestampError, micros_to_datetime, parse_event_time, utc_date

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def micros(*args: int, tz: dt.tzinfo = UTC) -> int:
    """Epoch microseconds of a datetime, computed with the standard library only."""
    return (dt.datetime(*args, tzinfo=tz) - EPOCH) // dt.timedelta(microseconds=1)


def tz(hours: int, minutes: int = 0) -> dt.timezone:
    sign = -1 if hours < 0 else 1
    return dt.timezone(sign * dt.timedelta(hours=abs(hours), minutes=minutes))


# --- accepted forms ----------------------------------------------------------------

ACCEPTED = [
    ("2024-07-30T19:04:35Z", micros(2024, 7, 30, 19, 4, 35), "zulu"),
    ("2024-07-30T19:04:35.872Z", micros(2024, 7, 30, 19, 4, 35, 872000), "zulu-millis"),
    ("2024-07-30 19:04:35Z", micros(2024, 7, 30, 19, 4, 35), "space-instead-of-T"),
    ("2024-07-30T19:04:35 Z", micros(2024, 7, 30, 19, 4, 35), "space-before-Z"),
    ("2024-07-30T21:04:35+02:00", micros(2024, 7, 30, 19, 4, 35), "plus-hh-colon-mm"),
    ("2024-07-30T21:04:35+0200", micros(2024, 7, 30, 19, 4, 35), "plus-hhmm"),
    ("2024-07-30T19:04:35+00:00", micros(2024, 7, 30, 19, 4, 35), "plus-zero"),
    ("2024-07-30T19:04:35-00:00", micros(2024, 7, 30, 19, 4, 35), "minus-zero"),
    ("2024-07-30T13:34:35-05:30", micros(2024, 7, 30, 19, 4, 35), "minus-half-hour"),
    ("2024-07-31T00:49:35+05:45", micros(2024, 7, 30, 19, 4, 35), "plus-0545-crosses-date"),
    ("2019-11-05 07:38:00 -0800", micros(2019, 11, 5, 15, 38), "canvas-documented-form"),
    ("2019-11-05T07:38:00 -08:00", micros(2019, 11, 5, 15, 38), "space-before-colon-offset"),
    ("2019-11-05T07:38:00-0800", micros(2019, 11, 5, 15, 38), "minus-hhmm-no-space"),
    ("2024-01-01T00:00:00+23:59", micros(2023, 12, 31, 0, 1), "max-offset"),
    ("2023-12-31T23:59:59-23:59", micros(2024, 1, 1, 23, 58, 59), "min-offset"),
    ("2024-02-29T12:00:00Z", micros(2024, 2, 29, 12), "leap-day"),
    ("1970-01-01T00:00:00Z", 0, "epoch"),
    ("1969-12-31T23:59:59.999999Z", -1, "before-epoch"),
]


@pytest.mark.parametrize("text, expected", [(t, e) for t, e, _ in ACCEPTED], ids=[i for *_, i in ACCEPTED])
def test_accepted_forms(text, expected):
    assert parse_event_time(text) == expected


FRACTIONS = [
    (".1", 100_000),
    (".12", 120_000),
    (".123", 123_000),
    (".1234", 123_400),
    (".12345", 123_450),
    (".123456", 123_456),
    (".1234567", 123_456),
    (".12345678", 123_456),
    (".123456789", 123_456),
    (".999999999", 999_999),
    (".000000999", 0),
    (".0", 0),
]


@pytest.mark.parametrize("fraction, micro", FRACTIONS, ids=[f"{len(f) - 1}-digits-{f[1:]}" for f, _ in FRACTIONS])
@pytest.mark.parametrize("offset", ["Z", "+00:00", "+0000", " -0000"])
def test_fraction_digits_are_kept_to_microseconds_and_truncated_beyond(fraction, micro, offset):
    text = f"2024-07-30T19:04:35{fraction}{offset}"
    assert parse_event_time(text) == micros(2024, 7, 30, 19, 4, 35) + micro


def test_truncation_never_rounds_up_into_next_second():
    assert parse_event_time("2024-07-30T19:04:35.9999999Z") == micros(2024, 7, 30, 19, 4, 35, 999_999)
    assert parse_event_time("2024-12-31T23:59:59.999999999Z") < micros(2025, 1, 1)


def test_times_equal_after_truncation_compare_equal():
    assert parse_event_time("2024-07-30T19:04:35.1234561Z") == parse_event_time("2024-07-30T19:04:35.1234569Z")
    assert parse_event_time("2024-07-30T19:04:35.123456Z") == parse_event_time("2024-07-30T19:04:35.123456999Z")


SAME_INSTANT = [
    "2019-11-05T15:38:00Z",
    "2019-11-05 15:38:00Z",
    "2019-11-05T15:38:00.000Z",
    "2019-11-05T15:38:00.000000000Z",
    "2019-11-05T15:38:00+00:00",
    "2019-11-05T15:38:00 +0000",
    "2019-11-05T07:38:00-08:00",
    "2019-11-05 07:38:00 -0800",
    "2019-11-05T23:38:00+08:00",
    "2019-11-06T01:08:00+0930",
    "2019-11-05T03:38:00-1200",
    "2019-11-06T05:38:00+14:00",
]


@pytest.mark.parametrize("text", SAME_INSTANT)
def test_normalisation_to_utc_across_offsets(text):
    assert parse_event_time(text) == micros(2019, 11, 5, 15, 38)


def test_result_matches_stdlib_for_many_offsets():
    base = dt.datetime(2024, 3, 10, 1, 59, 58, 123456, tzinfo=UTC)
    expected = (base - EPOCH) // dt.timedelta(microseconds=1)
    for total_minutes in range(-23 * 60 - 59, 23 * 60 + 60, 17):
        offset = dt.timezone(dt.timedelta(minutes=total_minutes))
        local = base.astimezone(offset)
        sign = "-" if total_minutes < 0 else "+"
        hh, mm = divmod(abs(total_minutes), 60)
        text = local.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{sign}{hh:02d}:{mm:02d}"
        assert parse_event_time(text) == expected, text
        assert parse_event_time(text.replace("T", " ")[:-3] + text[-2:]) == expected, text


def test_returns_an_int():
    assert type(parse_event_time("2024-07-30T19:04:35.5Z")) is int


# --- rejected forms ----------------------------------------------------------------

REJECTED = [
    ("2024-07-30T19:04:35", "no-offset"),
    ("2024-07-30 19:04:35", "no-offset-space"),
    ("2024-07-30T19:04:35.123", "no-offset-fraction"),
    ("2024-07-30T19:04:35.Z", "dot-without-digits"),
    ("2024-07-30T19:04:35. Z", "dot-without-digits-space"),
    ("2024-07-30T19:04:35.+00:00", "dot-without-digits-offset"),
    ("2024-07-30T19:04:35.1234567890Z", "ten-fraction-digits"),
    ("2024-07-30T19:04:35,123Z", "comma-fraction"),
    ("2023-02-29T00:00:00Z", "nonexistent-feb-29"),
    ("2024-02-30T00:00:00Z", "nonexistent-feb-30"),
    ("2024-04-31T00:00:00Z", "nonexistent-apr-31"),
    ("2024-13-01T00:00:00Z", "month-13"),
    ("2024-00-10T00:00:00Z", "month-00"),
    ("2024-01-00T00:00:00Z", "day-00"),
    ("0000-01-01T00:00:00Z", "year-0000"),
    ("2024-07-30T24:00:00Z", "hour-24"),
    ("2024-07-30T23:60:00Z", "minute-60"),
    ("2024-07-30T23:59:60Z", "second-60"),
    ("2024-07-30T19:04:35+24:00", "offset-hour-24"),
    ("2024-07-30T19:04:35-2400", "offset-hour-24-hhmm"),
    ("2024-07-30T19:04:35+99:00", "offset-hour-99"),
    ("2024-07-30T19:04:35+05:60", "offset-minute-60"),
    ("2024-07-30T19:04:35z", "lowercase-z"),
    ("2024-07-30t19:04:35Z", "lowercase-t"),
    ("2024-07-30T19:04:35+02", "offset-hours-only"),
    ("2024-07-30T19:04:35+2:00", "offset-one-digit-hour"),
    ("2024-07-30T19:04:35+02:0", "offset-one-digit-minute"),
    ("2024-07-30T19:04:35+02:000", "offset-three-digit-minute"),
    ("2024-07-30T19:04:35  Z", "two-spaces-before-Z"),
    ("2024-07-30T19:04:35  -0800", "two-spaces-before-offset"),
    ("2024-07-30T19:04:35\t-0800", "tab-before-offset"),
    ("2024-07-30  19:04:35Z", "two-spaces-between-date-and-time"),
    ("2024-07-30T19:04Z", "no-seconds"),
    ("2024-07-30T9:04:35Z", "one-digit-hour"),
    ("2024-7-30T19:04:35Z", "one-digit-month"),
    ("24-07-30T19:04:35Z", "two-digit-year"),
    ("20240730T190435Z", "basic-format"),
    ("2024-07-30", "date-only"),
    ("2024-07-30Z", "date-only-zulu"),
    ("19:04:35Z", "time-only"),
    (" 2024-07-30T19:04:35Z", "leading-space"),
    ("2024-07-30T19:04:35Z ", "trailing-space"),
    ("2024-07-30T19:04:35Z\n", "trailing-newline"),
    ("2024-07-30T19:04:35ZZ", "double-Z"),
    ("2024-07-30T19:04:35Z+00:00", "Z-and-offset"),
    ("2024-07-30T19:04:35 UTC", "named-zone"),
    ("2024-07-30T19:04:35+00:00[Europe/Paris]", "bracketed-zone"),
    ("２０２４-07-30T19:04:35Z", "non-ascii-digits"),  # noqa: RUF001 (fullwidth digits on purpose)
    ("1722366275", "epoch-seconds-string"),
    ("", "empty"),
    ("not a timestamp", "garbage"),
    ("Tue, 30 Jul 2024 19:04:35 GMT", "rfc-1123"),
]


@pytest.mark.parametrize("text", [t for t, _ in REJECTED], ids=[i for _, i in REJECTED])
def test_rejected_forms(text):
    with pytest.raises(TimestampError):
        parse_event_time(text)


def test_timestamp_error_is_a_value_error():
    assert issubclass(TimestampError, ValueError)


# --- utc_date and micros_to_datetime ---------------------------------------------------

UTC_DATES = [
    ("2024-07-30T19:04:35Z", "2024-07-30", "same-day"),
    ("2024-07-30T23:30:00-01:00", "2024-07-31", "negative-offset-next-day"),
    ("2024-07-31T00:30:00+01:00", "2024-07-30", "positive-offset-previous-day"),
    ("2023-12-31 16:00:00 -0800", "2024-01-01", "new-year-in-utc"),
    ("2024-03-01T05:00:00+06:00", "2024-02-29", "back-to-leap-day"),
    ("2024-07-30T00:00:00Z", "2024-07-30", "midnight"),
    ("2024-07-30T23:59:59.999999999Z", "2024-07-30", "last-microsecond"),
    ("1969-12-31T23:59:59.999999Z", "1969-12-31", "before-epoch"),
]


@pytest.mark.parametrize("text, date", [(t, d) for t, d, _ in UTC_DATES], ids=[i for *_, i in UTC_DATES])
def test_utc_date(text, date):
    assert utc_date(parse_event_time(text)) == date


def test_micros_to_datetime_round_trip():
    value = parse_event_time("2019-11-05 07:38:00.123456789 -0800")
    as_datetime = micros_to_datetime(value)
    assert as_datetime == dt.datetime(2019, 11, 5, 15, 38, 0, 123456, tzinfo=UTC)
    assert as_datetime.utcoffset() == dt.timedelta(0)


def test_docstring_example():
    assert parse_event_time("2019-11-05 07:38:00 -0800") == parse_event_time("2019-11-05T15:38:00Z")
