"""Classification of single lines into dead letters.

Blank and oversize lines, every dead-letter code and the order in which they apply.
"""

from __future__ import annotations

import json

import pytest

from tests.event_cases import (
    BASE,
    DROP,
    LEGACY,
    RETRY,
    TIME,
    code_of,
    event_line,
    make,
    noise_of_size,
)
from transforms.events import DEAD_LETTER_CODES, MAX_LINE_BYTES, Accepted, Skipped, classify_event

# --- constants ---------------------------------------------------------------------------


def test_dead_letter_codes_in_contract_order():
    assert DEAD_LETTER_CODES == (
        "oversize",
        "invalid_encoding",
        "invalid_json",
        "invalid_envelope",
        "missing_event_name",
        "invalid_event_time",
        "invalid_body",
    )


def test_max_line_bytes_is_canvas_producer_limit():
    assert MAX_LINE_BYTES == 1_000_000


# --- blank lines --------------------------------------------------------------------------


@pytest.mark.parametrize("line", [b"", b" ", b"\t", b"\r", b" \t \r\r ", b"\r\r"], ids=repr)
def test_blank_lines(line):
    assert classify_event(line) is None


@pytest.mark.parametrize(
    "line", [b"\x0b", b"\x0c", b"\x00", "\u00a0".encode(), b"\xef\xbb\xbf"], ids=repr
)
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
    (
        b'{"metadata":{"event_name":"asset_accessed","n":"\xff"}}',
        "invalid_encoding",
        "lone-0xff-in-string",
    ),
    (b'{"metadata":{"event_name":"caf\xe9"}}', "invalid_encoding", "latin1-byte"),
    (b'{"metadata":{"event_name":"x","n":"\xc0\xaf"}}', "invalid_encoding", "overlong-encoding"),
    (
        b'{"metadata":{"event_name":"x","n":"\xed\xa0\x80"}}',
        "invalid_encoding",
        "utf8-encoded-surrogate",
    ),
    (
        b'{"metadata":{"event_name":"x","n":"\xf4\x90\x80\x80"}}',
        "invalid_encoding",
        "beyond-u10ffff",
    ),
    (b'{"metadata":{"event_name":"x","n":"\xe2\x82"}}', "invalid_encoding", "truncated-multibyte"),
    (b'\xff{"metadata"', "invalid_encoding", "bad-utf8-beats-bad-json"),
    (
        make("retry", body={"domain": "x"})[:-2] + b"\x80}}",
        "invalid_encoding",
        "routed-event-bad-utf8",
    ),
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
    (
        b'{"metadata":{"event_name":"asset_accessed","\\udc00":1}}',
        "invalid_json",
        "lone-surrogate-in-key",
    ),
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
    (
        b'[{"metadata":{"event_name":"asset_accessed"}}]',
        "invalid_envelope",
        "top-level-array-of-event",
    ),
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
    (
        event_line({"event_name": None, "event_time": "bad"}),
        "missing_event_name",
        "beats-bad-time-and-no-body",
    ),
]


@pytest.mark.parametrize(
    "line, code", [c[:2] for c in PRE_ROUTING], ids=[c[2] for c in PRE_ROUTING]
)
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
    line = make("retry", body={"domain": "\U0001f600.example"})
    assert b"\\ud83d" not in line  # ensure_ascii=False writes raw UTF-8
    escaped = json.dumps(json.loads(line), ensure_ascii=True).encode()
    assert b"\\ud83d\\ude00" in escaped
    for candidate in (line, escaped):
        outcome = classify_event(candidate)
        assert isinstance(outcome, Accepted)
        assert outcome.event.domain == "\U0001f600.example"


def test_deep_but_reasonable_nesting_is_valid_json():
    line = b'{"metadata":{"event_name":"asset_accessed"},"body":' + b"[" * 200 + b"]" * 200 + b"}"
    assert classify_event(line) == Skipped("asset_accessed")


def test_big_integers_are_valid_json():
    line = NOISE_PREFIX + b'123456789012345678901234567890123, "neg": -98765432109876543210}}'
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


