"""The pure outcome rules of transforms/outcomes.py, rule by rule."""

from __future__ import annotations

import pytest

from tests.conftest import retry_event
from transforms import outcomes
from transforms.outcomes import (
    DELETED,
    FAILED,
    NO_ASSIGNMENT_LINK,
    NO_OUTCOME_EVENT,
    SUCCEEDED,
    SUPERSEDED,
    decide,
    decide_group,
    outcome_row,
)
from transforms.tables import AssignmentStateRow

S = 1_000_000  # one second in microseconds
T = 1_700_000_000 * S  # the retry's time
W = 3600 * S  # the wait used here
COURSE, LINK = "T", "link-1"


def retry(t: int = T, link: str | None = LINK, fp: str | None = None):
    return retry_event(
        "S",
        COURSE,
        t,
        fp=fp or f"r{t}",
        new_assignment_resource_link_id=link,
        root_account_uuid="acct",
    )


def state(
    t: int,
    workflow_state: str,
    fp: str | None = None,
    course: str = COURSE,
    link: str = LINK,
    **fields,
) -> AssignmentStateRow:
    values = dict.fromkeys(AssignmentStateRow._fields)
    values.update(
        event_fingerprint=fp or f"s{t}-{workflow_state}",
        source_event_name="assignment_updated",
        event_time=t,
        context_uuid=course,
        lti_resource_link_id=link,
        assignment_id="9",
        workflow_state=workflow_state,
    )
    values.update(fields)
    return AssignmentStateRow(**values)


def outcome(states, next_time=None, clock=None, r=None):
    decision = decide(r or retry(), states, next_time, W, clock)
    return decision and decision.outcome


@pytest.mark.parametrize(
    "workflow_state, expected",
    [
        ("published", SUCCEEDED),
        ("unpublished", SUCCEEDED),
        ("failed_to_clone_outcome_alignment", FAILED),
        ("deleted", DELETED),
    ],
)
def test_each_deciding_state(workflow_state, expected):
    decision = decide(retry(), [state(T + 5 * S, workflow_state)], None, W, None)
    assert decision.outcome == expected
    row = outcome_row(retry(), 1, decision, [state(T + 5 * S, workflow_state)])
    assert (row.outcome, row.outcome_workflow_state, row.outcome_time, row.seconds_to_outcome) == (
        expected,
        workflow_state,
        T + 5 * S,
        5.0,
    )


@pytest.mark.parametrize(
    "workflow_state", ["outcome_alignment_cloning", "duplicating", "created", "available"]
)
def test_other_states_never_decide(workflow_state):
    assert outcome([state(T + S, workflow_state)]) is None
    assert outcome([state(T + S, workflow_state)], clock=T + W + 1) == NO_OUTCOME_EVENT


def test_no_assignment_link_is_decided_at_once():
    r = retry(link=None)
    decision = decide(r, [state(T + S, "published", link=None)], None, W, None)
    assert decision == outcomes.Decision(NO_ASSIGNMENT_LINK, T, None)
    row = outcome_row(r, None, decision, [])
    assert (row.outcome, row.outcome_time, row.seconds_to_outcome, row.assignment_id) == (
        NO_ASSIGNMENT_LINK,
        None,
        None,
        None,
    )


def test_boundary_t_does_not_decide_and_t_plus_w_does():
    assert outcome([state(T, "published")], clock=T) is None
    assert outcome([state(T, "published")], clock=T + W + 1) == NO_OUTCOME_EVENT
    assert outcome([state(T + 1, "published")]) == SUCCEEDED
    assert outcome([state(T + W, "deleted")]) == DELETED
    assert outcome([state(T + W + 1, "deleted")], clock=T + W + 1) == NO_OUTCOME_EVENT


def test_the_clock_must_pass_t_plus_w():
    assert outcome([], clock=None) is None
    assert outcome([], clock=T + W) is None  # reaching t + W is not passing it
    decision = decide(retry(), [], None, W, T + W + 1)
    assert decision == outcomes.Decision(NO_OUTCOME_EVENT, T + W, None)


