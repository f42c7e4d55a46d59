"""Deeply nested JSON: invalid_json past simdjson's depth limit, no crash, no global change."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
import simdjson

from tests.conftest import retry
from transforms.events import (
    INVALID_EVENT_TIME,
    INVALID_JSON,
    MAX_JSON_DEPTH,
    MISSING_EVENT_NAME,
    RETRY_EVENT,
    Accepted,
    DeadLetter,
    LineClassifier,
    classify_event,
)

SOURCE, TARGET = "A" * 40, "B" * 40


def nested_retry(depth: int, innermost: object = None) -> bytes:
    """A valid retry whose unread body field ``extra`` brings the line's nesting to ``depth``."""
    marker = '"__innermost__"'
    line = retry(SOURCE, TARGET, "2024-07-30T10:00:00Z", extra=json.loads(marker))
    lists = depth - 2  # the envelope and the body are the first two levels
    return line.replace(marker.encode(), b"[" * lists + json.dumps(innermost).encode() + b"]" * lists)


def simdjson_accepts(line: bytes) -> bool:
    try:
        simdjson.Parser().parse(line)
    except Exception:
        return False
    return True


@pytest.mark.slow
def test_importing_the_classifier_leaves_the_recursion_limit_alone():
    code = ("import sys; before = sys.getrecursionlimit(); import transforms.events; "
            "print(before, sys.getrecursionlimit())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    before, after = done.stdout.split()
    assert before == after


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH])
def test_routed_event_nested_up_to_the_limit_is_accepted(depth):
    # simdjson itself stops one level short (it accepts 1,023): the strict path decides every line
    # it rejects.
    line = nested_retry(depth)
    assert simdjson_accepts(line) == (depth < MAX_JSON_DEPTH)
    limit = sys.getrecursionlimit()
    outcome = classify_event(line)
    assert isinstance(outcome, Accepted) and outcome.event.new_course_uuid == TARGET
    assert sys.getrecursionlimit() == limit


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 200_000])
def test_routed_event_nested_past_the_limit_is_invalid_json(depth):
    line = nested_retry(depth)
    assert not simdjson_accepts(line)
    limit = sys.getrecursionlimit()
    outcome = classify_event(line)
    assert isinstance(outcome, DeadLetter) and outcome.error_code == INVALID_JSON
    assert sys.getrecursionlimit() == limit


def test_answer_does_not_depend_on_the_callers_stack_depth():
    line = nested_retry(MAX_JSON_DEPTH)
    frames_to_spare = 60

    def classify_near_the_limit(frames_left: int):
        if frames_left > frames_to_spare:
            return classify_near_the_limit(frames_left - 1)
        return classify_event(line)

    depth_now = len(__import__("inspect").stack(0))
    outcome = classify_near_the_limit(sys.getrecursionlimit() - depth_now)
    assert isinstance(outcome, Accepted)


def test_deep_strings_are_checked_for_lone_surrogates_without_crashing():
    pair = nested_retry(MAX_JSON_DEPTH, innermost="\U0001F600").replace(b"\xf0\x9f\x98\x80", b"\\ud83d\\ude00")
    assert b"\\ud83d\\ude00" in pair
    assert isinstance(classify_event(pair), Accepted)
    lone = nested_retry(MAX_JSON_DEPTH, innermost="x").replace(b'"x"', b'"\\ud800"')
    outcome = classify_event(lone)
    assert isinstance(outcome, DeadLetter) and outcome.error_code == INVALID_JSON


def test_block_classifier_routes_deep_lines_like_classify_event():
    lines = [nested_retry(MAX_JSON_DEPTH), nested_retry(MAX_JSON_DEPTH + 1)]
    result = LineClassifier().classify_lines(lines, 0)
    assert [a.event.new_course_uuid for a in result.accepted] == [TARGET]
    assert [d.error_code for d in result.dead_letters] == [INVALID_JSON]


def test_classifying_a_deep_line_never_touches_the_recursion_limit(monkeypatch):
    def forbidden(limit: int) -> None:
        raise AssertionError(f"sys.setrecursionlimit({limit}) called")

    monkeypatch.setattr(sys, "setrecursionlimit", forbidden)
    accepted = classify_event(nested_retry(MAX_JSON_DEPTH))
    assert isinstance(accepted, Accepted) and accepted.event.new_course_uuid == TARGET
    rejected = classify_event(nested_retry(MAX_JSON_DEPTH + 1))
    assert isinstance(rejected, DeadLetter) and rejected.error_code == INVALID_JSON


def test_deep_line_gets_the_same_answer_and_fingerprint_with_little_stack():
    line = nested_retry(MAX_JSON_DEPTH)
    roomy = classify_event(line)
    results = []

    def classify_under(frames: int) -> None:
        # Use up all but `frames` of this thread's recursion budget, then classify.
        def descend(left: int) -> None:
            if left > frames:
                descend(left - 1)
            else:
                results.append(classify_event(line))

        descend(sys.getrecursionlimit() - 20)

    worker = threading.Thread(target=classify_under, args=(120,))
    worker.start()
    worker.join()
    assert isinstance(roomy, Accepted)
    assert results == [roomy]


@pytest.mark.slow
def test_deep_line_fingerprint_is_the_c_encoders_with_room_to_recurse():
    line = nested_retry(MAX_JSON_DEPTH)
    code = (
        "import hashlib, json, sys; sys.setrecursionlimit(100_000); "
        "first_wins = lambda pairs: dict(reversed(pairs)); "
        "value = json.loads(sys.stdin.read(), object_pairs_hook=first_wins); "
        "text = json.dumps(value, sort_keys=True, separators=(',', ':'), ensure_ascii=False); "
        "print(hashlib.sha256(text.encode()).hexdigest())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=line.decode(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    outcome = classify_event(line)
    assert isinstance(outcome, Accepted)
    assert outcome.event.event_fingerprint == done.stdout.strip()


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ('"metadata": {"event_name": %s', MISSING_EVENT_NAME),
        ('"metadata": {"event_name": "' + RETRY_EVENT + '", "event_time": %s', INVALID_EVENT_TIME),
    ],
)
def test_deep_value_in_a_reported_field_is_a_dead_letter_with_its_repr(field, code):
    deep = "[" * (MAX_JSON_DEPTH - 2) + "]" * (MAX_JSON_DEPTH - 2)
    line = ("{" + field % deep + "}}").encode()
    outcome = classify_event(line)
    assert isinstance(outcome, DeadLetter) and outcome.error_code == code
    name = "event_name" if code == MISSING_EVENT_NAME else "event_time"
    assert outcome.error_detail == f"metadata.{name}: " + "[" * 80
