"""Assignment states and retry outcomes through the batch job (undated and dated) and the stream."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from pipelines.retry_lineage import run
from tests.conftest import CANVAS_EXAMPLES, course, line, noise, retry
from transforms.tables import ASSIGNMENT_STATES, RETRY_OUTCOMES

pytestmark = pytest.mark.slow

A, B, C = (course(name) for name in "ABC")


def state(
    target: str,
    link: str | None,
    workflow_state: str,
    event_time: str,
    event_name: str = "assignment_updated",
    **body,
) -> bytes:
    """An assignment event of the assignment ``link`` in course ``target``."""
    return line(
        event_name,
        {
            "assignment_id": "77",
            "context_uuid": target,
            "context_type": "Course",
            "workflow_state": workflow_state,
            "lti_resource_link_id": link,
            **body,
        },
        event_time,
    )


def example(name: str) -> bytes:
    return json.dumps(json.loads((CANVAS_EXAMPLES / name).read_text())).encode("utf-8")


def run_batch(
    tmp_path: Path, lines: list[bytes] | dict[str, list[bytes]], *args: str
) -> tuple[int, Path]:
    """Write the feed (one file, or one per ingest date) and run the batch job on it."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "out"
    if isinstance(lines, dict):
        for day, day_lines in lines.items():
            (tmp_path / f"feed-{day}.jsonl").write_bytes(b"\n".join(day_lines) + b"\n")
        days = sorted(lines)
        argv = [
            "--input-template",
            str(tmp_path / "feed-{date}.jsonl"),
            "--start",
            days[0],
            "--end",
            days[-1],
        ]
    else:
        (tmp_path / "feed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
        argv = ["--input", str(tmp_path / "feed.jsonl")]
    code = run([*argv, "--output", str(out), "--parse-processes", "1", *args])
    return code, out


def rows(out: Path, table: str, order: str = "event_time, event_fingerprint") -> list[dict]:
    return (
        duckdb.sql(
            f"select * from read_parquet('{out}/{table}/**/*.parquet', hive_partitioning=true, "
            f"union_by_name=true) order by {order}"
        )
        .to_arrow_table()
        .to_pylist()
    )


def summary(out: Path) -> dict:
    return json.loads((out / "_SUMMARY.json").read_text())


def test_documentation_examples_and_copies_go_through_as_the_contract_says(tmp_path):
    created, updated = example("assignment_created.json"), example("assignment_updated.json")
    unlinked = state(A, None, "published", "2024-07-30T10:00:00Z")
    account = line(
        "assignment_created",
        {
            "assignment_id": "1",
            "context_uuid": A,
            "context_type": "Account",
            "workflow_state": "published",
        },
    )
    invalid = state(A, "l", "published", "2024-07-30T10:00:00Z", created_on_blueprint_sync="yes")
    code, out = run_batch(
        tmp_path, [created, updated, updated, unlinked, unlinked, account, invalid, noise()]
    )
    assert code == 0
    result = summary(out)
    assert result["accepted"]["assignment_state"] == 3
    assert result["duplicates"] == 2
    assert result["assignment_states_written"] == 2
    assert result["skipped_by_event_name"] == {"asset_accessed": 1, "assignment_created": 1}
    assert result["dead_letter_by_code"]["invalid_body"] == 1
    assert result["balanced"] and result["outputs_complete"] and result["outcomes_complete"]
    states = rows(out, "assignment_states")
    assert [
        (
            s["source_event_name"],
            s["workflow_state"],
            s["assignment_id_duplicated_from"],
            s["created_on_blueprint_sync"],
            str(s["event_date"]),
        )
        for s in states
    ] == [
        ("assignment_created", "created", "21070000000000420", False, "2019-11-01"),
        ("assignment_updated", "published", "21070000000000420", False, "2019-11-01"),
    ]
    assert states[0]["event_time"].isoformat() == "2019-11-01T19:11:11.323000+00:00"
    assert set(states[0]) == set(ASSIGNMENT_STATES.schema.names) | {"event_date"}
    assert not {"user_id", "user_login", "client_ip"} & set(states[0])
    assert rows(out, "retry_outcomes") == []


def test_the_stream_accepts_assignment_events_and_decides_the_outcome(tmp_path):
    from apache_beam.testing.test_stream import TestStream as BeamTestStream
    from apache_beam.transforms.window import TimestampedValue

    from tests.conftest import run_stream_pipeline

    arrival = 1_722_333_600  # 2024-07-30T10:00:00Z
    feed = [
        retry(A, B, "2024-07-30T10:01:00Z", assignment_link="l1"),
        state(B, "l1", "published", "2024-07-30T10:02:00Z"),
        state(B, "l1", "published", "2024-07-30T10:02:00Z", event_name="assignment_created"),
        state(B, "l1", "published", "2024-07-30T10:02:00Z", created_on_blueprint_sync="invalid"),
        noise(),
    ]
    stream = (
        BeamTestStream()
        .add_elements([TimestampedValue(raw, arrival) for raw in feed])
        .advance_processing_time(120)
        .advance_watermark_to_infinity()
    )
    out = tmp_path / "out"
    run_stream_pipeline(out, stream)
    records = [
        json.loads(text)
        for path in (out / "_summaries").glob("*.jsonl")
        for text in path.read_text().splitlines()
    ]
    assert records and all(record["balanced"] for record in records)
    assert sum(record["lines_read"] for record in records) == 5
    # Both valid state events are accepted (their fingerprints differ by event name),
    # the one with a non-boolean created_on_blueprint_sync is invalid_body, none is skipped.
    assert not any(
        record["skipped_by_event_name"].get(name, 0)
        for record in records
        for name in ("assignment_updated", "assignment_created")
    )
    assert sum(record["accepted"]["assignment_state"] for record in records) == 2
    assert sum(record["dead_letter_by_code"]["invalid_body"] for record in records) == 1
    assert sum(record["accepted"]["retry"] for record in records) == 1
    assert len(rows(out, "retries")) == 1
    assert len(rows(out, "assignment_states")) == 2
    outcome_rows = rows(out, "retry_outcomes")
    assert [row["outcome"] for row in outcome_rows] == ["succeeded"]
    assert outcome_rows[0]["outcome_workflow_state"] == "published"


FAILED_STATE = "failed_to_clone_outcome_alignment"


def outcome_feed() -> list[bytes]:
    """Retries into B (and C) whose assignments tell every outcome; the feed ends 07-05T12:00."""
    return [
        # l1: failed before, cloning, then published: succeeded.
        state(B, "l1", FAILED_STATE, "2024-07-01T09:00:00Z"),
        retry(A, B, "2024-07-01T10:00:00Z", assignment_link="l1"),
        state(B, "l1", "outcome_alignment_cloning", "2024-07-01T10:00:00Z"),
        state(B, "l1", "published", "2024-07-01T10:05:00Z", created_on_blueprint_sync=True),
        state(
            B, "l1", "published", "2024-07-01T10:05:00Z", created_on_blueprint_sync=True
        ),  # a copy
        # l2: fails again, then a second retry an hour later, then deleted.
        retry(A, B, "2024-07-02T10:00:00Z", assignment_link="l2"),
        state(B, "l2", FAILED_STATE, "2024-07-02T10:30:00Z"),
        retry(A, B, "2024-07-02T11:00:00Z", assignment_link="l2"),
        state(B, "l2", "deleted", "2024-07-02T11:10:00Z"),
        # l3: retried twice within the wait, silence in between: superseded, then silence:
        # no_outcome_event.
        retry(A, B, "2024-07-03T10:00:00Z", assignment_link="l3"),
        retry(A, B, "2024-07-03T12:00:00Z", assignment_link="l3"),
        # the same link in another course says nothing about B's assignment.
        state(C, "l3", "published", "2024-07-03T12:30:00Z"),
        # no link (the legacy form).
        retry(A, B, "2024-07-04T10:00:00Z", assignment_link=None),
        # l5: still within its wait when the feed ends: pending.
        retry(A, B, "2024-07-05T10:00:00Z", assignment_link="l5"),
        state(B, "l5", "outcome_alignment_cloning", "2024-07-05T10:00:01Z"),
        # background: an ordinary assignment without a link, and the feed's last event.
        state(C, None, "published", "2024-07-05T12:00:00Z"),
        line("asset_accessed", {"asset_id": "1"}, "2024-07-05T11:00:00Z"),
    ]


def test_every_outcome_of_an_undated_run(tmp_path):
    code, out = run_batch(tmp_path, outcome_feed())
    assert code == 0
    result = summary(out)
    assert result["outcomes"] == {
        "succeeded": 1,
        "failed": 1,
        "deleted": 1,
        "superseded": 1,
        "no_outcome_event": 1,
        "no_assignment_link": 1,
        "pending": 1,
    }
    assert result["outcomes_written"] == 6 and result["outcomes_complete"]
    assert result["accepted"]["assignment_state"] == 8 and result["assignment_states_written"] == 7
    assert result["duplicates"] == 1
    got = rows(out, "retry_outcomes")
    assert set(got[0]) == set(RETRY_OUTCOMES.schema.names) | {"event_date"}
    assert [
        (
            r["new_assignment_resource_link_id"],
            r["attempt_number"],
            r["outcome"],
            r["outcome_workflow_state"],
            r["seconds_to_outcome"],
            r["seconds_since_failure"],
            r["created_on_blueprint_sync"],
            str(r["event_date"]),
        )
        for r in got
    ] == [
        ("l1", 1, "succeeded", "published", 300.0, 3600.0, True, "2024-07-01"),
        ("l2", 1, "failed", FAILED_STATE, 1800.0, None, None, "2024-07-02"),
        ("l2", 2, "deleted", "deleted", 600.0, 1800.0, None, "2024-07-02"),
        ("l3", 1, "superseded", None, None, None, None, "2024-07-03"),
        ("l3", 2, "no_outcome_event", None, None, None, None, "2024-07-03"),
        (None, None, "no_assignment_link", None, None, None, None, "2024-07-04"),
    ]
    assert all(r["assignment_id"] == "77" for r in got[:3]) and got[3]["assignment_id"] is None
    retries = {r["event_fingerprint"] for r in rows(out, "retries")}
    assert {r["event_fingerprint"] for r in got} < retries and len(retries) == 7


def test_outcome_wait_seconds(tmp_path):
    # With a 20-minute wait the l2 deletion (70 minutes after the first retry, 10 after the
    # second) still decides the second retry, and l1's success (5 minutes) still counts; the
    # first l2 retry fails at 30 min.
    code, out = run_batch(tmp_path, outcome_feed(), "--outcome-wait-seconds", "1200")
    assert code == 0
    outcomes = {
        (r["new_assignment_resource_link_id"], r["attempt_number"]): r["outcome"]
        for r in rows(out, "retry_outcomes")
    }
    assert outcomes[("l2", 1)] == "no_outcome_event"  # the failure at 30 min is past the wait
    assert outcomes[("l2", 2)] == "deleted"
    assert outcomes[("l3", 1)] == "no_outcome_event"  # the next attempt came after the wait
    assert outcomes[("l5", 1)] == "no_outcome_event"  # the clock (12:00) is past 10:20
    assert summary(out)["outcomes"]["pending"] == 0


def test_a_bad_outcome_wait_is_a_usage_error(tmp_path, capsys):
    code, _ = run_batch(tmp_path, [noise()], "--outcome-wait-seconds", "-1")
    assert code == 2
    assert "--outcome-wait-seconds must be at least 0" in capsys.readouterr().err


def by_ingest_day(lines: list[bytes]) -> dict[str, list[bytes]]:
    """The feed cut into ingest days by the UTC date of each line's event time."""
    days: dict[str, list[bytes]] = {}
    for raw in lines:
        event_time = json.loads(raw)["metadata"].get("event_time", "2024-07-01")
        days.setdefault(event_time[:10], []).append(raw)
    return days


def comparable(outcome_rows: list[dict]) -> list[tuple]:
    return sorted(
        tuple((name, row[name]) for name in RETRY_OUTCOMES.schema.names) for row in outcome_rows
    )


def test_dated_runs_decide_a_retry_on_a_later_day_and_union_equals_one_undated_run(tmp_path):
    feed = outcome_feed() + [
        # l6: retried just before midnight, its clone succeeds the next day.
        state(
            C,
            "l6",
            FAILED_STATE,
            "2024-07-01T23:00:00Z",
            lti_resource_link_id_duplicated_from="src-6",
        ),
        retry(A, C, "2024-07-01T23:50:00Z", assignment_link="l6"),
        state(C, "l6", "unpublished", "2024-07-02T00:10:00Z"),
        # l7: retried on day 3, silence, the wait passes on day 5.
        retry(A, C, "2024-07-03T20:00:00Z", assignment_link="l7"),
    ]
    days = by_ingest_day(feed)
    assert sorted(days) == ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-04", "2024-07-05"]
    code, dated = run_batch(tmp_path / "dated", days)
    assert code == 0
    code, undated = run_batch(tmp_path / "undated", feed)
    assert code == 0

    dated_rows = rows(dated, "retry_outcomes")
    l6 = [row for row in dated_rows if row["new_assignment_resource_link_id"] == "l6"]
    assert [
        (
            str(r["ingest_date"]),
            str(r["event_date"]),
            r["outcome"],
            r["seconds_to_outcome"],
            r["seconds_since_failure"],
            r["lti_resource_link_id_duplicated_from"],
        )
        for r in l6
    ] == [("2024-07-02", "2024-07-01", "succeeded", 1200.0, 3000.0, "src-6")]
    l7 = [row for row in dated_rows if row["new_assignment_resource_link_id"] == "l7"]
    assert [(str(r["ingest_date"]), r["outcome"]) for r in l7] == [
        ("2024-07-05", "no_outcome_event")
    ]
    assert comparable(dated_rows) == comparable(rows(undated, "retry_outcomes"))

    runs = {path.stem: json.loads(path.read_text()) for path in (dated / "_runs").glob("*.json")}
    assert all(run_summary["outcomes_complete"] for run_summary in runs.values())
    assert (
        runs["ingest_date=2024-07-01"]["outcomes"]["pending"] == 1
    )  # l6 (l1 is decided the same day)
    assert runs["ingest_date=2024-07-02"]["outcomes"]["succeeded"] == 1
    assert runs["ingest_date=2024-07-05"]["outcomes"]["pending"] == 1  # l5
    assert (
        sum(run_summary["outcomes_written"] for run_summary in runs.values())
        == len(dated_rows)
        == 8
    )
    states = rows(dated, "assignment_states")
    assert len(states) == len(rows(undated, "assignment_states")) == 9


def test_a_rerun_of_a_day_replaces_exactly_its_outcomes(tmp_path):
    days = by_ingest_day(outcome_feed())
    code, out = run_batch(tmp_path, days)
    assert code == 0
    before = comparable(rows(out, "retry_outcomes"))
    code = run(
        [
            "--input-template",
            str(tmp_path / "feed-{date}.jsonl"),
            "--date",
            "2024-07-02",
            "--output",
            str(out),
            "--parse-processes",
            "1",
        ]
    )
    assert code == 0
    assert comparable(rows(out, "retry_outcomes")) == before


def test_dated_runs_on_an_object_store_read_pending_retries_through_the_manifest(
    tmp_path, monkeypatch
):
    from tests.fakestore import FakeObjectStore
    from transforms import publish

    bucket = tmp_path / "bucket"
    bucket.mkdir()
    monkeypatch.setattr(FakeObjectStore, "ROOT", str(bucket))
    days = {
        "2024-07-01": [retry(A, C, "2024-07-01T23:50:00Z", assignment_link="l6")],
        "2024-07-02": [state(C, "l6", "published", "2024-07-02T00:10:00Z")],
    }
    for day, day_lines in days.items():
        (tmp_path / f"{day}.jsonl").write_bytes(b"\n".join(day_lines) + b"\n")
    out = "fakestore://out"
    code = run(
        [
            "--input-template",
            str(tmp_path / "{date}.jsonl"),
            "--start",
            "2024-07-01",
            "--end",
            "2024-07-02",
            "--output",
            out,
            "--parse-processes",
            "1",
        ]
    )
    assert code == 0
    found = []
    for folder in publish.current_table_dirs(out, RETRY_OUTCOMES):
        local = bucket / folder[len("fakestore://") :]
        found += [
            (path.relative_to(local.parent).parts[0], row["outcome"])
            for path in local.rglob("*.parquet")
            for row in duckdb.sql(f"select outcome from read_parquet('{path}')")
            .to_arrow_table()
            .to_pylist()
        ]
    assert found == [("ingest_date=2024-07-02", "succeeded")]
