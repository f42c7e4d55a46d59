"""Streaming: classify lines, then a stateful step per shard applies the batch rules in time.

* :class:`ClassifyLinesInStream` settles noise, blank and invalid lines where
  they are read (counted, dead-lettered) and keys each routed event by the
  shard of its root account (``--state-shards`` keys, whatever the span).
* :class:`ApplyStreamRules` holds a :class:`transforms.streaming_join.ShardState`
  per shard: the late gate, deduplication within the horizon, attempt numbers
  and the lineage join. It sets event-time timers only at deadlines that
  matter (rounded up to a window boundary), one timer per distinct deadline;
  a firing at ``T`` decides everything due by ``T``. The runner delivers every
  timer that a watermark move makes due in one bundle, so the cost follows the
  events and the watermark moves, not the event-time span.

An event whose window had closed (window end plus the allowed lateness at or
before the shard's latest firing) is a ``late_event`` dead letter with its raw
bytes. Everything runs in the global window, so no runner drops anything
behind the rules' back. Times are epoch microseconds in rows; Beam timestamps are seconds.
"""

from __future__ import annotations

import collections
import typing
import uuid

import apache_beam as beam
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from transforms.counters import accepted_counter, counter_record
from transforms.events import ROLE_RETRY, LineClassifier, MigrationEvent, RetryEvent
from transforms.outcomes import DEFAULT_OUTCOME_WAIT_SECONDS
from transforms.stream_outcomes import (
    LATE_STATES,
    OUTCOME_ROWS,
    STATE_ROWS,
    ApplyOutcomeRules,
    no_link_outcome,
    outcome_shard,
    retry_for_outcome,
)
from transforms.stream_settle import SettledLines, settle_lines
from transforms.stream_state import load_machine, log_state_specs, record, stable_shard
from transforms.streaming_join import (
    ACCEPTED,
    DUPLICATE,
    LATE,
    LINEAGE_ROWS,
    ShardState,
    StreamRules,
)
from transforms.tables import (
    ASSIGNMENT_STATES,
    COURSE_LINEAGE,
    RETRIES,
    RETRY_OUTCOMES,
    AssignmentStateRow,
    DeadLetterRow,
)
from transforms.tags import COUNTS, DEAD_LETTERS
from transforms.watch import UNREADABLE_FILE, UnreadableFile

LATE_EVENT = "late_event"
DUPLICATES = "duplicates"
OUTCOME_INPUTS = "outcome_inputs"
DEFAULT_STATE_SHARDS = 4


def window_start(event_time_micros: int, window_seconds: int) -> int:
    """Start (epoch microseconds) of the fixed event-time window holding a time."""
    size = window_seconds * 1_000_000
    return event_time_micros - event_time_micros % size


def micros_to_timestamp(micros: int) -> Timestamp:
    """A Beam timestamp from UTC epoch microseconds."""
    return Timestamp(micros=micros)


def line_counts(counts: dict[str, int]) -> beam.pvalue.TaggedOutput:
    """The counters of one line (or one output row), as one ``counts`` element; also Beam metrics.

    A stream never ends, so its summary is a series of records; a line's
    counters travel together so that every record balances on its own.
    """
    return beam.pvalue.TaggedOutput(COUNTS, counter_record(counts))


def unreadable_file_dead_letter(unreadable: UnreadableFile) -> DeadLetterRow:
    """A watched file that vanished or could not be read: one dead letter naming it."""
    detail = f"{unreadable.path}: {unreadable.reason}"
    return DeadLetterRow(
        UNREADABLE_FILE, detail, None, unreadable.path, None, detail.encode("utf-8", "replace")
    )


