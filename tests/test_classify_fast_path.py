"""LineClassifier's fast path (simdjson) agrees with the slow path, line by line.

On random lines and hostile ones.
"""

from __future__ import annotations

import collections
import json
import random
from typing import Any

import pytest

import transforms.events as events
from tests.event_cases import (
    BASE,
    COMPLETED,
    LEGACY,
    RETRY,
    STARTED,
    event_line,
    make,
    noise_of_size,
    offsets_of,
)
from transforms.events import (
    DEAD_LETTER_CODES,
    MAX_LINE_BYTES,
    Accepted,
    DeadLetter,
    DeadLetterRow,
    LineClassifier,
    Skipped,
    classify_event,
)

# --- fast path agrees with slow path --------------------------------------------------------------

NOISE_NAMES = [
    "asset_accessed",
    "logged_in",
    "logged_out",
    "submission_created",
    "submission_updated",
    "grade_change",
    "course_created",
    "course_updated",
    "assignment_created",
    "assignment_updated",
    "enrollment_created",
    "enrollment_updated",
    "wiki_page_updated",
    "discussion_entry_created",
    "quiz_submitted",
    "user_created",
    "attachment_created",
    "conversation_created",
    "module_updated",
    "account_notification_created",
]
STRANGE_STRINGS = [
    "plain",
    "caf\u00e9",
    "\u2603 snow",
    "\U0001f600 emoji",
    "tab\tnewline\n",
    'quote"back\\slash',
    "\u0000nul",
    "\u2028sep",
    "",
    "x" * 300,
    "</script>",
    "\u00ff\u0100",
]


def random_scalar(rng: random.Random) -> Any:
    if rng.random() < 0.01:
        return rng.randint(2**64, 2**90) * rng.choice(
            [1, -1]
        )  # big integers (rare: they take the slow path)
    return rng.choice(
        [
            lambda: rng.randint(-1000, 1000),
            lambda: rng.randint(-(2**63), 2**64 - 1),
            lambda: rng.random() * 10 ** rng.randint(-8, 8),
            lambda: rng.choice([0.00001, 1e-05, -0.0, 1e300, 2.5, 100.0]),
            lambda: rng.choice(STRANGE_STRINGS),
            lambda: rng.choice([True, False, None]),
        ]
    )()


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 4 and roll < 0.15:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if depth < 4 and roll < 0.3:
        return {
            f"k{rng.randint(0, 50)}{rng.choice(STRANGE_STRINGS)[:3]}": random_value(rng, depth + 1)
            for _ in range(rng.randint(0, 4))
        }
    return random_scalar(rng)


def random_event(rng: random.Random) -> dict:
    kind = rng.choice(["noise"] * 4 + ["retry", "legacy", "completed", "started", "assignment"])
    meta, body = (dict(part) for part in BASE[kind])
    if kind == "noise":
        meta["event_name"] = rng.choice(NOISE_NAMES)
        body = {f"f{i}": random_value(rng) for i in range(rng.randint(0, 8))}
    for _ in range(rng.randint(0, 3)):
        meta[rng.choice(["client_ip", "session_id", "user_agent", "x", "hostname"])] = random_value(
            rng
        )
    mutation = rng.random()
    target = rng.choice([meta, body])
    if mutation < 0.1:
        target[rng.choice(list(target) or ["k"])] = rng.choice(
            [None, "", 5, 2**70, 1.5, True, [], {}]
        )
    elif mutation < 0.15:
        target.pop(rng.choice(list(target) or ["k"]), None)
    elif mutation < 0.2:
        meta["event_time"] = rng.choice(
            [
                "2024-07-30T19:04:35",
                "2024-07-30 12:04:35 -0700",
                17,
                None,
                "2024-02-30T00:00:00Z",
                "2024-07-30T19:04:35.123456789+05:30",
            ]
        )
    elif mutation < 0.25:
        body["context_type"] = rng.choice(["Course", "Account", None, "Group", 3])
    elif mutation < 0.3:
        body["status"] = rng.choice(["outcome_alignment_cloning", "active", None, 7])
    elif mutation < 0.35:
        body["workflow_state"] = rng.choice(["deleted", "", None, 5, 2**70, ["x"]])
    event: Any = {"metadata": meta, "body": body}
    if rng.random() < 0.05:
        event.pop(rng.choice(["metadata", "body"]))
    if rng.random() < 0.03:
        event = rng.choice([[event], "event", 12, None])
    elif rng.random() < 0.03:
        meta["event_name"] = rng.choice([None, "", 5, ["x"], {"a": 1}, 1.5, False])
    elif rng.random() < 0.03:
        event["metadata"] = rng.choice([None, [], "m", 1])
    return event


def serialize(rng: random.Random, event: Any) -> bytes:
    text = json.dumps(
        event,
        ensure_ascii=rng.random() < 0.3,
        sort_keys=rng.random() < 0.3,
        separators=rng.choice([(",", ":"), (", ", ": "), (" ,\t", " :  ")]),
    )
    if rng.random() < 0.1:
        text = rng.choice([" ", "\t", "  \t"]) + text + rng.choice(["", " ", "\t "])
    return text.encode("utf-8")


