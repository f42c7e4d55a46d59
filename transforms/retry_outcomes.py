"""Composites: assignment events and numbered retries -> ``assignment_states``, ``retry_outcomes``.

They wrap the pure rules of :mod:`transforms.outcomes`.

Assignment events are a few percent of a firehose, far more than retries, and every
element that crosses a stage boundary is encoded and decoded by the runner. So they
travel in lists: one per classified range, cut into one list of plain tuples per
shard of the (course, link) key space, packed into bytes. Each shard meets the
retries of its keys in one CoGroupByKey, which also drops the copies of an event
(copies share every key derived from their content). The rows that come out are
lists too, one per shard, written by :class:`transforms.parquet_writer.WriteTable`
with ``batched=True``. On Dataflow the shards are the parallelism of the decision step.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from transforms import outcomes
from transforms.counters import CountingDoFn, accepted_counter
from transforms.events import ROLE_ASSIGNMENT_STATE, RetryEvent
from transforms.lineage import attempt_key, distinct_events
from transforms.shards import packed_shard_lists, rows_as, shard_of, unpack_rows
from transforms.tables import AssignmentStateRow
from transforms.tags import COUNTS

STATE_ROWS = "state_rows"
PENDING = "pending"
_as_state = rows_as(AssignmentStateRow)
_as_retry = rows_as(RetryEvent)


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
    """Event times (epoch µs) -> one element: the latest of them (None when empty)."""

    def expand(self, times):
        return times | "Latest" >> beam.CombineGlobally(_Latest())


def event_times() -> beam.PTransform:
    """Rows or events -> their ``event_time`` (the input of :class:`LatestEventTime`)."""
    return beam.Map(lambda row: row.event_time)


def shard_states(states: list) -> Iterator[tuple[int, bytes]]:
    """A list of assignment events -> (shard, the events of that shard as packed plain tuples).

    Packed (:func:`transforms.shards.pack_rows`): they wait for the grouping as bytes.
    """
    return packed_shard_lists(states, outcomes.state_key)


def _shard_history_retry(keyed):
    key, retry = keyed
    return (shard_of(key), retry)


def _shard_history_state(state):
    return (shard_of(outcomes.state_key(state)), state)


class _DecideShard(CountingDoFn):
    """One shard's retries and state events -> outcome rows, state rows (lists), pending retries."""

    def __init__(self, wait_micros: int):
        self._wait = wait_micros

    def process(self, keyed, clock: int | None):
        _, grouped = keyed
        states_by_key: dict[tuple, list] = collections.defaultdict(list)
        for batch in grouped["states"]:
            for values in unpack_rows(batch):
                state = _as_state(values)
                states_by_key[outcomes.state_key(state)].append(state)
        retries_by_key: dict[tuple, list] = collections.defaultdict(list)
        for numbered in grouped["retries"]:
            for values, attempt_number, _ in unpack_rows(numbered):
                retry = _as_retry(values)
                retries_by_key[attempt_key(retry)].append((retry, attempt_number))
        history_by_key: dict[tuple, list] = collections.defaultdict(list)
        for retry, attempt_number in grouped.get("history_retries", ()):
            history_by_key[attempt_key(retry)].append((retry, attempt_number))
        history_states_by_key: dict[tuple, list] = collections.defaultdict(list)
        for state in grouped.get("history_states", ()):
            history_states_by_key[outcomes.state_key(state)].append(state)
        state_rows: list[tuple] = []
        outcome_rows: list[tuple] = []
        for key in {**states_by_key, **retries_by_key, **history_by_key}:
            states, copies = distinct_events(states_by_key.get(key, ()))
            self.count(accepted_counter(ROLE_ASSIGNMENT_STATE), len(states))
            self.count("duplicates", copies)
            if key[1] is None:  # no link: the state events cannot match, the retries are decided
                for retry, attempt_number in retries_by_key.get(key, ()):
                    outcome_rows.append(tuple(self._no_link_row(retry, attempt_number)))
                continue
            state_rows.extend(states)
            rows, pending = self._decide(
                key, states, retries_by_key, history_by_key, history_states_by_key, clock
            )
            outcome_rows.extend(rows)
            for retry in pending:
                yield beam.pvalue.TaggedOutput(PENDING, retry)
        if state_rows:
            yield beam.pvalue.TaggedOutput(STATE_ROWS, [tuple(row) for row in state_rows])
        if outcome_rows:
            yield outcome_rows

    def _no_link_row(self, retry, attempt_number):
        decision = outcomes.decide(retry, (), None, 0, None)
        assert decision is not None  # a retry without a link is decided at once
        self.count("outcome." + decision.outcome)
        return outcomes.outcome_row(retry, attempt_number, decision, ())

    def _decide(self, key, states, retries_by_key, history_by_key, history_states_by_key, clock):
        retries = list(retries_by_key.get(key, ()))
        # Retries still pending after earlier days (a dated run): decided with today's events.
        today = {retry.event_fingerprint for retry, _ in retries}
        for retry, attempt_number in history_by_key.get(key, ()):
            if retry.event_fingerprint not in today:
                today.add(retry.event_fingerprint)
                retries.append((retry, attempt_number))
                self.count("outcome_retries_from_history")
        if not retries:
            return [], []
        history_states = history_states_by_key.get(key)
        if history_states:
            states, _ = distinct_events([*states, *history_states])
        rows, pending = outcomes.decide_group(retries, states, self._wait, clock)
        for row in rows:
            self.count("outcome." + row.outcome)
        self.count("outcome." + outcomes.PENDING, len(pending))
        return [tuple(row) for row in rows], pending


