"""Unit tests of transforms/events.py against the README's line rules.

Routing, every dead-letter code and their order, field validation, duplicates'
fingerprint, the documented example payloads, and LineClassifier's fast path
agreeing with the slow one.
"""
from __future__ import annotations

import collections
import hashlib
import json
import random
from typing import Any

import pytest

import transforms.events as events
from transforms.events import (
    DEAD_LETTER_CODES,
    MAX_LINE_BYTES,
    Accepted,
    DeadLetter,
    DeadLetterRow,
    LineClassifier,
    MigrationEvent,
    RetryEvent,
    Skipped,
    classify_event,
    event_fingerprint,
)
from transforms.timestamps import parse_event_time

from tests.conftest import CANVAS_EXAMPLES

EXAMPLES = CANVAS_EXAMPLES

RETRY = "outcomes.retry_outcome_alignment_clone"
LEGACY = "quizzes_next_quiz_duplicated"
COMPLETED = "content_migration_completed"
STARTED = "content_migration_started"

# --- helpers -----------------------------------------------------------------------------

DROP = object()  # as a value in a change dict: remove the key; as a whole part: omit it
KEEP = object()  # whole_body default: the base body with the changes applied


def edit(base: dict, changes: dict | None) -> dict:
    out = dict(base)
    for key, value in (changes or {}).items():
        if value is DROP:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def event_line(metadata: Any = DROP, body: Any = DROP) -> bytes:
    """One compact JSON line ``{"metadata": ..., "body": ...}`` (a part is omitted when DROP)."""
    event = {}
    if metadata is not DROP:
        event["metadata"] = metadata
    if body is not DROP:
        event["body"] = body
    return json.dumps(event, ensure_ascii=False).encode("utf-8")


ROOT = "8H3aGjEatiLI42zzV0ly8t5UGQAxYfvrI3MDlrCx"
TIME = "2024-07-30T19:04:35.872Z"

BASE = {
    "retry": (
        {
            "event_name": RETRY, "event_time": TIME, "root_account_uuid": ROOT, "user_id": "10000000000001",
            "request_id": "req-1", "context_role": "TeacherEnrollment", "user_login": "t@example.com",
            "url": "http://canvas.docker/api/v1/courses/1/assignments/2/retry_alignment_clone"
                   "?target_assignment_id=3&target_course_id=2",
        },
        {
            "original_course_uuid": "S-uuid", "new_course_uuid": "T-uuid", "new_course_resource_link_id": "T-lti",
            "domain": "canvas.docker", "original_assignment_resource_link_id": "A1-link",
            "new_assignment_resource_link_id": "A2-link", "status": "outcome_alignment_cloning",
        },
    ),
    "legacy": (
        {"event_name": LEGACY, "event_time": TIME, "root_account_uuid": ROOT, "user_id": "7"},
        {
            "original_course_uuid": "S-uuid", "new_course_uuid": "T-uuid", "new_course_resource_link_id": "T-lti",
            "domain": "canvas.docker", "original_resource_link_id": "q1", "new_resource_link_id": "q2",
            "status": "outcome_alignment_cloning",
        },
    ),
    "completed": (
        {"event_name": COMPLETED, "event_time": TIME, "root_account_uuid": ROOT},
        {
            "content_migration_id": "72", "context_id": "8972", "context_type": "Course", "context_uuid": "C-uuid",
            "lti_context_id": "C-lti", "source_course_lti_id": "P-lti", "destination_course_lti_id": "C-lti",
            "migration_type": "course_copy_importer", "domain": "oxana.instructure.com",
        },
    ),
    "started": (
        {"event_name": STARTED, "event_time": TIME, "root_account_uuid": ROOT},
        {
            "content_migration_id": "72", "context_type": "Course", "context_uuid": "C-uuid",
            "lti_context_id": "C-lti", "source_course_uuid": "P-uuid", "source_course_lti_id": "P-lti",
            "migration_type": "course_copy_importer", "domain": "oxana.instructure.com",
        },
    ),
    "noise": (
        {"event_name": "course_created", "event_time": TIME, "root_account_uuid": ROOT, "user_id": "1"},
        {"course_id": "56", "name": "Linear Algebra", "uuid": "X-uuid"},
    ),
}


def make(kind: str, meta: dict | None = None, body: dict | None = None, *, whole_body: Any = KEEP) -> bytes:
    """A line of ``kind`` with metadata/body fields changed (DROP removes a field).

    ``whole_body`` replaces the body entirely (DROP omits it).
    """
    base_meta, base_body = BASE[kind]
    return event_line(edit(base_meta, meta), edit(base_body, body) if whole_body is KEEP else whole_body)


def code_of(outcome) -> str:
    assert isinstance(outcome, DeadLetter), f"expected a dead letter, got {outcome!r}"
    return outcome.error_code


def noise_of_size(size: int) -> bytes:
    """A valid noise event of exactly ``size`` bytes."""
    head = b'{"metadata":{"event_name":"asset_accessed"},"body":{"pad":"'
    tail = b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def micros_of(text: str) -> int:
    return parse_event_time(text)


# --- constants ---------------------------------------------------------------------------

def test_dead_letter_codes_in_contract_order():
    assert DEAD_LETTER_CODES == (
        "oversize", "invalid_encoding", "invalid_json", "invalid_envelope",
        "missing_event_name", "invalid_event_time", "invalid_body",
    )


def test_max_line_bytes_is_canvas_producer_limit():
    assert MAX_LINE_BYTES == 1_000_000


# --- blank lines --------------------------------------------------------------------------

@pytest.mark.parametrize("line", [b"", b" ", b"\t", b"\r", b" \t \r\r ", b"\r\r"], ids=repr)
def test_blank_lines(line):
    assert classify_event(line) is None


@pytest.mark.parametrize("line", [b"\x0b", b"\x0c", b"\x00", "\u00a0".encode(), b"\xef\xbb\xbf"], ids=repr)
def test_other_whitespace_is_not_blank(line):
    assert code_of(classify_event(line)) in ("invalid_json", "invalid_encoding")


# --- oversize ------------------------------------------------------------------------------

def test_exactly_one_million_bytes_is_not_oversize():
    line = noise_of_size(MAX_LINE_BYTES)
    assert len(line) == 1_000_000
    assert classify_event(line) == Skipped("asset_accessed")


def test_one_million_and_one_bytes_is_oversize():
    line = noise_of_size(MAX_LINE_BYTES + 1)
    outcome = classify_event(line)
    assert code_of(outcome) == "oversize"
    assert outcome.event_name is None


def test_oversize_is_not_parsed():
    # Garbage and invalid UTF-8 too: oversize is decided before anything else.
    assert code_of(classify_event(b"\xff" * (MAX_LINE_BYTES + 1))) == "oversize"
    assert code_of(classify_event(b"{" * (MAX_LINE_BYTES + 1))) == "oversize"
    routed = make("retry", body={"pad": "x" * MAX_LINE_BYTES})
    assert code_of(classify_event(routed)) == "oversize"