WRONG_TYPES = [
    (True, "bool"),
    (False, "false"),
    (1.5, "float"),
    (1.0, "integral-float"),
    ([], "list"),
    (["x"], "list-of-str"),
    ({}, "object"),
]
BODY_FIELDS = {
    "retry": (
        "original_course_uuid",
        "new_course_uuid",
        "new_course_resource_link_id",
        "domain",
        "original_assignment_resource_link_id",
        "new_assignment_resource_link_id",
        "status",
    ),
    "completed": (
        "content_migration_id",
        "context_uuid",
        "lti_context_id",
        "destination_course_lti_id",
        "source_course_lti_id",
        "migration_type",
        "domain",
    ),
    "started": (
        "content_migration_id",
        "context_uuid",
        "source_course_uuid",
        "source_course_lti_id",
    ),
}
BODY_FIELD_CASES = [(kind, field) for kind, fields in BODY_FIELDS.items() for field in fields]


@pytest.mark.parametrize(
    "kind, field", BODY_FIELD_CASES, ids=[f"{k}-{f}" for k, f in BODY_FIELD_CASES]
)
@pytest.mark.parametrize("value", [v for v, _ in WRONG_TYPES], ids=[i for _, i in WRONG_TYPES])
def test_wrong_type_body_field_is_invalid_body(kind, field, value):
    outcome = classify_event(make(kind, body={field: value}))
    assert code_of(outcome) == "invalid_body"
    assert field in outcome.error_detail


@pytest.mark.parametrize("kind", ["retry", "legacy", "completed", "started"])
@pytest.mark.parametrize(
    "body",
    [DROP, None, [], ["x"], "body", 5, True],
    ids=["missing", "null", "empty-array", "array", "string", "number", "bool"],
)
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


@pytest.mark.parametrize(
    "kind, field", META_FIELD_CASES, ids=[f"{k}-{f}" for k, f in META_FIELD_CASES]
)
@pytest.mark.parametrize("value", [v for v, _ in WRONG_TYPES], ids=[i for _, i in WRONG_TYPES])
def test_wrong_type_metadata_field_of_routed_event_is_invalid_envelope(kind, field, value):
    outcome = classify_event(make(kind, meta={field: value}))
    assert code_of(outcome) == "invalid_envelope"
    assert field in outcome.error_detail
    assert outcome.event_name == BASE[kind][0]["event_name"]


# --- order of codes for routed events -----------------------------------------------------------

ORDER = [
    (
        make("retry", meta={"user_id": True, "event_time": "2024-07-30T19:04:35"}),
        "invalid_envelope",
        "bad-metadata-type-beats-bad-time",
    ),
    (
        make("completed", meta={"root_account_uuid": 1.5, "event_time": DROP}, whole_body=DROP),
        "invalid_envelope",
        "bad-metadata-type-beats-missing-time-and-body",
    ),
    (
        make("retry", meta={"url": ["x"]}, body={"new_course_uuid": DROP}),
        "invalid_envelope",
        "bad-metadata-type-beats-bad-body",
    ),
    (
        make("retry", meta={"event_time": "2024-07-30T19:04:35"}, whole_body=DROP),
        "invalid_event_time",
        "bad-time-beats-missing-body",
    ),
    (
        make("started", meta={"event_time": 5}, body={"context_uuid": None, "domain": True}),
        "invalid_event_time",
        "bad-time-beats-bad-body-fields",
    ),
    (
        make("legacy", meta={"event_time": "nope"}, body={"original_course_uuid": ""}),
        "invalid_event_time",
        "legacy-bad-time-beats-empty-required",
    ),
    (b"\xef\xbb\xbf" + make("retry", meta={"user_id": True}), "invalid_json", "bom-beats-envelope"),
    (
        event_line({"event_name": 7, "event_time": "bad", "user_id": True}),
        "missing_event_name",
        "missing-name-beats-everything-after",
    ),
]


@pytest.mark.parametrize("line, code", [c[:2] for c in ORDER], ids=[c[2] for c in ORDER])
def test_first_applicable_code_wins(line, code):
    assert code_of(classify_event(line)) == code