class ClassifyLinesInStream(beam.DoFn):
    """Raw lines, lines the source settled, or an UnreadableFile -> routed events, dead letters.

    Noise is settled by :func:`transforms.stream_settle.settle_lines`, here for
    raw lines or already in the ``--watch`` source (a :class:`SettledLines`),
    so that skipped lines never cross the runner. Every line's counters are
    emitted where its fate is decided, ``lines_read`` included: here (or in
    the source) for blank, skipped and dead-lettered lines (and a file that
    could not be read, which counts as one line), in the shard step for the
    rest (accepted, duplicate or late). So every batch of counters balances on
    its own, whatever firing it lands in.

    Main output: ``(shard, (event, raw line, event name))`` for retries and
    migrations. ``outcome_inputs``: ``(outcome shard, [(event, raw line), ...])``
    per outcome shard of the element: its assignment events, and
    ``(retry's compact copy, None)`` for every retry that names an assignment link.
    """

    _classifier: LineClassifier  # made in setup(), on the worker

    def __init__(
        self,
        hmac_key: bytes | None,
        state_shards: int = DEFAULT_STATE_SHARDS,
        source: str | None = None,
    ):
        self._hmac_key = hmac_key
        self._shards = state_shards
        self._source = source

    def setup(self):
        self._classifier = LineClassifier(self._hmac_key)

    def process(self, element):
        if isinstance(element, UnreadableFile):
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, unreadable_file_dead_letter(element))
            yield line_counts({"lines_read": 1, "dead_letter_by_code." + UNREADABLE_FILE: 1})
            return
        if not isinstance(
            element, SettledLines
        ):  # raw lines (Pub/Sub, tests): settle their noise here
            element = settle_lines(
                self._classifier, element if isinstance(element, list) else [element], self._source
            )
        settled = collections.Counter(element.counts)
        yield from (beam.pvalue.TaggedOutput(DEAD_LETTERS, row) for row in element.dead_letters)
        # Sent on as one element per outcome shard: assignment events are far more than retries,
        # and the runner's cost is per element.
        for_outcomes: dict[int, list] = {}
        for event, raw in element.states:  # accepted where the lines were read
            shard = outcome_shard(event.context_uuid, event.lti_resource_link_id, self._shards)
            for_outcomes.setdefault(shard, []).append((event, raw))
        for line in element.candidates:
            result = self._classifier.classify_lines([line], None, self._source)
            for dead_letter in result.dead_letters:
                yield beam.pvalue.TaggedOutput(DEAD_LETTERS, dead_letter)
            if not result.accepted:
                settled.update(result.counts)
            for accepted in result.accepted:  # counted where its fate is decided, in the shard step
                event = accepted.event
                if isinstance(event, AssignmentStateRow):
                    shard = outcome_shard(
                        event.context_uuid, event.lti_resource_link_id, self._shards
                    )
                    for_outcomes.setdefault(shard, []).append((event, line.rstrip(b"\r")))
                    continue
                if isinstance(event, RetryEvent):
                    compact = retry_for_outcome(event)
                    if compact is not None:
                        shard = outcome_shard(
                            compact.new_course_uuid,
                            compact.new_assignment_resource_link_id,
                            self._shards,
                        )
                        for_outcomes.setdefault(shard, []).append((compact, None))
                event_name = (
                    event.event_name
                    if isinstance(event, MigrationEvent)
                    else event.source_event_name
                )
                shard = stable_shard(event.root_account_uuid or "", self._shards)
                yield (shard, (event, line.rstrip(b"\r"), event_name))
        for shard, items in sorted(for_outcomes.items()):
            yield beam.pvalue.TaggedOutput(OUTCOME_INPUTS, (shard, items))
        if settled:
            yield line_counts(settled)


def _accepted_counter(event) -> str:
    return accepted_counter(ROLE_RETRY if isinstance(event, RetryEvent) else event.event_name)


class ApplyStreamRules(beam.DoFn):
    """(shard, (event, raw, event name)) -> ``RetryRow``; tagged ``lineage_rows``, ``late``, counts.

    Main output: retries rows, timestamped at their event time. ``lineage_rows``:
    ``course_lineage`` rows at their completion time. ``late``: ``late_event``
    dead letters. ``outcome_rows``: the ``no_assignment_link`` outcome of an
    accepted retry with no assignment link, at once.
    """

    LOG, VERSION = log_state_specs("shard")
    WAKE = TimerSpec("wake", TimeDomain.WATERMARK)

    def __init__(self, rules: StreamRules):
        self._rules = rules
        self._owner = f"rules-{uuid.uuid4().hex}"  # names this step's machines in worker memory

    def _machine(self, key, log, version) -> ShardState:
        return load_machine(self._owner, key, log, version, lambda: ShardState(self._rules))

    def process(
        self,
        keyed,
        key=beam.DoFn.KeyParam,
        log=beam.DoFn.StateParam(LOG),
        version=beam.DoFn.StateParam(VERSION),
        wake=beam.DoFn.TimerParam(WAKE),
    ):
        _, (event, raw, event_name) = keyed
        machine = self._machine(key, log, version)
        outcome, deadlines = machine.admit(event)
        if outcome == LATE:
            start = event.event_time - event.event_time % self._rules.window
            yield line_counts({"lines_read": 1, "dead_letter_by_code." + LATE_EVENT: 1})
            yield beam.pvalue.TaggedOutput(
                LATE,
                DeadLetterRow(
                    LATE_EVENT,
                    f"window starting {Timestamp(micros=start).to_rfc3339()} had closed",
                    event_name,
                    None,
                    None,
                    raw,
                ),
            )
            return
        if outcome == DUPLICATE:
            yield line_counts({"lines_read": 1, DUPLICATES: 1})
            return
        assert outcome == ACCEPTED
        record(machine, ("admit", event), log, version)
        counts = {"lines_read": 1, _accepted_counter(event): 1}
        if isinstance(event, RetryEvent) and event.new_assignment_resource_link_id is None:
            row = no_link_outcome(event)  # decided at once
            counts["outcome." + row.outcome] = 1
            yield beam.pvalue.TaggedOutput(
                OUTCOME_ROWS, TimestampedValue(row, micros_to_timestamp(event.event_time))
            )
        yield line_counts(counts)
        for deadline in deadlines:
            wake.set(micros_to_timestamp(deadline), dynamic_timer_tag=str(deadline))

    @on_timer(WAKE)
    def advance(
        self,
        key=beam.DoFn.KeyParam,
        fired=beam.DoFn.TimestampParam,
        log=beam.DoFn.StateParam(LOG),
        version=beam.DoFn.StateParam(VERSION),
    ):
        machine = self._machine(key, log, version)
        if machine.clock is not None and fired.micros <= machine.clock:
            return
        lineage_rows, decided = machine.advance(fired.micros)
        record(machine, ("advance", fired.micros), log, version)
        for row in lineage_rows:
            yield line_counts({"course_lineage_rows": 1})
            yield beam.pvalue.TaggedOutput(
                LINEAGE_ROWS, TimestampedValue(row, micros_to_timestamp(row.completed_at))
            )
        for retry, retry_row in decided:
            yield line_counts({"lineage_status." + retry_row.lineage_status: 1})
            yield TimestampedValue(retry_row, micros_to_timestamp(retry.event_time))


