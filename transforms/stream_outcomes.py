"""The stream's retry outcomes: a state machine per shard of assignments, and its stateful step.

A state event matches a retry by (course, assignment link), and the retry's
root account may differ from the assignment's (a copy across accounts), so
outcomes have their own shards: a stable hash of (course, link). The
classifying step sends every accepted assignment event here (one without a
link only for deduplication and counting) and a compact copy of every retry
that names a link; the retry itself goes on to the lineage join as before.

:class:`OutcomeState` applies the same late gate and dedup horizon as the join
(:class:`transforms.streaming_join.ShardState`), numbers attempts per
assignment in (event time, fingerprint) order, and decides a retry with the
batch rules (:func:`transforms.outcomes.decide_as_of`) at the first firing
that proves every event before its decision has arrived: a deciding state
event, the next attempt, or the watermark past t + W. So on a feed in
event-time order its rows are batch's, and a retry batch leaves pending at the
end of its input is ``no_outcome_event`` once a bounded stream drains.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import uuid
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from transforms import outcomes
from transforms.counters import accepted_counter, counter_record
from transforms.events import ROLE_ASSIGNMENT_STATE, RetryEvent
from transforms.stream_state import (
    LoggedMachine,
    ceil_to,
    coarse_deadline,
    forget_expired,
    load_machine,
    log_state_specs,
    record,
    stable_shard,
)
from transforms.streaming_join import ACCEPTED, DAY_MICROS, DUPLICATE, LATE, StreamRules
from transforms.tables import AssignmentStateRow, DeadLetterRow, RetryOutcomeRow
from transforms.tags import COUNTS

STATE_ROWS = "assignment_state_rows"
OUTCOME_ROWS = "outcome_rows"
LATE_STATES = "late_states"
LATE_EVENT = "late_event"


class RetryForOutcome(NamedTuple):
    """What the outcome step needs of a retry that names an assignment link (compact)."""

    event_fingerprint: str
    event_time: int
    root_account_uuid: str | None
    new_course_uuid: str
    new_assignment_resource_link_id: str


def retry_for_outcome(retry: RetryEvent) -> RetryForOutcome | None:
    """The outcome step's copy of a retry; None for a retry with no link (decided at once)."""
    if retry.new_assignment_resource_link_id is None:
        return None
    return RetryForOutcome(
        retry.event_fingerprint,
        retry.event_time,
        retry.root_account_uuid,
        retry.new_course_uuid,
        retry.new_assignment_resource_link_id,
    )


def outcome_shard(course: str, link: str | None, shards: int) -> int:
    """The outcome shard of an assignment: retries and state events of one (course, link) meet."""
    return stable_shard(f"{course}\x1f{link or ''}", shards)


def no_link_outcome(retry: RetryEvent) -> RetryOutcomeRow:
    """The ``retry_outcomes`` row of a retry with no assignment link: decided at once."""
    decision = outcomes.decide(retry, (), None, 0, None)
    assert decision is not None  # a retry without a link is decided at once
    return outcomes.outcome_row(retry, None, decision, ())


def compact_states(states: list[AssignmentStateRow], before: int) -> list[AssignmentStateRow]:
    """``states`` (in state order) with those before ``before`` cut to what a later retry uses.

    For a retry after ``before``, an earlier state event never decides; it counts
    only as the latest failure, or as the latest state event carrying one of
    :data:`transforms.outcomes.CARRIED_COLUMNS`. Those are kept, the others dropped.
    """
    old = bisect.bisect_left(states, before, key=lambda state: state.event_time)
    if old <= 1:
        return states
    keep = set()
    for index in range(old - 1, -1, -1):
        if states[index].workflow_state == outcomes.FAILED_TO_CLONE:
            keep.add(index)
            break
    for column in outcomes.CARRIED_COLUMNS:
        for index in range(old - 1, -1, -1):
            if getattr(states[index], column) is not None:
                keep.add(index)
                break
    return [states[index] for index in sorted(keep)] + states[old:]


