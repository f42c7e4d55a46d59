"""The generator's assignment events: state sequences around retries, copies, background share."""

from __future__ import annotations

import collections

from pipelines.synthetic_feed import iter_feed_lines
from transforms import outcomes
from transforms.events import ROLE_ASSIGNMENT_STATE, ROLE_RETRY, LineClassifier
from transforms.lineage import number_attempts

DAY = 86_400 * 1_000_000


def classified(events: int, seed: int):
    lines = list(iter_feed_lines(events, seed))
    result = LineClassifier().classify_lines([line.rstrip(b"\n") for line in lines], 0, "feed")
    return lines, result


def test_assignment_events_are_three_to_five_percent_of_lines():
    lines, result = classified(20_000, 7)
    assignment_lines = sum(
        count
        for name, count in result.counts.items()
        if name.startswith("accepted_before_dedup." + ROLE_ASSIGNMENT_STATE)
    )
    assert 0.03 * len(lines) <= assignment_lines <= 0.05 * len(lines)
    states = [a.event for a in result.accepted if a.role == ROLE_ASSIGNMENT_STATE]
    # Background assignments (random links) and the copies retries are about.
    assert {state.workflow_state for state in states} >= {
        "duplicating",
        "outcome_alignment_cloning",
        "failed_to_clone_outcome_alignment",
        "published",
        "unpublished",
        "deleted",
    }
    assert any(state.source_event_name == "assignment_created" for state in states)
    assert (
        sum(state.assignment_id_duplicated_from is not None for state in states) > len(states) / 4
    )


def test_the_rules_find_every_outcome_in_a_generated_feed():
    _, result = classified(40_000, 11)
    retries = {a.event.event_fingerprint: a.event for a in result.accepted if a.role == ROLE_RETRY}
    states = {
        a.event.event_fingerprint: a.event
        for a in result.accepted
        if a.role == ROLE_ASSIGNMENT_STATE
    }
    clock = max(event.event_time for event in [*retries.values(), *states.values()])
    by_key = collections.defaultdict(list)
    for state in states.values():
        if state.lti_resource_link_id is not None:
            by_key[outcomes.state_key(state)].append(state)
    groups = collections.defaultdict(list)
    for retry in retries.values():
        groups[outcomes.outcome_key(retry)].append(retry)
    found = collections.Counter()
    failures_before = 0
    for key, group in groups.items():
        numbered = [(retry, number) for retry, number, _ in number_attempts(group)]
        rows, pending = outcomes.decide_group(numbered, by_key.get(key, []), DAY, clock)
        found.update(row.outcome for row in rows)
        found[outcomes.PENDING] += len(pending)
        failures_before += sum(row.failed_at is not None for row in rows)
    assert set(found) >= set(outcomes.OUTCOMES), found
    # Most linked retries follow a failure of their copy, as the retry endpoint requires.
    linked = sum(
        count for outcome, count in found.items() if outcome != outcomes.NO_ASSIGNMENT_LINK
    )
    assert failures_before > linked / 2
