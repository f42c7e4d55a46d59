"""Classify every line of one file range: the work a classifier process does.

This module does not import Beam at load time: the classifier's worker
processes import it, and should start in a fraction of a second.
"""
from __future__ import annotations

import collections
from typing import NamedTuple

from transforms.events import LineClassifier
from transforms.file_ranges import DEFAULT_BLOCK_BYTES, FileRange, UnreadableInputError, iter_line_blocks, open_range


class RangeResult(NamedTuple):
    """What classifying one file range produced: counts, accepted events, dead letters."""

    counts: collections.Counter
    accepted: list
    dead_letters: list


_CLASSIFIERS: dict[bytes | None, LineClassifier] = {}


def classify_file_range(file_range: FileRange, hmac_key: bytes | None,
                        block_bytes: int = DEFAULT_BLOCK_BYTES) -> RangeResult:
    """Read and classify every line of one range (in this process or a pool worker)."""
    classifier = _CLASSIFIERS.get(hmac_key)
    if classifier is None:
        classifier = _CLASSIFIERS[hmac_key] = LineClassifier(hmac_key)
    result = RangeResult(collections.Counter(), [], [])
    try:
        with open_range(file_range) as handle:
            for block in iter_line_blocks(handle, file_range.start, file_range.end, block_bytes):
                classified = classifier.classify_lines(block.lines, block.first_offset, file_range.path)
                result.counts.update(classified.counts)
                result.accepted.extend(classified.accepted)
                result.dead_letters.extend(classified.dead_letters)
    except UnreadableInputError:
        raise
    except OSError as error:  # a file that vanished or a failing disk: the run cannot account for its lines
        raise UnreadableInputError(f"{file_range.path}: cannot be read ({error.strerror or error})") from error
    return result
