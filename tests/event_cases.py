"""Canvas-format lines for the classification tests: a base line per kind, changed field by field.

Used by the ``test_events_*`` and ``test_classify_*`` modules (see ``tests/conftest.py`` for the
keyword builders the pipeline tests use).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from transforms.events import DeadLetter
from transforms.timestamps import parse_event_time

RETRY = "outcomes.retry_outcome_alignment_clone"
LEGACY = "quizzes_next_quiz_duplicated"
COMPLETED = "content_migration_completed"
STARTED = "content_migration_started"


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
            "event_name": RETRY,
            "event_time": TIME,
            "root_account_uuid": ROOT,
            "user_id": "10000000000001",
            "request_id": "req-1",
            "context_role": "TeacherEnrollment",
            "user_login": "t@example.com",
            "url": "http://canvas.docker/api/v1/courses/1/assignments/2/retry_alignment_clone"
            "?target_assignment_id=3&target_course_id=2",
        },
        {
            "original_course_uuid": "S-uuid",
            "new_course_uuid": "T-uuid",
            "new_course_resource_link_id": "T-lti",
            "domain": "canvas.docker",
            "original_assignment_resource_link_id": "A1-link",
            "new_assignment_resource_link_id": "A2-link",
            "status": "outcome_alignment_cloning",
        },
    ),
    "legacy": (
        {"event_name": LEGACY, "event_time": TIME, "root_account_uuid": ROOT, "user_id": "7"},
        {
            "original_course_uuid": "S-uuid",
            "new_course_uuid": "T-uuid",
            "new_course_resource_link_id": "T-lti",
            "domain": "canvas.docker",
            "original_resource_link_id": "q1",
            "new_resource_link_id": "q2",
            "status": "outcome_alignment_cloning",
        },
    ),
    "completed": (
        {"event_name": COMPLETED, "event_time": TIME, "root_account_uuid": ROOT},
        {
            "content_migration_id": "72",
            "context_id": "8972",
            "context_type": "Course",
            "context_uuid": "C-uuid",
            "lti_context_id": "C-lti",
            "source_course_lti_id": "P-lti",
            "destination_course_lti_id": "C-lti",
            "migration_type": "course_copy_importer",
            "domain": "oxana.instructure.com",
        },
    ),
    "started": (
        {"event_name": STARTED, "event_time": TIME, "root_account_uuid": ROOT},
        {
            "content_migration_id": "72",
            "context_type": "Course",
            "context_uuid": "C-uuid",
            "lti_context_id": "C-lti",
            "source_course_uuid": "P-uuid",
            "source_course_lti_id": "P-lti",
            "migration_type": "course_copy_importer",
            "domain": "oxana.instructure.com",
        },
    ),
    "assignment": (
        {"event_name": "assignment_updated", "event_time": TIME, "root_account_uuid": ROOT},
        {
            "assignment_id": "101",
            "context_uuid": "C-uuid",
            "context_type": "Course",
            "workflow_state": "published",
            "lti_resource_link_id": "link-1",
            "created_on_blueprint_sync": False,
        },
    ),
    "noise": (
        {
            "event_name": "course_created",
            "event_time": TIME,
            "root_account_uuid": ROOT,
            "user_id": "1",
        },
        {"course_id": "56", "name": "Linear Algebra", "uuid": "X-uuid"},
    ),
}


def make(
    kind: str, meta: dict | None = None, body: dict | None = None, *, whole_body: Any = KEEP
) -> bytes:
    """A line of ``kind`` with metadata/body fields changed (DROP removes a field).

    ``whole_body`` replaces the body entirely (DROP omits it).
    """
    base_meta, base_body = BASE[kind]
    return event_line(
        edit(base_meta, meta), edit(base_body, body) if whole_body is KEEP else whole_body
    )


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


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def offsets_of(lines: list[bytes], first: int) -> list[int]:
    """Byte offsets of ``lines`` joined by newlines, the first at ``first``."""
    out, offset = [], first
    for line in lines:
        out.append(offset)
        offset += len(line) + 1
    return out
