"""A local streaming source: new files in a folder, fed to the pipeline once they are complete.

Beam 2.77 has no file-watching source that runs on a local streaming runner
(``fileio.MatchContinuously`` and ``PeriodicImpulse`` fail on the
BundleBasedDirectRunner), so :class:`FolderWatcher` feeds a ``TestStream``
through Beam's TestStreamService: a gRPC server in the launcher process that
the runner reads events from as they come.

Which files: the regular files matching the pattern, except ``<file>.done``
markers, which are never data (hidden files are not matched by ``*``, so a
writer may stage a file under a dot-name beside the others and rename it).
Each file is read once, in name order among the files ready at the same poll.

When a file is read (:func:`is_ready`): at once when a ``<file>.done`` marker
stands beside it; otherwise once it has not changed (size and modification
time) for the settle time, judged both by what the watcher saw across polls
and by the file's modification time, so a file renamed into the folder long
after it was written is read at the next poll. An empty file waits for
content (or a marker). A file that vanishes before it has been read, cannot be
opened, or fails while being read (a truncated or corrupt compressed file)
becomes one :class:`UnreadableFile` element; lines already sent from it stay
sent, and the stream goes on with the other files.

Time: an element's timestamp is at most the earliest event time among its
lines (never behind the watermark already sent; the DirectRunner's
TestStream cannot go back), so every event reaches the join on time. The
watermark moves only between polls, after every ready file has been sent
in full and while no other file is still settling, to the newest event
time sent minus ``lag_seconds``. So it never passes an event that is
already in the folder but not yet sent. A file that never settles holds the
watermark (a warning names it).

After ``stop_after_seconds`` no new file is taken up; the files that had
appeared are read once ready (one more settle time at most; a file still
changing then is an :class:`UnreadableFile`), then event time runs past every
window and wait, processing time past the last summary trigger, and the
stream closes, so the pipeline writes everything and ends.
"""

from __future__ import annotations

import bz2
import collections
import concurrent.futures
import glob
import gzip
import logging
import lzma
import multiprocessing
import os
import stat
import time
import zlib
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol

import simdjson
from apache_beam import coders
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.utils import timestamp

from transforms.events import LineClassifier
from transforms.file_ranges import (
    FileRange,
    is_compressed,
    iter_line_blocks,
    open_range,
    split_file,
)
from transforms.parent_watch import exit_with_parent
from transforms.stream_settle import (
    PackedLines,
    event_time_text,
    settle_file_range,
    settled_elements,
    span_of_texts,
    unpack_lines,
)

_LOG = logging.getLogger(__name__)
_Event = beam_runner_api_pb2.TestStreamPayload.Event
_CONTROL_TAG = "_TestStream_Watermark"  # the DirectRunner's TestStream watermark-hold tag
_LINES_PER_EVENT = 100_000
# What one element may carry: gRPC refuses messages over 4 MB, so an element of raw lines or
# dead letters stays near this (a single line is at most MAX_LINE_BYTES, 1 MB, or is oversize).
_BYTES_PER_EVENT = 1 << 20
# A large uncompressed file is settled in ranges of this size by worker processes, so that
# reading and settling run beside the runner (which holds this process's interpreter lock).
_RANGE_BYTES = 64 << 20
DEFAULT_SETTLE_PROCESSES = 2


