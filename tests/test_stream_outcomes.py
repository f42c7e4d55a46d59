"""The stream's outcome rules without a runner: decide_as_of and the OutcomeState machine."""

from __future__ import annotations

import pickle

import pytest

from tests.conftest import retry_event
from transforms import outcomes
from transforms.outcomes import (
    FAILED,
    NO_ASSIGNMENT_LINK,
    NO_OUTCOME_EVENT,
    SUCCEEDED,
    SUPERSEDED,
    decide,
    decide_as_of,
)
from transforms.stream_outcomes import (
    OutcomeState,
    no_link_outcome,
    outcome_shard,
    retry_for_outcome,
)
from transforms.streaming_join import ACCEPTED, DUPLICATE, LATE, StreamRules
from transforms.tables import AssignmentStateRow

S = 1_000_000
T = 1_700_000_100 * S  # the retry's time (not on a window boundary)
W = 3600 * S
COURSE, LINK = "T", "link-1"
RULES = StreamRules.of_seconds(300, 3600, 86_400, 600, 400)


def retry(t: int = T, link: str | None = LINK, fp: str | None = None):
    return retry_event(
        "S",
        COURSE,
        t,
        fp=fp or f"r{t}",
        new_assignment_resource_link_id=link,
        root_account_uuid="a",
    )


def state(t: int, workflow_state: str, link: str | None = LINK, **fields) -> AssignmentStateRow:
    values = dict.fromkeys(AssignmentStateRow._fields)
    values.update(
        event_fingerprint=f"s{t}-{workflow_state}",
        source_event_name="assignment_updated",
        event_time=t,
        context_uuid=COURSE,
        lti_resource_link_id=link,
        assignment_id="9",
        workflow_state=workflow_state,
    )
    values.update(fields)
    return AssignmentStateRow(**values)


# --- decide_as_of ---------------------------------------------------------------------------


def test_decide_as_of_ignores_events_from_until_on():
    deciding = [state(T + 10 * S, "published")]
    assert decide_as_of(retry(), deciding, None, W, T + 10 * S) is None
    decision = decide_as_of(retry(), deciding, None, W, T + 10 * S + 1)
    assert decision is not None and decision.outcome == SUCCEEDED


def test_decide_as_of_does_not_supersede_before_the_next_attempt_is_proven():
    assert decide_as_of(retry(), [], T + 60 * S, W, T + 60 * S) is None
    decision = decide_as_of(retry(), [], T + 60 * S, W, T + 60 * S + 1)
    assert decision is not None and decision.outcome == SUPERSEDED


def test_decide_as_of_waits_for_the_clock_past_t_plus_w():
    assert decide_as_of(retry(), [], None, W, T + W) is None
    decision = decide_as_of(retry(), [], None, W, T + W + 1)
    assert decision is not None and decision.outcome == NO_OUTCOME_EVENT


def test_decide_as_of_agrees_with_decide_once_it_decides():
    states = [
        state(T - 5 * S, "failed_to_clone_outcome_alignment"),
        state(T + 1 * S, "outcome_alignment_cloning"),
        state(T + 30 * S, "failed_to_clone_outcome_alignment"),
        state(T + 40 * S, "published"),
    ]
    full = decide(retry(), states, T + 35 * S, W, T + 2 * W)
    for until in range(T, T + 50 * S, S):
        early = decide_as_of(retry(), states, T + 35 * S, W, until)
        assert early is None or early == full
    assert full is not None and full.outcome == FAILED


# --- the machine ----------------------------------------------------------------------------


def machine() -> OutcomeState:
    return OutcomeState(RULES, W)


def test_a_retry_is_decided_at_the_first_firing_past_its_deciding_state():
    m = machine()
    assert m.admit(state(T - 60 * S, "failed_to_clone_outcome_alignment"))[0] == ACCEPTED
    fate, deadlines = m.admit(retry_for_outcome(retry()))
    assert fate == ACCEPTED and deadlines == sorted(deadlines)
    m.admit(state(T + 120 * S, "published"))
    assert m.advance(T + 120 * S) == []  # the watermark has not passed the state event
    [(row, decided_at)] = m.advance(T + 121 * S)
    assert decided_at == T + 120 * S
    assert (row.outcome, row.attempt_number, row.outcome_workflow_state) == (
        SUCCEEDED,
        1,
        "published",
    )
    assert row.failed_at == T - 60 * S and row.seconds_to_outcome == 120.0
    assert m.advance(T + 2 * W) == []  # decided once


def test_the_next_attempt_supersedes_and_attempts_are_numbered():
    m = machine()
    m.admit(retry_for_outcome(retry(T + 600 * S, fp="second")))
    m.admit(retry_for_outcome(retry(T, fp="first")))
    decided = m.advance(T + 601 * S)
    assert [(row.event_fingerprint, row.outcome, row.attempt_number) for row, _ in decided] == [
        ("first", SUPERSEDED, 1)
    ]
    [(row, decided_at)] = m.advance(T + 600 * S + W + 1)
    assert (row.event_fingerprint, row.outcome, row.attempt_number) == (
        "second",
        NO_OUTCOME_EVENT,
        2,
    )
    assert decided_at == T + 600 * S + W


