"""A local streaming source: new files in a folder, fed to the pipeline as they appear.

Beam 2.77 has no file-watching source that runs on a local streaming runner
(``fileio.MatchContinuously`` and ``PeriodicImpulse`` fail on the
BundleBasedDirectRunner), so :class:`FolderWatcher` feeds a ``TestStream``
through Beam's TestStreamService: a gRPC server in the launcher process that
the runner reads events from as they come.

Every poll it picks up files matching the pattern whose size has stopped
changing (drop files atomically: write elsewhere, then move them in), sends
their lines, and moves the watermark to the newest event time seen minus
``lag_seconds`` (event time is what windows and lateness are about; a line's
element timestamp is its own event time when it has one, else the newest
event time seen, which places dead letters in the stream's current window). After
``stop_after_seconds`` it stops looking, finishes every file that had appeared
by then, and closes the stream, so the pipeline writes everything and ends.
"""
from __future__ import annotations

import glob
import logging
import os
import time
from typing import NamedTuple

import simdjson
from apache_beam import coders
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.utils import timestamp

from transforms.read import FileRange, iter_line_blocks, open_range
from transforms.timestamps import TimestampError, parse_event_time

_LOG = logging.getLogger(__name__)
_Event = beam_runner_api_pb2.TestStreamPayload.Event
_CONTROL_TAG = "_TestStream_Watermark"  # the DirectRunner's TestStream watermark-hold tag
_LINES_PER_EVENT = 2_000
WATCH_CODER = coders.FastPrimitivesCoder()  # elements are lists of raw lines, or an UnreadableFile

UNREADABLE_FILE = "unreadable_file"


class UnreadableFile(NamedTuple):
    """A watched file that vanished or could not be read to its end: one ``unreadable_file`` dead letter.

    The watcher sends it in place of (the rest of) the file's lines; the stream
    counts it as one line read and dead-lettered, so the summaries still balance.
    """

    path: str
    reason: str


def _watermark(micros: int, tag: str = "") -> _Event:
    event = _Event()
    event.watermark_event.new_watermark = micros
    event.watermark_event.tag = tag
    return event


def _advance_processing_time(micros: int) -> _Event:
    event = _Event()
    event.processing_time_event.advance_duration = micros
    return event


def _event_time(parser: simdjson.Parser, line: bytes) -> int | None:
    try:
        value = parser.parse(line)["metadata"]["event_time"]
        return parse_event_time(value) if isinstance(value, str) else None
    except (ValueError, KeyError, TypeError, TimestampError, RuntimeError):
        return None


class FolderWatcher:
    """A TestStreamService reader: ``read_multiple`` yields TestStream events as files appear."""

    def __init__(self, pattern: str, stop_after_seconds: float, lag_seconds: int, drain_seconds: int = 0,
                 poll_seconds: float = 1.0, clock=time.monotonic, sleep=time.sleep):
        self._pattern = pattern
        self._stop_after = stop_after_seconds
        self._lag_micros = lag_seconds * 1_000_000
        self._drain_micros = drain_seconds * 1_000_000
        self._poll = poll_seconds
        self._clock = clock
        self._sleep = sleep
        self.files_read: list[str] = []

    def read_multiple(self, keys):
        coder = WATCH_CODER
        parser = simdjson.Parser()
        newest = None
        watermark = timestamp.MIN_TIMESTAMP.micros
        # The hold sequence the DirectRunner's TestStream expects around its events.
        yield _watermark(timestamp.MIN_TIMESTAMP.micros, _CONTROL_TAG)
        yield _watermark(timestamp.MIN_TIMESTAMP.micros)
        yield _watermark((timestamp.MAX_TIMESTAMP - timestamp.TIME_GRANULARITY).micros, _CONTROL_TAG)
        started = last_poll = self._clock()
        sizes: dict[str, int] = {}
        done: set[str] = set()
        while True:
            stopping = self._clock() - started >= self._stop_after
            for path in sorted(glob.glob(self._pattern)):
                if path in done:
                    continue
                size = _size(path)
                if not stopping and sizes.get(path) != size:
                    sizes[path] = size  # still being written, or new: read it once its size holds
                    continue
                done.add(path)
                self.files_read.append(path)
                _LOG.info("watch: reading %s", path)
                for event, newest in self._file_events(path, coder, parser, newest, watermark):
                    yield event
                if newest is not None and newest - self._lag_micros > watermark:
                    watermark = newest - self._lag_micros
                    yield _watermark(watermark)
            now = self._clock()
            yield _advance_processing_time(int((now - last_poll) * 1_000_000))  # also keeps the channel alive
            last_poll = now
            if stopping:
                break
            self._sleep(self._poll)
        _LOG.info("watch: stopped after %.0f s; %d files read", self._clock() - started, len(self.files_read))
        # Drain while the stream is still open: first let event time run past every
        # window and every retry's wait, so that all rows are written and counted;
        # then move the runner's clock (the stream's own) past every pending
        # processing-time trigger, so that the last summary record is written.
        if newest is not None and newest + self._drain_micros > watermark:
            yield _watermark(newest + self._drain_micros)
        yield _advance_processing_time(86_400 * 1_000_000)
        yield _watermark(timestamp.MAX_TIMESTAMP.micros)
        yield _watermark(timestamp.MAX_TIMESTAMP.micros, _CONTROL_TAG)

    def _file_events(self, path, coder, parser, newest, watermark):
        """One element per block of lines: a Beam element per line would cost more than the line."""
        with open_range(FileRange(path, 0, None)) as handle:
            for block in iter_line_blocks(handle):
                for start in range(0, len(block.lines), _LINES_PER_EVENT):
                    lines = block.lines[start:start + _LINES_PER_EVENT]
                    for line in lines:
                        event_time = _event_time(parser, line)
                        if event_time is not None and (newest is None or event_time > newest):
                            newest = event_time
                    event = _Event()
                    element = event.element_event.elements.add()
                    element.encoded_element = coder.encode(lines)
                    # Its dead letters land where the stream is now; never behind the watermark.
                    element.timestamp = max(newest if newest is not None else int(time.time() * 1_000_000), watermark)
                    yield event, newest


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return -1
