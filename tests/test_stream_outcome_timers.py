"""The outcome shard's timers: deadlines of many events rounded together, as one by one."""

from __future__ import annotations

import random

from tests.conftest import retry_event
from transforms.stream_outcomes import OutcomeState, retry_for_outcome
from transforms.streaming_join import ACCEPTED, StreamRules
from transforms.tables import AssignmentStateRow

S = 1_000_000
T0 = 1_700_000_000 * S
RULES = StreamRules.of_seconds(300, 3600, 86_400, 600, 400)
WAIT = 86_400 * S


def events(seed: int):
    randomness = random.Random(seed)
    made = []
    for n in range(400):
        time = T0 + randomness.randrange(0, 5 * 86_400) * S
        link = f"link-{randomness.randrange(20)}"
        if randomness.random() < 0.2:
            made.append(
                retry_for_outcome(
                    retry_event("S", "T", time, fp=f"r{n}", new_assignment_resource_link_id=link)
                )
            )
        else:
            values = dict.fromkeys(AssignmentStateRow._fields)
            values.update(
                event_fingerprint=f"s{randomness.randrange(350)}",  # copies too
                source_event_name="assignment_updated",
                event_time=time,
                context_uuid="T",
                lti_resource_link_id=link if randomness.random() < 0.9 else None,
                assignment_id="9",
                workflow_state="published",
            )
            made.append(AssignmentStateRow(**values))
    return made


def test_deadlines_of_an_element_made_timers_together_are_those_of_each_event():
    for seed in range(3):
        one_by_one, together = OutcomeState(RULES, WAIT), OutcomeState(RULES, WAIT)
        batches = events(seed)
        for start in range(0, len(batches), 50):
            batch = batches[start : start + 50]
            expected: set[int] = set()
            exact: list[int] = []
            fates = []
            for event in batch:
                fate, deadlines = one_by_one.admit(event)
                expected.update(deadlines)
                fate_together, raw = together.admit_exact(event)
                fates.append((fate, fate_together))
                exact += raw
            assert all(left == right for left, right in fates)
            assert together.timer_deadlines(exact) == sorted(expected)
            # The watermark moves between elements: later deadlines are rounded from the clock.
            until = batch[-1].event_time - 3600 * S
            assert one_by_one.advance(until) == together.advance(until)
        assert any(fate == ACCEPTED for fate, _ in fates)


def test_a_daily_cut_keeps_every_assignment_as_the_full_compaction_would():
    from transforms.stream_outcomes import compact_states

    randomness = random.Random(11)
    for _ in range(200):
        count = randomness.randrange(0, 6)
        states = sorted(
            (
                AssignmentStateRow(
                    f"s{n}",
                    "assignment_updated",
                    T0 + randomness.randrange(0, 10) * 60 * S,
                    None,
                    "T",
                    "link",
                    randomness.choice(["9", None]),
                    randomness.choice(["published", "failed_to_clone_outcome_alignment"]),
                    randomness.choice(["x", None]),
                    None,
                    None,
                    randomness.choice([True, None]),
                )
                for n in range(count)
            ),
            key=lambda row: (row.event_time, row.event_fingerprint),
        )
        before = T0 + randomness.randrange(0, 11) * 60 * S
        # The cheap test the daily cut makes first: at most one state event before the bound.
        if len(states) < 2 or states[1].event_time >= before:
            assert compact_states(states, before) is states