def corrupt(rng: random.Random, line: bytes) -> bytes:
    """One kind of damage, chosen at random."""
    position = rng.randint(0, len(line))
    meta_at = line.find(b'"metadata"')
    brace = line.find(b"{", meta_at + 1) + 1 if meta_at >= 0 else 1
    inject = lambda text: line[:brace] + text + b"," + line[brace:]  # noqa: E731 (a field in metadata)
    damage = rng.choice(
        [
            lambda: line[:position],  # truncated
            lambda: line[:position] + b"\xff" + line[position:],  # invalid UTF-8 byte
            lambda: line[:position] + b"\xc3" + line[position:],  # truncated multi-byte sequence
            lambda: line[:position] + b"\xed\xb0\x80" + line[position:],  # encoded surrogate
            lambda: inject(b'"v":NaN'),
            lambda: inject(b'"v":[Infinity]'),
            lambda: inject(b'"v":-Infinity'),
            lambda: inject(b'"v":"\\ud800"'),
            lambda: inject(b'"v":"a\\udfffb"'),
            lambda: inject(b'"\\udbff":1'),
            lambda: inject(b'"v":"\\ud83d\\ude00"'),  # valid pair, not damage
            lambda: inject(b'"v":"\\\\ud800"'),  # escaped backslash, not damage
            lambda: inject(b'"v":123456789012345678901234567890123456789'),
            lambda: inject(b'"v":-99999999999999999999999'),
            lambda: inject(b'"v":1e400'),
            lambda: inject(b'"v":1.5e-400'),
            lambda: inject(b'"v":"\x01"'),
            lambda: inject(b'"v":01'),
            lambda: inject(b'"v":.5'),
            lambda: inject(b'"v":tru'),
            lambda: inject(b'"v":' + b"[" * 60 + b"]" * 60),
            lambda: inject(b'"v":' + b"[" * 60 + b"]" * 59),
            lambda: b"\xef\xbb\xbf" + line,
            lambda: line + b",",
            lambda: line + b" {}",
            lambda: line + b"\x00",
            lambda: b"\x0c" + line,
            lambda: line.replace(b'"event_name"', b'"event_name":1,"_"', 1),
            # repeated names: the first occurrence counts on every path
            lambda: line[:-1] + b',"metadata":{"event_name":"assignment_updated"}}',
            lambda: line.replace(b'"event_name"', b'"event_name":"logged_in","event_name"', 1),
            lambda: inject(b'"event_time":"2024-07-30T19:04:35+00:00"'),
            lambda: line.replace(b'"body":', b'"body":{"status":"x"},"body":', 1),
            lambda: line.replace(b":", b"=", 1),
        ]
    )
    return damage()


def escape_event_name(line: bytes) -> bytes:
    r"""Spell the event name with a \u escape: same JSON value, different bytes."""
    for name in (RETRY, COMPLETED, STARTED, LEGACY, *NOISE_NAMES):
        spelled = f'"{name}"'.encode()
        if spelled in line:
            return line.replace(
                spelled, ('"' + name[0] + "\\u%04x" % ord(name[1]) + name[2:] + '"').encode(), 1
            )
    return line