class ProcessCanvasStream(beam.PTransform):
    """Raw event lines -> rows of every table (by table name); ``dead_letters``; ``counts``.

    ``assignment_states`` elements are lists of rows (one per input element).

    The batch rules, event by event: classify every line, then per shard turn
    events of closed windows into ``late_event`` dead letters, drop copies
    within the dedup horizon, number attempts per assignment, and join each
    retry to the lineage of its root account once the watermark says the
    events before it have arrived. Assignment events and the retries that
    name a link meet per shard of (course, link), where the same gate and
    dedup apply and each retry's outcome is decided once the watermark proves
    it (:mod:`transforms.stream_outcomes`).
    """

    def __init__(
        self,
        hmac_key: bytes | None,
        window_seconds: int,
        allowed_lateness_seconds: int,
        dedup_horizon_seconds: int,
        lineage_wait_seconds: int,
        source: str | None = None,
        state_shards: int = DEFAULT_STATE_SHARDS,
        lineage_retention_days: int = 400,
        outcome_wait_seconds: int = DEFAULT_OUTCOME_WAIT_SECONDS,
    ):
        super().__init__()
        self._outcome_wait = outcome_wait_seconds
        self._hmac_key = hmac_key
        self._rules = StreamRules.of_seconds(
            window_seconds,
            allowed_lateness_seconds,
            dedup_horizon_seconds,
            lineage_wait_seconds,
            lineage_retention_days,
        )
        self._source = source
        self._shards = state_shards

    def expand(self, lines):
        # Typed keys give the stateful step a deterministic key coder.
        classified = lines | "ClassifyLinesInStream" >> beam.ParDo(
            ClassifyLinesInStream(self._hmac_key, self._shards, self._source)
        ).with_output_types(tuple[int, typing.Any]).with_outputs(
            DEAD_LETTERS, COUNTS, OUTCOME_INPUTS, main="routed"
        )
        applied = classified.routed | "ApplyStreamRules" >> beam.ParDo(
            ApplyStreamRules(self._rules)
        ).with_outputs(LINEAGE_ROWS, LATE, COUNTS, OUTCOME_ROWS, main="retries")
        outcome_inputs = classified[OUTCOME_INPUTS]
        outcome_inputs.element_type = beam.typehints.Tuple[
            int, typing.Any
        ]  # deterministic key coder
        decided = outcome_inputs | "ApplyOutcomeRules" >> beam.ParDo(
            ApplyOutcomeRules(self._rules, self._outcome_wait)
        ).with_outputs(STATE_ROWS, LATE_STATES, COUNTS, main="outcomes")
        dead_letters = (
            classified[DEAD_LETTERS],
            applied[LATE],
            decided[LATE_STATES],
        ) | "AllDeadLetters" >> beam.Flatten()
        counts = (
            classified[COUNTS],
            applied[COUNTS],
            decided[COUNTS],
        ) | "AllCounts" >> beam.Flatten()
        outcome_rows = (
            applied[OUTCOME_ROWS],
            decided.outcomes,
        ) | "AllOutcomeRows" >> beam.Flatten()
        return {
            RETRIES.name: applied.retries,
            COURSE_LINEAGE.name: applied[LINEAGE_ROWS],
            ASSIGNMENT_STATES.name: decided[STATE_ROWS],
            RETRY_OUTCOMES.name: outcome_rows,
            DEAD_LETTERS: dead_letters,
            COUNTS: counts,
        }
