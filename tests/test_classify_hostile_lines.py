"""The classifier's fast paths settle a hostile line only as the strict path would.

Every line here goes through :class:`LineClassifier` (simdjson for noise, orjson
for assignment events) and through :func:`classify_event` (the authority) on its
own; the two must give the same skip, dead letter (code and event name) or
accepted event. Each hostile change is applied to a line of each kind.
"""

from __future__ import annotations

import json

import pytest

import transforms.events as events
from tests.event_cases import event_line, make, noise_of_size
from transforms.events import (
    MAX_JSON_DEPTH,
    MAX_LINE_BYTES,
    Accepted,
    DeadLetter,
    LineClassifier,
    Skipped,
    classify_event,
)

ASSIGNMENT = event_line(
    {"event_name": "assignment_updated", "event_time": "2024-07-30T19:04:35.872+00:00"},
    {
        "assignment_id": "101",
        "context_uuid": "C-uuid",
        "context_type": "Course",
        "workflow_state": "published",
        "lti_resource_link_id": "link-1",
    },
)
LINES = {
    "noise": make("noise"),
    "assignment": ASSIGNMENT,
    "retry": make("retry"),
    "legacy quiz copy": make("legacy", body={"status": "completed"}),
    "completed": make("completed"),
}


def in_body(line: bytes, member: bytes) -> bytes:
    """``line`` with ``member`` as the first member of its body."""
    at = line.index(b'"body":') + len(b'"body":')
    at = line.index(b"{", at) + 1
    return line[:at] + member + b"," + line[at:]


def in_metadata(line: bytes, member: bytes) -> bytes:
    at = line.index(b'"metadata":') + len(b'"metadata":')
    at = line.index(b"{", at) + 1
    return line[:at] + member + b"," + line[at:]


def at_end_of_metadata(line: bytes, member: bytes) -> bytes:
    """``member`` after the last member of metadata (a repeat there is the second one)."""
    at = line.index(b'"body":')
    at = line.rindex(b"}", 0, at)
    return line[:at] + b"," + member + line[at:]


def renamed_event(line: bytes, spelled: bytes) -> bytes:
    name = json.loads(line)["metadata"]["event_name"]
    return line.replace(json.dumps(name).encode(), spelled, 1)


