"""Routing and validation of ``assignment_created`` and ``assignment_updated`` events."""

from __future__ import annotations

import json

import pytest

import transforms.events as events
from tests.conftest import CANVAS_EXAMPLES, line, noise
from transforms.events import (
    ROLE_ASSIGNMENT_STATE,
    Accepted,
    AssignmentStateEvent,
    DeadLetter,
    LineClassifier,
    Skipped,
    classify_event,
)
from transforms.timestamps import parse_event_time

BODY = {
    "assignment_id": "101",
    "context_uuid": "C" * 40,
    "context_type": "Course",
    "workflow_state": "published",
    "lti_resource_link_id": "link-1",
}


def assignment(
    body: dict | None = None,
    event_name: str = "assignment_updated",
    event_time: str = "2024-07-30T10:00:00Z",
    **metadata,
) -> bytes:
    """An assignment event line: BODY with the given changes (a None value is null, not removed)."""
    return line(event_name, {**BODY, **(body or {})}, event_time, **metadata)


def accepted(raw: bytes) -> AssignmentStateEvent:
    outcome = classify_event(raw)
    assert isinstance(outcome, Accepted), outcome
    assert outcome.role == ROLE_ASSIGNMENT_STATE
    return outcome.event


def dead(raw: bytes) -> DeadLetter:
    outcome = classify_event(raw)
    assert isinstance(outcome, DeadLetter), outcome
    return outcome


def example(name: str) -> bytes:
    return json.dumps(json.loads((CANVAS_EXAMPLES / name).read_text())).encode("utf-8")


def test_assignment_created_example_is_an_assignment_state():
    event = accepted(example("assignment_created.json"))
    assert event.source_event_name == "assignment_created"
    assert event.event_time == parse_event_time("2019-11-01T19:11:11.323Z")
    assert event.root_account_uuid == "VicYj3cu5BIFpoZhDVU4DZumnlBrWi1grgJEzADs"
    assert event.context_uuid == "a1b2c3c4z9x8a1s2q5w6p9o8i7u6y5t6a2s3d4f5"
    assert event.lti_resource_link_id == "a1b2c3c4z9x8a1s2q5w6p9o8i7u6y5t6a2s3d8h9"
    assert event.assignment_id == "21070000000000371"
    assert event.workflow_state == "created"
    assert event.lti_resource_link_id_duplicated_from == "a1b2c3c4z9x8a1s2q5w6p9o8i7u6y5t6a2s3d8h9"
    assert event.assignment_id_duplicated_from == "21070000000000420"
    assert event.domain_duplicated_from == "oxana.instructure.com"
    assert event.created_on_blueprint_sync is False
    assert len(event.event_fingerprint) == 64


def test_assignment_updated_example_uses_the_misspelled_key():
    event = accepted(example("assignment_updated.json"))
    assert event.source_event_name == "assignment_updated"
    assert event.workflow_state == "published"
    assert event.assignment_id == "21070000002030605"
    # The example spells it assignment_id_duplicated__from.
    assert event.assignment_id_duplicated_from == "21070000000000420"


@pytest.mark.parametrize("event_name", ["assignment_created", "assignment_updated"])
@pytest.mark.parametrize("context_type", ["Course", None, "absent"])
def test_course_or_absent_context_type_is_routed(event_name, context_type):
    body = dict(BODY)
    if context_type == "absent":
        del body["context_type"]
    else:
        body["context_type"] = context_type
    assert accepted(line(event_name, body)).source_event_name == event_name


@pytest.mark.parametrize("context_type", ["Account", "Group", "course", ""])
def test_other_context_types_are_skipped(context_type):
    assert classify_event(assignment({"context_type": context_type})) == Skipped(
        "assignment_updated"
    )


@pytest.mark.parametrize("field", ["assignment_id", "context_uuid", "workflow_state"])
@pytest.mark.parametrize("value", [None, "", "absent"])
def test_required_fields(field, value):
    body = dict(BODY)
    if value == "absent":
        del body[field]
    else:
        body[field] = value
    outcome = dead(line("assignment_created", body))
    assert outcome.error_code == "invalid_body"
    assert outcome.error_detail.startswith(f"body.{field}")
    assert outcome.event_name == "assignment_created"


@pytest.mark.parametrize(
    "field",
    [
        "assignment_id",
        "context_uuid",
        "workflow_state",
        "lti_resource_link_id",
        "lti_resource_link_id_duplicated_from",
        "assignment_id_duplicated_from",
        "assignment_id_duplicated__from",
        "domain_duplicated_from",
    ],
)
@pytest.mark.parametrize("value", [1.5, True, [], {"a": 1}])
def test_string_fields_of_another_type_are_invalid_body(field, value):
    outcome = dead(assignment({field: value}))
    assert outcome.error_code == "invalid_body"
    assert field in outcome.error_detail


