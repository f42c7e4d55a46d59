"""Repeated member names: the first occurrence wins on every path, for every routed event.

RFC 8259 leaves repeated names undefined. The strict path (the authority) and
simdjson read the first; orjson, which the assignment fast path parses with,
keeps the last. So the fast path must hand every line with a repeated name to
the strict path, and both paths must give the same rows, fingerprints included.
"""

from __future__ import annotations

import json
import random

import pytest

import transforms.events as events
from tests.conftest import line, noise
from transforms.events import (
    Accepted,
    LineClassifier,
    Skipped,
    accept_valid_assignment,
    classify_event,
)

BODY = {
    "assignment_id": "101",
    "context_uuid": "C" * 40,
    "context_type": "Course",
    "workflow_state": "published",
    "lti_resource_link_id": "link-1",
    "points_possible": 10,
}


def assignment_line(**metadata) -> bytes:
    return line("assignment_updated", dict(BODY), "2024-07-30T10:00:00Z", **metadata)


def with_member(raw: bytes, after: bytes, member: bytes) -> bytes:
    """``raw`` with ``member`` inserted after the first occurrence of ``after``."""
    at = raw.index(after) + len(after)
    return raw[:at] + member + raw[at:]


BASE = assignment_line()
DUPLICATED = {
    "workflow_state, second differs": with_member(BASE, b'"body": {', b'"workflow_state": "x", '),
    "workflow_state, second last": BASE.replace(b"}}", b', "workflow_state": "deleted"}}'),
    "context_type Course then Group": BASE.replace(b"}}", b', "context_type": "Group"}}'),
    "context_type Group then Course": with_member(BASE, b'"body": {', b'"context_type": "Group", '),
    "assignment_id string then integer": BASE.replace(b"}}", b', "assignment_id": 7}}'),
    "assignment_id invalid then valid": with_member(BASE, b'"body": {', b'"assignment_id": [], '),
    "link id null then set": with_member(BASE, b'"body": {', b'"lti_resource_link_id": null, '),
    "a field nobody reads": BASE.replace(b"}}", b', "points_possible": 11}}'),
    "the same value twice": BASE.replace(b"}}", b', "points_possible": 10}}'),
    "nested": BASE.replace(b"}}", b', "rubric": {"a": 1, "a": {"b": "c:d"}}}}'),
    "escaped spelling": BASE.replace(b"}}", b', "\\u0077orkflow_state": "deleted"}}'),
    "event_time valid then invalid": BASE.replace(
        b'"producer"', b'"event_time": "bad", "producer"'
    ),
    "event_time invalid then valid": with_member(BASE, b'"metadata": {', b'"event_time": "x", '),
    "event_name then noise": BASE.replace(b'"producer"', b'"event_name": "logged_in", "producer"'),
    "noise then event_name": with_member(BASE, b'"metadata": {', b'"event_name": "logged_in", '),
    "root account": BASE.replace(b'"producer"', b'"root_account_uuid": 5, "producer"'),
    "metadata twice": BASE[:-1] + b', "metadata": {"event_name": "logged_in"}}',
    "body twice": BASE[:-1] + b', "body": {"assignment_id": "9", "context_uuid": "D",'
    b' "workflow_state": "deleted"}}',
    "body first invalid": b'{"body": 5, ' + BASE[1:],
}
# No repeated name, but a colon the line spells as an escape: the fast path cannot tell.
ESCAPED_COLON = BASE.replace(b'"published"', b'"pub\\u003alished"')


def classify_one(raw: bytes, monkeypatch) -> tuple[object, list[bytes]]:
    strict_calls: list[bytes] = []
    real = events.classify_event
    monkeypatch.setattr(
        events, "classify_event", lambda *a, **k: strict_calls.append(a[0]) or real(*a, **k)
    )
    result = LineClassifier().classify_lines([noise(), raw, noise()], 0, "f")
    monkeypatch.undo()
    if result.accepted:
        assert len(result.accepted) == 1 and not result.dead_letters
        return result.accepted[0], strict_calls
    if result.dead_letters:
        return result.dead_letters[0].error_code, strict_calls
    skipped = {
        name: count
        for name, count in result.counts.items()
        if name.startswith("skipped_by_event_name.")
        and name != "skipped_by_event_name.asset_accessed"
    }
    assert len(skipped) == 1, result.counts
    return Skipped(next(iter(skipped)).removeprefix("skipped_by_event_name.")), strict_calls