HOSTILE = {
    # encoding
    "invalid UTF-8 in a skipped field": lambda ln: in_body(ln, b'"x":"\xff"'),
    "truncated UTF-8 sequence": lambda ln: in_body(ln, b'"x":"\xc3"'),
    "overlong UTF-8": lambda ln: in_body(ln, b'"x":"\xc0\xaf"'),
    "encoded surrogate": lambda ln: in_body(ln, b'"x":"\xed\xa0\x80"'),
    "UTF-8 beyond U+10FFFF": lambda ln: in_body(ln, b'"x":"\xf4\x90\x80\x80"'),
    "invalid UTF-8 in a key": lambda ln: in_body(ln, b'"\xff":1'),
    "lone high surrogate escape": lambda ln: in_body(ln, b'"x":"\\ud800"'),
    "lone low surrogate escape": lambda ln: in_body(ln, b'"x":"\\udc00"'),
    "reversed surrogate pair": lambda ln: in_body(ln, b'"x":"\\udc00\\ud800"'),
    "lone surrogate in a key": lambda ln: in_body(ln, b'"\\udbff":1'),
    "lone surrogate in metadata": lambda ln: in_metadata(ln, b'"x":"a\\ud83d"'),
    "valid surrogate pair": lambda ln: in_body(ln, b'"x":"\\ud83d\\ude00"'),
    "escaped backslash then u": lambda ln: in_body(ln, b'"x":"\\\\ud800"'),
    # grammar
    "NaN": lambda ln: in_body(ln, b'"x":NaN'),
    "Infinity": lambda ln: in_body(ln, b'"x":[Infinity]'),
    "-Infinity": lambda ln: in_metadata(ln, b'"x":-Infinity'),
    "trailing comma in an object": lambda ln: ln[:-1] + b",}",
    "trailing comma in an array": lambda ln: in_body(ln, b'"x":[1,2,]'),
    "single quotes": lambda ln: in_body(ln, b"'x':1"),
    "comment": lambda ln: in_body(ln, b'"x":1/* c */'),
    "leading zero": lambda ln: in_body(ln, b'"x":01'),
    "hex number": lambda ln: in_body(ln, b'"x":0x10'),
    "plus sign": lambda ln: in_body(ln, b'"x":+1'),
    "two documents": lambda ln: ln + b" {}",
    "trailing garbage": lambda ln: ln + b"x",
    # numbers
    "2**64": lambda ln: in_body(ln, b'"x":18446744073709551616'),
    "2**64 - 1": lambda ln: in_body(ln, b'"x":18446744073709551615'),
    "-2**63 - 1": lambda ln: in_body(ln, b'"x":-9223372036854775809'),
    "-2**63": lambda ln: in_body(ln, b'"x":-9223372036854775808'),
    "2**70": lambda ln: in_body(ln, b'"x":1180591620717411303424'),
    "1e400": lambda ln: in_body(ln, b'"x":1e400'),
    "1e-400": lambda ln: in_body(ln, b'"x":1e-400'),
    "-0": lambda ln: in_body(ln, b'"x":-0'),
    "1E5": lambda ln: in_body(ln, b'"x":1E5'),
    "long fraction": lambda ln: in_body(ln, b'"x":0.' + b"1" * 400),
    # control characters and whitespace
    "raw control character in a string": lambda ln: in_body(ln, b'"x":"\x01"'),
    "raw tab in a string": lambda ln: in_body(ln, b'"x":"a\tb"'),
    "raw NUL in a string": lambda ln: in_body(ln, b'"x":"\x00"'),
    "DEL in a string": lambda ln: in_body(ln, b'"x":"\x7f"'),
    "escaped NUL": lambda ln: in_body(ln, b'"x":"\\u0000"'),
    "line separator": lambda ln: in_body(ln, '"x":"\u2028"'.encode()),
    "leading spaces and tabs": lambda ln: b" \t " + ln,
    "trailing spaces and tabs": lambda ln: ln + b" \t ",
    "trailing CR": lambda ln: ln + b"\r",
    "inner CR as whitespace": lambda ln: ln.replace(b'"body":', b'"body":\r', 1),
    "form feed": lambda ln: b"\x0c" + ln,
    "vertical tab": lambda ln: ln + b"\x0b",
    "no-break space": lambda ln: "\u00a0".encode() + ln,
    "trailing NUL": lambda ln: ln + b"\x00",
    "BOM at the start": lambda ln: b"\xef\xbb\xbf" + ln,
    "BOM inside": lambda ln: ln.replace(b'"body":', b'"body":\xef\xbb\xbf', 1),
    "two BOMs": lambda ln: b"\xef\xbb\xbf\xef\xbb\xbf" + ln,
    # nesting
    f"nested {MAX_JSON_DEPTH - 1} deep": lambda ln: in_body(
        ln, b'"x":' + b"[" * (MAX_JSON_DEPTH - 2) + b"]" * (MAX_JSON_DEPTH - 2)
    ),
    f"nested {MAX_JSON_DEPTH + 1} deep": lambda ln: in_body(
        ln, b'"x":' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    ),
    "nested 5000 deep": lambda ln: in_body(ln, b'"x":' + b'{"a":' * 5000 + b"1" + b"}" * 5000),
    "unbalanced": lambda ln: in_body(ln, b'"x":[[1]'),
    # repeated names
    "metadata repeated, second routed": lambda ln: (
        ln[:-1] + b',"metadata":{"event_name":"outcomes.retry_outcome_alignment_clone"}}'
    ),
    "metadata repeated, second noise": lambda ln: (
        ln[:-1] + b',"metadata":{"event_name":"logged_in"}}'
    ),
    "metadata first not an object": lambda ln: b'{"metadata":5,' + ln[1:],
    "event_name repeated, second routed": lambda ln: at_end_of_metadata(
        ln, b'"event_name":"assignment_created"'
    ),
    "event_name repeated, first noise": lambda ln: in_metadata(ln, b'"event_name":"logged_in"'),
    "event_name repeated, first empty": lambda ln: in_metadata(ln, b'"event_name":""'),
    "event_name repeated, first null": lambda ln: in_metadata(ln, b'"event_name":null'),
    "body repeated": lambda ln: ln[:-1] + b',"body":{"status":"outcome_alignment_cloning"}}',
    "status repeated": lambda ln: in_body(ln, b'"status":"outcome_alignment_cloning"'),
    "context_type repeated": lambda ln: in_body(ln, b'"context_type":"Account"'),
    # envelope and event name
    "metadata an array": lambda ln: b'{"metadata":[],' + ln[ln.index(b'"body"') :],
    "metadata a string": lambda ln: b'{"metadata":"m",' + ln[ln.index(b'"body"') :],
    "metadata null": lambda ln: b'{"metadata":null,' + ln[ln.index(b'"body"') :],
    "no metadata": lambda ln: b"{" + ln[ln.index(b'"body"') :],
    "event an array": lambda ln: b"[" + ln + b"]",
    "event a string": lambda ln: json.dumps(ln.decode("utf-8", "replace")).encode(),
    "event_name an integer": lambda ln: renamed_event(ln, b"5"),
    "event_name null": lambda ln: renamed_event(ln, b"null"),
    "event_name empty": lambda ln: renamed_event(ln, b'""'),
    "event_name an array": lambda ln: renamed_event(ln, b'["assignment_updated"]'),
    "event_name an object": lambda ln: renamed_event(ln, b'{"a":1}'),
    "event_name true": lambda ln: renamed_event(ln, b"true"),
    "event_name a float": lambda ln: renamed_event(ln, b"1.5"),
    "event_name escaped": lambda ln: renamed_event(ln, b'"\\u0061sset_accessed"'),
    "routed event_name escaped": lambda ln: renamed_event(ln, b'"assignment\\u005fupdated"'),
    "event_name with a lone surrogate": lambda ln: renamed_event(ln, b'"logged_in\\ud800"'),
    "event_name with NUL": lambda ln: renamed_event(ln, b'"logged_in\\u0000"'),
    "event_name with a space": lambda ln: renamed_event(ln, b'"assignment_updated "'),
    "event_name in other case": lambda ln: renamed_event(ln, b'"Assignment_Updated"'),
}


