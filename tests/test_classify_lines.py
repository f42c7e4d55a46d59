"""LineClassifier.classify_lines on a block of lines.

Its counts, offsets, raw bytes and dead-letter rows.
"""

from __future__ import annotations

import collections

from tests.event_cases import (
    COMPLETED,
    DROP,
    LEGACY,
    RETRY,
    STARTED,
    event_line,
    make,
    noise_of_size,
    offsets_of,
)
from transforms.events import MAX_LINE_BYTES, DeadLetterRow, LineClassifier, classify_event

# --- LineClassifier.classify_lines ----------------------------------------------------------------


def test_classify_lines_counts():
    lines = [
        make("noise"),
        make("noise", meta={"event_time": "bad"}, whole_body="x"),
        event_line({"event_name": "logged_in"}),
        b"",
        b"   ",
        b"\t",
        b"\r",
        b" \t\r",
        make("retry"),
        make("legacy"),
        make("completed") + b"\r",
        make("started"),
        make("started", body={"domain": "other"}),
        make("legacy", body={"status": "done"}),
        make("completed", body={"context_type": "Account"}),
        b'{"metadata":{"event_name":"x","n":"\xff"}}',
        b"{",
        b"[]",
        event_line({"event_name": ""}),
        make("retry", meta={"event_time": DROP}),
        make("completed", whole_body=DROP),
        make("completed", whole_body=DROP),
        noise_of_size(MAX_LINE_BYTES + 1),
    ]
    result = LineClassifier().classify_lines(lines, 0, "f.jsonl")
    assert result.counts == collections.Counter(
        {
            "lines_read": 23,
            "blank_lines": 5,
            "skipped_by_event_name.course_created": 2,
            "skipped_by_event_name.logged_in": 1,
            f"skipped_by_event_name.{LEGACY}": 1,
            f"skipped_by_event_name.{COMPLETED}": 1,
            "accepted_before_dedup.retry": 2,
            f"accepted_before_dedup.{COMPLETED}": 1,
            f"accepted_before_dedup.{STARTED}": 2,
            "dead_letter_by_code.invalid_encoding": 1,
            "dead_letter_by_code.invalid_json": 1,
            "dead_letter_by_code.invalid_envelope": 1,
            "dead_letter_by_code.missing_event_name": 1,
            "dead_letter_by_code.invalid_event_time": 1,
            "dead_letter_by_code.invalid_body": 2,
            "dead_letter_by_code.oversize": 1,
        }
    )
    assert [a.role for a in result.accepted] == ["retry", "retry", COMPLETED, STARTED, STARTED]
    assert [d.error_code for d in result.dead_letters] == [
        "invalid_encoding",
        "invalid_json",
        "invalid_envelope",
        "missing_event_name",
        "invalid_event_time",
        "invalid_body",
        "invalid_body",
        "oversize",
    ]
    # Everything is accounted for exactly once.
    counted = sum(v for k, v in result.counts.items() if k != "lines_read")
    assert counted == result.counts["lines_read"]


def test_classify_lines_counts_accumulate_per_event_name():
    lines = [make("noise")] * 5 + [event_line({"event_name": "a"})] * 3
    result = LineClassifier().classify_lines(lines, 0)
    assert result.counts["skipped_by_event_name.course_created"] == 5
    assert result.counts["skipped_by_event_name.a"] == 3
    assert result.counts["lines_read"] == 8


def test_classify_lines_keeps_duplicates_for_later_dedup():
    lines = [make("retry")] * 3 + [b"{"] * 2
    result = LineClassifier().classify_lines(lines, 0)
    assert result.counts["accepted_before_dedup.retry"] == 3
    assert len(result.accepted) == 3
    assert len({a.event.event_fingerprint for a in result.accepted}) == 1
    assert len(result.dead_letters) == 2


