"""A small output folder written with the project's own schemas, for the report's tests.

Six retries over three UTC days whose aggregates are worked out by hand in
``tests/test_report.py``; dead letters whose raw bytes and retries whose
actor HMACs carry markers that must never reach the page.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import course
from transforms.summary import build_summary
from transforms.tables import (
    COURSE_LINEAGE,
    DEAD_LETTER,
    RETRIES,
    DeadLetterRow,
    LineageRow,
    RetryRow,
    to_arrow,
)

A, B, C, D, E, F = (course(name) for name in "ABCDEF")
RAW_MARKER = b"RAW-BYTES-MUST-NOT-SHOW"
HMAC_MARKER = "hmac-must-not-show-"
HOSTILE_EVENT_NAME = "</script><img src=x onerror=alert(1)>"


def micros(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1_000_000)


def retry_row(fingerprint, when, source, target, link, status, migration_type, seconds, root, depth,
              cycle=False, truncated=False) -> RetryRow:
    path = [root] + ([source] if source != root else []) + ([target] if target != source else [])
    return RetryRow(
        event_fingerprint=fingerprint, source_event_name="outcomes.retry_outcome_alignment_clone",
        event_time=micros(when), root_account_uuid="acct", domain="canvas.example.edu",
        status="outcome_alignment_cloning", original_course_uuid=source, new_course_uuid=target,
        new_course_resource_link_id=None, original_assignment_resource_link_id=None,
        new_assignment_resource_link_id=link, request_id=None, context_role="TeacherEnrollment",
        actor_user_hmac=HMAC_MARKER + fingerprint, original_course_id=None, original_assignment_id=None,
        new_course_id=None, new_assignment_id=None, lineage_status=status,
        migration_id="m-" + fingerprint if migration_type else None, migration_type=migration_type,
        migration_completed_at=micros(when) - int(seconds * 1e6) if seconds is not None else None,
        seconds_since_migration=seconds, lineage_path=path, root_course_uuid=root, lineage_depth=depth,
        lineage_cycle=cycle, lineage_truncated=truncated, attempt_number=None, attempt_count=None)


RETRY_ROWS = [
    retry_row("f1", "2024-07-01T10:00:00Z", A, B, "L1", "matched", "course_copy_importer", 30.0, A, 1),
    retry_row("f2", "2024-07-01T23:59:59Z", A, B, "L1", "matched", "course_copy_importer", 86400.0, A, 1),
    retry_row("f3", "2024-07-02T00:00:00Z", C, C, "L2", "same_course", None, None, C, 0),
    retry_row("f4", "2024-07-02T05:00:00Z", D, E, None, "no_migration", None, None, D, 1),
    retry_row("f5", "2024-07-03T12:00:00Z", B, F, "L3", "source_mismatch", "blueprint", 0.5, A, 2, cycle=True),
    retry_row("f6", "2024-07-03T13:00:00Z", A, B, "L1", "matched", "course_copy_importer", 3600.0, A, 1,
              truncated=True),
]
LINEAGE_ROWS = [
    LineageRow(content_migration_id="m1", child_course_uuid=B, child_lti_context_id=None, parent_course_uuid=A,
               parent_lti_context_id=None, migration_type="course_copy_importer",
               completed_at=micros("2024-06-30T00:00:00Z"), root_account_uuid="acct", domain=None,
               event_fingerprint="g1"),
    LineageRow(content_migration_id="m2", child_course_uuid=F, child_lti_context_id=None, parent_course_uuid=B,
               parent_lti_context_id=None, migration_type="blueprint",
               completed_at=micros("2024-07-03T11:59:59Z"), root_account_uuid="acct", domain=None,
               event_fingerprint="g2"),
]
DEAD_LETTER_ROWS = [
    DeadLetterRow("invalid_json", "Expecting value", None, "feed-1.jsonl", 10, RAW_MARKER + b"1"),
    DeadLetterRow("invalid_json", "Expecting value", None, "feed-1.jsonl", 20, RAW_MARKER + b"2"),
    DeadLetterRow("oversize", "line of 1000001 bytes", None, "feed-2.jsonl", 0, RAW_MARKER + b"3"),
]
SUMMARY_TOTALS = {
    "lines_read": 21, "blank_lines": 1, "dead_letter_by_code.invalid_json": 2, "dead_letter_by_code.oversize": 1,
    "skipped_by_event_name.asset_accessed": 5, "skipped_by_event_name.logged_in": 2,
    "skipped_by_event_name." + HOSTILE_EVENT_NAME: 1,
    "duplicates": 1, "accepted.retry": 6, "accepted.content_migration_completed": 2,
    "retries_written": 6, "course_lineage_written": 2, "dead_letter_written": 3, "identity_conflicts": 1,
    "lineage_status.matched": 3, "lineage_status.same_course": 1, "lineage_status.no_migration": 1,
    "lineage_status.source_mismatch": 1,
    "accepted_before_dedup.retry": 7, "accepted_before_dedup.content_migration_completed": 2,
}
OUTCOMES = pa.table({
    "event_fingerprint": ["f1", "f2", "f3", "f5", "f6"],
    "outcome": ["succeeded", "failed", "succeeded", "no_outcome_event", "succeeded"],
    "seconds_to_outcome": [120.0, 7200.0, None, None, 0.2],
})


def write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def summary() -> dict:
    return build_summary(SUMMARY_TOTALS, "hmac-sha256")


def write_undated(out: Path, outcomes: bool = False) -> Path:
    """The fixture as an undated batch output (retries partitioned by event_date)."""
    by_day: dict[str, list] = {}
    for row in RETRY_ROWS:
        day = dt.datetime.fromtimestamp(row.event_time / 1e6, dt.UTC).date().isoformat()
        by_day.setdefault(day, []).append(row)
    for day, rows in by_day.items():
        write(out / "retries" / f"event_date={day}" / "part-00000.parquet", to_arrow(RETRIES, rows))
    write(out / "course_lineage" / "part-00000.parquet", to_arrow(COURSE_LINEAGE, LINEAGE_ROWS))
    write(out / "dead_letter" / "part-0123456789abcdef-00000.parquet", to_arrow(DEAD_LETTER, DEAD_LETTER_ROWS))
    (out / "_SUMMARY.json").write_text(json.dumps(summary(), indent=2))
    if outcomes:
        write(out / "retry_outcomes" / "event_date=2024-07-01" / "part-00000.parquet", OUTCOMES)
    return out


def _day_summary(retries: int, dead: dict[str, int], pseudonymization: str = "hmac-sha256") -> dict:
    totals = {"lines_read": retries + sum(dead.values()) + 1, "skipped_by_event_name.asset_accessed": 1,
              "accepted.retry": retries, "retries_written": retries, "lineage_status.matched": retries,
              "accepted_before_dedup.retry": retries, "dead_letter_written": sum(dead.values())}
    totals.update({"dead_letter_by_code." + code: count for code, count in dead.items()})
    return build_summary(totals, pseudonymization)


DATED_DAYS = {  # ingest day -> (retry fingerprints, dead letter rows)
    "2024-07-01": (["f1", "f2"], DEAD_LETTER_ROWS[:2]),
    "2024-07-02": (["f3", "f4"], []),
    "2024-07-03": (["f5", "f6"], DEAD_LETTER_ROWS[2:]),
}


def write_dated(out: Path) -> Path:
    """The fixture as a dated output: one ingest day per event day, a run summary per day."""
    for day, (fingerprints, dead) in DATED_DAYS.items():
        rows = [row for row in RETRY_ROWS if row.event_fingerprint in fingerprints]
        write(out / "retries" / f"ingest_date={day}" / f"event_date={day}" / "part-00000.parquet",
              to_arrow(RETRIES, rows))
        lineage = [row for row in LINEAGE_ROWS if day == "2024-07-01"]
        write(out / "course_lineage" / f"ingest_date={day}" / "part-00000.parquet", to_arrow(COURSE_LINEAGE, lineage))
        write(out / "dead_letter" / f"ingest_date={day}" / "part-00000.parquet", to_arrow(DEAD_LETTER, dead))
        codes: dict[str, int] = {}
        for row in dead:
            codes[row.error_code] = codes.get(row.error_code, 0) + 1
        (out / "_runs").mkdir(parents=True, exist_ok=True)
        (out / "_runs" / f"ingest_date={day}.json").write_text(json.dumps(_day_summary(len(rows), codes)))
    return out


def stream_record(written_at: str, retries: int, dead: dict[str, int]) -> dict:
    record = _day_summary(retries, dead)
    for batch_only in ("outputs_complete", "retries_written", "lineage_edges_written", "dead_letters_written"):
        del record[batch_only]
    record["window"] = {"kind": "processing_time_firing", "firing": 0, "written_at": written_at}
    return record


def write_streaming(out: Path) -> Path:
    """A streaming output that has written retries but no lineage or dead-letter file yet."""
    write(out / "retries" / "event_date=2024-07-01" / "part-20240701T100000Z-p000-abcdef012345.parquet",
          to_arrow(RETRIES, RETRY_ROWS[:2]))
    (out / "_summaries").mkdir(parents=True)
    records = [stream_record("2024-07-01T10:05:00.000Z", 2, {"invalid_json": 2}),
               stream_record("2024-07-01T11:30:00.000Z", 0, {"late_event": 1})]
    for number, record in enumerate(records):
        (out / "_summaries" / f"summary-{number}.jsonl").write_text(json.dumps(record) + "\n")
    return out