class DecideRetryOutcomes(beam.PTransform):
    """Distinct numbered retries and assignment events -> ``retry_outcomes``, ``assignment_states``.

    ``clock`` is a one-element collection: the latest event time the run has seen
    (:class:`LatestEventTime`). Returns a dict: ``outcomes`` (lists of
    ``retry_outcomes`` rows as plain tuples), ``assignment_states`` (lists of the
    distinct state events with a link, as plain tuples of ``assignment_states``
    columns), ``pending`` (retries not decided yet) and ``counts`` (accepted and
    duplicate assignment events, ``outcome.<value>`` for every decided retry and
    ``outcome.pending``).
    """

    def __init__(self, clock, wait_seconds: int = outcomes.DEFAULT_OUTCOME_WAIT_SECONDS):
        super().__init__()
        self._clock = clock
        self._wait_micros = wait_seconds * 1_000_000

    def expand(self, inputs: dict[str, Any]):
        """Decide the outcomes of the retries in ``inputs``.

        ``inputs``: ``retries`` ((shard, numbered distinct retries) from
        :class:`transforms.resolve.NumberRetryAttempts`) and ``states`` (lists of
        accepted assignment events) of this run; in a dated run
        also ``history_retries`` (keyed pending retries of earlier days,
        :class:`PendingRetriesFromHistory`) and ``history_states`` (earlier days'
        ``assignment_states`` rows).
        """
        groups = {
            "retries": inputs["retries"],
            "states": inputs["states"] | "ShardStateEvents" >> beam.FlatMap(shard_states),
        }
        if "history_retries" in inputs:
            groups["history_retries"] = inputs["history_retries"] | "ShardHistoryRetries" >> (
                beam.Map(_shard_history_retry)
            )
        if "history_states" in inputs:
            groups["history_states"] = inputs["history_states"] | "ShardHistoryStates" >> (
                beam.Map(_shard_history_state)
            )
        decided = (
            groups
            | "GroupByAssignment" >> beam.CoGroupByKey()
            | "DecideGroups"
            >> beam.ParDo(
                _DecideShard(self._wait_micros), clock=beam.pvalue.AsSingleton(self._clock)
            ).with_outputs(STATE_ROWS, PENDING, COUNTS, main="rows")
        )
        return {
            "outcomes": decided.rows,
            "assignment_states": decided[STATE_ROWS],
            "pending": decided[PENDING],
            "counts": decided[COUNTS],
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
