"""Streaming building blocks: event-time windows, the late-event gate, deduplication with expiry.

The streaming pipeline (issue "Streaming mode") applies the batch rules event by
event; these stateful DoFns are where it differs because time forces it:

* :class:`GateLateEvents` keys events by their fixed event-time window and
  closes a window once the watermark passes its end plus the allowed lateness.
  An event that arrives for a closed window is not dropped silently, as Beam's
  own windowing would: it becomes a ``late_event`` dead letter with its raw
  bytes. Everything runs in the global window, so no runner drops anything
  behind the gate's back.
* :class:`DeduplicateWithinHorizon` keeps one copy per fingerprint for
  ``horizon`` seconds of event time; an event-time timer clears the state, so
  it holds at most one horizon of routed events.

Times are epoch microseconds in rows; Beam timestamps are seconds.
"""
from __future__ import annotations

import collections
import typing

import apache_beam as beam
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from transforms.counters import COUNTS, count_pairs
from transforms.events import RetryEvent
from transforms.tables import DeadLetterRow

LATE_EVENT = "late_event"
DEAD_LETTERS = "dead_letters"
LATE = "late"
DUPLICATES = "duplicates"


def window_start(event_time_micros: int, window_seconds: int) -> int:
    """Start (epoch microseconds) of the fixed event-time window holding a time."""
    size = window_seconds * 1_000_000
    return event_time_micros - event_time_micros % size


def micros_to_timestamp(micros: int) -> Timestamp:
    return Timestamp(micros=micros)


# One key: every routed event (about 1 % of the firehose) passes one clock, so
# only the pipeline's very first event goes unjudged. A worker handles a few
# thousand events a second on one key, ample for an institution; a multi-tenant
# firehose can raise this, at one unjudged event per shard.
GATE_SHARDS = 1


def gate_shard(fingerprint: str) -> int:
    """The late-event gate's key (each key keeps its own clock)."""
    return int(fingerprint[:8], 16) % GATE_SHARDS


def line_counts(counts: dict[str, int]) -> beam.pvalue.TaggedOutput:
    """The counters of one line (or one output row), as one ``counts`` element; also Beam metrics.

    A stream never ends, so its summary is a series of records; a line's
    counters travel together so that every record balances on its own.
    """
    return beam.pvalue.TaggedOutput(COUNTS, dict(count_pairs(counts)))


