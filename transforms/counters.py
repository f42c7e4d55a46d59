"""Run counters: the records ``{name: count}`` every step emits for the summary (batch and stream).

Counts travel as data so that the summary is computed from the pipeline's own
output (exactly once, whatever the runner retries), and are mirrored to Beam
metrics so that a Dataflow dashboard shows the same figures while a job runs.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from transforms.tags import COUNTS

METRICS_NAMESPACE = "retry_lineage"


def counter_record(counts: Mapping[str, int]) -> dict[str, int]:
    """The non-zero counters as one ``counts`` element; each is also added to a Beam counter."""
    record = {}
    for name, count in counts.items():
        if count:
            Metrics.counter(METRICS_NAMESPACE, name).inc(count)
            record[name] = count
    return record


def accepted_counter(role: str) -> str:
    """The counter of distinct accepted events of one role (``retry``, a migration event name)."""
    return "accepted." + role


class CountingDoFn(beam.DoFn):
    """A DoFn that counts as it goes and emits its counters once per bundle, as one record.

    Emitting a record per element would double the elements that the
    summary's combine has to shuffle; a bundle's totals are a handful.
    """

    def start_bundle(self):
        self._counts: collections.Counter = collections.Counter()

    def count(self, name: str, increment: int = 1) -> None:
        self._counts[name] += increment

    def finish_bundle(self):
        record = counter_record(self._counts)
        if record:
            yield beam.pvalue.TaggedOutput(
                COUNTS, WindowedValue(record, MIN_TIMESTAMP, (GlobalWindow(),))
            )
        self._counts.clear()
