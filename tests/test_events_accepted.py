"""Skipped and accepted events.

Routing, the fields of accepted events, the actor HMAC and the duplicates' fingerprint.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.event_cases import (
    BASE,
    COMPLETED,
    DROP,
    LEGACY,
    RETRY,
    ROOT,
    STARTED,
    TIME,
    event_line,
    make,
    micros_of,
    sha256_hex,
)
from transforms.events import (
    Accepted,
    MigrationEvent,
    RetryEvent,
    Skipped,
    classify_event,
    event_fingerprint,
)

# --- skipped events ------------------------------------------------------------------------------

SKIPPED = [
    (make("noise"), "course_created", "plain-noise"),
    (
        make("noise", meta={"event_time": 5}, whole_body="broken"),
        "course_created",
        "noise-broken-time-and-body",
    ),
    (
        make("noise", meta={"event_time": DROP, "user_id": True}, whole_body=DROP),
        "course_created",
        "noise-no-time-no-body-bad-meta",
    ),
    (event_line({"event_name": "logged_in"}), "logged_in", "metadata-only"),
    (event_line({"event_name": "x"}, body=[1, 2]), "x", "array-body"),
    (
        event_line({"event_name": "Content_Migration_Completed", "event_time": "bad"}),
        "Content_Migration_Completed",
        "routing-is-case-sensitive",
    ),
    (event_line({"event_name": RETRY + " "}), RETRY + " ", "routing-is-exact"),
    (make("legacy", body={"status": "active"}), LEGACY, "legacy-other-status"),
    (make("legacy", body={"status": DROP}), LEGACY, "legacy-no-status"),
    (make("legacy", body={"status": None}), LEGACY, "legacy-null-status"),
    (
        make("legacy", body={"status": "OUTCOME_ALIGNMENT_CLONING"}),
        LEGACY,
        "legacy-status-wrong-case",
    ),
    (
        make(
            "legacy",
            meta={"event_time": "bad"},
            body={"status": "duplicated", "new_course_uuid": None},
        ),
        LEGACY,
        "legacy-other-status-not-validated",
    ),
    (make("completed", body={"context_type": "Account"}), COMPLETED, "migration-into-account"),
    (make("started", body={"context_type": "Account"}), STARTED, "started-into-account"),
    (make("completed", body={"context_type": "Group"}), COMPLETED, "migration-into-group"),
    (make("completed", body={"context_type": "course"}), COMPLETED, "context-type-wrong-case"),
    (
        make(
            "completed",
            meta={"event_time": DROP, "root_account_uuid": True},
            body={"context_type": "Account", "content_migration_id": None, "context_uuid": 1.5},
        ),
        COMPLETED,
        "account-migration-not-validated",
    ),
]


@pytest.mark.parametrize("line, name", [c[:2] for c in SKIPPED], ids=[c[2] for c in SKIPPED])
def test_skipped(line, name):
    assert classify_event(line) == Skipped(name)


@pytest.mark.parametrize("kind", ["completed", "started"])
@pytest.mark.parametrize("context_type", ["Course", None, DROP], ids=["Course", "null", "absent"])
def test_course_or_unknown_context_type_migration_is_routed(kind, context_type):
    outcome = classify_event(make(kind, body={"context_type": context_type}))
    assert isinstance(outcome, Accepted)
    assert outcome.role == BASE[kind][0]["event_name"]


# --- accepted events ------------------------------------------------------------------------------


def test_accepted_retry_fields():
    line = make("retry")
    outcome = classify_event(line)
    assert outcome == Accepted(
        "retry",
        RetryEvent(
            event_fingerprint=hashlib.sha256(
                json.dumps(
                    json.loads(line), sort_keys=True, separators=(",", ":"), ensure_ascii=False
                ).encode()
            ).hexdigest(),
            source_event_name=RETRY,
            event_time=micros_of(TIME),
            root_account_uuid=ROOT,
            domain="canvas.docker",
            status="outcome_alignment_cloning",
            original_course_uuid="S-uuid",
            new_course_uuid="T-uuid",
            new_course_resource_link_id="T-lti",
            original_assignment_resource_link_id="A1-link",
            new_assignment_resource_link_id="A2-link",
            request_id="req-1",
            context_role="TeacherEnrollment",
            actor_user_hmac=None,
            original_course_id="1",
            original_assignment_id="2",
            new_course_id="2",
            new_assignment_id="3",
        ),
    )


def test_retry_status_is_not_required_for_the_outcomes_event():
    outcome = classify_event(make("retry", body={"status": DROP}))
    assert isinstance(outcome, Accepted)
    assert outcome.event.status is None
    other = classify_event(make("retry", body={"status": "failed"}))
    assert isinstance(other, Accepted) and other.event.status == "failed"


def test_legacy_retry_is_a_retry_without_assignment_link_ids():
    outcome = classify_event(make("legacy"))
    assert isinstance(outcome, Accepted)
    assert outcome.role == "retry"
    event = outcome.event
    assert isinstance(event, RetryEvent)
    assert event.source_event_name == LEGACY
    assert event.status == "outcome_alignment_cloning"
    assert (event.original_course_uuid, event.new_course_uuid) == ("S-uuid", "T-uuid")
    assert event.new_course_resource_link_id == "T-lti"
    assert event.original_assignment_resource_link_id is None
    assert event.new_assignment_resource_link_id is None
    assert (
        event.original_course_id,
        event.original_assignment_id,
        event.new_course_id,
        event.new_assignment_id,
    ) == (None, None, None, None)


def test_accepted_completed_migration_fields():
    line = make("completed")
    outcome = classify_event(line)
    assert outcome == Accepted(
        COMPLETED,
        MigrationEvent(
            event_fingerprint=event_fingerprint(json.loads(line)),
            event_name=COMPLETED,
            event_time=micros_of(TIME),
            content_migration_id="72",
            context_uuid="C-uuid",
            lti_context_id="C-lti",
            destination_course_lti_id="C-lti",
            source_course_uuid=None,
            source_course_lti_id="P-lti",
            migration_type="course_copy_importer",
            root_account_uuid=ROOT,
            domain="oxana.instructure.com",
        ),
    )


def test_accepted_started_migration_keeps_source_identity():
    outcome = classify_event(make("started"))
    assert outcome.role == STARTED
    assert outcome.event.source_course_uuid == "P-uuid"
    assert outcome.event.source_course_lti_id == "P-lti"
    assert outcome.event.destination_course_lti_id is None


INTEGER_IDS = [
    (
        "retry",
        {"original_course_uuid": 123, "new_course_uuid": 0, "new_assignment_resource_link_id": 9},
        {
            "original_course_uuid": "123",
            "new_course_uuid": "0",
            "new_assignment_resource_link_id": "9",
        },
    ),
    (
        "completed",
        {"content_migration_id": 21070000000000072, "context_uuid": 5, "lti_context_id": -3},
        {"content_migration_id": "21070000000000072", "context_uuid": "5", "lti_context_id": "-3"},
    ),
    (
        "started",
        {"content_migration_id": 123456789012345678901234567890, "source_course_uuid": 8},
        {"content_migration_id": "123456789012345678901234567890", "source_course_uuid": "8"},
    ),
]


@pytest.mark.parametrize("kind, body, expected", INTEGER_IDS, ids=[c[0] for c in INTEGER_IDS])
def test_integer_ids_are_accepted_as_decimal_strings(kind, body, expected):
    outcome = classify_event(make(kind, body=body))
    assert isinstance(outcome, Accepted)
    for field, value in expected.items():
        assert getattr(outcome.event, field) == value


def test_integer_metadata_fields_are_accepted_as_decimal_strings():
    key = b"k"
    outcome = classify_event(
        make("retry", meta={"root_account_uuid": 17, "user_id": 42, "request_id": 5}), key
    )
    assert isinstance(outcome, Accepted)
    assert outcome.event.root_account_uuid == "17"
    assert outcome.event.request_id == "5"
    assert (
        outcome.event.actor_user_hmac
        == "eb4bd7b3ac79ebc323fa7ffbe86efe659f8305f61e4ef7a34a27eb9b48218a5a"
    )  # "17:42"


@pytest.mark.parametrize("value", [None, DROP, ""], ids=["null", "absent", "empty"])
@pytest.mark.parametrize(
    "field", ["new_course_resource_link_id", "domain", "new_assignment_resource_link_id"]
)
def test_optional_body_fields_null_absent_or_empty_are_none(field, value):
    outcome = classify_event(make("retry", body={field: value}))
    assert isinstance(outcome, Accepted)
    assert getattr(outcome.event, field) is None


def test_unread_fields_of_any_type_are_ignored():
    outcome = classify_event(
        make(
            "completed",
            body={"import_quizzes_next": False, "context_id": 1.5, "extra": [1, {"a": None}]},
            meta={"job_id": True, "hostname": None},
        )
    )
    assert isinstance(outcome, Accepted)


def test_retry_actor_hmac_with_key():
    key = b"secret\n"
    outcome = classify_event(make("retry"), key)
    assert (
        outcome.event.actor_user_hmac
        == "4836461fd544a1d43d193940e586742b8c5580e37d1072411e76b1a7ee655a24"
    )


@pytest.mark.parametrize(
    "meta",
    [{"root_account_uuid": DROP}, {"root_account_uuid": None}, {"root_account_uuid": ""}],
    ids=["root-absent", "root-null", "root-empty"],
)
def test_retry_actor_hmac_without_root_account(meta):
    outcome = classify_event(make("retry", meta=meta), b"k")
    # HMAC-SHA256 of ":10000000000001" under the key "k"
    assert (
        outcome.event.actor_user_hmac
        == "7389c9c3c55dcebc81a586b1445f8f48ce663e7cfb06bff689c13b802aaeb634"
    )
    assert outcome.event.root_account_uuid is None


@pytest.mark.parametrize(
    "meta, key",
    [
        ({}, None),
        ({"user_id": DROP}, b"k"),
        ({"user_id": None}, b"k"),
        ({"user_id": ""}, b"k"),
    ],
    ids=["no-key", "user-absent", "user-null", "user-empty"],
)
def test_retry_actor_hmac_null(meta, key):
    outcome = classify_event(make("retry", meta=meta), key)
    assert isinstance(outcome, Accepted)
    assert outcome.event.actor_user_hmac is None


def test_retry_without_url_has_no_local_ids():
    outcome = classify_event(make("retry", meta={"url": DROP}))
    assert isinstance(outcome, Accepted)
    assert outcome.event[-4:] == (None, None, None, None)


def test_retry_url_without_target_course_is_same_course():
    url = "https://h/api/v1/courses/10/assignments/20/retry_alignment_clone?target_assignment_id=30"
    outcome = classify_event(make("retry", meta={"url": url}))
    assert outcome.event[-4:] == ("10", "20", "10", "30")


def test_event_time_is_normalised_to_utc_micros():
    outcome = classify_event(
        make("completed", meta={"event_time": "2019-11-05 07:38:00.1234567 -0800"})
    )
    assert outcome.event.event_time == micros_of("2019-11-05T15:38:00.123456Z")


# --- fingerprint ----------------------------------------------------------------------------------


def test_fingerprint_of_hand_written_canonical_form():
    line = (
        b'{ "metadata" : {"event_time":"2024-07-30T19:04:35Z", '
        b'"event_name":"outcomes.retry_outcome_alignment_clone"},'
        b' "body": {"x": 0.00001, "y": 1E2, "z": [1, -0.0, 2.50], "original_course_uuid": "A",'
        b' "new_course_uuid": "B", "d": "caf\\u00e9 \xe2\x98\x83", '
        b'"big": 123456789012345678901234567890}}'
    )
    canonical = (
        '{"body":{"big":123456789012345678901234567890,"d":"caf\u00e9 \u2603",'
        '"new_course_uuid":"B",'
        '"original_course_uuid":"A","x":1e-05,"y":100.0,"z":[1,-0.0,2.5]},'
        '"metadata":{"event_name":"outcomes.retry_outcome_alignment_clone",'
        '"event_time":"2024-07-30T19:04:35Z"}}'
    )
    outcome = classify_event(line)
    assert isinstance(outcome, Accepted)
    assert outcome.event.event_fingerprint == sha256_hex(canonical)


def test_fingerprint_ignores_key_order_whitespace_escapes_and_number_spelling():
    variants = [
        b'{"metadata":{"event_name":"content_migration_completed","event_time":"2024-07-30T19:04:35Z"},'
        b'"body":{"content_migration_id":"1","context_uuid":"C","n":0.00001,"s":"\xc3\xa9"}}',
        b'{"body":{"s":"\\u00e9","n":1e-5,"context_uuid":"C","content_migration_id":"1"},'
        b'"metadata":{"event_time":"2024-07-30T19:04:35Z","event_name":"content_migration_completed"}}',
        b'  {\t"metadata" :{ "event_name" : "content_migration_completed" , '
        b'"event_time":"2024-07-30T19:04:35Z" } ,'
        b' "body":{"content_migration_id":"1","context_uuid":"C","n":1.0E-5,"s":"\\u00E9"}}  \r',
    ]
    fingerprints = {classify_event(line).event.event_fingerprint for line in variants}
    assert len(fingerprints) == 1


def test_fingerprint_distinguishes_different_values():
    a = classify_event(make("completed")).event.event_fingerprint
    b = classify_event(make("completed", body={"domain": "other"})).event.event_fingerprint
    c = classify_event(make("completed", meta={"hostname": "h"})).event.event_fingerprint
    assert len({a, b, c}) == 3


def test_fingerprint_covers_the_whole_line_not_only_read_fields():
    a = classify_event(make("retry", meta={"session_id": "s1"})).event.event_fingerprint
    b = classify_event(make("retry", meta={"session_id": "s2"})).event.event_fingerprint
    assert a != b


def test_event_fingerprint_function():
    value = {"b": [1, 2.5, None, True], "a": "\u00e9", "c": {"z": 1, "y": 1e-05}}
    assert event_fingerprint(value) == sha256_hex(
        '{"a":"\u00e9","b":[1,2.5,null,true],"c":{"y":1e-05,"z":1}}'
    )
    assert event_fingerprint(value) == event_fingerprint(json.loads(json.dumps(value, indent=2)))
    digest = event_fingerprint(value)
    assert len(digest) == 64 and digest == digest.lower()
