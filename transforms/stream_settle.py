"""Settle a stream's noise where its lines are read: counted and validated, never sent on.

Almost every line of a Canvas feed is an event the job skips. Sending each of
them through the runner (the ``--watch`` source's gRPC channel, a coder, the
classifying step) costs far more than deciding its fate, so :func:`settle_lines`
splits a block of lines into what is settled already (counters and dead
letters, by the same :class:`transforms.events.LineClassifier` the pipeline
uses, so a noise line that is not valid JSON is still ``invalid_json``) and the
few candidate lines that may be routed events, which the stream classifies
strictly and keys by shard.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import zlib
from typing import Any, NamedTuple

import simdjson

from transforms.events import (
    ASSIGNMENT_EVENT_NAMES,
    MAX_LINE_BYTES,
    ROUTED_EVENT_NAMES,
    LineClassifier,
)
from transforms.file_ranges import FileRange, iter_line_blocks, open_range
from transforms.tables import AssignmentStateRow, DeadLetterRow
from transforms.timestamps import TimestampError, parse_event_time

# A line the stream routes holds its event name's bytes; one spelled with JSON escapes is caught
# by the noise classification itself (it accepts an event), which sends the whole block on.
# Assignment events are routed too: the stream decides retry outcomes from them.
_ROUTED_MARKERS = tuple(sorted(name.encode("ascii") for name in ROUTED_EVENT_NAMES))
_ASSIGNMENT_MARKERS = tuple(sorted(name.encode("ascii") for name in ASSIGNMENT_EVENT_NAMES))


class SettledLines(NamedTuple):
    """A block of lines, split: its noise's counts and dead letters, and the candidate lines.

    ``states``: accepted assignment events with their raw lines, classified where
    the lines were read (a few percent of a feed: their classification stays off
    the runner's process); they are counted where their fate is decided, like
    the candidates.
    """

    counts: dict[str, int]
    dead_letters: list[DeadLetterRow]
    candidates: list[bytes]
    states: list[tuple[AssignmentStateRow, bytes]] = []  # noqa: RUF012 - never mutated


def candidate_indexes(lines: list[bytes]) -> list[int]:
    """Indexes (ascending) of the lines that hold a routed event name's bytes.

    One byte search per name over the joined block, so the cost per line is
    the search's, not a Python call's.
    """
    joined = b"\n".join(lines)
    hits: list[int] = []
    for marker in _ROUTED_MARKERS:
        found = joined.find(marker)
        while found >= 0:
            hits.append(found)
            found = joined.find(marker, found + len(marker))
    indexes: list[int] = []
    index = position = 0
    for hit in sorted(hits):  # a line's index is the number of line breaks before it
        index += joined.count(b"\n", position, hit)
        position = hit
        if not indexes or indexes[-1] != index:
            indexes.append(index)
    return indexes


def _name_and_time(parse, line: bytes) -> tuple:
    # A function of its own: a parsed object must not outlive the call, or the parser cannot be
    # reused.
    try:
        metadata = parse(line)["metadata"]
        name, text = metadata["event_name"], metadata.get("event_time")
        return (name if name.__class__ is str else None), (text if text.__class__ is str else None)
    except Exception:  # noqa: BLE001 - anything simdjson cannot settle goes to the classifier
        return None, None


def _skipped_at_once(parser: simdjson.Parser, lines: list[bytes], times: list[str] | None):
    """The lines that are plainly noise, counted by event name; the indexes of the others.

    The same test as :meth:`LineClassifier.classify_lines` settles a line with
    at once (a non-empty, non-routed event name that simdjson reads, no byte
    order mark, not oversize); every other line is left to the classifier. One
    parse per line yields the event time too (``times``, when given).
    """
    parse, routed = parser.parse, ROUTED_EVENT_NAMES
    skipped: dict[str, int] = collections.defaultdict(int)
    others = []
    found: list = []
    for index, line in enumerate(lines):
        name, text = _name_and_time(parse, line)
        if name and name not in routed and line[0] != 0xEF and len(line) <= MAX_LINE_BYTES:
            skipped[name] += 1
            found.append(text)
        else:
            others.append(index)
    if times is not None:
        times += filter(None, found)
    return skipped, others


def settle_lines(
    classifier: LineClassifier,
    lines: list[bytes],
    source: str | None,
    parser: simdjson.Parser | None = None,
    times: list[str] | None = None,
) -> SettledLines:
    """Classify the lines that cannot be routed events; pass the others on as candidates.

    The counters cover every settled line (``lines_read`` included); the
    candidates are counted where their fate is decided. When the noise holds
    an accepted event after all (a name spelled with escapes), every line is
    a candidate and nothing is settled here. With ``times``, the
    ``metadata.event_time`` text of every line that has one is appended to it.
    """
    indexes = candidate_indexes(lines)
    if indexes:
        chosen = set(indexes)
        candidates = [lines[index] for index in indexes]
        others = [line for index, line in enumerate(lines) if index not in chosen]
    else:
        candidates, others = [], lines
    parser = parser or simdjson.Parser()
    skipped, unsettled = _skipped_at_once(parser, others, times)
    result = classifier.classify_lines([others[index] for index in unsettled], None, source)
    if times is not None:
        for line in itertools.chain(candidates, (others[index] for index in unsettled)):
            text = event_time_text(parser, line)
            if text is not None:
                times.append(text)
    if result.accepted:
        return SettledLines({}, [], list(lines))
    counts = collections.Counter(result.counts)
    counts["lines_read"] += len(others) - len(unsettled)
    for name, count in skipped.items():
        counts["skipped_by_event_name." + name] += count
    states, candidates = accepted_assignment_events(classifier, candidates, source)
    return SettledLines(dict(+counts), result.dead_letters, candidates, states)


def accepted_assignment_events(
    classifier: LineClassifier, candidates: list[bytes], source: str | None
) -> tuple[list[tuple[AssignmentStateRow, bytes]], list[bytes]]:
    """(accepted assignment events with their raw lines, the other candidates).

    A candidate that names an assignment event is classified here, by the
    same classifier; unless it is an accepted assignment event it stays a
    candidate, for the stream to classify (and count) as any other. The
    assignment lines are classified together (one call, not one per line)
    when each of them is accepted, the common case; else one by one.
    """
    named = [any(marker in line for marker in _ASSIGNMENT_MARKERS) for line in candidates]
    lines = [line for line, names in zip(candidates, named, strict=True) if names]
    if not lines:
        return [], candidates
    events = [item.event for item in classifier.classify_lines(lines, None, source).accepted]
    rows = [event for event in events if isinstance(event, AssignmentStateRow)]
    if len(rows) == len(lines):
        paired = [(row, line.rstrip(b"\r")) for row, line in zip(rows, lines, strict=True)]
        return paired, [line for line, names in zip(candidates, named, strict=True) if not names]
    states: list[tuple[AssignmentStateRow, bytes]] = []
    others: list[bytes] = []
    for line, names in zip(candidates, named, strict=True):
        if names:
            one = classifier.classify_lines([line], None, source).accepted
            if len(one) == 1 and isinstance(one[0].event, AssignmentStateRow):
                states.append((one[0].event, line.rstrip(b"\r")))
                continue
        others.append(line)
    return states, others


def event_time_text(parser: simdjson.Parser, line: bytes) -> str | None:
    """The ``metadata.event_time`` text of a line, or None (not JSON, no such string)."""
    # A function of its own, as above.
    try:
        document: Any = parser.parse(line)  # indexed blindly: a misfit raises, caught below
        value = document["metadata"]["event_time"]
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError):
        return None
    return value if isinstance(value, str) else None


def byte_slices(lines: list[bytes], max_bytes: int, max_lines: int):
    """``lines`` in slices of at most ``max_bytes`` and ``max_lines`` (a longer line on its own)."""
    ends = list(itertools.accumulate(map(len, lines)))
    start, offset = 0, 0
    while start < len(lines):
        end = max(
            bisect.bisect_right(
                ends, offset + max_bytes, lo=start, hi=min(len(lines), start + max_lines)
            ),
            start + 1,
        )
        yield lines[start:end]
        offset = ends[end - 1]
        start = end


def settled_bytes(settled: SettledLines) -> int:
    """Bytes of raw lines a settled block carries (candidates, assignment events, dead letters)."""
    return (
        sum(map(len, settled.candidates))
        + sum(len(raw) for _, raw in settled.states)
        + sum(len(row.raw or b"") for row in settled.dead_letters)
    )


class PackedLines(NamedTuple):
    """Settled blocks as the watcher sends them: the raw lines compressed, one blob per block.

    Blob ``i`` holds ``layout[i] = (candidates, states)`` lines joined by line
    breaks (a line never holds one): that block's candidate lines, then the raw
    lines of its accepted assignment events, whose rows are ``state_rows`` in
    order. The raw line of an assignment event is needed only when it turns out
    late (its dead letter); compressed, an element carries twice the lines
    within the same bytes, and the runner's cost is per element.
    :func:`unpack_lines` gives back the :class:`SettledLines`.
    """

    counts: dict[str, int]
    dead_letters: list[DeadLetterRow]
    layout: list[tuple[int, int]]
    blobs: list[bytes]
    state_rows: list[AssignmentStateRow]


def _row_bytes(row: tuple) -> int:
    """About what a row costs pickled: its texts and a fixed overhead."""
    return 64 + sum(len(value) for value in row if value.__class__ is str)


def pack_lines(settled: SettledLines) -> tuple[PackedLines, int]:
    """One settled block as a :class:`PackedLines`, and about the bytes it carries."""
    lines = settled.candidates + [raw for _, raw in settled.states]
    blob = zlib.compress(b"\n".join(lines), 1) if lines else b""
    rows = [row for row, _ in settled.states]
    packed = PackedLines(
        settled.counts,
        settled.dead_letters,
        [(len(settled.candidates), len(settled.states))],
        [blob],
        rows,
    )
    size = (
        len(blob)
        + sum(map(_row_bytes, rows))
        + sum(len(row.raw or b"") for row in settled.dead_letters)
    )
    return packed, size


def _summed_counts(parts: list[PackedLines] | list[SettledLines]) -> dict[str, int]:
    """The blocks' counters added name by name."""
    counts: dict[str, int] = {}
    for part in parts:
        for name, count in part.counts.items():
            counts[name] = counts.get(name, 0) + count
    return counts


def merge_packed(parts: list[PackedLines]) -> PackedLines:
    """Several packed blocks as one (counters added, everything else in order)."""
    if len(parts) == 1:
        return parts[0]
    return PackedLines(
        _summed_counts(parts),
        [row for part in parts for row in part.dead_letters],
        [shape for part in parts for shape in part.layout],
        [blob for part in parts for blob in part.blobs],
        [row for part in parts for row in part.state_rows],
    )


def unpack_lines(packed: PackedLines) -> SettledLines:
    """The :class:`SettledLines` a :class:`PackedLines` holds."""
    candidates: list[bytes] = []
    raws: list[bytes] = []
    for (candidate_count, state_count), blob in zip(packed.layout, packed.blobs, strict=True):
        if candidate_count + state_count == 0:
            continue
        lines = zlib.decompress(blob).split(b"\n")
        if len(lines) != candidate_count + state_count:
            raise ValueError("a packed block does not hold the lines its layout names")
        candidates += lines[:candidate_count]
        raws += lines[candidate_count:]
    return SettledLines(
        packed.counts,
        packed.dead_letters,
        candidates,
        list(zip(packed.state_rows, raws, strict=True)),
    )


def merge_settled(parts: list[SettledLines]) -> SettledLines:
    """Several settled blocks as one (counters added, dead letters and candidates in order)."""
    if len(parts) == 1:
        return parts[0]
    return SettledLines(
        _summed_counts(parts),
        [row for part in parts for row in part.dead_letters],
        [line for part in parts for line in part.candidates],
        [state for part in parts for state in part.states],
    )


_DIGITS_AS_ZERO = str.maketrans("0123456789", "0" * 10)


def _same_order_key(shape: str, text: str) -> str:
    """Texts with equal keys sort in time order: same layout of digits, and the same UTC offset."""
    if shape.endswith("Z"):
        return shape
    sign = max(shape.rfind("+"), shape.rfind("-"))
    return shape + text[sign:] if sign >= 19 else text  # no offset: on its own (it will not parse)


def span_of_texts(texts: list[str]) -> tuple[int, int] | None:
    """Earliest and latest of the event times (epoch microseconds) the texts parse to, or None.

    Texts of the same layout (digits in the same places) and the same UTC
    offset sort in time order, so only the first and last of each such group
    are parsed: one group, two parses, for a block of Canvas times.
    """
    shapes = "\n".join(texts).translate(_DIGITS_AS_ZERO).split("\n")
    groups: dict[str, list[str]] = {}
    if len(shapes) == len(texts):
        for shape, text in zip(shapes, texts, strict=True):
            # UTC texts of one layout sort in time order; others need their offset in the key too.
            key = shape if shape[-1:] == "Z" else _same_order_key(shape, text)
            group = groups.get(key)
            if group is None:
                groups[key] = [text]
            else:
                group.append(text)
    else:  # a text with a line break in it: no shortcut
        groups = {text: [text] for text in texts}
    times = []
    for group in groups.values():
        try:
            times += [parse_event_time(min(group)), parse_event_time(max(group))]
        except (
            TimestampError
        ):  # a layout the parser rejects, or a date that does not exist: one by one
            for text in set(group):
                try:
                    times.append(parse_event_time(text))
                except TimestampError:
                    continue
    return (min(times), max(times)) if times else None


def settled_elements(
    blocks,
    classifier: LineClassifier,
    parser: simdjson.Parser,
    source: str | None,
    max_lines: int,
    max_bytes: int,
):
    """Blocks of lines -> (packed lines, event-time span, lines covered), up to ``max_lines`` each.

    An element carries at most about ``max_bytes`` (candidates and assignment
    events compressed, their rows, dead letters). When reading fails, what was
    settled before is yielded first, then the error is raised.
    """
    pending: list[PackedLines] = []
    texts: list[str] = []  # the event times of the pending lines
    pending_lines = pending_bytes = 0
    try:
        for block in blocks:
            for lines in byte_slices(block.lines, max_bytes, max_lines - pending_lines):
                packed, size = pack_lines(settle_lines(classifier, lines, source, parser, texts))
                pending.append(packed)
                pending_lines += len(lines)
                pending_bytes += size
                if pending_lines >= max_lines or pending_bytes >= max_bytes:
                    yield merge_packed(pending), span_of_texts(texts), pending_lines
                    pending, texts, pending_lines, pending_bytes = [], [], 0, 0
    except Exception:
        if pending:
            yield merge_packed(pending), span_of_texts(texts), pending_lines
        raise
    if pending:
        yield merge_packed(pending), span_of_texts(texts), pending_lines


_WORKER_CLASSIFIER: list[LineClassifier] = []


def settle_file_range(
    file_range: FileRange, source: str | None, max_lines: int, max_bytes: int
) -> list:
    """:func:`settled_elements` of one byte range of an uncompressed file (in a worker process)."""
    if not _WORKER_CLASSIFIER:
        _WORKER_CLASSIFIER.append(LineClassifier(None))
    with open_range(file_range) as handle:
        blocks = iter_line_blocks(handle, file_range.start, file_range.end)
        return list(
            settled_elements(
                blocks, _WORKER_CLASSIFIER[0], simdjson.Parser(), source, max_lines, max_bytes
            )
        )
