"""The timestamp shortcut gives exactly what the strict parser gives, on every shape."""

from __future__ import annotations

import random

import pytest

from transforms import timestamps
from transforms.timestamps import TimestampError, event_time_micros, parse_event_time


def either(parse, text: str) -> int | str:
    try:
        return parse(text)
    except TimestampError:
        return "error"


OFFSETS = [
    "Z",
    "+00:00",
    "-00:00",
    "+0000",
    "+05:30",
    "-0800",
    "-08:00",
    "+23:59",
    "-2359",
    "+24:00",
    "+12:60",
    "-9999",
    " Z",
    " +0100",
    " -07:00",
    "z",
    "+5:30",
    "+05:3",
    "+05",
    "",
    "  Z",
    "+05:30 ",
    "UTC",
]
FRACTIONS = ["", ".", *(("." + "123456789"[:digits]) for digits in range(1, 11))]
SEPARATORS = ["T", " ", "t", "_", "  "]


def pick(rng: random.Random, common: list, rare: list) -> object:
    """Mostly a common value, sometimes a rare one (often invalid)."""
    return rng.choice(rare if rng.random() < 0.1 else common)


def random_text(rng: random.Random) -> str:
    date = "%04d-%02d-%02d" % (
        pick(rng, [1970, 2000, 2024, rng.randint(1, 9999)], [0, 1, 2, 1900, 2100, 9998, 9999]),
        pick(rng, [rng.randint(1, 12)], [0, 2, 13]),
        pick(rng, [rng.randint(1, 28)], [0, 29, 30, 31, 32]),
    )
    clock = "%02d:%02d:%02d" % (
        pick(rng, [rng.randint(0, 23)], [0, 23, 24, 99]),
        pick(rng, [rng.randint(0, 59)], [0, 59, 60]),
        pick(rng, [rng.randint(0, 59)], [0, 59, 60, 61]),
    )
    fraction = str(pick(rng, FRACTIONS[:8], FRACTIONS[8:]))
    if fraction not in ("", "."):
        fraction = "." + "".join(rng.choice("0123456789") for _ in fraction[1:])
    offset = str(pick(rng, OFFSETS[:13], OFFSETS[13:]))
    text = date + str(pick(rng, SEPARATORS[:2], SEPARATORS[2:])) + clock + fraction + offset
    roll = rng.random()
    if roll < 0.03:  # other digits, other characters, truncation, extra text
        position = rng.randrange(len(text))
        text = text[:position] + rng.choice("\u0663\uff12x-: \u00b2") + text[position + 1 :]
    elif roll < 0.05:
        text = text[: rng.randrange(len(text))]
    elif roll < 0.06:
        text += rng.choice(["\n", "x", "0"])
    return text


EDGES = [
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:30:00+01:00",
    "0001-01-01T00:30:00-01:00",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59.999999999Z",
    "9999-12-31T23:30:00-01:00",
    "9999-12-31T23:30:00+01:00",
    "2024-02-29T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2100-02-29T00:00:00Z",
    "2000-02-29T00:00:00Z",
    "2024-07-30T19:04:35.8Z",
    "2024-07-30 19:04:35Z",
    "2024-07-30T19:04:35.1234567Z",
    "2024-07-30T19:04:35+02:00",
    "2024-07-30 12:04:35 -0700",
    "2024-07-30T19:04:35.123+00:00",
    "2024-07-30T19:04:35.999999999-05:00",
    "2024-07-30T19:04:35z",
    "2024-07-30T19:04:35",
    "2024-07-30T19:04Z",
    "20240730T190435Z",
    "\uff12\uff10\uff12\uff14-07-30T19:04:35Z",  # fullwidth digits: not a time
    "2024-07-30T19:04:35\u0665Z",
    "",
]


def test_the_shortcut_agrees_with_the_strict_parser_on_many_shapes():
    rng = random.Random(12)
    cases = EDGES + [random_text(rng) for _ in range(20_000)]
    shortcut = [either(event_time_micros, text) for text in cases]
    strict = [either(parse_event_time, text) for text in cases]
    differing = [(t, a, b) for t, a, b in zip(cases, shortcut, strict, strict=True) if a != b]
    assert differing == []
    # Both kinds are well represented, or the comparison says little.
    valid = sum(result != "error" for result in strict)
    assert 3_000 < valid < len(cases) - 3_000


def test_the_shortcut_agrees_again_when_its_caches_are_warm_and_after_they_are_cleared():
    texts = [
        "2024-07-30T19:04:%02d.%03d%s" % (second, second * 7, offset)
        for second in range(0, 62)
        for offset in ("Z", "+00:00", "-0530", " +2400")
    ]
    first = [either(event_time_micros, text) for text in texts]
    second = [either(event_time_micros, text) for text in texts]
    timestamps._minute_micros.clear()
    timestamps._offset_micros.clear()
    third = [either(event_time_micros, text) for text in texts]
    assert first == second == third == [either(parse_event_time, text) for text in texts]


def test_the_minute_cache_stays_bounded():
    for minute in range(timestamps._MINUTE_CACHE_SIZE * 2):
        text = "2024-07-%02dT%02d:%02d:00Z" % (1 + minute // 1440, minute // 60 % 24, minute % 60)
        assert event_time_micros(text) == parse_event_time(text)
    assert len(timestamps._minute_micros) <= timestamps._MINUTE_CACHE_SIZE


@pytest.mark.parametrize(
    "text",
    [
        "2024-07-30T19:04:35.123Z",
        "2024-07-30T19:04:35.123+00:00",
        "2024-07-30T19:04:35.123456789Z",
        "2024-07-30T19:04:35.123-0700",
        "2024-07-30T19:04:35.123+05:30",
        "2024-07-30 19:04:35 +0000",
        "2024-07-30 19:04:35 -0400",
        "2024-07-30T19:04:35Z",
    ],
)
def test_the_shapes_producers_send_take_the_shortcut(text, monkeypatch):
    expected = parse_event_time(text)
    calls = []
    monkeypatch.setattr(timestamps, "parse_event_time", lambda t: calls.append(t) or expected)
    assert event_time_micros(text) == expected
    assert calls == []


@pytest.mark.parametrize(
    "text",
    ["2024-07-30T19:04:60Z", "2024-02-30T00:00:00Z", "2024-07-30T19:04:35+24:00", "bad"],
)
def test_what_the_shortcut_cannot_vouch_for_goes_to_the_strict_parser(text):
    with pytest.raises(TimestampError):
        event_time_micros(text)
