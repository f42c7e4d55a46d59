"""ReadRetryHistory: earlier days' ``retries``, split by whether their day recorded outcomes.

A dated run decides the retries still pending after earlier days. Only a day
whose own run recorded outcomes can have left a retry pending: days that ran
before the outcomes feature existed wrote ``retries`` but neither
``retry_outcomes`` nor ``assignment_states``, so their retries have no outcome
row and their assignments' state events were never kept. Deciding such a retry
later could only be wrong (its state events are gone, so it would come out
``no_outcome_event``); it gets no outcome row, and the summary counts it in
``retries_before_outcomes``. Rerunning an old day with this release records its
outcomes (the day then counts as recorded).

A day recorded outcomes when its ``retry_outcomes`` partition has a file: a run
of this release always writes one, an empty file with the schema when nothing
was decided. Which days those are is decided when the job runs.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.fileio import EmptyMatchTreatment
from apache_beam.pvalue import AsList

from transforms.history import _INGEST_DATE, counts_before
from transforms.outcome_history import read_table_rows, table_history_patterns
from transforms.tables import RETRIES, RETRY_OUTCOMES, Table

# Summary counter: distinct earlier retries of days that ran before outcomes were recorded.
RETRIES_BEFORE_OUTCOMES = "retries_before_outcomes"
_BEFORE_OUTCOMES = "before_outcomes"


def ingest_day(path: str) -> str | None:
    """The ingest date of a history file, from its ``ingest_date=`` folder (None without one)."""
    match = _INGEST_DATE.search(path)
    return match.group(1) if match else None


def recorded_outcomes(path: str, outcome_days: set[str]) -> bool:
    """Whether a history file's day ran with outcomes (its retries may still be pending)."""
    return ingest_day(path) in outcome_days


class _ReadByOutcomeDays(beam.DoFn):
    """A ``retries`` history file -> its rows: main output if its day recorded outcomes."""

    def process(self, meta, outcome_days):
        rows = read_table_rows(meta.path, RETRIES)
        if recorded_outcomes(meta.path, set(outcome_days)):
            yield from rows
        else:
            for row in rows:
                yield beam.pvalue.TaggedOutput(_BEFORE_OUTCOMES, row)


def _matched_history(pbegin, name: str, output: str, table: Table, day: str):
    return (
        pbegin
        | f"{name}Output" >> beam.Create([output])
        | f"{name}PublishedDays" >> beam.FlatMap(table_history_patterns, table)
        | f"Match{name}" >> fileio.MatchAll(empty_match_treatment=EmptyMatchTreatment.ALLOW)
        | f"{name}EarlierDaysOnly" >> beam.Filter(lambda meta: counts_before(meta.path, day))
    )


class ReadRetryHistory(beam.PTransform):
    """The published ``retries`` rows of ``output`` ingested before ``day``, in two parts.

    Returns a dict: ``rows`` (every earlier row: the run's clock),
    ``with_outcomes`` (rows of days whose run recorded outcomes: the only ones
    that can still be pending) and ``counts`` (one counter record,
    ``retries_before_outcomes``: distinct retries of the other days).
    """

    def __init__(self, output: str, day: str):
        super().__init__()
        self._output = output
        self._day = day

    def expand(self, pbegin):
        output, day = self._output, self._day
        outcome_days = (
            _matched_history(pbegin, "OutcomeDays", output, RETRY_OUTCOMES, day)
            | "DayOfOutcomeFile" >> beam.Map(lambda meta: ingest_day(meta.path))
            | "DistinctOutcomeDays" >> beam.Distinct()
        )
        split = _matched_history(pbegin, "RetryDays", output, RETRIES, day) | (
            "ReadRetryRows"
            >> beam.ParDo(_ReadByOutcomeDays(), AsList(outcome_days)).with_outputs(
                _BEFORE_OUTCOMES, main="with_outcomes"
            )
        )
        before = split[_BEFORE_OUTCOMES]
        counts = (
            before
            | "FingerprintsBeforeOutcomes" >> beam.Map(lambda row: row.event_fingerprint)
            | "DistinctBeforeOutcomes" >> beam.Distinct()
            | "CountBeforeOutcomes" >> beam.combiners.Count.Globally()
            | "CounterRecord" >> beam.Map(lambda count: {RETRIES_BEFORE_OUTCOMES: count})
        )
        rows = (split.with_outcomes, before) | "AllRetryHistory" >> beam.Flatten()
        return {"rows": rows, "with_outcomes": split.with_outcomes, "counts": counts}
