"""ReadCanvasEvents: event files -> accepted events, dead letters and line counts."""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import multiprocessing
import os
import time
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from transforms.classify_range import RangeResult, classify_file_range
from transforms.counters import counter_record
from transforms.events import ROLE_ASSIGNMENT_STATE, ROLE_RETRY
from transforms.file_ranges import (
    DEFAULT_BLOCK_BYTES,
    DEFAULT_RANGE_BYTES,
    FileRange,
    split_file,
    split_range,
)
from transforms.inputs import resolve_inputs
from transforms.parent_watch import exit_with_parent
from transforms.tags import (
    ASSIGNMENT_STATE_EVENTS,
    COUNTS,
    DEAD_LETTERS,
    LATEST_EVENT_TIME,
    MIGRATION_EVENTS,
    RETRY_EVENTS,
)

_LOG = logging.getLogger(__name__)


class ListFileRanges(beam.PTransform):
    """File patterns -> :class:`FileRange` elements, rebalanced across workers.

    The files are listed when the job runs, by the rules of
    :func:`transforms.inputs.resolve_inputs` (an existing file is read as
    itself, nothing under ``output`` is read, an empty match fails unless
    ``allow_empty_input``), so that the job graph can be built offline.
    """

    def __init__(
        self,
        patterns: list[str],
        range_bytes: int = DEFAULT_RANGE_BYTES,
        output: str | None = None,
        allow_empty_input: bool = False,
        absent_is_empty: bool = False,
    ):
        super().__init__()
        self._patterns = tuple(patterns)
        self._range_bytes = range_bytes
        self._output = output
        self._allow_empty_input = allow_empty_input
        self._absent_is_empty = absent_is_empty

    def expand(self, pbegin):
        range_bytes, output = self._range_bytes, self._output
        allow_empty, absent_is_empty = self._allow_empty_input, self._absent_is_empty
        return (
            pbegin
            | "Patterns" >> beam.Create([self._patterns])
            | "ListFiles"
            >> beam.FlatMap(
                lambda patterns: resolve_inputs(
                    patterns, output, allow_empty, absent_is_empty=absent_is_empty
                )
            )
            | "SplitFiles"
            >> beam.FlatMap(lambda file: split_file(file.path, file.size, range_bytes))
            | "Rebalance" >> beam.Reshuffle()
        )