def test_next_attempt_bounds_the_deciding_event():
    t_n = T + 100 * S
    assert outcome([state(t_n - 1, "failed_to_clone_outcome_alignment")], next_time=t_n) == FAILED
    assert outcome([state(t_n, "failed_to_clone_outcome_alignment")], next_time=t_n) == SUPERSEDED
    assert decide(retry(), [], t_n, W, None) == outcomes.Decision(SUPERSEDED, t_n, None)


def test_next_attempt_after_the_wait_is_no_outcome_event():
    t_n = T + W + S
    assert outcome([], next_time=T + W) == SUPERSEDED  # t_N <= t + W
    assert outcome([], next_time=t_n, clock=t_n) == NO_OUTCOME_EVENT
    assert outcome([], next_time=t_n, clock=T + W) is None


def test_the_first_deciding_event_wins_ties_by_fingerprint():
    states = [
        state(T + 9 * S, "published", fp="a"),
        state(T + 5 * S, "deleted", fp="z"),
        state(T + 5 * S, "failed_to_clone_outcome_alignment", fp="m"),
        state(T + 2 * S, "outcome_alignment_cloning", fp="0"),
    ]
    assert outcome(states) == FAILED
    assert outcome(list(reversed(states))) == FAILED


def test_a_state_event_in_another_course_or_link_does_not_match():
    other_course = state(T + S, "published", course="U")
    other_link = state(T + S, "published", link="link-2")
    assert outcome([other_course, other_link]) is None
    row = outcome_row(
        retry(),
        1,
        decide(retry(), [other_course], None, W, T + W + 1),
        [other_course, state(T - S, "failed_to_clone_outcome_alignment", course="U")],
    )
    assert (row.outcome, row.failed_at, row.assignment_id) == (NO_OUTCOME_EVENT, None, None)


def test_failed_at_is_the_latest_matching_failure_at_or_before_the_retry():
    states = [
        state(T - 60 * S, "failed_to_clone_outcome_alignment", assignment_id="1"),
        state(T - 10 * S, "outcome_alignment_cloning"),
        state(T - 30 * S, "failed_to_clone_outcome_alignment", fp="late"),
        state(T, "failed_to_clone_outcome_alignment", fp="same-time"),
        state(T + S, "published"),
    ]
    row = outcome_row(retry(), 2, decide(retry(), states, None, W, None), states)
    assert (row.failed_at, row.seconds_since_failure) == (T, 0.0)
    row = outcome_row(retry(), 2, decide(retry(), states[:4], None, W, T + W + 1), states[:3])
    assert (row.failed_at, row.seconds_since_failure) == (T - 30 * S, 30.0)
    assert outcome_row(retry(), 1, decide(retry(), [], None, W, T + W + 1), []).failed_at is None


def test_carried_columns_come_from_the_latest_state_at_or_before_the_decision_that_carries_each():
    states = [
        state(
            T - 50 * S,
            "duplicating",
            assignment_id="old",
            lti_resource_link_id_duplicated_from="src",
            created_on_blueprint_sync=True,
        ),
        state(T - 10 * S, "failed_to_clone_outcome_alignment", assignment_id="mid"),
        state(T + 20 * S, "published", assignment_id="new", created_on_blueprint_sync=False),
        state(
            T + 30 * S, "published", assignment_id="after", lti_resource_link_id_duplicated_from="x"
        ),
    ]
    row = outcome_row(retry(), 1, decide(retry(), states, None, W, None), states)
    assert row.outcome_time == T + 20 * S
    assert (
        row.assignment_id,
        row.lti_resource_link_id_duplicated_from,
        row.created_on_blueprint_sync,
    ) == ("new", "src", False)
    # Superseded: the decision time is t_N; no outcome: t + W.
    t_n = T + 15 * S
    row = outcome_row(retry(), 1, decide(retry(), states, t_n, W, None), states)
    assert (row.outcome, row.assignment_id, row.created_on_blueprint_sync) == (
        SUPERSEDED,
        "mid",
        True,
    )
    no_event = [s for s in states if s.workflow_state != "published"] + [
        state(T + W, "outcome_alignment_cloning", assignment_id="at-deadline"),
        state(T + W + 1, "outcome_alignment_cloning", assignment_id="beyond"),
    ]
    row = outcome_row(retry(), 1, decide(retry(), no_event, None, W, T + W + 5), no_event)
    assert (row.outcome, row.assignment_id) == (NO_OUTCOME_EVENT, "at-deadline")