@functools.lru_cache(maxsize=16)
def _steps(rules: StreamRules) -> tuple[int, int]:
    """The rules' expiry step and largest timer step (asked for every event)."""
    return rules.expiry_step(), rules.max_timer_step()


class _Assignment:
    """One (course, link): its state events, attempt counter and the retries not decided yet."""

    __slots__ = ("arrived", "count", "last", "pending", "states", "touched")

    def __init__(self) -> None:
        self.states: list[AssignmentStateRow] = []  # in state order
        self.count = 0  # attempts numbered so far
        self.last: str | None = None  # fingerprint of the latest numbered retry
        self.arrived: list[tuple[int, str, RetryForOutcome]] = []  # heap: not numbered yet
        self.pending: dict[str, list[Any]] = {}  # fingerprint -> [retry, number, next time]
        self.touched = 0  # the latest event time of its events (for pruning)

    def __getstate__(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, values) -> None:
        for name, value in zip(self.__slots__, values, strict=True):
            setattr(self, name, value)


class OutcomeState(LoggedMachine):
    """One outcome shard: late gate, dedup, attempt numbers and outcome decisions.

    ``admit(event)`` (an ``AssignmentStateRow`` or a :class:`RetryForOutcome`) ->
    (``accepted``/``late``/``duplicate``, deadlines for timers); ``advance(T)``
    -> (row, decided at) of every retry decided by ``T``.
    """

    def __init__(self, rules: StreamRules, wait_micros: int):
        self.rules = rules
        self.wait = wait_micros
        self.clock: int | None = None  # the latest firing: the watermark has passed it
        self.seen: dict[str, int] = {}  # fingerprint -> expiry
        self._expiries: list[tuple[int, str]] = []
        self.assignments: dict[tuple[str, str], _Assignment] = {}
        self._looks: list[tuple[int, tuple[str, str]]] = []  # (time, key): look at key after it
        self._pruned_at: int | None = None
        self._first_seen: int | None = None
        self._states_held = 0  # kept up to date: live_size() is asked for every element

    def admit(self, event: AssignmentStateRow | RetryForOutcome) -> tuple[str, list[int]]:
        """Gate, deduplicate and keep one event; the deadlines the caller sets timers at."""
        fate, deadlines = self.admit_exact(event)
        return fate, self.timer_deadlines(deadlines) if deadlines else []

    def admit_exact(self, event: AssignmentStateRow | RetryForOutcome) -> tuple[str, list[int]]:
        """:meth:`admit`, with the deadlines as they are (see :meth:`timer_deadlines`).

        The deadlines of many events, made timers together, cost one rounding
        per distinct deadline rather than three per event.
        """
        rules = self.rules
        time = event.event_time
        start = time - time % rules.window
        closes_at = start + rules.window + rules.lateness
        if self.clock is not None and closes_at <= self.clock:
            return LATE, []
        fingerprint = event.event_fingerprint
        if fingerprint in self.seen:
            return DUPLICATE, []
        expiry = ceil_to(time + rules.horizon, _steps(rules)[0])
        self.seen[fingerprint] = expiry
        heapq.heappush(self._expiries, (expiry, fingerprint))
        deadlines = [expiry, closes_at]
        if isinstance(event, RetryForOutcome):
            key = (event.new_course_uuid, event.new_assignment_resource_link_id)
            assignment = self._assignment(key, time)
            heapq.heappush(assignment.arrived, (time, fingerprint, event))
            heapq.heappush(self._looks, (time, key))
            heapq.heappush(self._looks, (time + self.wait, key))
            deadlines += [
                ceil_to(time + 1, rules.window),
                ceil_to(time + self.wait + 1, rules.window),
            ]
        elif event.lti_resource_link_id is not None:
            key = (event.context_uuid, event.lti_resource_link_id)
            assignment = self._assignment(key, time)
            bisect.insort(assignment.states, event, key=outcomes.state_order)
            self._states_held += 1
            heapq.heappush(self._looks, (time, key))
            deadlines.append(ceil_to(time + 1, rules.window))
        if self._first_seen is None:
            self._first_seen = time
        return ACCEPTED, deadlines

    def timer_deadlines(self, deadlines) -> list[int]:
        """Deadlines from :meth:`admit_exact`, as timers: sorted, distinct, far ones rounded up.

        A deadline the shard has passed is due at its next firing.
        """
        rules, clock = self.rules, self.clock
        reference = clock if clock is not None else self._first_seen
        window, max_step = rules.window, _steps(rules)[1]
        floor = clock + 1 if clock is not None else None
        return sorted(
            {
                coarse_deadline(
                    deadline if floor is None or deadline >= floor else floor,
                    reference,
                    window,
                    max_step,
                )
                for deadline in set(deadlines)
            }
        )

    def advance(self, until: int) -> list[tuple[RetryOutcomeRow, int]]:
        """The watermark has reached ``until``: decide every retry whose outcome it proves."""
        if self.clock is not None and until <= self.clock:
            return []
        self.clock = until
        keys = set()
        while self._looks and self._looks[0][0] < until:
            keys.add(heapq.heappop(self._looks)[1])
        decided = []
        for key in sorted(keys):
            assignment = self.assignments.get(key)
            if assignment is not None:
                decided += self._decide(assignment, until)
        forget_expired(self._expiries, self.seen, until)
        if self._pruned_at is None or until - self._pruned_at >= DAY_MICROS:
            self._prune(until - self.rules.retention)
            self._pruned_at = until
        return decided

    def replay(self, entry) -> None:
        kind, value = entry
        if kind == "admit":  # the events admitted from one element
            for event in value:
                self.admit(event)
        else:
            self.advance(value)

    def _assignment(self, key: tuple[str, str], time: int) -> _Assignment:
        assignment = self.assignments.get(key)
        if assignment is None:
            assignment = self.assignments[key] = _Assignment()
        assignment.touched = max(assignment.touched, time)
        return assignment

    def _decide(self, assignment: _Assignment, until: int) -> list[tuple[RetryOutcomeRow, int]]:
        # Attempts are numbered once every retry before them has arrived, in batch's order.
        while assignment.arrived and assignment.arrived[0][0] < until:
            time, fingerprint, retry = heapq.heappop(assignment.arrived)
            assignment.count += 1
            previous = assignment.pending.get(assignment.last or "")
            if previous is not None:
                previous[2] = time
            assignment.pending[fingerprint] = [retry, assignment.count, None]
            assignment.last = fingerprint
        decided = []
        for fingerprint, (retry, number, next_time) in list(assignment.pending.items()):
            decision = outcomes.decide_as_of(retry, assignment.states, next_time, self.wait, until)
            if decision is None:
                continue
            del assignment.pending[fingerprint]
            row = outcomes.outcome_row(retry, number, decision, assignment.states)
            decided.append((row, decision.decided_at))
        return decided

    def _prune(self, cutoff: int) -> None:
        for key in [
            key
            for key, assignment in self.assignments.items()
            if assignment.touched < cutoff and not assignment.pending and not assignment.arrived
        ]:
            self._states_held -= len(self.assignments.pop(key).states)
        # A retry admitted from now on is later than this (earlier ones are late), so of the state
        # events before it only the latest failure and the latest carrier of each column can count.
        before = self.clock - self.rules.window - self.rules.lateness if self.clock else cutoff
        for assignment in self.assignments.values():
            states = assignment.states
            if len(states) < 2 or states[1].event_time >= before:
                continue  # at most one state event before it: nothing to cut
            if not assignment.pending and not assignment.arrived:
                held = len(states)
                assignment.states = compact_states(assignment.states, before)
                self._states_held -= held - len(assignment.states)

    def live_size(self) -> int:
        return len(self.seen) + len(self.assignments) + self._states_held