def classify_alone(line: bytes) -> object:
    """What ``classify_lines`` makes of one line: Skipped, a dead letter's key, Accepted or None."""
    result = LineClassifier(b"k").classify_lines([line], 0, "f")
    if result.dead_letters:
        (row,) = result.dead_letters
        return ("dead", row.error_code, row.event_name)
    if result.accepted:
        (accepted,) = result.accepted
        return accepted
    skipped = [
        name.removeprefix("skipped_by_event_name.")
        for name in result.counts
        if name.startswith("skipped_by_event_name.")
    ]
    if skipped:
        (name,) = skipped
        return Skipped(name)
    assert result.counts["blank_lines"] == 1
    return None


def authoritative(line: bytes) -> object:
    outcome = classify_event(line.removesuffix(b"\r"), b"k")
    if isinstance(outcome, DeadLetter):
        return ("dead", outcome.error_code, outcome.event_name)
    return outcome


@pytest.mark.parametrize("kind", list(LINES))
@pytest.mark.parametrize("hostile", list(HOSTILE))
def test_a_hostile_line_is_settled_as_the_strict_path_settles_it(hostile, kind):
    line = HOSTILE[hostile](LINES[kind])
    assert classify_alone(line) == authoritative(line)


@pytest.mark.parametrize("kind", list(LINES))
def test_the_unchanged_lines_are_settled_by_their_fast_paths(kind, monkeypatch):
    strict_calls = []
    real = events.classify_event
    monkeypatch.setattr(
        events, "classify_event", lambda *a, **k: strict_calls.append(a[0]) or real(*a, **k)
    )
    outcome = classify_alone(LINES[kind])
    monkeypatch.undo()
    assert outcome == authoritative(LINES[kind])
    # Routed lines are settled by the strict path's checks on orjson's parse
    # (classify_parsed_line), without classify_event.
    assert strict_calls == []
    assert isinstance(outcome, Accepted) == (kind in ("retry", "completed", "assignment"))


@pytest.mark.parametrize("size", [MAX_LINE_BYTES - 1, MAX_LINE_BYTES, MAX_LINE_BYTES + 1])
@pytest.mark.parametrize("suffix", [b"", b"\r"])
def test_oversize_lines(size, suffix):
    line = noise_of_size(size) + suffix
    assert classify_alone(line) == authoritative(line)
    routed = noise_of_size(size).replace(b"asset_accessed", b"assignment_updated", 1)[:size]
    assert classify_alone(routed + suffix) == authoritative(routed + suffix)


def test_every_kind_of_outcome_is_exercised():
    outcomes = {
        (o[1] if isinstance(o, tuple) and o[0] == "dead" else type(o).__name__)
        for kind, line in LINES.items()
        for o in (authoritative(hostile(line)) for hostile in HOSTILE.values())
    }
    assert outcomes >= {
        "Skipped",
        "Accepted",
        "invalid_encoding",
        "invalid_json",
        "invalid_envelope",
        "missing_event_name",
        "invalid_body",
    }, outcomes