def test_integers_are_decimal_strings_and_empty_optionals_are_null():
    event = accepted(
        assignment(
            {
                "assignment_id": 21070000000000371,
                "lti_resource_link_id_duplicated_from": "",
                "domain_duplicated_from": None,
                "assignment_id_duplicated_from": 42,
            }
        )
    )
    assert event.assignment_id == "21070000000000371"
    assert event.assignment_id_duplicated_from == "42"
    assert event.lti_resource_link_id_duplicated_from is None
    assert event.domain_duplicated_from is None


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"assignment_id_duplicated_from": "7"}, "7"),
        ({"assignment_id_duplicated__from": "8"}, "8"),
        ({"assignment_id_duplicated_from": "7", "assignment_id_duplicated__from": "8"}, "7"),
        ({"assignment_id_duplicated__from": "8", "assignment_id_duplicated_from": "7"}, "7"),
        ({"assignment_id_duplicated_from": "", "assignment_id_duplicated__from": "8"}, "8"),
        ({"assignment_id_duplicated_from": None, "assignment_id_duplicated__from": "8"}, "8"),
        ({}, None),
    ],
)
def test_both_spellings_of_assignment_id_duplicated_from(body, expected):
    assert accepted(assignment(body)).assignment_id_duplicated_from == expected


@pytest.mark.parametrize(
    "value, expected", [(True, True), (False, False), (None, None), ("absent", None)]
)
def test_created_on_blueprint_sync_is_a_boolean_or_null(value, expected):
    body = {} if value == "absent" else {"created_on_blueprint_sync": value}
    assert accepted(assignment(body)).created_on_blueprint_sync is expected


@pytest.mark.parametrize("value", [0, 1, "false", "true", [], {}])
def test_created_on_blueprint_sync_of_another_type_is_invalid_body(value):
    outcome = dead(assignment({"created_on_blueprint_sync": value}))
    assert (outcome.error_code, outcome.error_detail.split(":")[0]) == (
        "invalid_body",
        "body.created_on_blueprint_sync",
    )


def test_dead_letter_order_envelope_then_time_then_body():
    bad_body = {"assignment_id": None, "created_on_blueprint_sync": "no"}
    assert dead(assignment(bad_body, root_account_uuid=["x"])).error_code == "invalid_envelope"
    assert dead(assignment(bad_body, event_time="yesterday")).error_code == "invalid_event_time"
    assert (
        dead(assignment(bad_body, event_time="0001-01-01T00:30:00+01:00")).error_code
        == "invalid_event_time"
    )
    assert dead(assignment(bad_body)).error_code == "invalid_body"
    raw = json.dumps(
        {
            "metadata": {"event_name": "assignment_created", "event_time": "2024-07-30T10:00:00Z"},
            "body": "not an object",
        }
    ).encode()
    assert dead(raw).error_detail == "body: a JSON str, not an object"


def test_event_time_in_any_accepted_spelling_is_the_same_instant():
    first = accepted(assignment(event_time="2024-07-30T10:00:00Z"))
    second = accepted(assignment(event_time="2024-07-30 12:00:00 +0200"))
    assert first.event_time == second.event_time == parse_event_time("2024-07-30T10:00:00Z")
    assert first.event_fingerprint != second.event_fingerprint  # different JSON: different events


def test_copies_share_a_fingerprint_whatever_the_key_order():
    body = dict(reversed(list(BODY.items())))
    assert accepted(assignment()).event_fingerprint == accepted(assignment(body)).event_fingerprint


def test_the_classifier_routes_assignment_events_and_counts_them_before_dedup():
    lines = [
        noise(),
        assignment(),
        assignment({"lti_resource_link_id": None}),
        assignment({"assignment_id": []}),
        assignment({"context_type": "Account"}),
    ]
    result = LineClassifier().classify_lines(lines, 0, "f")
    assert [a.role for a in result.accepted] == [ROLE_ASSIGNMENT_STATE] * 2
    assert [a.event.lti_resource_link_id for a in result.accepted] == ["link-1", None]
    assert result.counts["accepted_before_dedup.assignment_state"] == 2
    assert result.counts["dead_letter_by_code.invalid_body"] == 1
    assert result.counts["skipped_by_event_name.assignment_updated"] == 1
    assert result.counts["skipped_by_event_name.asset_accessed"] == 1


