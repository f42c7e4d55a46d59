"""The Canvas documentation's example payloads, classified as the contract says."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CANVAS_EXAMPLES
from tests.event_cases import COMPLETED, RETRY, STARTED, code_of, micros_of, sha256_hex
from transforms.events import Accepted, Skipped, classify_event

EXAMPLES = CANVAS_EXAMPLES

# --- documented example payloads ------------------------------------------------------------------

EXAMPLE_FILES = [
    "outcomes.retry_outcome_alignment_clone.json",
    "content_migration_completed.json",
    "content_migration_started.json",
    "course_created.json",
    "assignment_created.json",
]
PII_FIELDS = (
    "user_login",
    "user_sis_id",
    "client_ip",
    "user_agent",
    "session_id",
    "url",
    "referrer",
)


def example_line(name: str) -> bytes:
    assert EXAMPLES.is_dir(), f"example payloads not found at {EXAMPLES}"
    path = EXAMPLES / name
    assert path.is_file(), f"missing example payload {path}"
    # The files are pretty-printed; an event is one line in the feed.
    return json.dumps(json.loads(path.read_text(encoding="utf-8")), ensure_ascii=False).encode(
        "utf-8"
    )


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
    assert (
        event.original_course_id,
        event.original_assignment_id,
        event.new_course_id,
        event.new_assignment_id,
    ) == ("1", "2", "2", "3")
    assert event.original_course_uuid == body["original_course_uuid"]
    assert event.new_course_uuid == body["new_course_uuid"]
    assert event.new_course_resource_link_id == body["new_course_resource_link_id"]
    assert (
        event.original_assignment_resource_link_id == body["original_assignment_resource_link_id"]
    )
    assert event.new_assignment_resource_link_id == body["new_assignment_resource_link_id"]
    assert event.status == "outcome_alignment_cloning"
    assert event.domain == "canvas.docker"
    assert event.root_account_uuid == meta["root_account_uuid"]
    assert event.request_id == meta["request_id"]
    assert event.context_role == "TeacherEnrollment"
    # HMAC-SHA256 of "<root_account_uuid>:<user_id>" of the example under the key "example-key"
    assert (
        event.actor_user_hmac == "467eae8e76175c256e2c0f4f2df9bdc649352fe59b07b1a843c4975149c085d7"
    )
    assert event.event_fingerprint == sha256_hex(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    )
    # Privacy: no PII value of the metadata reaches the accepted event.
    pii = {meta[field] for field in PII_FIELDS if meta.get(field)}
    assert pii and not pii & {value for value in event if isinstance(value, str)}
    assert str(meta["user_id"]) not in event


@pytest.mark.parametrize(
    "name, role",
    [
        ("content_migration_completed.json", COMPLETED),
        ("content_migration_started.json", STARTED),
    ],
)
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


@pytest.mark.parametrize(
    "name, event_name",
    [
        ("course_created.json", "course_created"),
    ],
)
def test_example_noise_is_skipped(name, event_name):
    assert classify_event(example_line(name)) == Skipped(event_name)


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_pretty_printed_file_is_not_one_line(name):
    # The files as stored are multi-line; their first line alone is truncated JSON.
    assert EXAMPLES.is_dir(), f"example payloads not found at {EXAMPLES}"
    first_line = (EXAMPLES / name).read_bytes().split(b"\n")[0]
    assert code_of(classify_event(first_line)) == "invalid_json"
