"""Pure rules that decide what happened after a retry, from the assignment's own state events.

A state event S matches retry R when ``S.context_uuid == R.new_course_uuid`` and
``S.lti_resource_link_id == R.new_assignment_resource_link_id``. State events are
ordered by (event_time, event_fingerprint). With t the retry's time, W the wait and
t_N the time of the next attempt of the same attempt group (if any):

* ``no_assignment_link``: the retry names no assignment link (decided at t);
* otherwise the first matching S with t < S.event_time <= t + W (and < t_N) whose
  state decides: ``published``/``unpublished`` -> ``succeeded``,
  ``failed_to_clone_outcome_alignment`` -> ``failed``, ``deleted`` -> ``deleted``;
* else ``superseded`` when t_N <= t + W; else ``no_outcome_event`` once the clock
  (the latest event time seen) has passed t + W; else the retry is pending.

Times are UTC epoch microseconds (ints) throughout.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from transforms.tables import AssignmentStateRow, RetryOutcomeRow

SUCCEEDED = "succeeded"
FAILED = "failed"
DELETED = "deleted"
SUPERSEDED = "superseded"
NO_OUTCOME_EVENT = "no_outcome_event"
NO_ASSIGNMENT_LINK = "no_assignment_link"
OUTCOMES = (SUCCEEDED, FAILED, DELETED, SUPERSEDED, NO_OUTCOME_EVENT, NO_ASSIGNMENT_LINK)
PENDING = "pending"

FAILED_TO_CLONE = "failed_to_clone_outcome_alignment"
DECIDING_STATES = {
    "published": SUCCEEDED,
    "unpublished": SUCCEEDED,
    FAILED_TO_CLONE: FAILED,
    "deleted": DELETED,
}
DEFAULT_OUTCOME_WAIT_SECONDS = 86_400

# Columns taken from the latest matching state event at or before the decision time that has them.
CARRIED_COLUMNS = (
    "assignment_id",
    "lti_resource_link_id_duplicated_from",
    "created_on_blueprint_sync",
)


def state_order(state: AssignmentStateRow) -> tuple[int, str]:
    """The order of state events: event time, ties by fingerprint."""
    return (state.event_time, state.event_fingerprint)


def outcome_key(retry: Any) -> tuple[str, str] | None:
    """(course, assignment link) a retry's state events share; None for a retry with no link."""
    if retry.new_assignment_resource_link_id is None:
        return None
    return (retry.new_course_uuid, retry.new_assignment_resource_link_id)


def state_key(state: AssignmentStateRow) -> tuple[str, str]:
    """(course, assignment link) of a state event: :func:`outcome_key` of the retries it matches."""
    return (state.context_uuid, state.lti_resource_link_id)


def matches(retry: Any, state: AssignmentStateRow) -> bool:
    """Whether a state event is about the assignment a retry cloned into (same course and link)."""
    return (
        retry.new_assignment_resource_link_id is not None
        and state.context_uuid == retry.new_course_uuid
        and state.lti_resource_link_id == retry.new_assignment_resource_link_id
    )


class Decision(NamedTuple):
    """An outcome and when it was decided; ``deciding`` is the state event that decided it."""

    outcome: str
    decided_at: int
    deciding: AssignmentStateRow | None


def decide(
    retry: Any,
    states: Iterable[AssignmentStateRow],
    next_attempt_time: int | None,
    wait_micros: int,
    clock: int | None,
) -> Decision | None:
    """The outcome of one retry, or None while it is pending.

    ``states`` may hold any state events: only those matching the retry count.
    ``clock`` is the latest event time seen (None: nothing seen).
    """
    t = retry.event_time
    if retry.new_assignment_resource_link_id is None:
        return Decision(NO_ASSIGNMENT_LINK, t, None)
    deadline = t + wait_micros
    for state in sorted((s for s in states if matches(retry, s)), key=state_order):
        time = state.event_time
        if time <= t:
            continue
        if time > deadline or (next_attempt_time is not None and time >= next_attempt_time):
            break
        outcome = DECIDING_STATES.get(state.workflow_state)
        if outcome is not None:
            return Decision(outcome, time, state)
    if next_attempt_time is not None and next_attempt_time <= deadline:
        return Decision(SUPERSEDED, next_attempt_time, None)
    if clock is not None and clock > deadline:
        return Decision(NO_OUTCOME_EVENT, deadline, None)
    return None