def test_oversize_blank_line_is_still_oversize():
    assert code_of(classify_event(b" " * (MAX_LINE_BYTES + 1))) == "oversize"


# --- invalid_encoding / invalid_json / invalid_envelope / missing_event_name ---------------

NOISE_PREFIX = b'{"metadata":{"event_name":"asset_accessed","note":'

PRE_ROUTING = [
    # invalid_encoding
    (b'{"metadata":{"event_name":"asset_accessed","n":"\xff"}}', "invalid_encoding", "lone-0xff-in-string"),
    (b'{"metadata":{"event_name":"caf\xe9"}}', "invalid_encoding", "latin1-byte"),
    (b'{"metadata":{"event_name":"x","n":"\xc0\xaf"}}', "invalid_encoding", "overlong-encoding"),
    (b'{"metadata":{"event_name":"x","n":"\xed\xa0\x80"}}', "invalid_encoding", "utf8-encoded-surrogate"),
    (b'{"metadata":{"event_name":"x","n":"\xf4\x90\x80\x80"}}', "invalid_encoding", "beyond-u10ffff"),
    (b'{"metadata":{"event_name":"x","n":"\xe2\x82"}}', "invalid_encoding", "truncated-multibyte"),
    (b'\xff{"metadata"', "invalid_encoding", "bad-utf8-beats-bad-json"),
    (make("retry", body={"domain": "x"})[:-2] + b"\x80}}", "invalid_encoding", "routed-event-bad-utf8"),
    # invalid_json
    (make("noise")[:-1], "invalid_json", "truncated-last-brace"),
    (make("noise")[:40], "invalid_json", "truncated-mid-line"),
    (make("retry")[:100], "invalid_json", "truncated-routed"),
    (b"{", "invalid_json", "lone-brace"),
    (NOISE_PREFIX + b"NaN}}", "invalid_json", "NaN"),
    (NOISE_PREFIX + b"Infinity}}", "invalid_json", "Infinity"),
    (NOISE_PREFIX + b"-Infinity}}", "invalid_json", "minus-Infinity"),
    (NOISE_PREFIX + b'[1,NaN]},"body":{}}', "invalid_json", "NaN-in-array"),
    (NOISE_PREFIX + b'"\\ud800"}}', "invalid_json", "lone-high-surrogate"),
    (NOISE_PREFIX + b'"\\udc00"}}', "invalid_json", "lone-low-surrogate"),
    (NOISE_PREFIX + b'"\\uDBFF"}}', "invalid_json", "lone-high-surrogate-uppercase"),
    (NOISE_PREFIX + b'"\\udc00\\ud800"}}', "invalid_json", "reversed-pair"),
    (NOISE_PREFIX + b'"\\ud800\\ud800\\udc00"}}', "invalid_json", "high-then-pair"),
    (NOISE_PREFIX + b'"\\ud83dabc"}}', "invalid_json", "high-then-text"),
    (b'{"metadata":{"event_name":"asset_accessed","\\udc00":1}}', "invalid_json", "lone-surrogate-in-key"),
    (b'{"metadata":{"event_name":"asset\\ud800"}}', "invalid_json", "lone-surrogate-in-event-name"),
    (make("retry")[:-2] + b',"d":"\\udfff"}}', "invalid_json", "lone-surrogate-in-routed-body"),
    (b"\xef\xbb\xbf" + make("noise"), "invalid_json", "bom-at-line-start"),
    (NOISE_PREFIX + b"1}}\x00", "invalid_json", "trailing-nul"),
    (NOISE_PREFIX + b"1}} {}", "invalid_json", "two-values"),
    (NOISE_PREFIX + b"1,}}", "invalid_json", "trailing-comma"),
    (NOISE_PREFIX + b"01}}", "invalid_json", "leading-zero"),
    (NOISE_PREFIX + b"1.}}", "invalid_json", "dot-without-digits"),
    (NOISE_PREFIX + b".5}}", "invalid_json", "number-without-integer-part"),
    (NOISE_PREFIX + b"True}}", "invalid_json", "python-True"),
    (NOISE_PREFIX + b"'x'}}", "invalid_json", "single-quotes"),
    (NOISE_PREFIX + b'"a\x01b"}}', "invalid_json", "raw-control-char"),
    (NOISE_PREFIX + b'"a\tb"}}', "invalid_json", "raw-tab-in-string"),
    (NOISE_PREFIX + b'"\\x41"}}', "invalid_json", "bad-escape"),
    (NOISE_PREFIX + b'"\\u12G4"}}', "invalid_json", "bad-unicode-escape"),
    (b"\x0c" + make("noise"), "invalid_json", "form-feed-is-not-json-whitespace"),
    ("\u00a0".encode() + make("noise"), "invalid_json", "nbsp-is-not-json-whitespace"),
    (b"{metadata: {}}", "invalid_json", "unquoted-keys"),
    (b"garbage", "invalid_json", "garbage"),
    (b'{"metadata":{"event_name":"x"}}' + b"//c", "invalid_json", "comment"),
    # invalid_envelope
    (b"[]", "invalid_envelope", "top-level-empty-array"),
    (b'[{"metadata":{"event_name":"asset_accessed"}}]', "invalid_envelope", "top-level-array-of-event"),
    (b'"{\\"metadata\\":{}}"', "invalid_envelope", "top-level-string"),
    (b"42", "invalid_envelope", "top-level-number"),
    (b"null", "invalid_envelope", "top-level-null"),
    (b"true", "invalid_envelope", "top-level-true"),
    (b"{}", "invalid_envelope", "empty-object"),
    (event_line(body={"x": 1}), "invalid_envelope", "metadata-missing"),
    (event_line(None, {"x": 1}), "invalid_envelope", "metadata-null"),
    (event_line([{"event_name": "asset_accessed"}], {}), "invalid_envelope", "metadata-array"),
    (event_line("asset_accessed", {}), "invalid_envelope", "metadata-string"),
    (event_line(5, {}), "invalid_envelope", "metadata-number"),
    (b'{"Metadata":{"event_name":"asset_accessed"}}', "invalid_envelope", "metadata-wrong-case"),
    # missing_event_name
    (event_line({"event_time": TIME}, {}), "missing_event_name", "event-name-missing"),
    (event_line({"event_name": None}, {}), "missing_event_name", "event-name-null"),
    (event_line({"event_name": ""}, {}), "missing_event_name", "event-name-empty"),
    (event_line({"event_name": 5}, {}), "missing_event_name", "event-name-integer"),
    (event_line({"event_name": 1.5}, {}), "missing_event_name", "event-name-float"),
    (event_line({"event_name": True}, {}), "missing_event_name", "event-name-bool"),
    (event_line({"event_name": [RETRY]}, {}), "missing_event_name", "event-name-list"),
    (event_line({"event_name": {"name": RETRY}}, {}), "missing_event_name", "event-name-object"),
    (event_line({}, {}), "missing_event_name", "empty-metadata"),
    (event_line({"event_name": None, "event_time": "bad"}), "missing_event_name", "beats-bad-time-and-no-body"),
]


