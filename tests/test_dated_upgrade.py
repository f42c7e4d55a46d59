"""Dated runs after an upgrade: days that ran before outcomes existed leave their retries alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.retry_lineage import run
from tests.conftest import course, line, retry
from transforms.tables import RETRIES

pytestmark = pytest.mark.slow

A, B = course("A"), course("B")
# Summary fields the release before outcomes did not write.
OUTCOME_FIELDS = ("assignment_states_written", "outcomes_written", "outcomes", "outcomes_complete")
# Tables the release before outcomes did not write.
OUTCOME_TABLES = ("assignment_states", "retry_outcomes")


def state(link: str, workflow_state: str, event_time: str) -> bytes:
    return line(
        "assignment_updated",
        {
            "assignment_id": "77",
            "context_uuid": B,
            "context_type": "Course",
            "workflow_state": workflow_state,
            "lti_resource_link_id": link,
        },
        event_time,
    )


FEED = {
    # Ran by the old release: its retry's clone succeeded the same day, but that release did
    # not keep assignment events.
    "2024-07-01": [
        retry(A, B, "2024-07-01T10:00:00Z", assignment_link="old"),
        state("old", "published", "2024-07-01T10:05:00Z"),
    ],
    # The first days after the upgrade: a retry late on day 2, pending until day 3 decides it.
    "2024-07-02": [
        retry(A, B, "2024-07-02T23:30:00Z", assignment_link="new"),
        line("asset_accessed", {"asset_id": "1"}, "2024-07-02T23:59:00Z"),
    ],
    "2024-07-03": [
        state("new", "published", "2024-07-03T00:10:00Z"),
        line("asset_accessed", {"asset_id": "1"}, "2024-07-03T23:59:00Z"),
    ],
}


def run_days(folder: Path, output: Path, first: str, last: str) -> int:
    for day, lines in FEED.items():
        (folder / f"feed-{day}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return run(
        [
            "--input-template",
            str(folder / "feed-{date}.jsonl"),
            *("--start", first, "--end", last),
            *("--output", str(output), "--parse-processes", "1"),
        ]
    )


def as_old_release_wrote_it(built: Path, output: Path, day: str) -> None:
    """``output`` as the release before outcomes left it: real table folders, no outcome tables.

    The tables are copied from ``built`` (a run of the current code); the outcome tables and
    the summary's outcome fields are left out.
    """
    partition = f"ingest_date={day}"
    for table in ("retries", "course_lineage", "dead_letter"):
        shutil.copytree(built / table / partition, output / table / partition)
    summary = json.loads((built / "_runs" / f"{partition}.json").read_text())
    for field in OUTCOME_FIELDS:
        summary.pop(field)
    summary["accepted"].pop("assignment_state")
    (output / "_runs").mkdir(parents=True)
    (output / "_runs" / f"{partition}.json").write_text(json.dumps(summary))


def read(output: Path, table: str) -> list[dict]:
    return (
        duckdb.sql(
            f"select * from read_parquet('{output}/{table}/**/*.parquet', hive_partitioning=true, "
            "union_by_name=true) order by event_time"
        )
        .to_arrow_table()
        .to_pylist()
    )


def day_summary(output: Path, day: str) -> dict:
    return json.loads((output / "_runs" / f"ingest_date={day}.json").read_text())


def test_the_first_days_after_an_upgrade_leave_retries_of_older_days_undecided(tmp_path):
    built, output = tmp_path / "built", tmp_path / "out"
    assert run_days(tmp_path, built, "2024-07-01", "2024-07-01") == 0
    # The current code decides the old day's retry with the day's own events...
    assert [row["outcome"] for row in read(built, "retry_outcomes")] == ["succeeded"]
    as_old_release_wrote_it(built, output, "2024-07-01")
    assert not any((output / table).exists() for table in OUTCOME_TABLES)

    assert run_days(tmp_path, output, "2024-07-02", "2024-07-03") == 0

    # ...but after the upgrade its state events are gone: deciding it now could only be wrong
    # (`no_outcome_event` on day 2, whose clock passed its wait). It gets no row.
    outcomes = read(output, "retry_outcomes")
    assert [
        (row["new_assignment_resource_link_id"], row["outcome"], str(row["ingest_date"]))
        for row in outcomes
    ] == [("new", "succeeded", "2024-07-03")]
    # Its retries row is still there, lineage and all, and still drives the clock.
    assert [row["new_assignment_resource_link_id"] for row in read(output, RETRIES.name)] == [
        "old",
        "new",
    ]
    for day, pending in (("2024-07-02", 1), ("2024-07-03", 0)):
        summary = day_summary(output, day)
        assert summary["retries_before_outcomes"] == 1, day
        assert summary["outcomes"]["pending"] == pending, day
        assert summary["outcomes"]["no_outcome_event"] == 0, day
        assert summary["outcomes_complete"], day


def test_rerunning_an_old_day_with_the_new_release_brings_its_retries_into_the_outcomes(tmp_path):
    built, output = tmp_path / "built", tmp_path / "out"
    assert run_days(tmp_path, built, "2024-07-01", "2024-07-01") == 0
    as_old_release_wrote_it(built, output, "2024-07-01")
    assert run_days(tmp_path, output, "2024-07-01", "2024-07-02") == 0

    outcomes = read(output, "retry_outcomes")
    assert [(row["new_assignment_resource_link_id"], row["outcome"]) for row in outcomes] == [
        ("old", "succeeded")
    ]
    assert day_summary(output, "2024-07-02")["retries_before_outcomes"] == 0
    assert day_summary(output, "2024-07-02")["outcomes"]["pending"] == 1