VARIANTS = [
    {},
    {"assignment_id": 5},
    {"lti_resource_link_id": None},
    {"lti_resource_link_id": ""},
    {"context_type": None},
    {"context_type": "Group"},
    {"context_type": 3},
    {"created_on_blueprint_sync": True},
    {"created_on_blueprint_sync": 0},
    {"assignment_id": True},
    {"assignment_id": ""},
    {"workflow_state": None},
    {"assignment_id_duplicated__from": 9},
    {"assignment_id_duplicated_from": "1", "assignment_id_duplicated__from": "2"},
    {"domain_duplicated_from": 1.5},
    {"points_possible": 2**70},
    {"description": "caf\\u00e9 \\ud83d\\ude00"},
    {"score": 1e-7},
    {"nested": {"b": [1, {"a": None}]}},
]


@pytest.mark.parametrize("changes", VARIANTS)
@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"root_account_uuid": 7},
        {"root_account_uuid": False},
        {"event_time": "2024-07-30 12:00:00 +0200"},
        {"event_time": "bad"},
        {"event_time": 5},
    ],
)
def test_the_fast_path_agrees_with_the_strict_path(changes, metadata, monkeypatch):
    raw = assignment(changes, **metadata)
    expected = classify_event(raw)
    strict_calls = []
    real = events.classify_event
    monkeypatch.setattr(
        events, "classify_event", lambda *a, **k: strict_calls.append(a) or real(*a, **k)
    )
    result = LineClassifier().classify_lines([noise(), raw, noise()], 0, "f")
    if isinstance(expected, Accepted):
        assert result.accepted == [expected]
        assert strict_calls == [] or changes == {
            "points_possible": 2**70
        }  # simdjson cannot hold that integer
    elif isinstance(expected, Skipped):
        assert (
            result.counts["skipped_by_event_name.assignment_updated"] == 1 and result.accepted == []
        )
    else:
        assert [row.error_code for row in result.dead_letters] == [expected.error_code]


def test_fast_path_keeps_line_order_with_strict_path_lines():
    lines = [
        assignment({"lti_resource_link_id": "a"}),
        line(
            "outcomes.retry_outcome_alignment_clone",
            {"original_course_uuid": "S", "new_course_uuid": "T"},
        ),
        assignment({"lti_resource_link_id": "b"}),
    ]
    result = LineClassifier().classify_lines(lines, 0, "f")
    assert [a.role for a in result.accepted] == ["assignment_state", "retry", "assignment_state"]
    assert [
        a.event.lti_resource_link_id for a in result.accepted if a.role == "assignment_state"
    ] == ["a", "b"]


def test_assignment_fingerprints_are_sha256_of_sorted_compact_json():
    import hashlib

    event = json.loads(assignment())
    expected = hashlib.sha256(
        json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert (
        events.assignment_fingerprint(event) == expected == accepted(assignment()).event_fingerprint
    )
    big = {**event, "n": 2**70}
    assert events.assignment_fingerprint(big) == events.event_fingerprint(big)


def test_event_time_micros_agrees_with_parse_event_time():
    import random

    from transforms.timestamps import TimestampError

    rng = random.Random(5)
    cases = [
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "2024-02-30T00:00:00Z",
        "2024-02-29T24:00:00Z",
        "2024-07-30T19:04:60Z",
        "2024-07-30T19:04:35.8Z",
        "2024-07-30 19:04:35Z",
        "2024-07-30T19:04:35.1234567Z",
        "2024-07-30T19:04:35+02:00",
        "2024-07-30T19:04:35z",
        "２０２４-07-30T19:04:35Z",  # noqa: RUF001 (fullwidth digits on purpose: not a valid time)
    ]
    for _ in range(3000):
        fraction = rng.choice(
            [
                "",
                ".%d" % rng.randint(0, 9),
                ".%03d" % rng.randint(0, 999),
                ".%06d" % rng.randint(0, 999999),
            ]
        )
        cases.append(
            "%04d-%02d-%02dT%02d:%02d:%02d%sZ"
            % (
                rng.randint(0, 9999),
                rng.randint(0, 13),
                rng.randint(0, 32),
                rng.randint(0, 25),
                rng.randint(0, 61),
                rng.randint(0, 61),
                fraction,
            )
        )

    def either(parse, text):
        try:
            return parse(text)
        except TimestampError:
            return "error"

    assert [either(events.event_time_micros, c) for c in cases] == [
        either(parse_event_time, c) for c in cases
    ]
    assert sum(either(parse_event_time, c) != "error" for c in cases) > 1000
