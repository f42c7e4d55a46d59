"""What the watcher sends: settled blocks with their raw lines compressed, read back unchanged."""

from __future__ import annotations

from tests.conftest import course, line, noise, retry
from transforms.events import LineClassifier
from transforms.stream_settle import (
    SettledLines,
    accepted_assignment_events,
    merge_packed,
    merge_settled,
    pack_lines,
    settle_lines,
    unpack_lines,
)
from transforms.watch import WATCH_CODER, UnreadableFile

A, B = course("A"), course("B")
SOURCE = "/in/*.jsonl"


def assignment(name: str, link: str | None = "link-1", state: str = "published") -> bytes:
    body = {
        "assignment_id": "7",
        "context_uuid": B,
        "workflow_state": state,
        "context_type": "Course",
        "lti_resource_link_id": link,
    }
    return line(name, body, "2024-07-30T10:05:00Z")


def blocks():
    classifier = LineClassifier(None)
    first = [
        noise(),
        assignment("assignment_created") + b"\r",
        retry(A, B, "2024-07-30T10:01:00Z") + b"\r",
        b"{broken",
        b"",
    ]
    second = [retry(A, B, "2024-07-30T10:02:00Z"), assignment("assignment_updated", None)]
    third = [noise(), noise()]  # nothing sent on
    return [settle_lines(classifier, lines, SOURCE) for lines in (first, second, third)]


def test_packed_blocks_read_back_as_the_settled_blocks_merged():
    settled = blocks()
    assert [len(part.states) for part in settled] == [1, 1, 0]
    packed = merge_packed([pack_lines(part)[0] for part in settled])
    assert unpack_lines(packed) == merge_settled(settled)
    # Through the watcher's coder too, as the runner reads it.
    assert WATCH_CODER.decode(WATCH_CODER.encode(packed)) == merge_settled(settled)
    unreadable = UnreadableFile("/in/a.jsonl.gz", "cannot be opened")
    assert WATCH_CODER.decode(WATCH_CODER.encode(unreadable)) == unreadable


def test_a_block_whose_every_line_is_sent_keeps_blank_lines():
    lines = [b"", b"x", b""]
    settled = SettledLines({}, [], lines)
    assert unpack_lines(pack_lines(settled)[0]) == settled


def test_the_size_counted_is_what_an_element_carries():
    settled = blocks()[0]
    packed, size = pack_lines(settled)
    encoded = len(WATCH_CODER.encode(packed))
    assert size <= encoded <= size + 2_000  # counters and framing on top
    raw = sum(map(len, settled.candidates)) + sum(len(raw) for _, raw in settled.states)
    assert sum(map(len, packed.blobs)) < raw


def test_assignment_lines_classified_together_match_one_by_one():
    classifier = LineClassifier(None)
    good = [assignment("assignment_created"), assignment("assignment_updated", None) + b"\r"]
    other = retry(A, B, "2024-07-30T10:01:00Z")
    bad = line("assignment_updated", {"context_uuid": B}, "2024-07-30T10:05:00Z")
    one_by_one = [
        (classifier.classify_lines([item], None, SOURCE).accepted[0].event, item.rstrip(b"\r"))
        for item in good
    ]
    assert accepted_assignment_events(classifier, [good[0], other, good[1]], SOURCE) == (
        one_by_one,
        [other],
    )
    # One that is not accepted sends the lines one by one: it stays a candidate, in order.
    assert accepted_assignment_events(classifier, [good[0], bad, other, good[1]], SOURCE) == (
        one_by_one,
        [bad, other],
    )
    assert accepted_assignment_events(classifier, [other], SOURCE) == ([], [other])
