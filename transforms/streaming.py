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

import apache_beam as beam
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from transforms.counters import CountingDoFn
from transforms.tables import DeadLetterRow

LATE_EVENT = "late_event"
LATE = "late"
DUPLICATES = "duplicates"


def window_start(event_time_micros: int, window_seconds: int) -> int:
    """Start (epoch microseconds) of the fixed event-time window holding a time."""
    size = window_seconds * 1_000_000
    return event_time_micros - event_time_micros % size


def micros_to_timestamp(micros: int) -> Timestamp:
    return Timestamp(micros=micros)


class GateLateEvents(CountingDoFn):
    """(window start, (event_time, element, raw line)) -> element, or a ``late_event`` dead letter.

    Main output: elements of windows still open, timestamped at their event time.
    Tagged output ``late``: :class:`DeadLetterRow` of events whose window had
    closed (the watermark had passed its end plus the allowed lateness).
    """

    CLOSED = ReadModifyWriteStateSpec("closed", beam.coders.BooleanCoder())
    CLOSE = TimerSpec("close", TimeDomain.WATERMARK)

    def __init__(self, window_seconds: int, allowed_lateness_seconds: int):
        self._window_micros = window_seconds * 1_000_000
        self._lateness_micros = allowed_lateness_seconds * 1_000_000

    def process(self, keyed, closed=beam.DoFn.StateParam(CLOSED), close=beam.DoFn.TimerParam(CLOSE)):
        start, (event_time, element, raw, event_name) = keyed
        if closed.read():
            self.count("dead_letter_by_code." + LATE_EVENT)
            yield beam.pvalue.TaggedOutput(LATE, DeadLetterRow(
                LATE_EVENT, f"window starting {Timestamp(micros=start).to_rfc3339()} had closed", event_name,
                None, None, raw))
            return
        close.set(micros_to_timestamp(start + self._window_micros + self._lateness_micros))
        yield beam.window.TimestampedValue(element, micros_to_timestamp(event_time))

    @on_timer(CLOSE)
    def close_window(self, closed=beam.DoFn.StateParam(CLOSED)):
        closed.write(True)


class DeduplicateWithinHorizon(CountingDoFn):
    """(fingerprint, event) -> the first copy of each event; copies within the horizon are counted."""

    SEEN = ReadModifyWriteStateSpec("seen", beam.coders.BooleanCoder())
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, horizon_seconds: int):
        self._horizon_micros = horizon_seconds * 1_000_000

    def process(self, keyed, timestamp=beam.DoFn.TimestampParam,
                seen=beam.DoFn.StateParam(SEEN), expire=beam.DoFn.TimerParam(EXPIRE)):
        _, event = keyed
        if seen.read():
            self.count(DUPLICATES)
            return
        seen.write(True)
        # Copies share the event time, so one horizon after it no copy can still be "new".
        expire.set(micros_to_timestamp(event.event_time + self._horizon_micros))
        yield event

    @on_timer(EXPIRE)
    def forget(self, seen=beam.DoFn.StateParam(SEEN)):
        seen.clear()
