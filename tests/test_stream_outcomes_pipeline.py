"""The stream writes assignment_states and retry_outcomes (TestStream, BundleBasedDirectRunner)."""

from __future__ import annotations

import json

import duckdb
import pytest
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.transforms.window import TimestampedValue

from tests.conftest import course, line, noise, retry, run_stream_pipeline

pytestmark = pytest.mark.slow

A, B, C = course("A"), course("B"), course("C")
ARRIVAL = 1_722_333_600  # 2024-07-30T10:00:00Z, seconds


def assignment(
    when: str, workflow_state: str, link: str | None = "link-1", target: str = B, **body
) -> bytes:
    return line(
        "assignment_updated",
        {
            "assignment_id": "7",
            "context_uuid": target,
            "context_type": "Course",
            "workflow_state": workflow_state,
            "lti_resource_link_id": link,
            "assignment_id_duplicated__from": "5",
            **body,
        },
        when,
    )


def rows(out, table: str) -> list[dict]:
    return (
        duckdb.sql(
            f"select * from read_parquet('{out}/{table}/**/*.parquet', hive_partitioning=true) "
            "order by event_time, event_fingerprint"
        )
        .to_arrow_table()
        .to_pylist()
    )


def test_stream_writes_assignment_states_and_decides_outcomes(tmp_path):
    failed_before = assignment("2024-07-30T10:00:30Z", "failed_to_clone_outcome_alignment")
    lines = [
        failed_before,
        retry(A, B, "2024-07-30T10:01:00Z"),  # succeeds
        assignment("2024-07-30T10:01:05Z", "outcome_alignment_cloning"),
        assignment("2024-07-30T10:03:00Z", "published"),
        failed_before,  # a copy
        assignment("2024-07-30T10:04:00Z", "published", link=None),  # counted, not written
        retry(A, C, "2024-07-30T10:02:00Z", assignment_link="link-9"),  # superseded
        retry(A, C, "2024-07-30T10:20:00Z", assignment_link="link-9"),  # nothing more: no event
        retry(A, B, "2024-07-30T10:05:00Z", assignment_link=None),  # no link
        noise(),
    ]
    stream = (
        BeamTestStream()
        .add_elements([TimestampedValue(one, ARRIVAL) for one in lines])
        .advance_watermark_to(ARRIVAL + 2 * 3600)
        # its window has closed: a late_event dead letter
        .add_elements(
            [TimestampedValue(assignment("2024-07-30T10:02:00Z", "deleted"), ARRIVAL + 7300)]
        )
        .advance_watermark_to(ARRIVAL + 3 * 86_400)
        .advance_processing_time(120)
        .advance_watermark_to_infinity()
    )
    out = tmp_path / "out"
    run_stream_pipeline(out, stream)

    states = rows(out, "assignment_states")
    assert [(r["workflow_state"], str(r["event_date"])) for r in states] == [
        ("failed_to_clone_outcome_alignment", "2024-07-30"),
        ("outcome_alignment_cloning", "2024-07-30"),
        ("published", "2024-07-30"),
    ]
    assert {r["assignment_id_duplicated_from"] for r in states} == {"5"}

    decided = rows(out, "retry_outcomes")
    assert [
        (
            r["new_course_uuid"][0],
            r["outcome"],
            r["attempt_number"],
            r["seconds_to_outcome"],
            r["seconds_since_failure"],
            str(r["event_date"]),
        )
        for r in decided
    ] == [
        ("B", "succeeded", 1, 120.0, 30.0, "2024-07-30"),
        ("C", "superseded", 1, None, None, "2024-07-30"),
        ("B", "no_assignment_link", None, None, None, "2024-07-30"),
        ("C", "no_outcome_event", 2, None, None, "2024-07-30"),
    ]
    # The same attempt numbers as the retries table.
    numbers = duckdb.sql(
        f"select event_fingerprint, attempt_number from read_parquet('{out}/retries/**/*.parquet')"
    ).fetchall()
    assert dict(numbers) == {r["event_fingerprint"]: r["attempt_number"] for r in decided}

    dead = duckdb.sql(
        f"select error_code, event_name from read_parquet('{out}/dead_letter/*.parquet')"
    ).fetchall()
    assert dead == [("late_event", "assignment_updated")]
    records = [
        json.loads(text)
        for path in (out / "_summaries").glob("*.jsonl")
        for text in path.read_text().splitlines()
    ]
    assert records and all(record["balanced"] for record in records)
    assert sum(record["lines_read"] for record in records) == len(lines) + 1
    assert sum(record["accepted"]["assignment_state"] for record in records) == 4
    assert sum(record["duplicates"] for record in records) == 1
    totals = {
        value: sum(record["outcomes"][value] for record in records)
        for value in records[0]["outcomes"]
    }
    assert totals == {
        "succeeded": 1,
        "failed": 0,
        "deleted": 0,
        "superseded": 1,
        "no_outcome_event": 1,
        "no_assignment_link": 1,
    }


def test_a_bounded_watch_run_drains_past_the_outcome_wait(tmp_path):
    from pipelines.cli import main

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(
        retry(A, B, "2024-07-30T10:01:00Z")  # no state event ever follows
        + b"\n"
        + assignment("2024-07-30T10:00:30Z", "failed_to_clone_outcome_alignment")
        + b"\n"
    )
    (folder / "a.jsonl.done").write_bytes(b"")
    argv = ["stream", "--watch", str(folder / "*.jsonl"), "--output", str(out)]
    assert main([*argv, "--stop-after", "1", "--outcome-wait-seconds", "400000"]) == 0
    [row] = rows(out, "retry_outcomes")
    assert (row["outcome"], row["seconds_since_failure"]) == ("no_outcome_event", 30.0)
    assert len(rows(out, "assignment_states")) == 1
    records = [
        json.loads(text)
        for path in (out / "_summaries").glob("*.jsonl")
        for text in path.read_text().splitlines()
    ]
    # Decided (and counted) before the stream's last summary record, not after it.
    assert sum(record["outcomes"]["no_outcome_event"] for record in records) == 1
