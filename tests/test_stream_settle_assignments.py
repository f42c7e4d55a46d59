"""The stream routes assignment events: they are candidates where lines are read, not noise."""

from __future__ import annotations

import collections

from tests.conftest import course, line, noise, retry
from transforms.events import LineClassifier
from transforms.stream_settle import candidate_indexes, settle_lines

A, B = course("A"), course("B")
SOURCE = "/in/*.jsonl"


def assignment(event_name: str, link: str | None = "link-1") -> bytes:
    body = {
        "assignment_id": "7",
        "context_uuid": B,
        "workflow_state": "published",
        "context_type": "Course",
        "lti_resource_link_id": link,
    }
    return line(event_name, body, "2024-07-30T10:05:00Z")


def test_assignment_events_are_accepted_where_lines_are_read_not_settled_as_noise():
    lines = [
        noise(),
        assignment("assignment_created"),
        retry(A, B, "2024-07-30T10:01:00Z"),
        assignment("assignment_updated", link=None) + b"\r",
        noise(),
    ]
    assert candidate_indexes(lines) == [1, 2, 3]
    classifier = LineClassifier(None)
    settled = settle_lines(classifier, lines, SOURCE)
    assert settled.candidates == [lines[2]]
    assert [raw for _, raw in settled.states] == [lines[1], lines[3][:-1]]
    assert [event.lti_resource_link_id for event, _ in settled.states] == ["link-1", None]
    expected = classifier.classify_lines([lines[1], lines[3]], None, SOURCE).accepted
    assert [event for event, _ in settled.states] == [accepted.event for accepted in expected]
    assert not any(name.startswith("skipped_by_event_name.assignment") for name in settled.counts)
    # The same counters as the stream's classifier gives classifying every line.
    counts = collections.Counter(settled.counts)
    counts.update(classifier.classify_lines(settled.candidates, None, SOURCE).counts)
    counts["lines_read"] += len(settled.states)
    counts["accepted_before_dedup.assignment_state"] += len(settled.states)
    assert counts == classifier.classify_lines(lines, None, SOURCE).counts


def test_an_assignment_event_that_is_not_accepted_stays_a_candidate():
    other_context = line(
        "assignment_updated",
        {"assignment_id": "7", "context_uuid": B, "workflow_state": "x", "context_type": "Group"},
        "2024-07-30T10:05:00Z",
    )
    bad_body = line("assignment_updated", {"context_uuid": B}, "2024-07-30T10:05:00Z")
    settled = settle_lines(LineClassifier(None), [other_context, bad_body], SOURCE)
    assert settled.states == []
    assert settled.candidates == [other_context, bad_body]


def test_the_batch_classifier_accepts_the_same_assignment_events():
    result = LineClassifier(None).classify_lines([assignment("assignment_created")], None, SOURCE)
    assert [accepted.role for accepted in result.accepted] == ["assignment_state"]