class WatchCoder(coders.Coder):
    """The watcher's elements: sent as packed lines (or an UnreadableFile), read as SettledLines.

    The lines of a :class:`transforms.stream_settle.PackedLines` are unpacked
    where the runner reads the element, so the pipeline sees
    :class:`transforms.stream_settle.SettledLines`.
    """

    def __init__(self) -> None:
        self._inner = coders.FastPrimitivesCoder()

    def encode(self, value: Any) -> bytes:
        return self._inner.encode(value)

    def decode(self, encoded: bytes) -> Any:
        value = self._inner.decode(encoded)
        return unpack_lines(value) if isinstance(value, PackedLines) else value

    def is_deterministic(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


WATCH_CODER = WatchCoder()  # elements are PackedLines (read as SettledLines), or an UnreadableFile

UNREADABLE_FILE = "unreadable_file"
DONE_SUFFIX = ".done"
DEFAULT_SETTLE_SECONDS = 5.0


class UnreadableFile(NamedTuple):
    """A watched file that vanished or could not be read to its end: an ``unreadable_file``.

    The watcher sends it in place of (the rest of) the file's lines; the stream
    counts it as one line read and dead-lettered, so the summaries still balance.
    """

    path: str
    reason: str


class FileState(NamedTuple):
    """What one look at a watched file shows."""

    size: int
    mtime_ns: int
    marked: bool  # a ``<file>.done`` marker stands beside it


def scan_folder(
    pattern: str, skip: set[str] | frozenset[str] = frozenset()
) -> dict[str, FileState]:
    """The regular files matching ``pattern`` (markers and ``skip`` left out), each as it is now."""
    states = {}
    for path in glob.glob(pattern):
        if path in skip or path.endswith(DONE_SUFFIX):
            continue
        try:
            info = os.stat(path)
        except OSError:
            continue  # gone between the listing and the look: the next poll misses it
        if stat.S_ISREG(info.st_mode):
            states[path] = FileState(
                info.st_size, info.st_mtime_ns, os.path.exists(path + DONE_SUFFIX)
            )
    return states


def is_ready(
    state: FileState, unchanged_since: float, now: float, wall_now: float, settle_seconds: float
) -> bool:
    """Whether a file is complete: marked done, or not empty and unchanged for ``settle_seconds``.

    ``unchanged_since`` and ``now`` are the watcher's clock (when it first saw
    the file as it is, and now); ``wall_now`` is the wall clock the file's
    modification time is compared with.
    """
    if state.marked:
        return True
    if state.size == 0:
        return False
    return (
        now - unchanged_since >= settle_seconds or wall_now - state.mtime_ns / 1e9 >= settle_seconds
    )


class SettleTracker:
    """The files seen but not yet read, and since when each has looked as it does."""

    def __init__(self, settle_seconds: float):
        self._settle = settle_seconds
        self._seen: dict[
            str, tuple[FileState, float, float]
        ] = {}  # path -> (state, unchanged since, first seen)

    def observe(self, path: str, state: FileState, now: float, wall_now: float) -> bool:
        """Record a look at ``path``; True when it is ready to be read."""
        previous = self._seen.get(path)
        if previous is None:
            previous = self._seen[path] = (state, now, now)
        elif previous[0][:2] != state[:2]:
            previous = self._seen[path] = (state, now, previous[2])
        else:
            previous = self._seen[path] = (state, previous[1], previous[2])
        return is_ready(state, previous[1], now, wall_now, self._settle)

    def forget(self, path: str) -> None:
        self._seen.pop(path, None)

    def paths(self) -> set[str]:
        return set(self._seen)

    def state(self, path: str) -> FileState:
        return self._seen[path][0]

    def settling(self) -> list[str]:
        """Files with content that are not ready yet: what they hold has not been sent."""
        return sorted(path for path, (state, _, _) in self._seen.items() if state.size > 0)

    def waiting_longer_than(self, seconds: float, now: float) -> list[str]:
        return sorted(
            path
            for path, (state, _, first) in self._seen.items()
            if state.size > 0 and now - first > seconds
        )


class BinaryReader(Protocol):
    """What the watcher needs of an open input file: ``read``, ``close`` and ``with``."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc_info: Any) -> Any: ...


class _WholeFramesReader:
    """A zstd or deflate file, decompressed; ``EOFError`` when it ends inside a frame.

    Beam's readers of these codecs stop quietly at a cut, which would pass a
    truncated file off as a complete one.
    """

    _CHUNK = 1 << 20

    def __init__(self, path: str, new_decompressor: Callable):
        self._raw = open(path, "rb")  # noqa: SIM115 (closed by close())
        self._new = new_decompressor
        self._decompressor = new_decompressor()
        self._in_frame = False
        self._buffer = bytearray()
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        while not self._ended and (size < 0 or len(self._buffer) < size):
            data = self._raw.read(self._CHUNK)
            if not data:
                if self._in_frame:
                    raise EOFError("compressed file ended before the end of its last frame")
                self._ended = True
            while data:
                self._in_frame = True
                self._buffer += self._decompressor.decompress(data)
                data = b""
                if self._decompressor.eof:  # a frame ended; what follows is the next frame
                    data = self._decompressor.unused_data
                    self._decompressor, self._in_frame = self._new(), False
        size = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        result = bytes(self._buffer[:size])
        del self._buffer[:size]
        return result

    def close(self) -> None:
        self._raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _zstd_decompressor():
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj()


def open_watched_file(path: str) -> BinaryReader:
    """The file, decompressed by its suffix (any case); ``EOFError`` when compressed and cut short.

    Python's own gzip, bzip2 and lzma readers check that the file ends where its
    data does; zstd and deflate (zlib format, as Beam writes it) are checked here.
    """
    lowered = path.lower()
    if lowered.endswith(".gz"):
        return gzip.open(path, "rb")
    if lowered.endswith(".bz2"):
        return bz2.open(path, "rb")
    if lowered.endswith((".xz", ".lzma")):
        return lzma.open(path, "rb")
    if lowered.endswith((".zst", ".zstd")):
        return _WholeFramesReader(path, _zstd_decompressor)
    if lowered.endswith(".deflate"):
        return _WholeFramesReader(path, zlib.decompressobj)
    if is_compressed(path):  # a codec added to Beam's list later
        return open_range(FileRange(path, 0, None))
    return open(path, "rb")


def event_time_span(parser: simdjson.Parser, lines: Iterable[bytes]) -> tuple[int, int] | None:
    """Earliest and latest parseable ``metadata.event_time`` of the lines (epoch µs), or None.

    Per line, only the text of the time is taken. Texts of the same layout
    (digits in the same places) and the same UTC offset sort in time order,
    so only the first and last of each such group are parsed: one group, two
    parses, for a block of Canvas times (all ``...Z`` with milliseconds).
    """
    texts = [text for text in (event_time_text(parser, line) for line in lines) if text is not None]
    return span_of_texts(texts) if texts else None


def _watermark(micros: int, tag: str = "") -> _Event:
    event = _Event()
    event.watermark_event.new_watermark = micros
    event.watermark_event.tag = tag
    return event


def _advance_processing_time(micros: int) -> _Event:
    event = _Event()
    event.processing_time_event.advance_duration = micros
    return event


def _element(value, timestamp_micros: int) -> _Event:
    event = _Event()
    element = event.element_event.elements.add()
    element.encoded_element = WATCH_CODER.encode(value)
    element.timestamp = timestamp_micros
    return event


class _EventClock:
    """The event time the watcher has sent so far: newest event time and the watermark."""

    def __init__(self, wall_clock: Callable[[], float]):
        self.newest: int | None = None
        self.watermark = timestamp.MIN_TIMESTAMP.micros
        self._wall_clock = wall_clock

    def stamp(self, span: tuple[int, int] | None) -> int:
        """The timestamp of an element whose lines' event times span ``span`` (None: none)."""
        if span is None:  # dead letters only: where the stream is now
            now = self.newest if self.newest is not None else int(self._wall_clock() * 1_000_000)
            return max(now, self.watermark)
        earliest, latest = span
        if self.newest is None or latest > self.newest:
            self.newest = latest
        return max(earliest, self.watermark)

    def advance(self, to_micros: int) -> _Event | None:
        if to_micros <= self.watermark:
            return None
        self.watermark = to_micros
        return _watermark(to_micros)


class FolderWatcher:
    """A TestStreamService reader: ``read_multiple`` yields TestStream events as files complete."""

    def __init__(
        self,
        pattern: str,
        stop_after_seconds: float,
        lag_seconds: int,
        drain_seconds: int = 0,
        poll_seconds: float = 1.0,
        clock=time.monotonic,
        sleep=time.sleep,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        wall_clock=time.time,
        scan=scan_folder,
        open_file=open_watched_file,
        source: str | None = None,
        processes: int = DEFAULT_SETTLE_PROCESSES,
    ):
        self._pattern = pattern
        self._stop_after = stop_after_seconds
        self._lag_micros = lag_seconds * 1_000_000
        self._drain_micros = drain_seconds * 1_000_000
        self._poll = poll_seconds
        self._settle = settle_seconds
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._scan = scan
        self._open_file = open_file
        self.files_read: list[str] = []
        self.unreadable: list[UnreadableFile] = []
        # Noise is settled here, as ClassifyLinesInStream would (dead letters name the same source).
        self._source = source if source is not None else pattern
        self._classifier = LineClassifier(None)
        self._processes = processes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def read_multiple(self, keys):
        parser = simdjson.Parser()
        times = _EventClock(self._wall_clock)
        # The hold sequence the DirectRunner's TestStream expects around its events.
        yield _watermark(timestamp.MIN_TIMESTAMP.micros, _CONTROL_TAG)
        yield _watermark(timestamp.MIN_TIMESTAMP.micros)
        yield _watermark(
            (timestamp.MAX_TIMESTAMP - timestamp.TIME_GRANULARITY).micros, _CONTROL_TAG
        )
        _LOG.info(
            "watch: watching %s (a file is read when unchanged for %g s, or marked %s)",
            self._pattern,
            self._settle,
            DONE_SUFFIX,
        )
        started = last_poll = self._clock()
        tracker = SettleTracker(self._settle)
        read: set[str] = set()
        appeared_by_stop: set[str] | None = None
        warned: set[str] = set()
        # A file first seen at the stop is ready one settle time later at most, unless it keeps
        # changing.
        give_up_after = self._stop_after + self._settle + 2 * self._poll
        while True:
            now = self._clock()
            stopping = now - started >= self._stop_after
            listing = self._scan(self._pattern, read)
            if stopping:
                if appeared_by_stop is None:
                    appeared_by_stop = set(listing) | tracker.paths()
                listing = {
                    path: state for path, state in listing.items() if path in appeared_by_stop
                }
            for path in sorted(tracker.paths() - listing.keys()):
                had_content = tracker.state(path).size > 0
                tracker.forget(path)
                if had_content:  # an empty file that goes away took nothing with it
                    yield self._unreadable(path, "vanished before it was read", times)
            wall_now = self._wall_clock()
            ready = sorted(
                path
                for path, state in listing.items()
                if tracker.observe(path, state, now, wall_now)
            )
            for path in ready:
                tracker.forget(path)
                read.add(path)
                self.files_read.append(path)
                yield from self._file_events(path, parser, times)
            if stopping and now - started >= give_up_after:
                for path in tracker.settling():
                    tracker.forget(path)
                    yield self._unreadable(path, "still changing when the watch stopped", times)
            settling = tracker.settling()
            if not settling and times.newest is not None:
                # Every file in sight has been sent in full: event time may move on.
                moved = times.advance(times.newest - self._lag_micros)
                if moved is not None:
                    yield moved
            for path in tracker.waiting_longer_than(max(60.0, 10 * self._settle), now):
                if path not in warned:
                    warned.add(path)
                    _LOG.warning(
                        "watch: %s keeps changing; event time waits until it is complete", path
                    )
            now = self._clock()
            yield _advance_processing_time(
                int((now - last_poll) * 1_000_000)
            )  # also keeps the channel alive
            last_poll = now
            if stopping and not settling:
                break
            self._sleep(self._poll)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        _LOG.info(
            "watch: stopped after %.0f s; %d files read, %d unreadable",
            self._clock() - started,
            len(self.files_read),
            len(self.unreadable),
        )
        # Drain while the stream is still open: first let event time run past every
        # window and every retry's wait, so that all rows are written and counted;
        # then move the runner's clock (the stream's own) past every pending
        # processing-time trigger, so that the last summary record is written.
        if times.newest is not None:
            moved = times.advance(times.newest + self._drain_micros)
            if moved is not None:
                yield moved
        yield _advance_processing_time(86_400 * 1_000_000)
        yield _watermark(timestamp.MAX_TIMESTAMP.micros)
        yield _watermark(timestamp.MAX_TIMESTAMP.micros, _CONTROL_TAG)

    def _unreadable(self, path: str, reason: str, times: _EventClock) -> _Event:
        _LOG.warning("watch: %s: %s", path, reason)
        unreadable = UnreadableFile(path, reason)
        self.unreadable.append(unreadable)
        return _element(unreadable, times.stamp(None))

    def _file_events(self, path: str, parser: simdjson.Parser, times: _EventClock):
        """One element per run of up to ``_LINES_PER_EVENT`` lines, its noise settled already.

        A Beam element (and a runner bundle) per line would cost more than the
        line; only the counters and dead letters of the noise and the candidate
        lines cross to the runner. The element's timestamp follows the event
        times of all its lines, as if every line were sent.
        """
        _LOG.info("watch: reading %s", path)
        ranges = self._ranges(path)
        if len(ranges) > 1:
            yield from self._file_events_in_workers(path, ranges, times)
            return
        sent = 0
        try:
            handle = self._open_file(path)
        except FileNotFoundError:
            yield self._unreadable(path, "vanished before it was read", times)
            return
        except Exception as error:  # noqa: BLE001 - no file may stop the stream
            _LOG.debug("watch: cannot open %s", path, exc_info=True)
            yield self._unreadable(
                path, f"cannot be opened: {type(error).__name__}: {error}", times
            )
            return
        try:
            with handle:
                for settled, span, lines in settled_elements(
                    iter_line_blocks(handle),
                    self._classifier,
                    parser,
                    self._source,
                    _LINES_PER_EVENT,
                    _BYTES_PER_EVENT,
                ):
                    yield _element(settled, times.stamp(span))
                    sent += lines
        except Exception as error:  # noqa: BLE001 - a truncated or corrupt file, a disk error: the stream goes on
            _LOG.debug("watch: reading %s failed", path, exc_info=True)
            yield self._unreadable(
                path,
                f"ended early or is corrupt after {sent} lines: {type(error).__name__}: {error}",
                times,
            )

    def _ranges(self, path: str) -> list[FileRange]:
        """Byte ranges for the worker processes: one (read here) unless the file is big, plain."""
        if self._processes < 1 or self._open_file is not open_watched_file or is_compressed(path):
            return [FileRange(path, 0, None)]
        try:
            size = os.path.getsize(path)
        except OSError:
            return [FileRange(path, 0, None)]  # reading it here reports what is wrong
        return split_file(path, size, _RANGE_BYTES)

    def _file_events_in_workers(self, path: str, ranges: list[FileRange], times: _EventClock):
        """The file's elements: its ranges settled by worker processes a few at a time, in order."""
        if self._pool is None:
            # spawn, not fork: this process runs gRPC and runner threads. Workers exit with it.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self._processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=exit_with_parent,
                initargs=(os.getpid(),),
            )
        in_flight: collections.deque = collections.deque()
        remaining = collections.deque(ranges)
        sent = 0
        try:
            while remaining or in_flight:
                while remaining and len(in_flight) < 2 * self._processes:
                    in_flight.append(
                        self._pool.submit(
                            settle_file_range,
                            remaining.popleft(),
                            self._source,
                            _LINES_PER_EVENT,
                            _BYTES_PER_EVENT,
                        )
                    )
                for settled, span, lines in in_flight.popleft().result():
                    yield _element(settled, times.stamp(span))
                    sent += lines
        except Exception as error:  # noqa: BLE001 - a file cut or removed while read: the stream goes on
            _LOG.debug("watch: reading %s failed", path, exc_info=True)
            for future in in_flight:
                future.cancel()
            yield self._unreadable(
                path,
                f"ended early or is corrupt after {sent} lines: {type(error).__name__}: {error}",
                times,
            )
