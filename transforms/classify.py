"""ReadCanvasEvents: event files -> accepted events, dead letters and line counts."""
from __future__ import annotations

import collections

import apache_beam as beam

from transforms.counters import count_pairs
from transforms.events import ROLE_RETRY, LineClassifier
from transforms.read import DEFAULT_BLOCK_BYTES, DEFAULT_RANGE_BYTES, FileRange, ListFileRanges, iter_line_blocks, open_range

RETRIES = "retries"
MIGRATIONS = "migrations"
DEAD_LETTERS = "dead_letters"
COUNTS = "counts"


class ClassifyFileRange(beam.DoFn):
    """Classifies every line of one file range.

    Main output: nothing. Tagged outputs: ``retries`` and ``migrations`` (accepted,
    not yet deduplicated events), ``dead_letters`` (one list of dead-letter rows
    per range, so that a range's dead letters are written together) and
    ``counts`` ((counter name, count) pairs).
    """

    def __init__(self, hmac_key: bytes | None, block_bytes: int = DEFAULT_BLOCK_BYTES):
        self._hmac_key = hmac_key
        self._block_bytes = block_bytes
        self._classifier = None

    def setup(self):
        self._classifier = LineClassifier(self._hmac_key)

    def process(self, file_range: FileRange):
        counts = collections.Counter()
        dead_letters = []
        with open_range(file_range) as handle:
            for block in iter_line_blocks(handle, file_range.start, file_range.end, self._block_bytes):
                result = self._classifier.classify_lines(block.lines, block.first_offset, file_range.path)
                counts.update(result.counts)
                dead_letters.extend(result.dead_letters)
                for accepted in result.accepted:
                    tag = RETRIES if accepted.role == ROLE_RETRY else MIGRATIONS
                    yield beam.pvalue.TaggedOutput(tag, accepted.event)
        if dead_letters:
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, dead_letters)
        for pair in count_pairs(counts):
            yield beam.pvalue.TaggedOutput(COUNTS, pair)


class ReadCanvasEvents(beam.PTransform):
    """File patterns -> DoOutputsTuple with ``retries``, ``migrations``, ``dead_letters``, ``counts``."""

    def __init__(self, patterns: list[str], hmac_key: bytes | None = None,
                 range_bytes: int = DEFAULT_RANGE_BYTES, block_bytes: int = DEFAULT_BLOCK_BYTES):
        super().__init__()
        self._patterns = patterns
        self._hmac_key = hmac_key
        self._range_bytes = range_bytes
        self._block_bytes = block_bytes

    def expand(self, pbegin):
        return (
            pbegin
            | "ListFileRanges" >> ListFileRanges(self._patterns, self._range_bytes)
            | "ClassifyFileRange" >> beam.ParDo(ClassifyFileRange(self._hmac_key, self._block_bytes)).with_outputs(
                RETRIES, MIGRATIONS, DEAD_LETTERS, COUNTS)
        )