class GateLateEvents(beam.DoFn):
    """(shard, (window start, event_time, event, raw line, event_name)) -> event, or a ``late_event`` dead letter.

    Python DoFns cannot read the watermark, so each shard keeps a clock of its
    own: ``closed_until``, the latest window-close time (window end plus the
    allowed lateness) that the watermark has passed. An event-time timer moves
    it one window at a time, as far as the latest window the shard has seen
    (a day of watermark is 288 firings of 300 s windows), then sleeps until
    an event of a newer window arrives. An event whose window closes at or
    before the clock is late.

    Limit: the clock only knows windows it has seen. The first event of a
    shard, and after an idle spell an event of a window newer than any seen
    that closed during the idle spell, cannot be judged late and pass; what
    comes after them can.

    Main output: events of windows still open, timestamped at their event time.
    Tagged output ``late``: :class:`DeadLetterRow` of the others.
    """

    CLOSED_UNTIL = ReadModifyWriteStateSpec("closed_until", beam.coders.VarIntCoder())
    LATEST_CLOSE = ReadModifyWriteStateSpec("latest_close", beam.coders.VarIntCoder())
    NEXT_TICK = ReadModifyWriteStateSpec("next_tick", beam.coders.VarIntCoder())
    TICK = TimerSpec("tick", TimeDomain.WATERMARK)

    def __init__(self, window_seconds: int, allowed_lateness_seconds: int):
        self._window_micros = window_seconds * 1_000_000
        self._lateness_micros = allowed_lateness_seconds * 1_000_000

    def process(self, keyed, closed_until=beam.DoFn.StateParam(CLOSED_UNTIL),
                latest_close=beam.DoFn.StateParam(LATEST_CLOSE), next_tick=beam.DoFn.StateParam(NEXT_TICK),
                tick=beam.DoFn.TimerParam(TICK)):
        _, (start, event_time, event, raw, event_name) = keyed
        closes_at = start + self._window_micros + self._lateness_micros
        closed = closed_until.read()
        if closed is not None and closes_at <= closed:
            yield line_counts({"lines_read": 1, "dead_letter_by_code." + LATE_EVENT: 1})
            yield beam.pvalue.TaggedOutput(LATE, DeadLetterRow(
                LATE_EVENT, f"window starting {Timestamp(micros=start).to_rfc3339()} had closed", event_name,
                None, None, raw))
            return
        if closes_at > (latest_close.read() or closes_at - 1):
            latest_close.write(closes_at)
        if next_tick.read() is None:
            next_tick.write(closes_at)
            tick.set(micros_to_timestamp(closes_at))
        yield beam.window.TimestampedValue(event, micros_to_timestamp(event_time))

    @on_timer(TICK)
    def advance_clock(self, fired=beam.DoFn.TimestampParam, closed_until=beam.DoFn.StateParam(CLOSED_UNTIL),
                      latest_close=beam.DoFn.StateParam(LATEST_CLOSE), next_tick=beam.DoFn.StateParam(NEXT_TICK),
                      tick=beam.DoFn.TimerParam(TICK)):
        closed_until.write(fired.micros)
        following = fired.micros + self._window_micros
        if following <= (latest_close.read() or 0):
            next_tick.write(following)
            tick.set(micros_to_timestamp(following))
        else:
            next_tick.clear()  # caught up with every window seen: sleep until a newer one arrives


class DeduplicateWithinHorizon(beam.DoFn):
    """(fingerprint, event) -> the first copy of each event; copies within the horizon are counted."""

    SEEN = ReadModifyWriteStateSpec("seen", beam.coders.BooleanCoder())
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, horizon_seconds: int):
        self._horizon_micros = horizon_seconds * 1_000_000

    def process(self, keyed, seen=beam.DoFn.StateParam(SEEN), expire=beam.DoFn.TimerParam(EXPIRE)):
        _, event = keyed
        if seen.read():
            yield line_counts({"lines_read": 1, DUPLICATES: 1})
            return
        seen.write(True)
        yield line_counts({"lines_read": 1, "accepted." + ("retry" if isinstance(event, RetryEvent) else event.event_name): 1})
        # Copies share the event time, so one horizon after it no copy can still be "new".
        expire.set(micros_to_timestamp(event.event_time + self._horizon_micros))
        yield event

    @on_timer(EXPIRE)
    def forget(self, seen=beam.DoFn.StateParam(SEEN)):
        seen.clear()


class ClassifyLinesInStream(beam.DoFn):
    """A raw line, or a block of them -> keyed routed events for the gate, dead letters; noise is only counted.

    Every line's counters are emitted where its fate is decided, ``lines_read``
    included: here for blank, skipped and dead-lettered lines, at the gate for
    late ones, at deduplication for the rest. So every batch of counters
    balances on its own, whatever window or firing it lands in.
    """

    def __init__(self, hmac_key: bytes | None, window_seconds: int, source: str | None = None):
        self._hmac_key = hmac_key
        self._window_seconds = window_seconds
        self._source = source
        self._classifier = None

    def setup(self):
        from transforms.events import LineClassifier

        self._classifier = LineClassifier(self._hmac_key)

    def process(self, element: bytes | list[bytes]):
        settled = collections.Counter()
        for line in element if isinstance(element, list) else [element]:
            result = self._classifier.classify_lines([line], None, self._source)
            for dead_letter in result.dead_letters:
                yield beam.pvalue.TaggedOutput(DEAD_LETTERS, dead_letter)
            if not result.accepted:
                settled.update(result.counts)
            for accepted in result.accepted:  # counted where its fate is decided: gate or deduplication
                event = accepted.event
                event_name = getattr(event, "event_name", None) or event.source_event_name
                yield (gate_shard(event.event_fingerprint), (window_start(event.event_time, self._window_seconds),
                                                             event.event_time, event, line.rstrip(b"\r"), event_name))
        if settled:
            yield line_counts(settled)