def latest_failure(retry: Any, states: Iterable[AssignmentStateRow]) -> AssignmentStateRow | None:
    """The latest matching ``failed_to_clone_outcome_alignment`` event at or before the retry."""
    failures = [
        s
        for s in states
        if s.workflow_state == FAILED_TO_CLONE
        and s.event_time <= retry.event_time
        and matches(retry, s)
    ]
    return max(failures, key=state_order) if failures else None


def carried_values(
    retry: Any, states: Iterable[AssignmentStateRow], decided_at: int
) -> dict[str, Any]:
    """Each of :data:`CARRIED_COLUMNS` from the latest matching state event that carries it.

    Only state events at or before ``decided_at`` count; null when none carries it.
    """
    earlier = sorted(
        (s for s in states if s.event_time <= decided_at and matches(retry, s)),
        key=state_order,
        reverse=True,
    )
    values: dict[str, Any] = dict.fromkeys(CARRIED_COLUMNS)
    for column in CARRIED_COLUMNS:
        values[column] = next(
            (getattr(s, column) for s in earlier if getattr(s, column) is not None), None
        )
    return values


def outcome_row(
    retry: Any, attempt_number: int | None, decision: Decision, states: Sequence[AssignmentStateRow]
) -> RetryOutcomeRow:
    """The ``retry_outcomes`` row of a decided retry (``retry`` has the columns it needs)."""
    t = retry.event_time
    deciding = decision.deciding
    failure = latest_failure(retry, states)
    return RetryOutcomeRow(
        event_fingerprint=retry.event_fingerprint,
        root_account_uuid=retry.root_account_uuid,
        new_course_uuid=retry.new_course_uuid,
        new_assignment_resource_link_id=retry.new_assignment_resource_link_id,
        event_time=t,
        attempt_number=attempt_number,
        outcome=decision.outcome,
        outcome_workflow_state=deciding.workflow_state if deciding else None,
        outcome_time=deciding.event_time if deciding else None,
        seconds_to_outcome=(deciding.event_time - t) / 1e6 if deciding else None,
        failed_at=failure.event_time if failure else None,
        seconds_since_failure=(t - failure.event_time) / 1e6 if failure else None,
        **carried_values(retry, states, decision.decided_at),
    )


def next_attempt_times(retries: Iterable[Any]) -> dict[str, int | None]:
    """Fingerprint -> the time of the next attempt of the same group (None for the last).

    For distinct retries of one attempt key, ordered by (event_time, fingerprint)
    as attempt numbers are.
    """
    ordered = sorted(retries, key=lambda retry: (retry.event_time, retry.event_fingerprint))
    return {
        retry.event_fingerprint: (
            ordered[index + 1].event_time if index + 1 < len(ordered) else None
        )
        for index, retry in enumerate(ordered)
    }


def decide_group(
    retries: Sequence[tuple[Any, int | None]],
    states: Sequence[AssignmentStateRow],
    wait_micros: int,
    clock: int | None,
) -> tuple[list[RetryOutcomeRow], list[Any]]:
    """(rows of decided retries, pending retries) of one attempt group.

    Takes (retry, attempt_number) pairs and the state events of their assignment.
    """
    following = next_attempt_times(retry for retry, _ in retries)
    rows, pending = [], []
    for retry, attempt_number in retries:
        decision = decide(retry, states, following[retry.event_fingerprint], wait_micros, clock)
        if decision is None:
            pending.append(retry)
        else:
            rows.append(outcome_row(retry, attempt_number, decision, states))
    return rows, pending


def decide_as_of(
    retry: Any,
    states: Sequence[AssignmentStateRow],
    next_attempt_time: int | None,
    wait_micros: int,
    until: int,
) -> Decision | None:
    """:func:`decide` with what is known once every event before ``until`` has been seen.

    A stream's watermark at ``until`` proves that; events at or after it may
    still be on their way, so state events and the next attempt from ``until``
    on are ignored, and the clock is ``until``. A decision returned is final:
    later events cannot change it (the same decision as :func:`decide` with
    every event), and it was decided before ``until``.
    """
    known = [state for state in states if state.event_time < until]
    following = (
        next_attempt_time if next_attempt_time is not None and next_attempt_time < until else None
    )
    return decide(retry, known, following, wait_micros, until)