def test_no_outcome_event_once_the_watermark_passes_t_plus_w():
    m = machine()
    m.admit(retry_for_outcome(retry()))
    m.admit(state(T + 1 * S, "outcome_alignment_cloning"))  # never decides
    assert m.advance(T + W) == []
    [(row, _)] = m.advance(T + W + 1)
    assert row.outcome == NO_OUTCOME_EVENT and row.assignment_id == "9"


def test_copies_are_duplicates_and_closed_windows_are_late():
    m = machine()
    event = state(T, "published")
    assert m.admit(event)[0] == ACCEPTED
    assert m.admit(event)[0] == DUPLICATE
    link_less = state(T + S, "published", link=None)
    assert m.admit(link_less)[0] == ACCEPTED
    assert m.admit(link_less)[0] == DUPLICATE
    m.advance(T + 2 * 3600 * S)
    assert m.admit(state(T + 2 * S, "deleted"))[0] == LATE
    assert not any(key[1] is None for key in m.assignments)  # a link-less event is not kept


def test_replaying_the_log_and_a_snapshot_rebuild_the_same_machine():
    m, log = machine(), []
    for event in (
        retry_for_outcome(retry()),
        state(T + 5 * S, "outcome_alignment_cloning"),
        retry_for_outcome(retry(T + 900 * S, fp="next")),
    ):
        m.admit(event)
        log.append(("admit", [event]))
    m.advance(T + 60 * S)
    log.append(("advance", T + 60 * S))
    rebuilt = machine()
    for entry in log:
        rebuilt.replay(entry)
    thawed = pickle.loads(pickle.dumps(m))
    final = T + 2 * W
    assert rebuilt.advance(final) == m.advance(final) == thawed.advance(final)


def test_a_retry_with_no_link_is_decided_at_once_and_not_sent_to_the_outcome_step():
    linkless = retry(link=None)
    assert retry_for_outcome(linkless) is None
    row = no_link_outcome(linkless)
    assert (row.outcome, row.attempt_number, row.event_time) == (NO_ASSIGNMENT_LINK, None, T)


@pytest.mark.parametrize("shards", [1, 4, 64])
def test_retries_and_their_state_events_share_an_outcome_shard(shards):
    r = retry()
    s = state(T, "published")
    assert outcome_shard(*outcomes.outcome_key(r), shards) == outcome_shard(
        *outcomes.state_key(s), shards
    )


# --- the option -----------------------------------------------------------------------------


def test_the_stream_takes_outcome_wait_seconds(tmp_path, capsys):
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.cli import main
    from pipelines.retry_lineage_stream import check_stream_argv, outcome_wait_seconds_of

    assert main(["stream", "--help"]) == 0
    assert "--outcome-wait-seconds" in capsys.readouterr().out
    argv = ["--watch", str(tmp_path / "*.jsonl"), "--outcome-wait-seconds", "7200"]
    check_stream_argv(argv)
    assert outcome_wait_seconds_of(PipelineOptions(argv)) == 7200
    assert outcome_wait_seconds_of(PipelineOptions([])) == outcomes.DEFAULT_OUTCOME_WAIT_SECONDS
    code = main(["stream", *argv[:2], "--output", str(tmp_path / "o"), "--outcome-wait-seconds=-1"])
    assert code == 2
    assert "--outcome-wait-seconds" in capsys.readouterr().err


def test_a_window_buffer_replays_rows_logged_as_one_batch():
    from transforms.stream_output import WindowBuffer

    items = [(0, "event_date=1970-01-01", "a"), (300 * S, "event_date=1970-01-01", "b")]
    live, replayed = WindowBuffer(300 * S, 0), WindowBuffer(300 * S, 0)
    for item in items:
        live.add(*item)
    replayed.replay(("rows", items))
    assert (
        replayed.flush(600 * S)
        == live.flush(600 * S)
        == [
            (0, "event_date=1970-01-01", ["a"]),
            (300 * S, "event_date=1970-01-01", ["b"]),
        ]
    )


def test_old_state_events_are_compacted_to_what_a_later_retry_uses():
    from transforms.stream_outcomes import compact_states

    old = [
        state(T - 50 * S, "failed_to_clone_outcome_alignment", created_on_blueprint_sync=True),
        state(T - 40 * S, "outcome_alignment_cloning", lti_resource_link_id_duplicated_from="x"),
        state(T - 30 * S, "failed_to_clone_outcome_alignment"),
        state(T - 20 * S, "published", assignment_id=None),
    ]
    recent = [state(T + 10 * S, "published")]
    everything = old + recent
    compacted = compact_states(everything, T - 10 * S)
    assert len(compacted) < len(everything) and compacted[-1] == recent[0]
    for later in (T - 5 * S, T, T + 20 * S):
        r = retry(later)
        for until in (later + 30 * S, later + 2 * W):
            full = decide_as_of(r, everything, None, W, until)
            assert decide_as_of(r, compacted, None, W, until) == full
            if full is not None:
                assert outcomes.outcome_row(r, 1, full, compacted) == outcomes.outcome_row(
                    r, 1, full, everything
                )


def test_the_machine_compacts_old_states_of_assignments_with_nothing_waiting():
    m = machine()
    for minute in range(10):
        m.admit(state(T + minute * 60 * S, "outcome_alignment_cloning"))
    assert m.live_size() == len(m.seen) + 1 + 10
    m.advance(T + 2 * 86_400 * S)
    [assignment] = m.assignments.values()
    assert len(assignment.states) == 1  # the latest, which carries every column
    assert m.live_size() == len(m.seen) + 1 + 1