@pytest.mark.parametrize("raw", list(DUPLICATED.values()), ids=list(DUPLICATED))
def test_a_line_with_a_repeated_name_is_classified_as_the_strict_path_does(raw, monkeypatch):
    expected = classify_event(raw)
    got, _ = classify_one(raw, monkeypatch)
    if isinstance(expected, Accepted | Skipped):
        assert got == expected
    else:
        assert got == expected.error_code
    # Only the strict path may settle it (or simdjson, which also reads the first name).
    assert accept_valid_assignment(raw, "assignment_updated") is None


@pytest.mark.parametrize("raw", list(DUPLICATED.values()), ids=list(DUPLICATED))
def test_the_strict_path_reads_the_first_occurrence(raw):
    first_wins = json.loads(raw, object_pairs_hook=lambda pairs: dict(reversed(pairs)))
    outcome = classify_event(raw)
    if isinstance(outcome, Accepted):
        assert outcome.event.event_fingerprint == events.assignment_fingerprint(first_wins)
        assert outcome.event.workflow_state == first_wins["body"]["workflow_state"]


def test_an_escaped_colon_sends_the_line_to_the_strict_path_with_the_same_result(monkeypatch):
    got, strict_calls = classify_one(ESCAPED_COLON, monkeypatch)
    assert strict_calls == [ESCAPED_COLON]
    assert got == classify_event(ESCAPED_COLON)
    assert got.event.workflow_state == "pub:lished"


def test_a_line_without_repeated_names_stays_on_the_fast_path(monkeypatch):
    got, strict_calls = classify_one(BASE, monkeypatch)
    assert strict_calls == []
    assert got == classify_event(BASE)


def random_member_value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth < 3 and roll < 0.2:
        return {f"k{rng.randint(0, 5)}": random_member_value(rng, depth + 1) for _ in range(3)}
    if depth < 3 and roll < 0.3:
        return [random_member_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice(["a:b", "::", "", "x", 1, -2.5, None, True, "\\:", '"', "caf\u00e9"])


def object_names(raw: bytes) -> list[list[str]]:
    """The member names of every object of a JSON text, repeats included."""
    names: list[list[str]] = []
    json.loads(raw, object_pairs_hook=lambda pairs: names.append([k for k, _ in pairs]))
    return names


def test_any_repeated_name_at_any_depth_is_caught(monkeypatch):
    rng = random.Random(3)
    caught = 0
    for _ in range(400):
        body = {**BODY, **{f"f{i}": random_member_value(rng) for i in range(rng.randint(0, 5))}}
        text = json.dumps(
            {"metadata": json.loads(BASE)["metadata"], "body": body},
            ensure_ascii=rng.random() < 0.5,
        )
        assert accept_valid_assignment(text.encode(), "assignment_updated") is not None
        # Repeat one member of one object, at some depth, with some value.
        openings = [i for i, char in enumerate(text) if char == "{"]
        for _ in range(10):
            at = rng.choice(openings) + 1
            name = json.dumps(rng.choice(["assignment_id", "k1", "k2", "metadata", "f0", "x"]))
            member = f"{name}: {json.dumps(random_member_value(rng))}"
            repeated = (text[:at] + member + ", " + text[at:]).encode()
            try:
                parsed_pairs = object_names(repeated)
            except ValueError:
                continue  # inserted into an empty object: "{x: 1, }" is not JSON
            if not any(len(set(keys)) < len(keys) for keys in parsed_pairs):
                continue  # the name was new in that object
            caught += 1
            assert accept_valid_assignment(repeated, "assignment_updated") is None, repeated
    assert caught > 500