def test_misspelled_key_reaches_the_row_through_the_state_event():
    # The classifier merges both spellings into assignment_id_duplicated_from; the rules carry the
    # assignment's own id and its link's source.
    states = [
        state(
            T + S,
            "published",
            assignment_id_duplicated_from="8",
            lti_resource_link_id_duplicated_from="s",
        )
    ]
    row = outcome_row(retry(), 1, decide(retry(), states, None, W, None), states)
    assert row.lti_resource_link_id_duplicated_from == "s"


def test_decide_group_orders_attempts_and_leaves_pending_ones():
    first, second, third = retry(T, fp="a"), retry(T + 10 * S, fp="b"), retry(T + 20 * S, fp="c")
    states = [state(T + 5 * S, "failed_to_clone_outcome_alignment"), state(T + 25 * S, "published")]
    rows, pending = decide_group([(third, 3), (first, 1), (second, 2)], states, W, clock=T + 25 * S)
    assert sorted((row.event_fingerprint, row.attempt_number, row.outcome) for row in rows) == [
        ("a", 1, FAILED),
        ("b", 2, SUPERSEDED),
        ("c", 3, SUCCEEDED),
    ]
    assert pending == []
    rows, pending = decide_group([(first, 1), (second, 2)], [], W, clock=T + 15 * S)
    assert [(row.event_fingerprint, row.outcome) for row in rows] == [("a", SUPERSEDED)]
    assert pending == [second]


def test_retries_at_the_same_time_supersede_in_fingerprint_order():
    first, second = retry(T, fp="a"), retry(T, fp="b")
    rows, pending = decide_group(
        [(second, 2), (first, 1)], [state(T + S, "published")], W, clock=None
    )
    assert sorted((row.event_fingerprint, row.outcome) for row in rows) == [
        ("a", SUPERSEDED),
        ("b", SUCCEEDED),
    ]
    assert pending == []


def test_summary_outcome_fields_and_check():
    from transforms.summary import build_summary

    totals = {
        "lines_read": 4,
        "accepted_before_dedup.retry": 3,
        "accepted.retry": 3,
        "lineage_status.matched": 3,
        "retries_written": 3,
        "outcome.succeeded": 1,
        "outcome.no_assignment_link": 1,
        "outcome.pending": 1,
        "retry_outcomes_written": 2,
        "assignment_states_written": 5,
        "accepted.assignment_state": 1,
        "accepted_before_dedup.assignment_state": 1,
    }
    summary = build_summary(totals, "disabled", with_outcomes=True)
    assert summary["outcomes"] == {
        "succeeded": 1,
        "failed": 0,
        "deleted": 0,
        "superseded": 0,
        "no_outcome_event": 0,
        "no_assignment_link": 1,
        "pending": 1,
    }
    assert (summary["outcomes_written"], summary["assignment_states_written"]) == (2, 5)
    assert (
        summary["accepted"]["assignment_state"] == 1
        and summary["balanced"]
        and summary["outcomes_complete"]
    )
    lost = build_summary({**totals, "retry_outcomes_written": 1}, "disabled", with_outcomes=True)
    assert not lost["outcomes_complete"]
    twice = build_summary({**totals, "outcome.pending": 2}, "disabled", with_outcomes=True)
    assert not twice["outcomes_complete"]
    carried = build_summary(
        {**totals, "outcome.pending": 2, "outcome_retries_from_history": 1},
        "disabled",
        with_outcomes=True,
    )
    assert carried["outcomes_complete"]
    assert "outcomes" not in build_summary(totals, "disabled")  # the stream's records


def test_a_failed_outcomes_check_is_a_problem_of_the_run():
    from pipelines.retry_lineage import check_summary

    base = {"balanced": True, "outputs_complete": True, "dead_lettered": 0, "lines_read": 1}
    assert check_summary({**base, "outcomes_complete": True}, 1.0) == []
    assert check_summary({**base, "outcomes_complete": False}, 1.0) == [
        "retry outcomes written and pending do not account for every retry once"
    ]
