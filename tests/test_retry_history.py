"""ReadRetryHistory: earlier days' retries, split by whether their day recorded outcomes."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from transforms.retry_history import ReadRetryHistory, ingest_day, recorded_outcomes
from transforms.tables import RETRIES, RETRY_OUTCOMES, RetryRow, to_arrow

DAY_MICROS = 86_400_000_000
JULY_1 = 1_719_792_000_000_000  # 2024-07-01T00:00:00Z


def retry_row(fingerprint: str, day: int) -> RetryRow:
    values = {
        **dict.fromkeys(RetryRow._fields),
        "event_fingerprint": fingerprint,
        "source_event_name": "outcomes.retry_outcome_alignment_clone",
        "event_time": JULY_1 + (day - 1) * DAY_MICROS + 3_600_000_000,
        "original_course_uuid": "A" * 40,
        "new_course_uuid": "B" * 40,
        "new_assignment_resource_link_id": "link-" + fingerprint,
        "lineage_status": "no_migration",
        "lineage_path": ["A" * 40, "B" * 40],
        "root_course_uuid": "A" * 40,
        "lineage_depth": 1,
        "lineage_cycle": False,
        "lineage_truncated": False,
        "attempt_number": 1,
        "attempt_count": 1,
    }
    return RetryRow(**values)


def write_day(output: Path, table, day: int, rows: list) -> None:
    date = f"2024-07-{day:02d}"
    folder = output / table.name / f"ingest_date={date}" / f"event_date={date}"
    folder.mkdir(parents=True)
    pq.write_table(to_arrow(table, rows), folder / "part-00000.parquet")


def test_ingest_day_and_recorded_days():
    path = "/out/retries/ingest_date=2024-07-02/event_date=2024-07-01/part-00000.parquet"
    assert ingest_day(path) == "2024-07-02"
    assert ingest_day("/history/part.parquet") is None
    assert recorded_outcomes(path, {"2024-07-02"})
    assert not recorded_outcomes(path, {"2024-07-01", "2024-07-03"})


def test_only_days_that_recorded_outcomes_give_pending_candidates(tmp_path):
    output = tmp_path / "out"
    old = [retry_row("old-1", 1), retry_row("old-2", 1)]
    redelivered = retry_row("old-1", 2)  # the same retry delivered again on another old day
    recorded = [retry_row("new-3", 3)]
    today = [retry_row("today-5", 5)]
    write_day(output, RETRIES, 1, old)
    write_day(output, RETRIES, 2, [redelivered])
    write_day(output, RETRIES, 3, recorded)
    write_day(output, RETRIES, 4, [])  # a quiet day after the upgrade
    write_day(output, RETRIES, 5, today)
    # Days 3 and 4 ran with outcomes: day 3 decided nothing yet, so its file is empty.
    for day in (3, 4, 5):
        write_day(output, RETRY_OUTCOMES, day, [])

    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        history = pipeline | ReadRetryHistory(str(output), "2024-07-05")
        assert_that(
            history["with_outcomes"] | "Fp1" >> beam.Map(lambda row: row.event_fingerprint),
            equal_to(["new-3"]),
            label="WithOutcomes",
        )
        assert_that(
            history["rows"] | "Fp2" >> beam.Map(lambda row: row.event_fingerprint),
            equal_to(["old-1", "old-2", "old-1", "new-3"]),
            label="AllRows",
        )
        assert_that(history["counts"], equal_to([{"retries_before_outcomes": 2}]), label="Counts")


def test_without_any_earlier_day_the_count_is_zero(tmp_path):
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        history = pipeline | ReadRetryHistory(str(tmp_path / "out"), "2024-07-05")
        assert_that(history["rows"], equal_to([]), label="NoRows")
        assert_that(
            history["counts"], equal_to([{"retries_before_outcomes": 0}]), label="ZeroCount"
        )
