"""Routed lines simdjson has parsed are classified by the strict path's checks on orjson's parse.

:func:`transforms.events.classify_parsed_line` must give exactly
:func:`transforms.events.classify_event`'s outcome (fingerprints and dead-letter
details included) on every line; orjson's parse is used only where it provably
equals the strict parse.
"""

from __future__ import annotations

import json

import pytest

import transforms.events as events
from tests.event_cases import COMPLETED, LEGACY, RETRY, STARTED, make
from tests.test_classify_fast_path import STRANGE_STRINGS, corrupt, varied_lines
from transforms import nested_json
from transforms.events import (
    Accepted,
    LineClassifier,
    classify_event,
    classify_parsed_line,
    event_fingerprint,
    orjson_parse_as_strict,
)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_it_agrees_with_the_strict_path_on_every_line(seed):
    lines = varied_lines(seed, 400)
    vouched = 0
    for line in lines:
        assert classify_parsed_line(line, b"k") == classify_event(line, b"k"), line[:200]
        vouched += orjson_parse_as_strict(line) is not None
    # The orjson parse really settled many lines (otherwise the comparison says little).
    assert vouched > len(lines) // 8


ROUTED = [make(kind) for kind in ("retry", "legacy", "completed", "started", "assignment")]


@pytest.mark.parametrize("line", ROUTED)
def test_a_plain_routed_line_is_vouched_for_and_accepted_alike(line):
    parsed = orjson_parse_as_strict(line)
    assert parsed is not None
    value, canonical = parsed
    assert value == json.loads(line)
    assert canonical == nested_json.dumps_canonical(value).encode("utf-8")
    assert classify_parsed_line(line, b"k") == classify_event(line, b"k")


@pytest.mark.parametrize(
    "body_change",
    [
        {"score": 1e-05},  # written 1e-05 by Python's json, 0.00001 by orjson
        {"score": 2.5},
        {"score": [1, -3e20]},
        {"big": 2**70},  # orjson would read a float
        {"small": -(2**63) - 1},
    ],
)
@pytest.mark.parametrize("kind", ["retry", "completed", "assignment"])
def test_a_line_with_a_float_or_a_big_integer_is_left_to_the_strict_parse(kind, body_change):
    line = make(kind, body=body_change)
    assert orjson_parse_as_strict(line) is None
    outcome = classify_parsed_line(line, b"k")
    assert outcome == classify_event(line, b"k")
    if kind != "assignment":
        assert isinstance(outcome, Accepted)
        assert outcome.event.event_fingerprint == event_fingerprint(json.loads(line))


@pytest.mark.parametrize(
    "line",
    [
        make("retry")[:-1] + b',"body":{"original_course_uuid":"other"}}',  # a repeated name
        make("retry").replace(b'"event_name"', b'"x": "a\\u003ab", "event_name"', 1),
        b"[" + make("retry") + b"]",
        b'"just a string"',
        b"18446744073709551616",
    ],
)
def test_repeated_names_escaped_colons_and_non_objects_are_left_to_the_strict_parse(line):
    assert orjson_parse_as_strict(line) is None
    assert classify_parsed_line(line, b"k") == classify_event(line, b"k")


@pytest.mark.parametrize("text", STRANGE_STRINGS)
def test_the_canonical_text_is_the_strict_paths_for_any_string(text):
    line = make("retry", meta={"request_id": text}, body={text or "empty": [text, {text: text}]})
    parsed = orjson_parse_as_strict(line)
    assert parsed is not None
    assert parsed[1] == nested_json.dumps_canonical(json.loads(line)).encode("utf-8")
    assert classify_parsed_line(line, b"k") == classify_event(line, b"k")


@pytest.mark.parametrize("seed", range(40))
def test_damaged_routed_lines_agree(seed):
    import random

    rng = random.Random(seed)
    for kind in ("retry", "completed", "started", "legacy"):
        line = corrupt(rng, make(kind))
        assert classify_parsed_line(line, b"k") == classify_event(line, b"k"), line[:200]


def test_the_classifier_settles_plain_routed_lines_without_the_strict_parse(monkeypatch):
    lines = [make("retry"), make("legacy"), make("completed"), make("started")]
    expected = [classify_event(line, b"k") for line in lines]
    strict_parses = []
    real = events.parse_strict_json
    monkeypatch.setattr(
        events, "parse_strict_json", lambda *a: strict_parses.append(a[0]) or real(*a)
    )
    result = LineClassifier(b"k").classify_lines(lines, 0, "f")
    assert strict_parses == []
    assert result.accepted == expected
    assert {outcome.event.source_event_name for outcome in expected[:2]} == {RETRY, LEGACY}
    assert result.counts["accepted_before_dedup." + COMPLETED] == 1
    assert result.counts["accepted_before_dedup." + STARTED] == 1
