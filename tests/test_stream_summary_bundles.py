"""Counter records are summed per bundle before the summary trigger: same totals, fewer records."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.stream_output import SumCountsPerBundle


def _total(records):
    totals: dict[str, int] = {}
    for record in records:
        for name, count in record.items():
            totals[name] = totals.get(name, 0) + count
    return [totals]


def test_per_bundle_sums_keep_every_count_and_emit_fewer_records():
    records = [{"lines_read": 1, "skipped_by_event_name.x": 1}] * 500 + [
        {"lines_read": 2, "blank_lines": 2}
    ] * 7
    with TestPipeline(runner="FnApiRunner") as pipeline:
        summed = pipeline | beam.Create(records, reshuffle=False) | beam.ParDo(SumCountsPerBundle())
        assert_that(
            summed | "Total" >> beam.combiners.ToList() | beam.FlatMap(_total),
            equal_to([{"lines_read": 514, "skipped_by_event_name.x": 500, "blank_lines": 14}]),
        )
        assert_that(
            summed | beam.combiners.Count.Globally(), equal_to([1]), label="OneRecordPerBundle"
        )


def test_a_bundle_without_counts_emits_nothing():
    dofn = SumCountsPerBundle()
    dofn.start_bundle()
    assert list(dofn.finish_bundle() or []) == []
