"""Builders of Canvas-format event lines for tests."""
from __future__ import annotations

import json

ROOT_ACCOUNT = "8H3aGjEatiLI42zzV0ly8t5UGQAxYfvrI3MDlrCx"
PII_METADATA = {
    "user_login": "teacher@example.edu",
    "user_sis_id": "SIS-12345",
    "client_ip": "203.0.113.7",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) PII-AGENT",
    "session_id": "5e55i0n5e55i0n5e55i0n5e55i0n5e5",
    "referrer": "https://canvas.example.edu/courses/9/assignments?pii-referrer",
}


def course(name: str) -> str:
    """A 40-character course uuid derived from a short name."""
    return (name * 40)[:40]


def line(event_name: str, body, event_time: str = "2024-07-30T19:04:35.872Z", **metadata) -> bytes:
    meta = {"event_name": event_name, "event_time": event_time, "producer": "canvas",
            "root_account_uuid": ROOT_ACCOUNT, **metadata}
    return json.dumps({"metadata": meta, "body": body}).encode("utf-8")


def retry(source: str, target: str, event_time: str, assignment_link: str | None = "link-1",
          user_id: str | None = "10000000000001", url: str | None = None, **body) -> bytes:
    return line(
        "outcomes.retry_outcome_alignment_clone",
        {"original_course_uuid": source, "new_course_uuid": target,
         "new_course_resource_link_id": "lti-" + target[:8], "domain": "canvas.example.edu",
         "original_assignment_resource_link_id": "orig-link",
         "new_assignment_resource_link_id": assignment_link, "status": "outcome_alignment_cloning", **body},
        event_time,
        user_id=user_id,
        url=url or "https://canvas.example.edu/api/v1/courses/1/assignments/2/retry_alignment_clone?target_assignment_id=3&target_course_id=2",
        context_role="TeacherEnrollment",
        request_id="req-1",
        **PII_METADATA,
    )


def completed(migration_id: str, child: str, event_time: str, source_uuid: str | None = None,
              source_lti: str | None = None, child_lti: str | None = None,
              migration_type: str = "course_copy_importer", event_name: str = "content_migration_completed",
              **body) -> bytes:
    fields = {"content_migration_id": migration_id, "context_id": "21070000000008972", "context_type": "Course",
              "context_uuid": child, "lti_context_id": child_lti, "source_course_lti_id": source_lti,
              "destination_course_lti_id": child_lti, "migration_type": migration_type,
              "domain": "canvas.example.edu", **body}
    if source_uuid is not None:
        fields["source_course_uuid"] = source_uuid
    return line(event_name, fields, event_time, **PII_METADATA)


def started(migration_id: str, child: str, event_time: str, source_uuid: str, source_lti: str,
            child_lti: str | None = None) -> bytes:
    return completed(migration_id, child, event_time, source_uuid, source_lti, child_lti,
                     event_name="content_migration_started")


def noise(event_name: str = "asset_accessed", **body) -> bytes:
    return line(event_name, {"asset_id": "1", **body}, **PII_METADATA, url="https://canvas.example.edu/x")
