"""Noise settled where it is read: the same counters and dead letters as classifying every line.

The ``--watch`` source settles skipped, blank and invalid lines itself and sends
only the candidate lines (and the settled counters and dead letters) to the
runner; these tests hold it to what ``LineClassifier`` says about every line.
"""

from __future__ import annotations

import collections
import json
import os
import random
from pathlib import Path

from tests.conftest import completed, course, line, noise, retry
from transforms.events import MAX_LINE_BYTES, LineClassifier
from transforms.stream_settle import (
    SettledLines,
    byte_slices,
    candidate_indexes,
    merge_settled,
    settle_lines,
)
from transforms.timestamps import parse_event_time
from transforms.watch import WATCH_CODER, FolderWatcher

A, B = course("A"), course("B")
SOURCE = "/in/*.jsonl"


def mixed_lines() -> list[bytes]:
    return [
        noise(),
        b"",
        b"   ",
        b"{broken",
        b"[1, 2]",
        b'{"metadata": null}',
        b'{"metadata": {"event_name": ""}}',
        retry(A, B, "2024-07-30T10:01:00Z"),
        noise("quiz_submitted", n=1),
        completed("7", B, "2024-07-30T09:00:00Z", source_uuid=A),
        line(
            "quizzes_next_quiz_duplicated", {"status": "other"}, "2024-07-30T10:02:00Z"
        ),  # a quiz copy: noise
        line(
            "content_migration_completed", {"context_type": "Account"}, "2024-07-30T10:03:00Z"
        ),  # noise too
        line(
            "content_migration_started", {}, "2024-07-30T10:04:00Z"
        ),  # routed, but an invalid body
        b"\xef\xbb\xbf" + noise(),
        b'{"metadata": {"event_name": "x", "event_time": NaN}}',
        b"\xff\xfe",
        b'{"metadata": {"event_name": "asset_accessed"}, "pad": "' + b"x" * MAX_LINE_BYTES + b'"}',
        noise() + b"\r",
    ]


def settled_then_classified(classifier: LineClassifier, lines: list[bytes]):
    """Counters and dead letters of the settled noise plus each candidate classified alone."""
    settled = settle_lines(classifier, lines, SOURCE)
    counts = collections.Counter(settled.counts)
    dead = list(settled.dead_letters)
    accepted = []
    for candidate in settled.candidates:
        result = classifier.classify_lines([candidate], None, SOURCE)
        counts.update(result.counts)
        dead += result.dead_letters
        accepted += result.accepted
    return settled, counts, dead, accepted


def test_settled_noise_and_classified_candidates_count_what_classifying_every_line_counts():
    classifier = LineClassifier(None)
    lines = mixed_lines()
    settled, counts, dead, accepted = settled_then_classified(classifier, lines)
    whole = classifier.classify_lines(lines, None, SOURCE)
    assert counts == whole.counts
    assert sorted(map(repr, dead)) == sorted(map(repr, whole.dead_letters))
    assert [item.event for item in accepted] == [item.event for item in whole.accepted]
    # Only lines naming a routed event crossed: the two accepted, the quiz copy, the account
    # import and the invalid started event; the rest (invalid JSON included) were settled here.
    assert len(settled.candidates) == 5
    assert settled.counts["dead_letter_by_code.invalid_json"] >= 2


def test_a_routed_name_spelled_with_escapes_sends_the_whole_block_on():
    escaped = retry(A, B, "2024-07-30T10:01:00Z").replace(
        b"outcomes.retry", b"outcomes\\u002eretry"
    )
    lines = [noise(), escaped, noise()]
    assert candidate_indexes(lines) == []
    settled = settle_lines(LineClassifier(None), lines, SOURCE)
    assert settled == SettledLines({}, [], lines)


def test_candidate_indexes_find_every_routed_name_once_per_line():
    lines = [
        noise(),
        retry(A, B, "2024-07-30T10:01:00Z"),
        b"content_migration_started content_migration_completed",
        noise(),
        b"quizzes_next_quiz_duplicated",
    ]
    assert candidate_indexes(lines) == [1, 2, 4]
    assert candidate_indexes([noise()] * 3) == []


def test_byte_slices_bound_bytes_and_lines_and_keep_order():
    lines = [b"a" * 3, b"b" * 5, b"c" * 20, b"d", b"e"]
    assert list(byte_slices(lines, 8, 10)) == [lines[0:2], lines[2:3], lines[3:5]]
    assert list(byte_slices(lines, 100, 2)) == [lines[0:2], lines[2:4], lines[4:5]]
    assert list(byte_slices([], 8, 3)) == []