class ClassifyFileRange(beam.DoFn):
    """Classifies every line of one file range.

    Main output: nothing. Tagged outputs: ``migration_events`` (accepted, not yet
    deduplicated events), ``retry_events`` and ``assignment_state_events`` (one list of
    accepted events per classified range: a list crosses a stage boundary for a
    fraction of what as many elements would cost),
    ``latest_event_time`` (the latest event time of the range's accepted events,
    none when it has none), ``dead_letters`` (one list of dead-letter rows per
    classified range, so that they are written together) and ``counts`` (one
    counter record per range).

    With ``processes > 1`` each range is cut into sub-ranges that a pool of
    worker processes classifies (the work is CPU-bound Python, so threads would
    not help). Sub-ranges are queued across the whole bundle and results are
    emitted as they complete, so no worker waits for another. A local run then
    uses every core; on Dataflow, where the runner already runs one SDK process
    per core, keep 1.
    """

    PROGRESS_SECONDS = 5.0

    def __init__(
        self, hmac_key: bytes | None, block_bytes: int = DEFAULT_BLOCK_BYTES, processes: int = 1
    ):
        self._hmac_key = hmac_key
        self._block_bytes = block_bytes
        self._processes = processes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._pending: collections.deque[concurrent.futures.Future[RangeResult]] = (
            collections.deque()
        )
        self._lines = 0
        self._started = self._reported = 0.0

    def setup(self):
        self._start_pool()

    def _start_pool(self) -> None:
        if self._processes > 1 and self._pool is None:
            # spawn, not fork: the runner process has threads, and a forked child
            # could inherit a lock held by one of them.
            # Workers exit with this process, even when it is killed (SIGKILL included);
            # the multiprocessing resource tracker, whose pipe they hold open, then exits too.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self._processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=exit_with_parent,
                initargs=(os.getpid(),),
            )

    def teardown(self):
        self._stop_pool()

    def _stop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def start_bundle(self):
        self._pending.clear()
        if not self._started:
            self._started = self._reported = time.monotonic()

    def _report_progress(self, lines: int) -> None:
        self._lines += lines
        now = time.monotonic()
        if now - self._reported >= self.PROGRESS_SECONDS:
            self._reported = now
            rate = self._lines / max(now - self._started, 1e-9)
            _LOG.info("classified %s lines (%s lines/s)", f"{self._lines:,}", f"{rate:,.0f}")

    def process(self, file_range: FileRange):
        self._start_pool()  # again, after a bundle that stopped it
        if self._pool is None:
            yield from self._outputs(
                classify_file_range(file_range, self._hmac_key, self._block_bytes)
            )
            return
        for part in split_range(file_range, 2 * self._processes):
            self._pending.append(
                self._pool.submit(classify_file_range, part, self._hmac_key, self._block_bytes)
            )
        # Emit what is done; wait only to keep a bounded number of results in flight.
        while self._pending and (
            self._pending[0].done() or len(self._pending) > 4 * self._processes
        ):
            yield from self._outputs(self._pending.popleft().result())

    def finish_bundle(self):
        while self._pending:
            for output in self._outputs(self._pending.popleft().result()):
                yield beam.pvalue.TaggedOutput(
                    output.tag, WindowedValue(output.value, MIN_TIMESTAMP, (GlobalWindow(),))
                )
        # The workers hold some 200 MB each and nothing after classification needs them:
        # the local runner keeps this DoFn (and its pool) until the whole job ends, while
        # the later stages hold the accepted events. The next bundle starts a new pool.
        self._stop_pool()

    def _outputs(self, result: RangeResult):
        self._report_progress(result.counts["lines_read"])
        states, retries = [], []
        latest = None
        for accepted in result.accepted:
            event = accepted.event
            if latest is None or event.event_time > latest:
                latest = event.event_time
            if accepted.role == ROLE_ASSIGNMENT_STATE:
                states.append(event)
            elif accepted.role == ROLE_RETRY:
                retries.append(event)
            else:
                yield beam.pvalue.TaggedOutput(MIGRATION_EVENTS, event)
        if states:
            yield beam.pvalue.TaggedOutput(ASSIGNMENT_STATE_EVENTS, states)
        if retries:
            yield beam.pvalue.TaggedOutput(RETRY_EVENTS, retries)
        if latest is not None:
            yield beam.pvalue.TaggedOutput(LATEST_EVENT_TIME, latest)
        if result.dead_letters:
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, result.dead_letters)
        record = counter_record(result.counts)
        if record:
            yield beam.pvalue.TaggedOutput(COUNTS, record)


def default_processes() -> int:
    """The cores this process may run on (at least 1)."""
    return max(
        1,
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
    )


class ReadCanvasEvents(beam.PTransform):
    """File patterns -> accepted events by role, dead letters and counters.

    Outputs ``retry_events`` (lists), ``migration_events``, ``assignment_state_events``
    (lists), ``latest_event_time``, ``dead_letters`` (lists) and ``counts``
    (see :class:`ClassifyFileRange`).
    """

    def __init__(
        self,
        patterns: list[str],
        hmac_key: bytes | None = None,
        processes: int = 1,
        range_bytes: int = DEFAULT_RANGE_BYTES,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
        output: str | None = None,
        allow_empty_input: bool = False,
        absent_is_empty: bool = False,
    ):
        super().__init__()
        self._patterns = patterns
        self._list_options: dict[str, Any] = {
            "output": output,
            "allow_empty_input": allow_empty_input,
            "absent_is_empty": absent_is_empty,
        }
        self._hmac_key = hmac_key
        self._processes = processes
        self._range_bytes = range_bytes
        self._block_bytes = block_bytes

    def expand(self, pbegin):
        return (
            pbegin
            | "ListFileRanges"
            >> ListFileRanges(self._patterns, self._range_bytes, **self._list_options)
            | "ClassifyFileRange"
            >> beam.ParDo(
                ClassifyFileRange(self._hmac_key, self._block_bytes, self._processes)
            ).with_outputs(
                RETRY_EVENTS,
                MIGRATION_EVENTS,
                ASSIGNMENT_STATE_EVENTS,
                LATEST_EVENT_TIME,
                DEAD_LETTERS,
                COUNTS,
            )
        )
