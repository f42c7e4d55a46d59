"""Streaming output on TestStream: files per window, written atomically; balanced summaries."""
import json

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.transforms.window import TimestampedValue

from transforms.stream_output import WriteStreamSummaries, WriteWindowFiles, window_file_name
from transforms.tables import COURSE_LINEAGE, LineageRow

# Every test here runs a whole pipeline or a subprocess: `make test-fast` leaves them out.
pytestmark = pytest.mark.slow

W = 300_000_000
T0 = 1_722_333_600_000_000  # 2024-07-30T10:00:00Z, a window start


def streaming_pipeline():
    options = PipelineOptions(["--runner", "BundleBasedDirectRunner"])
    options.view_as(StandardOptions).streaming = True
    return beam.Pipeline(options=options)


def lineage_row(migration_id, completed_at):
    return LineageRow(migration_id, "c" * 40, None, "p" * 40, None, "course_copy_importer", completed_at, None, None,
                      f"f{migration_id}")


def test_window_file_names_are_deterministic_and_safe():
    name = window_file_name(T0, T0 + W, [("b",), ("a",)])
    assert name == window_file_name(T0, T0 + W, [("a",), ("b",)])
    assert name != window_file_name(T0, T0 + W, [("a",), ("c",)])
    assert name.startswith("part-20240730T100000Z-20240730T100500Z-") and name.endswith(".parquet")
    assert not set(name) & set(":[] ")


def test_rows_are_written_per_window_on_time_then_late(tmp_path):
    out = str(tmp_path)
    stream = (
        BeamTestStream()
        .add_elements([TimestampedValue(lineage_row("1", T0 + 1), (T0 + 1) / 1e6),
                       TimestampedValue(lineage_row("2", T0 + W + 5), (T0 + W + 5) / 1e6)])
        .advance_watermark_to((T0 + W + 1000) / 1e6)                    # the first window is complete
        .add_elements([TimestampedValue(lineage_row("3", T0 + 7), (T0 + 7) / 1e6)])   # late for it
        .advance_watermark_to((T0 + 3 * W) / 1e6)
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        p | stream | WriteWindowFiles(COURSE_LINEAGE, out, "zstd", 300)
    files = sorted((tmp_path / "course_lineage").glob("*.parquet"), key=lambda path: path.stat().st_mtime_ns)
    contents = [(path.name[:38], pq.read_table(path).column("content_migration_id").to_pylist()) for path in files]
    # On time for the first window, then the late row in a further file, then the second window.
    assert contents == [("part-20240730T100000Z-20240730T100000Z", ["1"]),
                        ("part-20240730T100000Z-20240730T100000Z", ["3"]),
                        ("part-20240730T100500Z-20240730T100500Z", ["2"])]
    assert not list((tmp_path / "_staging").rglob("*.parquet"))  # temporary files were renamed away


def test_a_watermark_jump_over_many_windows_writes_one_file_per_partition(tmp_path):
    from transforms.tables import RETRIES

    out = str(tmp_path)
    days, per_day = 3, 40
    midnight = T0 - T0 % 86_400_000_000
    rows = [retry_row(midnight + day * 86_400_000_000 + k * 7 * W) for day in range(days) for k in range(per_day)]
    stream = (BeamTestStream().add_elements([TimestampedValue(row, row.event_time / 1e6) for row in rows])
              .advance_watermark_to_infinity())
    with streaming_pipeline() as p:
        p | stream | WriteWindowFiles(RETRIES, out, "zstd", 300, hold_seconds=600)
    files = sorted((tmp_path / "retries").rglob("*.parquet"))
    assert [path.parent.name for path in files] == ["event_date=2024-07-30", "event_date=2024-07-31",
                                                    "event_date=2024-08-01"]
    assert sum(pq.read_metadata(path).num_rows for path in files) == days * per_day


def retry_row(event_time):
    from transforms.tables import RETRIES, RetryRow

    values = {name: None for name in RetryRow._fields}
    values.update(event_fingerprint=f"f{event_time}", source_event_name="outcomes.retry_outcome_alignment_clone",
                  event_time=event_time, original_course_uuid="a" * 40, new_course_uuid="b" * 40,
                  lineage_status="no_migration", lineage_path=["a" * 40, "b" * 40], root_course_uuid="a" * 40,
                  lineage_depth=1, lineage_cycle=False, lineage_truncated=False)
    assert RETRIES.row is RetryRow
    return RetryRow(**values)


def test_summary_records_are_deltas_and_each_balances(tmp_path):
    out = str(tmp_path)
    first = [{"lines_read": 1, "skipped_by_event_name.asset_accessed": 1}, {"lines_read": 1, "blank_lines": 1}]
    second = [{"lines_read": 1, "dead_letter_by_code.invalid_json": 1}, {"lines_read": 1, "duplicates": 1},
              {"lines_read": 1, "accepted.retry": 1}]
    stream = (
        BeamTestStream()
        .add_elements(first)
        .advance_processing_time(61)
        .add_elements(second)
        .advance_processing_time(61)
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        p | stream | WriteStreamSummaries(out, "disabled", every_seconds=60)
    records = [json.loads(line) for path in sorted((tmp_path / "_summaries").glob("*.jsonl"))
               for line in path.read_text().splitlines()]
    assert sorted(record["lines_read"] for record in records) == [2, 3]
    assert all(record["balanced"] for record in records)
    assert sum(record["dead_lettered"] for record in records) == 1
    assert sum(record["accepted"]["retry"] for record in records) == 1
