"""Composites: assignment events and numbered retries -> ``assignment_states``, ``retry_outcomes``.

They wrap the pure rules of :mod:`transforms.outcomes`.

Assignment events are a few percent of a firehose, far more than retries, so only
what can matter is shuffled: an event with no ``lti_resource_link_id`` cannot match a
retry and crosses the shuffle that deduplicates it as its fingerprint alone; the
others are keyed by (course, link) and meet the retries of that assignment in one
CoGroupByKey, which also drops their copies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam

from transforms import outcomes
from transforms.counters import CountingDoFn, accepted_counter
from transforms.events import ROLE_ASSIGNMENT_STATE
from transforms.lineage import distinct_events
from transforms.tags import COUNTS

UNLINKED = "unlinked"
NO_LINK = "no_link"
STATE_ROWS = "state_rows"
PENDING = "pending"


class _Latest(beam.CombineFn):
    """The greatest of ints; None for no input."""

    def create_accumulator(self) -> int | None:
        return None

    def add_input(self, latest: int | None, value: int) -> int:
        return value if latest is None or value > latest else latest

    def merge_accumulators(self, accumulators: Iterable[int | None]) -> int | None:
        present = [value for value in accumulators if value is not None]
        return max(present) if present else None

    def extract_output(self, latest: int | None) -> int | None:
        return latest


class LatestEventTime(beam.PTransform):
    """Accepted events -> one element: the latest event_time among them (None when empty)."""

    def expand(self, events):
        return (
            events
            | "EventTimes" >> beam.Map(lambda event: event.event_time)
            | "Latest" >> beam.CombineGlobally(_Latest())
        )


def _split_state(event):
    if event.lti_resource_link_id is None:
        yield beam.pvalue.TaggedOutput(UNLINKED, event.event_fingerprint)
    else:
        yield (outcomes.state_key(event), event)


class _CountDistinctFingerprints(CountingDoFn):
    def process(self, counted: tuple[str, int]):
        _, copies = counted
        self.count(accepted_counter(ROLE_ASSIGNMENT_STATE))
        self.count("duplicates", copies - 1)
        return ()


class _KeyRetry(CountingDoFn):
    """Numbered retries -> ((course, link), (retry, attempt_number)); link-less ones decided."""

    def process(self, numbered):
        retry, attempt_number, _ = numbered
        key = outcomes.outcome_key(retry)
        if key is not None:
            yield (key, (retry, attempt_number))
            return
        decision = outcomes.decide(retry, (), None, 0, None)
        assert decision is not None  # a retry without a link is decided at once
        self.count("outcome." + decision.outcome)
        yield beam.pvalue.TaggedOutput(
            NO_LINK, outcomes.outcome_row(retry, attempt_number, decision, ())
        )


class _DecideGroup(CountingDoFn):
    def __init__(self, wait_micros: int):
        self._wait = wait_micros

    def process(self, keyed, clock: int | None):
        _, grouped = keyed
        states, copies = distinct_events(grouped["states"])
        self.count(accepted_counter(ROLE_ASSIGNMENT_STATE), len(states))
        self.count("duplicates", copies)
        for state in states:
            yield beam.pvalue.TaggedOutput(STATE_ROWS, state)
        retries = list(grouped["retries"])
        # Retries still pending after earlier days (a dated run): decided with today's events.
        today = {retry.event_fingerprint for retry, _ in retries}
        for retry, attempt_number in grouped.get("history_retries", ()):
            if retry.event_fingerprint not in today:
                today.add(retry.event_fingerprint)
                retries.append((retry, attempt_number))
                self.count("outcome_retries_from_history")
        if not retries:
            return
        history_states = list(grouped.get("history_states", ()))
        if history_states:
            states, _ = distinct_events([*states, *history_states])
        rows, pending = outcomes.decide_group(retries, states, self._wait, clock)
        for row in rows:
            self.count("outcome." + row.outcome)
            yield row
        self.count("outcome." + outcomes.PENDING, len(pending))
        for retry in pending:
            yield beam.pvalue.TaggedOutput(PENDING, retry)


class DecideRetryOutcomes(beam.PTransform):
    """Distinct numbered retries and assignment events -> ``retry_outcomes``, ``assignment_states``.

    ``clock`` is a one-element collection: the latest event time the run has seen
    (:class:`LatestEventTime`). Returns a dict: ``outcomes`` (``RetryOutcomeRow``),
    ``assignment_states`` (distinct state events with a link, ``AssignmentStateRow``),
    ``pending`` (retries not decided yet) and ``counts`` (accepted and duplicate
    assignment events, ``outcome.<value>`` for every decided retry and
    ``outcome.pending``).
    """

    def __init__(self, clock, wait_seconds: int = outcomes.DEFAULT_OUTCOME_WAIT_SECONDS):
        super().__init__()
        self._clock = clock
        self._wait_micros = wait_seconds * 1_000_000

    def expand(self, inputs: dict[str, Any]):
        """Decide the outcomes of the retries in ``inputs``.

        ``inputs``: ``retries`` and ``states`` of this run; in a dated run also
        ``history_retries`` (keyed pending retries of earlier days,
        :class:`PendingRetriesFromHistory`) and ``history_states`` (earlier days'
        ``assignment_states`` rows).
        """
        numbered, state_events = inputs["retries"], inputs["states"]
        split = state_events | "SplitStateEvents" >> beam.FlatMap(_split_state).with_outputs(
            UNLINKED, main="linked"
        )
        unlinked_counts = (
            split[UNLINKED]
            | "CountCopies" >> beam.combiners.Count.PerElement()
            | "CountDistinct"
            >> beam.ParDo(_CountDistinctFingerprints()).with_outputs(COUNTS, main="none")
        )
        keyed = numbered | "KeyRetries" >> beam.ParDo(_KeyRetry()).with_outputs(
            NO_LINK, COUNTS, main="keyed"
        )
        groups = {"retries": keyed.keyed, "states": split.linked}
        if "history_retries" in inputs:
            groups["history_retries"] = inputs["history_retries"]
        if "history_states" in inputs:
            groups["history_states"] = inputs["history_states"] | "KeyHistoryStates" >> beam.Map(
                lambda state: (outcomes.state_key(state), state)
            )
        decided = (
            groups
            | "GroupByAssignment" >> beam.CoGroupByKey()
            | "DecideGroups"
            >> beam.ParDo(
                _DecideGroup(self._wait_micros), clock=beam.pvalue.AsSingleton(self._clock)
            ).with_outputs(STATE_ROWS, PENDING, COUNTS, main="rows")
        )
        rows = (decided.rows, keyed[NO_LINK]) | "AllOutcomeRows" >> beam.Flatten()
        counts = (
            unlinked_counts[COUNTS],
            keyed[COUNTS],
            decided[COUNTS],
        ) | "OutcomeCounts" >> beam.Flatten()
        return {
            "outcomes": rows,
            "assignment_states": decided[STATE_ROWS],
            "pending": decided[PENDING],
            "counts": counts,
        }


def _pending_retry(keyed):
    _, grouped = keyed
    if list(grouped["outcomes"]):
        return
    for row in list(grouped["retries"])[:1]:
        key = outcomes.outcome_key(row)
        if key is not None:
            yield (key, (row, row.attempt_number))


class PendingRetriesFromHistory(beam.PTransform):
    """Earlier days' ``retries`` and ``retry_outcomes`` rows -> the retries still pending.

    Emits ((course, link), (retry row, attempt_number)) of every earlier retry
    that has no outcome row yet (it was pending when its days ran).
    """

    def expand(self, history: dict[str, Any]):
        return (
            {
                "retries": history["retries"]
                | "KeyRetryRows" >> beam.Map(lambda row: (row.event_fingerprint, row)),
                "outcomes": history["outcomes"]
                | "KeyOutcomeRows" >> beam.Map(lambda row: (row.event_fingerprint, None)),
            }
            | "GroupByFingerprint" >> beam.CoGroupByKey()
            | "StillPending" >> beam.FlatMap(_pending_retry)
        )
