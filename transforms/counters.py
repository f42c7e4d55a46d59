"""Run counters: the (name, count) pairs every step emits for the run summary.

Counts travel as data so that the summary is computed from the pipeline's own
output (exactly once, whatever the runner retries), and are mirrored to Beam
metrics so that a Dataflow dashboard shows the same figures while a job runs.
"""
from __future__ import annotations

import collections
from collections.abc import Iterator, Mapping

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

METRICS_NAMESPACE = "retry_lineage"


def count_pairs(counts: Mapping[str, int]) -> Iterator[tuple[str, int]]:
    """(name, count) pairs for the summary, each also added to a Beam counter."""
    for name, count in counts.items():
        if count:
            Metrics.counter(METRICS_NAMESPACE, name).inc(count)
            yield (name, count)


COUNTS = "counts"


class CountingDoFn(beam.DoFn):
    """A DoFn that counts as it goes and emits its counters once per bundle.

    Emitting a (name, 1) pair per element would double the elements that the
    summary's combine has to shuffle; a bundle's totals are a handful.
    """

    def start_bundle(self):
        self._counts: collections.Counter = collections.Counter()

    def count(self, name: str, increment: int = 1) -> None:
        self._counts[name] += increment

    def finish_bundle(self):
        for pair in count_pairs(self._counts):
            yield beam.pvalue.TaggedOutput(COUNTS, WindowedValue(pair, MIN_TIMESTAMP, (GlobalWindow(),)))
        self._counts.clear()