@pytest.mark.parametrize("line, code", [c[:2] for c in PRE_ROUTING], ids=[c[2] for c in PRE_ROUTING])
def test_dead_letters_before_routing(line, code):
    outcome = classify_event(line)
    assert code_of(outcome) == code
    assert outcome.event_name is None
    assert outcome.error_detail


def test_valid_surrogate_pair_is_accepted():
    line = NOISE_PREFIX + b'"\\ud83d\\ude00 and \\uD83D\\uDE00"}}'
    assert classify_event(line) == Skipped("asset_accessed")


def test_escaped_backslash_before_u_d800_is_not_a_surrogate():
    line = NOISE_PREFIX + b'"\\\\ud800"}}'
    assert classify_event(line) == Skipped("asset_accessed")


def test_surrogate_pair_in_routed_event_is_accepted():
    line = make("retry", body={"domain": "\U0001F600.example"})
    assert b"\\ud83d" not in line  # ensure_ascii=False writes raw UTF-8
    escaped = json.dumps(json.loads(line), ensure_ascii=True).encode()
    assert b"\\ud83d\\ude00" in escaped
    for candidate in (line, escaped):
        outcome = classify_event(candidate)
        assert isinstance(outcome, Accepted)
        assert outcome.event.domain == "\U0001F600.example"


def test_deep_but_reasonable_nesting_is_valid_json():
    line = b'{"metadata":{"event_name":"asset_accessed"},"body":' + b"[" * 200 + b"]" * 200 + b"}"
    assert classify_event(line) == Skipped("asset_accessed")


def test_big_integers_are_valid_json():
    line = NOISE_PREFIX + b"123456789012345678901234567890123, \"neg\": -98765432109876543210}}"
    assert classify_event(line) == Skipped("asset_accessed")


# --- routed events: invalid_event_time ------------------------------------------------------

BAD_TIMES = [
    (DROP, "missing"),
    (None, "null"),
    (1722366275, "integer"),
    (1722366275.5, "float"),
    (True, "bool"),
    ([TIME], "list"),
    ({"t": TIME}, "object"),
    ("", "empty"),
    ("2024-07-30T19:04:35", "no-offset"),
    ("2024-07-30 19:04:35.123", "no-offset-fraction"),
    ("2024-07-30T19:04:35z", "lowercase-z"),
    ("2023-02-29T19:04:35Z", "nonexistent-date"),
    ("2024-07-30T24:00:00Z", "hour-24"),
    ("2024-07-30T19:04:35.Z", "dot-without-digits"),
    ("yesterday", "garbage"),
]


@pytest.mark.parametrize("kind", ["retry", "legacy", "completed", "started"])
@pytest.mark.parametrize("event_time", [t for t, _ in BAD_TIMES], ids=[i for _, i in BAD_TIMES])
def test_invalid_event_time(kind, event_time):
    outcome = classify_event(make(kind, meta={"event_time": event_time}))
    assert code_of(outcome) == "invalid_event_time"
    assert outcome.event_name == BASE[kind][0]["event_name"]
    assert "event_time" in outcome.error_detail


# --- routed events: invalid_body ----------------------------------------------------------------

REQUIRED = {
    "retry": ("original_course_uuid", "new_course_uuid"),
    "legacy": ("original_course_uuid", "new_course_uuid"),
    "completed": ("content_migration_id", "context_uuid"),
    "started": ("content_migration_id", "context_uuid"),
}
REQUIRED_CASES = [(kind, field) for kind, fields in REQUIRED.items() for field in fields]


@pytest.mark.parametrize("kind, field", REQUIRED_CASES, ids=[f"{k}-{f}" for k, f in REQUIRED_CASES])
@pytest.mark.parametrize("value", [DROP, None, ""], ids=["missing", "null", "empty"])
def test_required_body_field_missing_null_or_empty(kind, field, value):
    outcome = classify_event(make(kind, body={field: value}))
    assert code_of(outcome) == "invalid_body"
    assert field in outcome.error_detail
    assert outcome.event_name == BASE[kind][0]["event_name"]


WRONG_TYPES = [(True, "bool"), (False, "false"), (1.5, "float"), (1.0, "integral-float"), ([], "list"),
               (["x"], "list-of-str"), ({}, "object")]
BODY_FIELDS = {
    "retry": ("original_course_uuid", "new_course_uuid", "new_course_resource_link_id", "domain",
              "original_assignment_resource_link_id", "new_assignment_resource_link_id", "status"),
    "completed": ("content_migration_id", "context_uuid", "lti_context_id", "destination_course_lti_id",
                  "source_course_lti_id", "migration_type", "domain"),
    "started": ("content_migration_id", "context_uuid", "source_course_uuid", "source_course_lti_id"),
}
BODY_FIELD_CASES = [(kind, field) for kind, fields in BODY_FIELDS.items() for field in fields]


@pytest.mark.parametrize("kind, field", BODY_FIELD_CASES, ids=[f"{k}-{f}" for k, f in BODY_FIELD_CASES])
@pytest.mark.parametrize("value", [v for v, _ in WRONG_TYPES], ids=[i for _, i in WRONG_TYPES])
def test_wrong_type_body_field_is_invalid_body(kind, field, value):
    outcome = classify_event(make(kind, body={field: value}))
    assert code_of(outcome) == "invalid_body"
    assert field in outcome.error_detail


@pytest.mark.parametrize("kind", ["retry", "legacy", "completed", "started"])
@pytest.mark.parametrize("body", [DROP, None, [], ["x"], "body", 5, True],
                         ids=["missing", "null", "empty-array", "array", "string", "number", "bool"])
def test_body_missing_or_not_an_object(kind, body):
    line = make(kind, whole_body=body)
    outcome = classify_event(line)
    if kind == "legacy":
        # Without an object body there is no status == outcome_alignment_cloning: not a retry.
        assert outcome == Skipped(LEGACY)
    else:
        assert code_of(outcome) == "invalid_body"
        assert "body" in outcome.error_detail


# --- routed events: metadata fields (invalid_envelope) -----------------------------------------

META_FIELDS = {
    "retry": ("root_account_uuid", "user_id", "request_id", "context_role", "url"),
    "legacy": ("root_account_uuid", "user_id"),
    "completed": ("root_account_uuid",),
    "started": ("root_account_uuid",),
}
META_FIELD_CASES = [(kind, field) for kind, fields in META_FIELDS.items() for field in fields]


