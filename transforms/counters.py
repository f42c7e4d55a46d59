"""Run counters: the (name, count) pairs every step emits for the run summary.

Counts travel as data so that the summary is computed from the pipeline's own
output (exactly once, whatever the runner retries), and are mirrored to Beam
metrics so that a Dataflow dashboard shows the same figures while a job runs.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from apache_beam.metrics import Metrics

METRICS_NAMESPACE = "retry_lineage"


def count_pairs(counts: Mapping[str, int]) -> Iterator[tuple[str, int]]:
    """(name, count) pairs for the summary, each also added to a Beam counter."""
    for name, count in counts.items():
        if count:
            Metrics.counter(METRICS_NAMESPACE, name).inc(count)
            yield (name, count)


def merge_counts(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for name, count in pairs:
        totals[name] = totals.get(name, 0) + count
    return totals