def test_classify_lines_dead_letter_rows_offsets_and_raw():
    lines = [
        make("noise") + b"\r",  # CRLF: the \r counts for offsets
        b"{\r",  # invalid_json, raw without \r
        b"",
        make("retry", whole_body=DROP) + b"\r",  # invalid_body of a routed event
        b"   \r",
        b'{"metadata":{"event_name":"x","n":"\xfe"}}',
        b"\xef\xbb\xbf" + make("noise"),  # BOM at the start of a mid-file line
    ]
    first = 1234
    offsets = offsets_of(lines, first)
    result = LineClassifier().classify_lines(lines, first, "gs://bucket/events.jsonl.gz")
    assert result.dead_letters == [
        DeadLetterRow(
            "invalid_json",
            result.dead_letters[0].error_detail,
            None,
            "gs://bucket/events.jsonl.gz",
            offsets[1],
            b"{",
        ),
        DeadLetterRow(
            "invalid_body",
            result.dead_letters[1].error_detail,
            RETRY,
            "gs://bucket/events.jsonl.gz",
            offsets[3],
            make("retry", whole_body=DROP),
        ),
        DeadLetterRow(
            "invalid_encoding",
            result.dead_letters[2].error_detail,
            None,
            "gs://bucket/events.jsonl.gz",
            offsets[5],
            lines[5],
        ),
        DeadLetterRow(
            "invalid_json",
            result.dead_letters[3].error_detail,
            None,
            "gs://bucket/events.jsonl.gz",
            offsets[6],
            lines[6],
        ),
    ]
    assert all(row.error_detail for row in result.dead_letters)
    assert result.counts["blank_lines"] == 2
    assert result.counts["skipped_by_event_name.course_created"] == 1


def test_classify_lines_raw_keeps_inner_carriage_returns_and_only_strips_one():
    line = b'{"metadata":{"event_name":"x"}\r\r'  # truncated JSON ending in two \r
    result = LineClassifier().classify_lines([line], 0)
    assert [row.raw for row in result.dead_letters] == [line[:-1]]


def test_classify_lines_offsets_unknown():
    result = LineClassifier().classify_lines([b"{", b"[1]"], None)
    assert [row.source_offset for row in result.dead_letters] == [None, None]
    assert [row.source_file for row in result.dead_letters] == [None, None]


def test_classify_lines_oversize_boundary_ignores_the_cr_of_crlf():
    exact = noise_of_size(MAX_LINE_BYTES)
    over = noise_of_size(MAX_LINE_BYTES + 1)
    result = LineClassifier().classify_lines([exact + b"\r", exact, over, over + b"\r"], 0)
    assert result.counts["skipped_by_event_name.asset_accessed"] == 2
    assert result.counts["dead_letter_by_code.oversize"] == 2
    assert [row.raw for row in result.dead_letters] == [over, over]
    assert [row.source_offset for row in result.dead_letters] == [
        2 * (MAX_LINE_BYTES + 1) + 1,
        2 * (MAX_LINE_BYTES + 1) + 1 + MAX_LINE_BYTES + 2,
    ]


def test_classify_lines_routed_events_equal_classify_event_with_key():
    key = b"line-key\n"
    lines = [
        make("retry"),
        make("legacy"),
        make("completed"),
        make("started", meta={"user_id": "9"}),
    ]
    result = LineClassifier(key).classify_lines(lines, 0)
    assert result.accepted == [classify_event(line, key) for line in lines]
    assert result.accepted[0].event.actor_user_hmac == (
        "ef8faa7ec278ee6f155ee5471ab88d5333db975b67d8d0b1d659526a7461dec9"
    )


def test_classify_lines_empty_block():
    result = LineClassifier().classify_lines([], 0)
    assert result.counts == collections.Counter({"lines_read": 0})
    assert result.accepted == [] and result.dead_letters == []


def test_classifier_is_reusable_across_blocks():
    classifier = LineClassifier()
    first = classifier.classify_lines(
        [event_line({"event_name": {"nested": True}}), make("noise")], 0
    )
    second = classifier.classify_lines(
        [make("noise"), event_line({"event_name": [1]}), make("noise")], 0
    )
    assert first.counts["dead_letter_by_code.missing_event_name"] == 1
    assert first.counts["skipped_by_event_name.course_created"] == 1
    assert second.counts["dead_letter_by_code.missing_event_name"] == 1
    assert second.counts["skipped_by_event_name.course_created"] == 2