@pytest.mark.parametrize("kind, field", META_FIELD_CASES, ids=[f"{k}-{f}" for k, f in META_FIELD_CASES])
@pytest.mark.parametrize("value", [v for v, _ in WRONG_TYPES], ids=[i for _, i in WRONG_TYPES])
def test_wrong_type_metadata_field_of_routed_event_is_invalid_envelope(kind, field, value):
    outcome = classify_event(make(kind, meta={field: value}))
    assert code_of(outcome) == "invalid_envelope"
    assert field in outcome.error_detail
    assert outcome.event_name == BASE[kind][0]["event_name"]


# --- order of codes for routed events -----------------------------------------------------------

ORDER = [
    (make("retry", meta={"user_id": True, "event_time": "2024-07-30T19:04:35"}),
     "invalid_envelope", "bad-metadata-type-beats-bad-time"),
    (make("completed", meta={"root_account_uuid": 1.5, "event_time": DROP}, whole_body=DROP),
     "invalid_envelope", "bad-metadata-type-beats-missing-time-and-body"),
    (make("retry", meta={"url": ["x"]}, body={"new_course_uuid": DROP}),
     "invalid_envelope", "bad-metadata-type-beats-bad-body"),
    (make("retry", meta={"event_time": "2024-07-30T19:04:35"}, whole_body=DROP),
     "invalid_event_time", "bad-time-beats-missing-body"),
    (make("started", meta={"event_time": 5}, body={"context_uuid": None, "domain": True}),
     "invalid_event_time", "bad-time-beats-bad-body-fields"),
    (make("legacy", meta={"event_time": "nope"}, body={"original_course_uuid": ""}),
     "invalid_event_time", "legacy-bad-time-beats-empty-required"),
    (b"\xef\xbb\xbf" + make("retry", meta={"user_id": True}), "invalid_json", "bom-beats-envelope"),
    (event_line({"event_name": 7, "event_time": "bad", "user_id": True}), "missing_event_name",
     "missing-name-beats-everything-after"),
]


@pytest.mark.parametrize("line, code", [c[:2] for c in ORDER], ids=[c[2] for c in ORDER])
def test_first_applicable_code_wins(line, code):
    assert code_of(classify_event(line)) == code


# --- skipped events ------------------------------------------------------------------------------

