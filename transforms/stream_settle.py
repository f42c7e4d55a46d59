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
import itertools
from typing import NamedTuple

from transforms.events import ROUTED_EVENT_NAMES, LineClassifier
from transforms.tables import DeadLetterRow

# A routed line holds its event name's bytes; one spelled with JSON escapes is caught by
# the noise classification itself (it accepts an event), which sends the whole block on.
_ROUTED_MARKERS = tuple(sorted(name.encode("ascii") for name in ROUTED_EVENT_NAMES))


class SettledLines(NamedTuple):
    """A block of lines, split: what the noise among them counts, its dead letters, and the candidate lines."""

    counts: dict[str, int]
    dead_letters: list[DeadLetterRow]
    candidates: list[bytes]


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
    if not hits:
        return []
    ends = list(itertools.accumulate(len(line) + 1 for line in lines))  # one past each line's '\n'
    return sorted({bisect.bisect_right(ends, hit) for hit in hits})


def settle_lines(classifier: LineClassifier, lines: list[bytes], source: str | None) -> SettledLines:
    """Classify the lines that cannot be routed events; pass the others on as candidates.

    The counters cover every settled line (``lines_read`` included); the
    candidates are counted where their fate is decided. When the noise holds
    an accepted event after all (a name spelled with escapes), every line is
    a candidate and nothing is settled here.
    """
    indexes = candidate_indexes(lines)
    if indexes:
        chosen = set(indexes)
        candidates = [lines[index] for index in indexes]
        others = [line for index, line in enumerate(lines) if index not in chosen]
    else:
        candidates, others = [], lines
    if not others:
        return SettledLines({}, [], candidates)
    result = classifier.classify_lines(others, None, source)
    if result.accepted:
        return SettledLines({}, [], list(lines))
    return SettledLines(dict(result.counts), result.dead_letters, candidates)


def byte_slices(lines: list[bytes], max_bytes: int, max_lines: int):
    """``lines`` in consecutive slices of at most ``max_bytes`` and ``max_lines`` (a longer line is on its own)."""
    ends = list(itertools.accumulate(map(len, lines)))
    start, offset = 0, 0
    while start < len(lines):
        end = max(bisect.bisect_right(ends, offset + max_bytes, lo=start, hi=min(len(lines), start + max_lines)),
                  start + 1)
        yield lines[start:end]
        offset = ends[end - 1]
        start = end


def settled_bytes(settled: SettledLines) -> int:
    """Bytes of raw lines a settled block carries (candidates and dead letters)."""
    return sum(map(len, settled.candidates)) + sum(len(row.raw or b"") for row in settled.dead_letters)


def merge_settled(parts: list[SettledLines]) -> SettledLines:
    """Several settled blocks as one (counters added, dead letters and candidates in order)."""
    if len(parts) == 1:
        return parts[0]
    counts: dict[str, int] = {}
    for part in parts:
        for name, count in part.counts.items():
            counts[name] = counts.get(name, 0) + count
    return SettledLines(counts, [row for part in parts for row in part.dead_letters],
                        [line for part in parts for line in part.candidates])