def test_merge_settled_adds_counters_and_keeps_order():
    one = SettledLines({"lines_read": 2, "x": 1}, ["d1"], [b"c1"])
    two = SettledLines({"lines_read": 3}, ["d2"], [b"c2", b"c3"])
    assert merge_settled([one, two]) == SettledLines(
        {"lines_read": 5, "x": 1}, ["d1", "d2"], [b"c1", b"c2", b"c3"]
    )


def _elements(folder: Path):
    source = FolderWatcher(
        str(folder / "*.jsonl"),
        0,
        60,
        poll_seconds=0,
        sleep=lambda _: None,
        settle_seconds=0,
        processes=0,
    )
    for item in source.read_multiple(None):
        if item.HasField("element_event"):
            yield from item.element_event.elements


def test_the_watcher_settles_noise_and_stamps_elements_by_every_line(tmp_path):
    lines = [
        noise(),
        line("asset_accessed", {}, "2024-07-30T08:00:00Z"),
        b"{broken",
        b"",
        retry(A, B, "2024-07-30T10:01:00Z"),
        line("asset_accessed", {}, "2024-07-30T12:00:00Z"),
    ]
    (tmp_path / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    os.utime(tmp_path / "a.jsonl", (0, 0))
    elements = list(_elements(tmp_path))
    assert len(elements) == 1
    value = WATCH_CODER.decode(elements[0].encoded_element)
    assert value.candidates == [lines[4]]
    assert value.counts["lines_read"] == 5 and value.counts["blank_lines"] == 1
    assert [(row.error_code, row.source_file, row.raw) for row in value.dead_letters] == [
        ("invalid_json", str(tmp_path / "*.jsonl"), b"{broken")
    ]
    # The noise's event times count: the earliest line is a skipped one.
    assert elements[0].timestamp == parse_event_time("2024-07-30T08:00:00Z")


def test_the_watchers_elements_stay_well_under_grpc_message_limits(tmp_path):
    # Lines that compress poorly (the watcher sends them compressed): random links.
    randomness = random.Random(5)
    many = [
        retry(
            A,
            B,
            f"2024-07-30T10:{n % 60:02d}:00Z",
            assignment_link=randomness.randbytes(1000).hex(),
        )
        for n in range(6000)
    ]
    (tmp_path / "a.jsonl").write_bytes(b"\n".join(many) + b"\n")
    os.utime(tmp_path / "a.jsonl", (0, 0))
    elements = list(_elements(tmp_path))
    assert len(elements) > 3
    assert (
        max(len(element.encoded_element) for element in elements) < 3 << 20
    )  # gRPC refuses over 4 MB
    assert [
        raw
        for element in elements
        for raw in WATCH_CODER.decode(element.encoded_element).candidates
    ] == many


def _decoded(folder: Path, **options):
    source = FolderWatcher(
        str(folder / "*.jsonl"),
        0,
        60,
        poll_seconds=0,
        sleep=lambda _: None,
        settle_seconds=0,
        **options,
    )
    values = []
    for item in source.read_multiple(None):
        if item.HasField("element_event"):
            values += [
                (WATCH_CODER.decode(element.encoded_element), element.timestamp)
                for element in item.element_event.elements
            ]
    return values


def test_worker_processes_settle_a_large_file_in_ranges_as_this_process_would(
    tmp_path, monkeypatch
):
    lines = []
    for n in range(400):
        minute = f"2024-07-30T10:{n % 60:02d}:00Z"
        lines += [
            noise(n=n),
            retry(A, B, minute) if n % 7 == 0 else b"{broken" if n % 11 == 0 else b"",
            line("asset_accessed", {}, minute),
        ]
    (tmp_path / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    os.utime(tmp_path / "a.jsonl", (0, 0))
    here = _decoded(tmp_path, processes=0)
    monkeypatch.setattr("transforms.watch._RANGE_BYTES", 16 << 10)
    in_workers = _decoded(tmp_path, processes=2)
    assert len(here) == 1 and len(in_workers) > 4  # one range per element here

    def merged(values):
        return merge_settled([value for value, _ in values])

    assert (
        merged(in_workers).candidates
        == merged(here).candidates
        == [item for item in lines if b"retry" in item]
    )
    assert merged(in_workers).counts == merged(here).counts
    assert merged(in_workers).counts["lines_read"] + len(merged(here).candidates) == len(lines)
    assert [row.raw for row in merged(in_workers).dead_letters] == [
        row.raw for row in merged(here).dead_letters
    ]
    # A stamp never exceeds the earliest event time of the candidates its element carries.
    for value, stamp in in_workers:
        assert all(
            stamp <= parse_event_time(json.loads(item)["metadata"]["event_time"])
            for item in value.candidates
        )
    assert (
        here[0][1]
        == min(stamp for _, stamp in in_workers)
        == parse_event_time("2024-07-30T10:00:00Z")
    )