SKIPPED = [
    (make("noise"), "course_created", "plain-noise"),
    (make("noise", meta={"event_time": 5}, whole_body="broken"), "course_created", "noise-broken-time-and-body"),
    (make("noise", meta={"event_time": DROP, "user_id": True}, whole_body=DROP), "course_created",
     "noise-no-time-no-body-bad-meta"),
    (event_line({"event_name": "logged_in"}), "logged_in", "metadata-only"),
    (event_line({"event_name": "x"}, body=[1, 2]), "x", "array-body"),
    (event_line({"event_name": "Content_Migration_Completed", "event_time": "bad"}), "Content_Migration_Completed",
     "routing-is-case-sensitive"),
    (event_line({"event_name": RETRY + " "}), RETRY + " ", "routing-is-exact"),
    (make("legacy", body={"status": "active"}), LEGACY, "legacy-other-status"),
    (make("legacy", body={"status": DROP}), LEGACY, "legacy-no-status"),
    (make("legacy", body={"status": None}), LEGACY, "legacy-null-status"),
    (make("legacy", body={"status": "OUTCOME_ALIGNMENT_CLONING"}), LEGACY, "legacy-status-wrong-case"),
    (make("legacy", meta={"event_time": "bad"}, body={"status": "duplicated", "new_course_uuid": None}), LEGACY,
     "legacy-other-status-not-validated"),
    (make("completed", body={"context_type": "Account"}), COMPLETED, "migration-into-account"),
    (make("started", body={"context_type": "Account"}), STARTED, "started-into-account"),
    (make("completed", body={"context_type": "Group"}), COMPLETED, "migration-into-group"),
    (make("completed", body={"context_type": "course"}), COMPLETED, "context-type-wrong-case"),
    (make("completed", meta={"event_time": DROP, "root_account_uuid": True},
          body={"context_type": "Account", "content_migration_id": None, "context_uuid": 1.5}), COMPLETED,
     "account-migration-not-validated"),
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
    assert outcome == Accepted("retry", RetryEvent(
        event_fingerprint=hashlib.sha256(
            json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
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
    ))


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
    assert (event.original_course_id, event.original_assignment_id, event.new_course_id,
            event.new_assignment_id) == (None, None, None, None)


def test_accepted_completed_migration_fields():
    line = make("completed")
    outcome = classify_event(line)
    assert outcome == Accepted(COMPLETED, MigrationEvent(
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
    ))


def test_accepted_started_migration_keeps_source_identity():
    outcome = classify_event(make("started"))
    assert outcome.role == STARTED
    assert outcome.event.source_course_uuid == "P-uuid"
    assert outcome.event.source_course_lti_id == "P-lti"
    assert outcome.event.destination_course_lti_id is None


INTEGER_IDS = [
    ("retry", {"original_course_uuid": 123, "new_course_uuid": 0, "new_assignment_resource_link_id": 9},
     {"original_course_uuid": "123", "new_course_uuid": "0", "new_assignment_resource_link_id": "9"}),
    ("completed", {"content_migration_id": 21070000000000072, "context_uuid": 5, "lti_context_id": -3},
     {"content_migration_id": "21070000000000072", "context_uuid": "5", "lti_context_id": "-3"}),
    ("started", {"content_migration_id": 123456789012345678901234567890, "source_course_uuid": 8},
     {"content_migration_id": "123456789012345678901234567890", "source_course_uuid": "8"}),
]


@pytest.mark.parametrize("kind, body, expected", INTEGER_IDS, ids=[c[0] for c in INTEGER_IDS])
def test_integer_ids_are_accepted_as_decimal_strings(kind, body, expected):
    outcome = classify_event(make(kind, body=body))
    assert isinstance(outcome, Accepted)
    for field, value in expected.items():
        assert getattr(outcome.event, field) == value


def test_integer_metadata_fields_are_accepted_as_decimal_strings():
    key = b"k"
    outcome = classify_event(make("retry", meta={"root_account_uuid": 17, "user_id": 42, "request_id": 5}), key)
    assert isinstance(outcome, Accepted)
    assert outcome.event.root_account_uuid == "17"
    assert outcome.event.request_id == "5"
    assert outcome.event.actor_user_hmac == "eb4bd7b3ac79ebc323fa7ffbe86efe659f8305f61e4ef7a34a27eb9b48218a5a"  # "17:42"


@pytest.mark.parametrize("value", [None, DROP, ""], ids=["null", "absent", "empty"])
@pytest.mark.parametrize("field", ["new_course_resource_link_id", "domain", "new_assignment_resource_link_id"])
def test_optional_body_fields_null_absent_or_empty_are_none(field, value):
    outcome = classify_event(make("retry", body={field: value}))
    assert isinstance(outcome, Accepted)
    assert getattr(outcome.event, field) is None


def test_unread_fields_of_any_type_are_ignored():
    outcome = classify_event(make("completed", body={"import_quizzes_next": False, "context_id": 1.5,
                                                       "extra": [1, {"a": None}]},
                                  meta={"job_id": True, "hostname": None}))
    assert isinstance(outcome, Accepted)


def test_retry_actor_hmac_with_key():
    key = b"secret\n"
    outcome = classify_event(make("retry"), key)
    assert outcome.event.actor_user_hmac == "4836461fd544a1d43d193940e586742b8c5580e37d1072411e76b1a7ee655a24"


@pytest.mark.parametrize("meta", [{"root_account_uuid": DROP}, {"root_account_uuid": None}, {"root_account_uuid": ""}],
                         ids=["root-absent", "root-null", "root-empty"])
def test_retry_actor_hmac_without_root_account(meta):
    outcome = classify_event(make("retry", meta=meta), b"k")
    # HMAC-SHA256 of ":10000000000001" under the key "k"
    assert outcome.event.actor_user_hmac == "7389c9c3c55dcebc81a586b1445f8f48ce663e7cfb06bff689c13b802aaeb634"
    assert outcome.event.root_account_uuid is None


@pytest.mark.parametrize("meta, key", [
    ({}, None),
    ({"user_id": DROP}, b"k"),
    ({"user_id": None}, b"k"),
    ({"user_id": ""}, b"k"),
], ids=["no-key", "user-absent", "user-null", "user-empty"])
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
    outcome = classify_event(make("completed", meta={"event_time": "2019-11-05 07:38:00.1234567 -0800"}))
    assert outcome.event.event_time == micros_of("2019-11-05T15:38:00.123456Z")


# --- fingerprint ----------------------------------------------------------------------------------

def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_fingerprint_of_hand_written_canonical_form():
    line = (
        b'{ "metadata" : {"event_time":"2024-07-30T19:04:35Z", '
        b'"event_name":"outcomes.retry_outcome_alignment_clone"},'
        b' "body": {"x": 0.00001, "y": 1E2, "z": [1, -0.0, 2.50], "original_course_uuid": "A",'
        b' "new_course_uuid": "B", "d": "caf\\u00e9 \xe2\x98\x83",'
        b' "big": 123456789012345678901234567890}}'
    )
    canonical = (
        '{"body":{"big":123456789012345678901234567890,"d":"caf\u00e9 \u2603",'
        '"new_course_uuid":"B",'
        '"original_course_uuid":"A","x":1e-05,"y":100.0,"z":[1,-0.0,2.5]},'
        '"metadata":{"event_name":"outcomes.retry_outcome_alignment_clone","event_time":"2024-07-30T19:04:35Z"}}'
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


# --- documented example payloads ------------------------------------------------------------------

EXAMPLE_FILES = [
    "outcomes.retry_outcome_alignment_clone.json",
    "content_migration_completed.json",
    "content_migration_started.json",
    "course_created.json",
    "assignment_created.json",
]
PII_FIELDS = ("user_login", "user_sis_id", "client_ip", "user_agent", "session_id", "url", "referrer")


def example_line(name: str) -> bytes:
    assert EXAMPLES.is_dir(), f"example payloads not found at {EXAMPLES}"
    path = EXAMPLES / name
    assert path.is_file(), f"missing example payload {path}"
    # The files are pretty-printed; an event is one line in the feed.
    return json.dumps(json.loads(path.read_text(encoding="utf-8")), ensure_ascii=False).encode("utf-8")


def test_examples_directory_is_present():
    assert EXAMPLES.is_dir(), f"example payloads not found at {EXAMPLES}"
    assert {p.name for p in EXAMPLES.glob("*.json")} >= set(EXAMPLE_FILES)


def test_example_retry_is_accepted_with_url_ids():
    line = example_line("outcomes.retry_outcome_alignment_clone.json")
    payload = json.loads(line)
    key = b"example-key"
    outcome = classify_event(line, key)
    assert isinstance(outcome, Accepted)
    assert outcome.role == "retry"
    event = outcome.event
    body, meta = payload["body"], payload["metadata"]
    assert event.source_event_name == RETRY
    assert event.event_time == micros_of("2024-07-30T19:04:35.872Z")
    assert (event.original_course_id, event.original_assignment_id, event.new_course_id,
            event.new_assignment_id) == ("1", "2", "2", "3")
    assert event.original_course_uuid == body["original_course_uuid"]
    assert event.new_course_uuid == body["new_course_uuid"]
    assert event.new_course_resource_link_id == body["new_course_resource_link_id"]
    assert event.original_assignment_resource_link_id == body["original_assignment_resource_link_id"]
    assert event.new_assignment_resource_link_id == body["new_assignment_resource_link_id"]
    assert event.status == "outcome_alignment_cloning"
    assert event.domain == "canvas.docker"
    assert event.root_account_uuid == meta["root_account_uuid"]
    assert event.request_id == meta["request_id"]
    assert event.context_role == "TeacherEnrollment"
    # HMAC-SHA256 of "<root_account_uuid>:<user_id>" of the example under the key "example-key"
    assert event.actor_user_hmac == "467eae8e76175c256e2c0f4f2df9bdc649352fe59b07b1a843c4975149c085d7"
    assert event.event_fingerprint == sha256_hex(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    )
    # Privacy: no PII value of the metadata reaches the accepted event.
    pii = {meta[field] for field in PII_FIELDS if meta.get(field)}
    assert pii and not pii & {value for value in event if isinstance(value, str)}
    assert str(meta["user_id"]) not in event


@pytest.mark.parametrize("name, role", [
    ("content_migration_completed.json", COMPLETED),
    ("content_migration_started.json", STARTED),
])
def test_example_migrations_are_accepted(name, role):
    line = example_line(name)
    payload = json.loads(line)
    outcome = classify_event(line)
    assert isinstance(outcome, Accepted)
    assert outcome.role == role
    event = outcome.event
    body = payload["body"]
    assert event.event_name == role
    assert event.event_time == micros_of(payload["metadata"]["event_time"])
    assert event.content_migration_id == "21070000000000072"
    assert event.context_uuid == body["context_uuid"]
    assert event.lti_context_id == body["lti_context_id"]
    assert event.destination_course_lti_id == body["destination_course_lti_id"]
    assert event.source_course_lti_id == body["source_course_lti_id"]
    assert event.source_course_uuid == body.get("source_course_uuid")
    assert event.migration_type == "course_copy_importer"
    assert event.root_account_uuid == payload["metadata"]["root_account_uuid"]
    assert event.domain == "oxana.instructure.com"


def test_example_started_carries_source_course_uuid():
    outcome = classify_event(example_line("content_migration_started.json"))
    assert outcome.event.source_course_uuid == "Wd58q9HDZMNZXRKrlzaRHrh2lONYcnoSm9rePDkh"


@pytest.mark.parametrize("name, event_name", [
    ("course_created.json", "course_created"),
])
def test_example_noise_is_skipped(name, event_name):
    assert classify_event(example_line(name)) == Skipped(event_name)


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_pretty_printed_file_is_not_one_line(name):
    # The files as stored are multi-line; their first line alone is truncated JSON.
    assert EXAMPLES.is_dir(), f"example payloads not found at {EXAMPLES}"
    first_line = (EXAMPLES / name).read_bytes().split(b"\n")[0]
    assert code_of(classify_event(first_line)) == "invalid_json"


# --- LineClassifier.classify_lines ----------------------------------------------------------------

def offsets_of(lines: list[bytes], first: int) -> list[int]:
    out, offset = [], first
    for line in lines:
        out.append(offset)
        offset += len(line) + 1
    return out


def test_classify_lines_counts():
    lines = [
        make("noise"),
        make("noise", meta={"event_time": "bad"}, whole_body="x"),
        event_line({"event_name": "logged_in"}),
        b"",
        b"   ",
        b"\t",
        b"\r",
        b" \t\r",
        make("retry"),
        make("legacy"),
        make("completed") + b"\r",
        make("started"),
        make("started", body={"domain": "other"}),
        make("legacy", body={"status": "done"}),
        make("completed", body={"context_type": "Account"}),
        b'{"metadata":{"event_name":"x","n":"\xff"}}',
        b"{",
        b"[]",
        event_line({"event_name": ""}),
        make("retry", meta={"event_time": DROP}),
        make("completed", whole_body=DROP),
        make("completed", whole_body=DROP),
        noise_of_size(MAX_LINE_BYTES + 1),
    ]
    result = LineClassifier().classify_lines(lines, 0, "f.jsonl")
    assert result.counts == collections.Counter({
        "lines_read": 23,
        "blank_lines": 5,
        "skipped_by_event_name.course_created": 2,
        "skipped_by_event_name.logged_in": 1,
        f"skipped_by_event_name.{LEGACY}": 1,
        f"skipped_by_event_name.{COMPLETED}": 1,
        "accepted_before_dedup.retry": 2,
        f"accepted_before_dedup.{COMPLETED}": 1,
        f"accepted_before_dedup.{STARTED}": 2,
        "dead_letter_by_code.invalid_encoding": 1,
        "dead_letter_by_code.invalid_json": 1,
        "dead_letter_by_code.invalid_envelope": 1,
        "dead_letter_by_code.missing_event_name": 1,
        "dead_letter_by_code.invalid_event_time": 1,
        "dead_letter_by_code.invalid_body": 2,
        "dead_letter_by_code.oversize": 1,
    })
    assert [a.role for a in result.accepted] == ["retry", "retry", COMPLETED, STARTED, STARTED]
    assert [d.error_code for d in result.dead_letters] == [
        "invalid_encoding", "invalid_json", "invalid_envelope", "missing_event_name",
        "invalid_event_time", "invalid_body", "invalid_body", "oversize",
    ]
    # Everything is accounted for exactly once.
    counted = sum(v for k, v in result.counts.items() if k != "lines_read")
    assert counted == result.counts["lines_read"]


def test_classify_lines_counts_accumulate_per_event_name():
    lines = [make("noise")] * 5 + [event_line({"event_name": "a"})] * 3
    result = LineClassifier().classify_lines(lines, 0)
    assert result.counts["skipped_by_event_name.course_created"] == 5
    assert result.counts["skipped_by_event_name.a"] == 3
    assert result.counts["lines_read"] == 8


def test_classify_lines_keeps_duplicates_for_later_dedup():
    lines = [make("retry")] * 3 + [b"{"] * 2
    result = LineClassifier().classify_lines(lines, 0)
    assert result.counts["accepted_before_dedup.retry"] == 3
    assert len(result.accepted) == 3
    assert len({a.event.event_fingerprint for a in result.accepted}) == 1
    assert len(result.dead_letters) == 2


def test_classify_lines_dead_letter_rows_offsets_and_raw():
    lines = [
        make("noise") + b"\r",                      # CRLF: the \r counts for offsets
        b"{\r",                                      # invalid_json, raw without \r
        b"",
        make("retry", whole_body=DROP) + b"\r",     # invalid_body of a routed event
        b"   \r",
        b'{"metadata":{"event_name":"x","n":"\xfe"}}',
        b"\xef\xbb\xbf" + make("noise"),            # BOM at the start of a mid-file line
    ]
    first = 1234
    offsets = offsets_of(lines, first)
    result = LineClassifier().classify_lines(lines, first, "gs://bucket/events.jsonl.gz")
    assert result.dead_letters == [
        DeadLetterRow("invalid_json", result.dead_letters[0].error_detail, None,
                      "gs://bucket/events.jsonl.gz", offsets[1], b"{"),
        DeadLetterRow("invalid_body", result.dead_letters[1].error_detail, RETRY,
                      "gs://bucket/events.jsonl.gz", offsets[3], make("retry", whole_body=DROP)),
        DeadLetterRow("invalid_encoding", result.dead_letters[2].error_detail, None,
                      "gs://bucket/events.jsonl.gz", offsets[5], lines[5]),
        DeadLetterRow("invalid_json", result.dead_letters[3].error_detail, None,
                      "gs://bucket/events.jsonl.gz", offsets[6], lines[6]),
    ]
    assert all(row.error_detail for row in result.dead_letters)
    assert result.counts["blank_lines"] == 2
    assert result.counts["skipped_by_event_name.course_created"] == 1


def test_classify_lines_raw_keeps_inner_carriage_returns_and_only_strips_one():
    line = b'{"metadata":{"event_name":"x"}\r\r'  # truncated JSON ending in two \r
    result = LineClassifier().classify_lines([line], 0)
    assert [row.raw for row in result.dead_letters] == [line[:-1]]


def test_classify_lines_offsets_unknown():
    result = LineClassifier().classify_lines([b"{", b"[1]"], None)
    assert [row.source_offset for row in result.dead_letters] == [None, None]
    assert [row.source_file for row in result.dead_letters] == [None, None]


def test_classify_lines_oversize_boundary_ignores_the_cr_of_crlf():
    exact = noise_of_size(MAX_LINE_BYTES)
    over = noise_of_size(MAX_LINE_BYTES + 1)
    result = LineClassifier().classify_lines([exact + b"\r", exact, over, over + b"\r"], 0)
    assert result.counts["skipped_by_event_name.asset_accessed"] == 2
    assert result.counts["dead_letter_by_code.oversize"] == 2
    assert [row.raw for row in result.dead_letters] == [over, over]
    assert [row.source_offset for row in result.dead_letters] == [
        2 * (MAX_LINE_BYTES + 1) + 1, 2 * (MAX_LINE_BYTES + 1) + 1 + MAX_LINE_BYTES + 2,
    ]


def test_classify_lines_routed_events_equal_classify_event_with_key():
    key = b"line-key\n"
    lines = [make("retry"), make("legacy"), make("completed"), make("started", meta={"user_id": "9"})]
    result = LineClassifier(key).classify_lines(lines, 0)
    assert result.accepted == [classify_event(line, key) for line in lines]
    assert result.accepted[0].event.actor_user_hmac == (
        "ef8faa7ec278ee6f155ee5471ab88d5333db975b67d8d0b1d659526a7461dec9")


def test_classify_lines_empty_block():
    result = LineClassifier().classify_lines([], 0)
    assert result.counts == collections.Counter({"lines_read": 0})
    assert result.accepted == [] and result.dead_letters == []


def test_classifier_is_reusable_across_blocks():
    classifier = LineClassifier()
    first = classifier.classify_lines([event_line({"event_name": {"nested": True}}), make("noise")], 0)
    second = classifier.classify_lines([make("noise"), event_line({"event_name": [1]}), make("noise")], 0)
    assert first.counts["dead_letter_by_code.missing_event_name"] == 1
    assert first.counts["skipped_by_event_name.course_created"] == 1
    assert second.counts["dead_letter_by_code.missing_event_name"] == 1
    assert second.counts["skipped_by_event_name.course_created"] == 2


# --- fast path agrees with slow path --------------------------------------------------------------

NOISE_NAMES = [
    "asset_accessed", "logged_in", "logged_out", "submission_created", "submission_updated", "grade_change",
    "course_created", "course_updated", "assignment_created", "assignment_updated", "enrollment_created",
    "enrollment_updated", "wiki_page_updated", "discussion_entry_created", "quiz_submitted", "user_created",
    "attachment_created", "conversation_created", "module_updated", "account_notification_created",
]
STRANGE_STRINGS = [
    "plain", "caf\u00e9", "\u2603 snow", "\U0001F600 emoji", "tab\tnewline\n", "quote\"back\\slash",
    "\u0000nul", "\u2028sep", "", "x" * 300, "</script>", "\u00ff\u0100",
]


def random_scalar(rng: random.Random) -> Any:
    if rng.random() < 0.01:
        return rng.randint(2**64, 2**90) * rng.choice([1, -1])  # big integers (rare: they take the slow path)
    return rng.choice([
        lambda: rng.randint(-1000, 1000),
        lambda: rng.randint(-(2**63), 2**64 - 1),
        lambda: rng.random() * 10 ** rng.randint(-8, 8),
        lambda: rng.choice([0.00001, 1e-05, -0.0, 1e300, 2.5, 100.0]),
        lambda: rng.choice(STRANGE_STRINGS),
        lambda: rng.choice([True, False, None]),
    ])()


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 4 and roll < 0.15:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if depth < 4 and roll < 0.3:
        return {f"k{rng.randint(0, 50)}{rng.choice(STRANGE_STRINGS)[:3]}": random_value(rng, depth + 1)
                for _ in range(rng.randint(0, 4))}
    return random_scalar(rng)


def random_event(rng: random.Random) -> dict:
    kind = rng.choice(["noise"] * 4 + ["retry", "legacy", "completed", "started"])
    meta, body = (dict(part) for part in BASE[kind])
    if kind == "noise":
        meta["event_name"] = rng.choice(NOISE_NAMES)
        body = {f"f{i}": random_value(rng) for i in range(rng.randint(0, 8))}
    for _ in range(rng.randint(0, 3)):
        meta[rng.choice(["client_ip", "session_id", "user_agent", "x", "hostname"])] = random_value(rng)
    mutation = rng.random()
    target = rng.choice([meta, body])
    if mutation < 0.1:
        target[rng.choice(list(target) or ["k"])] = rng.choice([None, "", 5, 2**70, 1.5, True, [], {}])
    elif mutation < 0.15:
        target.pop(rng.choice(list(target) or ["k"]), None)
    elif mutation < 0.2:
        meta["event_time"] = rng.choice(["2024-07-30T19:04:35", "2024-07-30 12:04:35 -0700", 17, None,
                                         "2024-02-30T00:00:00Z", "2024-07-30T19:04:35.123456789+05:30"])
    elif mutation < 0.25:
        body["context_type"] = rng.choice(["Course", "Account", None, "Group", 3])
    elif mutation < 0.3:
        body["status"] = rng.choice(["outcome_alignment_cloning", "active", None, 7])
    event: Any = {"metadata": meta, "body": body}
    if rng.random() < 0.05:
        event.pop(rng.choice(["metadata", "body"]))
    if rng.random() < 0.03:
        event = rng.choice([[event], "event", 12, None])
    elif rng.random() < 0.03:
        meta["event_name"] = rng.choice([None, "", 5, ["x"], {"a": 1}, 1.5, False])
    elif rng.random() < 0.03:
        event["metadata"] = rng.choice([None, [], "m", 1])
    return event


def serialize(rng: random.Random, event: Any) -> bytes:
    text = json.dumps(
        event,
        ensure_ascii=rng.random() < 0.3,
        sort_keys=rng.random() < 0.3,
        separators=rng.choice([(",", ":"), (", ", ": "), (" ,\t", " :  ")]),
    )
    if rng.random() < 0.1:
        text = rng.choice([" ", "\t", "  \t"]) + text + rng.choice(["", " ", "\t "])
    return text.encode("utf-8")


def corrupt(rng: random.Random, line: bytes) -> bytes:
    """One kind of damage, chosen at random."""
    position = rng.randint(0, len(line))
    meta_at = line.find(b'"metadata"')
    brace = line.find(b"{", meta_at + 1) + 1 if meta_at >= 0 else 1
    inject = lambda text: line[:brace] + text + b"," + line[brace:]  # noqa: E731 (a field in metadata)
    damage = rng.choice([
        lambda: line[:position],                                     # truncated
        lambda: line[:position] + b"\xff" + line[position:],         # invalid UTF-8 byte
        lambda: line[:position] + b"\xc3" + line[position:],         # truncated multi-byte sequence
        lambda: line[:position] + b"\xed\xb0\x80" + line[position:],  # encoded surrogate
        lambda: inject(b'"v":NaN'),
        lambda: inject(b'"v":[Infinity]'),
        lambda: inject(b'"v":-Infinity'),
        lambda: inject(b'"v":"\\ud800"'),
        lambda: inject(b'"v":"a\\udfffb"'),
        lambda: inject(b'"\\udbff":1'),
        lambda: inject(b'"v":"\\ud83d\\ude00"'),                      # valid pair, not damage
        lambda: inject(b'"v":"\\\\ud800"'),                           # escaped backslash, not damage
        lambda: inject(b'"v":123456789012345678901234567890123456789'),
        lambda: inject(b'"v":-99999999999999999999999'),
        lambda: inject(b'"v":1e400'),
        lambda: inject(b'"v":1.5e-400'),
        lambda: inject(b'"v":"\x01"'),
        lambda: inject(b'"v":01'),
        lambda: inject(b'"v":.5'),
        lambda: inject(b'"v":tru'),
        lambda: inject(b'"v":' + b"[" * 60 + b"]" * 60),
        lambda: inject(b'"v":' + b"[" * 60 + b"]" * 59),
        lambda: b"\xef\xbb\xbf" + line,
        lambda: line + b",",
        lambda: line + b" {}",
        lambda: line + b"\x00",
        lambda: b"\x0c" + line,
        lambda: line.replace(b'"event_name"', b'"event_name":1,"_"', 1),
        lambda: line.replace(b":", b"=", 1),
    ])
    return damage()


def escape_event_name(line: bytes) -> bytes:
    r"""Spell the event name with a \u escape: same JSON value, different bytes."""
    for name in (RETRY, COMPLETED, STARTED, LEGACY, *NOISE_NAMES):
        spelled = f'"{name}"'.encode()
        if spelled in line:
            return line.replace(spelled, ('"' + name[0] + "\\u%04x" % ord(name[1]) + name[2:] + '"').encode(), 1)
    return line


def varied_lines(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.04:
            lines.append(rng.choice([b"", b" ", b"\t", b" \t ", b"\r"]))
            continue
        line = serialize(rng, random_event(rng))
        if roll < 0.45:
            line = corrupt(rng, line)
        elif roll < 0.5:
            line = escape_event_name(line)
        lines.append(line)
    lines += [
        noise_of_size(MAX_LINE_BYTES), noise_of_size(MAX_LINE_BYTES + 1),
        make("noise"), make("retry"), make("legacy"), make("completed"), make("started"),
    ]
    return lines


def outcome_key(outcome) -> Any:
    return outcome if not isinstance(outcome, DeadLetter) else ("dead", outcome.error_code, outcome.event_name)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_path_agrees_with_slow_path(seed, monkeypatch):
    lines = varied_lines(seed, 300)
    key = b"k"
    # Expected, line by line, with the authoritative implementation.
    expected = [classify_event(line, key) for line in lines]
    kinds = collections.Counter(
        o.error_code if isinstance(o, DeadLetter) else type(o).__name__ for o in expected
    )
    # The sample must exercise every outcome, or the property says little.
    assert set(kinds) >= {"NoneType", "Skipped", "Accepted", *DEAD_LETTER_CODES}, kinds

    # Some lines end with the \r of CRLF, which classify_lines must ignore.
    rng = random.Random(seed)
    fed = [line + b"\r" if rng.random() < 0.2 else line for line in lines]
    offsets = offsets_of(fed, 0)

    slow_calls = []
    real = events.classify_event
    monkeypatch.setattr(events, "classify_event", lambda *a, **k: slow_calls.append(1) or real(*a, **k))
    result = LineClassifier(key).classify_lines(fed, 0, "f")
    monkeypatch.undo()

    # The fast path really settled lines on its own (otherwise the comparison is trivial).
    assert len(slow_calls) < len(lines) - kinds["Skipped"] // 2

    expected_dead = [
        DeadLetterRow(*o, "f", offsets[i], lines[i]) for i, o in enumerate(expected) if isinstance(o, DeadLetter)
    ]
    expected_accepted = [o for o in expected if isinstance(o, Accepted)]
    expected_skipped = collections.Counter(o.event_name for o in expected if isinstance(o, Skipped))
    got_skipped = collections.Counter({
        k.removeprefix("skipped_by_event_name."): v for k, v in result.counts.items()
        if k.startswith("skipped_by_event_name.")
    })

    if result.dead_letters != expected_dead or result.accepted != expected_accepted:
        got = {row.source_offset: row for row in result.dead_letters}
        differing = [
            (i, lines[i][:120], outcome_key(expected[i]), got.get(offsets[i]))
            for i in range(len(lines))
            if (isinstance(expected[i], DeadLetter)) != (offsets[i] in got)
            or (offsets[i] in got and got[offsets[i]][:3] != tuple(expected[i]))
        ]
        pytest.fail(f"fast path disagrees with slow path on lines: {differing[:10]}")
    assert got_skipped == expected_skipped
    assert result.counts["blank_lines"] == sum(o is None for o in expected)
    assert result.counts["lines_read"] == len(lines)
    for code in DEAD_LETTER_CODES:
        assert result.counts[f"dead_letter_by_code.{code}"] == kinds[code]


@pytest.mark.parametrize("depth", [100, 1000, 5000])
def test_fast_and_slow_paths_agree_on_deeply_nested_noise(depth):
    line = b'{"metadata":{"event_name":"asset_accessed"},"body":' + b"[" * depth + b"]" * depth + b"}"
    slow = outcome_key(classify_event(line))
    result = LineClassifier().classify_lines([line], 0)
    if result.dead_letters:
        fast = ("dead", result.dead_letters[0].error_code, result.dead_letters[0].event_name)
    else:
        fast = Skipped("asset_accessed") if result.counts["skipped_by_event_name.asset_accessed"] else None
    assert fast == slow


@pytest.mark.parametrize("unsettled_line", [
    b'{"metadata": {"event_name": []}}',
    b'{"metadata": {"event_name": {"a": 1}}}',
    b'{"metadata": {}}',
    b'[{"metadata": 1}]',
])
def test_an_unsettled_line_does_not_push_later_lines_off_the_fast_path(unsettled_line, monkeypatch):
    # simdjson refuses to parse while a proxy of the previous document is alive;
    # a leaked proxy would send every later line down the strict path.
    noise = [event_line({"event_name": "asset_accessed", "event_time": "2024-07-30T19:04:35Z"}, {"x": 1})] * 50
    slow_calls = []
    real = events.classify_event
    monkeypatch.setattr(events, "classify_event", lambda *a, **k: slow_calls.append(a[0]) or real(*a, **k))
    result = LineClassifier().classify_lines([unsettled_line, *noise], 0)
    assert slow_calls == [unsettled_line]
    assert result.counts["skipped_by_event_name.asset_accessed"] == 50


@pytest.mark.parametrize("body, slow", [
    ({"status": "completed"}, False),
    ({"status": None}, False),
    ({"status": "outcome_alignment_cloning"}, True),  # a retry: only the strict path may accept it
    ("not an object", True),
])
def test_quiz_copies_that_are_not_retries_stay_on_the_fast_path(body, slow, monkeypatch):
    line = event_line({"event_name": "quizzes_next_quiz_duplicated", "event_time": "2024-07-30T19:04:35Z"}, body)
    slow_calls = []
    real = events.classify_event
    monkeypatch.setattr(events, "classify_event", lambda *a, **k: slow_calls.append(a[0]) or real(*a, **k))
    result = LineClassifier().classify_lines([line], 0)
    assert bool(slow_calls) == slow
    expected = real(line)
    if isinstance(expected, Skipped):
        assert result.counts["skipped_by_event_name.quizzes_next_quiz_duplicated"] == 1
    else:
        assert not result.counts["skipped_by_event_name.quizzes_next_quiz_duplicated"]