def varied_lines(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.04:
            lines.append(rng.choice([b"", b" ", b"\t", b" \t ", b"\r"]))
            continue
        line = serialize(rng, random_event(rng))
        if roll < 0.45:
            line = corrupt(rng, line)
        elif roll < 0.5:
            line = escape_event_name(line)
        lines.append(line)
    lines += [
        noise_of_size(MAX_LINE_BYTES),
        noise_of_size(MAX_LINE_BYTES + 1),
        make("noise"),
        make("retry"),
        make("legacy"),
        make("completed"),
        make("started"),
    ]
    return lines


def outcome_key(outcome) -> Any:
    return (
        outcome
        if not isinstance(outcome, DeadLetter)
        else ("dead", outcome.error_code, outcome.event_name)
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_path_agrees_with_slow_path(seed, monkeypatch):
    lines = varied_lines(seed, 300)
    key = b"k"
    # Expected, line by line, with the authoritative implementation.
    expected = [classify_event(line, key) for line in lines]
    kinds = collections.Counter(
        o.error_code if isinstance(o, DeadLetter) else type(o).__name__ for o in expected
    )
    # The sample must exercise every outcome, or the property says little.
    assert set(kinds) >= {"NoneType", "Skipped", "Accepted", *DEAD_LETTER_CODES}, kinds

    # Some lines end with the \r of CRLF, which classify_lines must ignore.
    rng = random.Random(seed)
    fed = [line + b"\r" if rng.random() < 0.2 else line for line in lines]
    offsets = offsets_of(fed, 0)

    slow_calls = []
    real = events.classify_event
    monkeypatch.setattr(
        events, "classify_event", lambda *a, **k: slow_calls.append(1) or real(*a, **k)
    )
    result = LineClassifier(key).classify_lines(fed, 0, "f")
    monkeypatch.undo()

    # The fast path really settled lines on its own (otherwise the comparison is trivial).
    assert len(slow_calls) < len(lines) - kinds["Skipped"] // 2

    expected_dead = [
        DeadLetterRow(*o, "f", offsets[i], lines[i])
        for i, o in enumerate(expected)
        if isinstance(o, DeadLetter)
    ]
    expected_accepted = [o for o in expected if isinstance(o, Accepted)]
    expected_skipped = collections.Counter(o.event_name for o in expected if isinstance(o, Skipped))
    got_skipped = collections.Counter(
        {
            k.removeprefix("skipped_by_event_name."): v
            for k, v in result.counts.items()
            if k.startswith("skipped_by_event_name.")
        }
    )

    if result.dead_letters != expected_dead or result.accepted != expected_accepted:
        got = {row.source_offset: row for row in result.dead_letters}
        differing = [
            (i, lines[i][:120], outcome_key(expected[i]), got.get(offsets[i]))
            for i in range(len(lines))
            if (isinstance(expected[i], DeadLetter)) != (offsets[i] in got)
            or (offsets[i] in got and got[offsets[i]][:3] != tuple(expected[i]))
        ]
        pytest.fail(f"fast path disagrees with slow path on lines: {differing[:10]}")
    assert got_skipped == expected_skipped
    assert result.counts["blank_lines"] == sum(o is None for o in expected)
    assert result.counts["lines_read"] == len(lines)
    for code in DEAD_LETTER_CODES:
        assert result.counts[f"dead_letter_by_code.{code}"] == kinds[code]


@pytest.mark.parametrize("depth", [100, 1000, 5000])
def test_fast_and_slow_paths_agree_on_deeply_nested_noise(depth):
    line = (
        b'{"metadata":{"event_name":"asset_accessed"},"body":' + b"[" * depth + b"]" * depth + b"}"
    )
    slow = outcome_key(classify_event(line))
    result = LineClassifier().classify_lines([line], 0)
    if result.dead_letters:
        fast = ("dead", result.dead_letters[0].error_code, result.dead_letters[0].event_name)
    else:
        fast = (
            Skipped("asset_accessed")
            if result.counts["skipped_by_event_name.asset_accessed"]
            else None
        )
    assert fast == slow


@pytest.mark.parametrize(
    "unsettled_line",
    [
        b'{"metadata": {"event_name": []}}',
        b'{"metadata": {"event_name": {"a": 1}}}',
        b'{"metadata": {}}',
        b'[{"metadata": 1}]',
    ],
)
def test_an_unsettled_line_does_not_push_later_lines_off_the_fast_path(unsettled_line, monkeypatch):
    # simdjson refuses to parse while a proxy of the previous document is alive;
    # a leaked proxy would send every later line down the strict path.
    noise = [
        event_line({"event_name": "asset_accessed", "event_time": "2024-07-30T19:04:35Z"}, {"x": 1})
    ] * 50
    slow_calls = []
    real = events.classify_event
    monkeypatch.setattr(
        events, "classify_event", lambda *a, **k: slow_calls.append(a[0]) or real(*a, **k)
    )
    result = LineClassifier().classify_lines([unsettled_line, *noise], 0)
    assert slow_calls == [unsettled_line]
    assert result.counts["skipped_by_event_name.asset_accessed"] == 50


@pytest.mark.parametrize(
    "body, slow",
    [
        ({"status": "completed"}, False),
        ({"status": None}, False),
        (
            {"status": "outcome_alignment_cloning"},
            True,
        ),  # a retry: only the strict path may accept it
        ("not an object", True),
    ],
)
def test_quiz_copies_that_are_not_retries_stay_on_the_fast_path(body, slow, monkeypatch):
    line = event_line(
        {"event_name": "quizzes_next_quiz_duplicated", "event_time": "2024-07-30T19:04:35Z"}, body
    )
    slow_calls = []
    real = events.classify_event
    real_parsed = events.classify_parsed_line
    monkeypatch.setattr(
        events, "classify_event", lambda *a, **k: slow_calls.append(a[0]) or real(*a, **k)
    )
    # The strict path's checks on a line simdjson parsed (orjson's parse where it may).
    monkeypatch.setattr(
        events,
        "classify_parsed_line",
        lambda *a, **k: slow_calls.append(a[0]) or real_parsed(*a, **k),
    )
    result = LineClassifier().classify_lines([line], 0)
    assert bool(slow_calls) == slow
    expected = real(line)
    if isinstance(expected, Skipped):
        assert result.counts["skipped_by_event_name.quizzes_next_quiz_duplicated"] == 1
    else:
        assert not result.counts["skipped_by_event_name.quizzes_next_quiz_duplicated"]