class ProcessCanvasStream(beam.PTransform):
    """Raw event lines -> {``retries``, ``course_lineage``: rows; ``dead_letters``; ``counts``}.

    The batch rules, event by event: classify every line, turn events of
    closed windows into ``late_event`` dead letters, drop copies within the
    dedup horizon, number attempts per assignment, and join each retry to the
    lineage of its root account once it is settled or its wait has passed.
    """

    def __init__(self, hmac_key: bytes | None, window_seconds: int, allowed_lateness_seconds: int,
                 dedup_horizon_seconds: int, lineage_wait_seconds: int, source: str | None = None):
        super().__init__()
        self._hmac_key = hmac_key
        self._window_seconds = window_seconds
        self._lateness = allowed_lateness_seconds
        self._horizon = dedup_horizon_seconds
        self._wait = lineage_wait_seconds
        self._source = source

    def expand(self, lines):
        from transforms.events import MigrationEvent
        from transforms.streaming_join import (
            LINEAGE_ROWS, JoinRetriesInStream, NumberAttemptsInStream, account_key, assignment_key,
        )

        # Typed keys give the stateful steps deterministic key coders.
        classified = lines | "ClassifyLinesInStream" >> beam.ParDo(
            ClassifyLinesInStream(self._hmac_key, self._window_seconds, self._source)).with_output_types(
            typing.Tuple[int, typing.Any]).with_outputs(DEAD_LETTERS, COUNTS, main="routed")
        gated = classified.routed | "GateLateEvents" >> beam.ParDo(
            GateLateEvents(self._window_seconds, self._lateness)).with_outputs(LATE, COUNTS, main="events")
        distinct = (
            gated.events
            | "KeyByFingerprint" >> beam.Map(lambda event: (event.event_fingerprint, event)).with_output_types(
                typing.Tuple[str, typing.Any])
            | "DeduplicateWithinHorizon" >> beam.ParDo(DeduplicateWithinHorizon(self._horizon)).with_outputs(
                COUNTS, main="events")
        )
        numbered_retries = (
            distinct.events
            | "KeepRetries" >> beam.Filter(lambda event: isinstance(event, RetryEvent))
            | "KeyByAssignment" >> beam.Map(assignment_key).with_output_types(
                typing.Tuple[typing.Tuple[str, typing.Optional[str]], typing.Any])
            | "NumberAttemptsInStream" >> beam.ParDo(NumberAttemptsInStream())
        )
        migrations = (
            distinct.events
            | "KeepMigrations" >> beam.Filter(lambda event: isinstance(event, MigrationEvent))
            | "NoAttempt" >> beam.Map(lambda event: (event, None))
        )
        joined = (
            (numbered_retries, migrations)
            | "RoutedEvents" >> beam.Flatten()
            | "KeyByAccount" >> beam.Map(account_key).with_output_types(typing.Tuple[str, typing.Any])
            | "JoinRetriesInStream" >> beam.ParDo(JoinRetriesInStream(self._wait)).with_outputs(
                LINEAGE_ROWS, COUNTS, main="retries")
        )
        dead_letters = (classified[DEAD_LETTERS], gated[LATE]) | "AllDeadLetters" >> beam.Flatten()
        counts = (classified[COUNTS], gated[COUNTS], distinct[COUNTS], joined[COUNTS]) | "AllCounts" >> beam.Flatten()
        return {"retries": joined.retries, "course_lineage": joined[LINEAGE_ROWS],
                "dead_letters": dead_letters, "counts": counts}