def _late_dead_letter(event: AssignmentStateRow, raw: bytes, window: int) -> DeadLetterRow:
    start = event.event_time - event.event_time % window
    return DeadLetterRow(
        LATE_EVENT,
        f"window starting {Timestamp(micros=start).to_rfc3339()} had closed",
        event.source_event_name,
        None,
        None,
        raw,
    )


def _count(counts: dict[str, int], name: str) -> None:
    counts[name] = counts.get(name, 0) + 1


class ApplyOutcomeRules(beam.DoFn):
    """(shard, [(event, raw), ...]) -> ``retry_outcomes`` rows; tagged state rows, late, counts.

    Assignment events are counted here, where their fate is decided (accepted,
    duplicate or a ``late_event`` dead letter with its raw bytes); a retry's
    copy is not (the join counts the retry's line). Main output: outcome rows
    at their decision time. ``assignment_state_rows``: per input element, the
    list of its accepted assignment events with a link, at the earliest event
    time among them. ``late_states``: dead letters.
    """

    LOG, VERSION = log_state_specs("outcomes")
    WAKE = TimerSpec("wake", TimeDomain.WATERMARK)

    def __init__(self, rules: StreamRules, wait_seconds: int):
        self._rules = rules
        self._wait = wait_seconds * 1_000_000
        self._owner = f"outcomes-{uuid.uuid4().hex}"  # names this step's machines in worker memory

    def _machine(self, key, log, version) -> OutcomeState:
        return load_machine(
            self._owner, key, log, version, lambda: OutcomeState(self._rules, self._wait)
        )

    def process(
        self,
        keyed,
        key=beam.DoFn.KeyParam,
        log=beam.DoFn.StateParam(LOG),
        version=beam.DoFn.StateParam(VERSION),
        wake=beam.DoFn.TimerParam(WAKE),
    ):
        _, items = keyed
        machine = self._machine(key, log, version)
        counts: dict[str, int] = {}
        admitted, rows, deadlines = [], [], set()
        for event, raw in items:
            fate, due = machine.admit_exact(event)
            is_state = isinstance(event, AssignmentStateRow)
            if fate == LATE:
                if is_state:
                    _count(counts, "dead_letter_by_code." + LATE_EVENT)
                    yield beam.pvalue.TaggedOutput(
                        LATE_STATES, _late_dead_letter(event, raw, self._rules.window)
                    )
                continue
            if fate == DUPLICATE:
                if is_state:
                    _count(counts, "duplicates")
                continue
            admitted.append(event)
            deadlines.update(due)
            if is_state:
                _count(counts, accepted_counter(ROLE_ASSIGNMENT_STATE))
                if event.lti_resource_link_id is not None:
                    rows.append(event)
        if admitted:
            record(machine, ("admit", admitted), log, version)
        if counts:
            counts["lines_read"] = sum(counts.values())  # every assignment event's line, once
            yield beam.pvalue.TaggedOutput(COUNTS, counter_record(counts))
        if rows:
            earliest = min(row.event_time for row in rows)
            yield beam.pvalue.TaggedOutput(
                STATE_ROWS, TimestampedValue(rows, Timestamp(micros=earliest))
            )
        for deadline in machine.timer_deadlines(deadlines) if deadlines else ():
            wake.set(Timestamp(micros=deadline), dynamic_timer_tag=str(deadline))

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
        decided = machine.advance(fired.micros)
        record(machine, ("advance", fired.micros), log, version)
        if not decided:
            return
        counts: dict[str, int] = {}
        for row, decided_at in decided:
            counts["outcome." + row.outcome] = counts.get("outcome." + row.outcome, 0) + 1
            yield TimestampedValue(row, Timestamp(micros=decided_at))
        yield beam.pvalue.TaggedOutput(COUNTS, counter_record(counts))
