"""Streaming output: Parquet files per event-time window, and summary records per firing.

``WriteWindowFiles`` buffers a table's rows per window under a few shard keys
(``--state-shards``; a window's shard follows from its start) and writes them
when the watermark passes the window's end plus a hold (the pipeline holds
windows for the lineage wait, so that retries decided after their window ended
still go out with it). Rows that come later go out at the next firing. A
firing writes every window due by then, and the files of one bundle are
grouped per partition, so a watermark that jumps over months of event time
writes one file per partition, not one per window. File names are
deterministic (first and last window start, a digest of the rows; no colons,
brackets or spaces) and every file is written under a temporary name and
renamed, so readers (DuckDB while the stream runs) never see half a file.

``WriteStreamSummaries`` sums per-line counter records per processing-time
firing into one summary record each: deltas, every line in exactly one record,
each record balanced because a line's counters always travel together. Record
names are deterministic (the stream's start, the firing number and a digest of
the counters), so a retried write replaces its record rather than adding one.
"""

from __future__ import annotations

import collections
import hashlib
import heapq
import json
import os
import time
import typing
import uuid

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms import trigger
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import TimerSpec, on_timer
from apache_beam.transforms.window import GlobalWindow, GlobalWindows
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from transforms.outcomes import OUTCOMES
from transforms.parquet_writer import STAGING_DIR, retry_partition, write_parquet
from transforms.publish import STREAM_SUMMARIES_DIR as SUMMARIES_DIR
from transforms.stream_state import (
    LoggedMachine,
    coarse_deadline,
    load_machine,
    log_state_specs,
    record,
)
from transforms.streaming import window_start
from transforms.summary import SumCounters, build_summary
from transforms.tables import ASSIGNMENT_STATES, EVENT_DATE_TABLES, RETRIES, Table

DEFAULT_WINDOW_SHARDS = 4
_OWN_TIME_TABLES = frozenset((RETRIES.name, ASSIGNMENT_STATES.name))
_EVENT_DATE_TABLE_NAMES = frozenset(table.name for table in EVENT_DATE_TABLES)


def row_time(table: Table, row, element_time: Timestamp) -> int:
    """The event time (epoch microseconds) that places a row in a window.

    A retry or state event's own time; a lineage edge's completion; else the
    element's timestamp (a ``retry_outcomes`` row's decision time, a dead letter's).
    """
    return _row_time(table.name, row, element_time)


def _row_time(table_name: str, row, element_time: Timestamp) -> int:
    # By name: a step unpickled for a bundle holds a copy of its table, never the table itself.
    if table_name in _OWN_TIME_TABLES:
        return row.event_time
    completed_at = getattr(row, "completed_at", None)
    return completed_at if completed_at is not None else element_time.micros


def _stamp(micros: int) -> str:
    return Timestamp(micros=micros).to_utc_datetime().strftime("%Y%m%dT%H%M%SZ")


def window_file_name(first_start: int, last_start: int, rows: list) -> str:
    """A file name from the windows' starts and a digest of the rows (same rows, same name)."""
    digest = hashlib.sha1(repr(sorted(map(repr, rows))).encode("utf-8")).hexdigest()[:12]
    return f"part-{_stamp(first_start)}-{_stamp(last_start)}-{digest}.parquet"


def publish_file(
    directory: str, name: str, table: Table, rows: list, codec: str, output: str
) -> str:
    """Write under a temporary name, then rename into place."""
    temporary = FileSystems.join(output, STAGING_DIR, "stream", f"{table.name}-{name}")
    final = FileSystems.join(directory, name)
    write_parquet(temporary, table, rows, codec)
    if "://" not in final:
        os.makedirs(directory, exist_ok=True)
    FileSystems.rename([temporary], [final])
    return final


class WindowBuffer(LoggedMachine):
    """Rows per (window start, partition), written once the watermark passes window end + hold."""

    def __init__(self, window_micros: int, hold_micros: int, max_step_micros: int = 0):
        self._window = window_micros
        self._hold = hold_micros
        self._max_step = max_step_micros
        self.rows: dict[int, dict[str, list]] = {}
        self._due: list[int] = []  # heap of window starts with rows
        self.rows_held = 0
        self._reference: int | None = None  # the last flush, else the first window seen

    def add(self, start: int, partition: str, row) -> int:
        """Buffer a row; when to look at its window (its due time, rounded up when far ahead)."""
        if start not in self.rows:
            self.rows[start] = {}
            heapq.heappush(self._due, start)
        self.rows[start].setdefault(partition, []).append(row)
        self.rows_held += 1
        if self._reference is None:
            self._reference = start
        return coarse_deadline(
            start + self._window + self._hold, self._reference, self._window, self._max_step
        )

    def add_many(self, items) -> set[int]:
        """:meth:`add` for each ``(start, partition, row)``: the distinct times to look."""
        rows, due = self.rows, self._due
        for start, partition, row in items:
            window = rows.get(start)
            if window is None:
                window = rows[start] = {}
                heapq.heappush(due, start)
            window.setdefault(partition, []).append(row)
            if self._reference is None:
                self._reference = start
        self.rows_held += len(items)
        return {
            coarse_deadline(
                start + self._window + self._hold, self._reference, self._window, self._max_step
            )
            for start in {start for start, _, _ in items}
        }

    def flush(self, until: int) -> list[tuple[int, str, list]]:
        """(window start, partition, rows) of every window due by ``until``, oldest first."""
        out = []
        self._reference = max(self._reference or until, until)
        while self._due and self._due[0] + self._window + self._hold <= until:
            start = heapq.heappop(self._due)
            for partition, rows in self.rows.pop(start).items():
                self.rows_held -= len(rows)
                out.append((start, partition, rows))
        return out

    def replay(self, entry) -> None:
        if entry[0] == "row":
            self.add(*entry[1:])
        elif entry[0] == "rows":
            self.add_many(entry[1])
        else:
            self.flush(entry[1])

    def live_size(self) -> int:
        return self.rows_held


class _WriteWindows(beam.DoFn):
    LOG, VERSION = log_state_specs("windows")
    DUE = TimerSpec("due", TimeDomain.WATERMARK)

    def __init__(
        self,
        table: Table,
        output: str,
        codec: str,
        window_seconds: int,
        hold_seconds: int,
        max_step_seconds: int = 0,
    ):
        self._max_step_micros = max_step_seconds * 1_000_000
        self._table = table
        self._output = output
        self._codec = codec
        self._window_micros = window_seconds * 1_000_000
        self._hold_micros = hold_seconds * 1_000_000
        self._owner = f"windows-{table.name}-{uuid.uuid4().hex}"

    def _machine(self, key, log, version) -> WindowBuffer:
        return load_machine(
            self._owner,
            key,
            log,
            version,
            lambda: WindowBuffer(self._window_micros, self._hold_micros, self._max_step_micros),
        )

    def start_bundle(self):
        self._ready: list[tuple[int, str, list]] = []

    def process(
        self,
        keyed,
        key=beam.DoFn.KeyParam,
        log=beam.DoFn.StateParam(LOG),
        version=beam.DoFn.StateParam(VERSION),
        due=beam.DoFn.TimerParam(DUE),
    ):
        _, value = keyed
        machine = self._machine(key, log, version)
        if isinstance(value, list):  # rows of several windows of this shard, as one element
            deadlines = machine.add_many(value)
            record(machine, ("rows", value), log, version)
        else:
            start, partition, row = value
            deadlines = {machine.add(start, partition, row)}
            record(machine, ("row", start, partition, row), log, version)
        for deadline in sorted(deadlines):
            due.set(Timestamp(micros=deadline), dynamic_timer_tag=str(deadline))

    @on_timer(DUE)
    def write_due(
        self,
        key=beam.DoFn.KeyParam,
        fired=beam.DoFn.TimestampParam,
        log=beam.DoFn.StateParam(LOG),
        version=beam.DoFn.StateParam(VERSION),
    ):
        machine = self._machine(key, log, version)
        ready = machine.flush(fired.micros)
        if ready:
            record(machine, ("flush", fired.micros), log, version)
            self._ready.extend(
                ready
            )  # written together at the end of the bundle, one file per partition
        return ()

    def finish_bundle(self):
        by_partition: dict[str, list[tuple[int, list]]] = collections.defaultdict(list)
        for start, partition, rows in self._ready:
            by_partition[partition].append((start, rows))
        self._ready = []
        for partition, windows in sorted(by_partition.items()):
            rows = [row for _, window_rows in windows for row in window_rows]
            starts = [start for start, _ in windows]
            directory = (
                FileSystems.join(self._output, self._table.name, partition)
                if partition
                else FileSystems.join(self._output, self._table.name)
            )
            path = publish_file(
                directory,
                window_file_name(min(starts), max(starts), rows),
                self._table,
                rows,
                self._codec,
                self._output,
            )
            yield WindowedValue(path, MIN_TIMESTAMP, (GlobalWindow(),))


class KeyByWindow(beam.DoFn):
    """A table's rows -> ``(shard, (window start, partition, row))``; a list of rows -> per shard.

    Windows divide a day, so a window's rows share the event date of their
    partition (an outcome row's window is its decision's, its partition the
    retry's event date). A class of its own, holding the table's name only,
    rather than a closure over the table: the local runner pickles every step
    for every bundle, and a closure carrying the table's schema cost more
    than the bundle.
    """

    def __init__(self, table: Table, window_seconds: int, shards: int, batched: bool = False):
        self._table_name = table.name
        self._window_seconds = window_seconds
        self._shards = shards
        self._batched = batched

    def _keyed(self, row, timestamp: Timestamp) -> tuple[int, tuple[int, str, typing.Any]]:
        start = window_start(_row_time(self._table_name, row, timestamp), self._window_seconds)
        partition = retry_partition(row) if self._table_name in _EVENT_DATE_TABLE_NAMES else ""
        return (start // (self._window_seconds * 1_000_000) % self._shards, (start, partition, row))

    def process(self, element, timestamp=beam.DoFn.TimestampParam):
        if not self._batched:
            return [self._keyed(element, timestamp)]
        per_shard: dict[int, list] = {}
        for row in element:
            shard, item = self._keyed(row, timestamp)
            per_shard.setdefault(shard, []).append(item)
        return sorted(per_shard.items())


class WriteWindowFiles(beam.PTransform):
    """Rows of one table -> Parquet files per event-time window (returns the written paths).

    With ``batched``, each element is a list of rows (fewer runner elements for
    a table with many rows, such as ``assignment_states``).
    """

    def __init__(
        self,
        table: Table,
        output: str,
        codec: str,
        window_seconds: int,
        hold_seconds: int = 0,
        shards: int = DEFAULT_WINDOW_SHARDS,
        max_step_seconds: int = 0,
        batched: bool = False,
    ):
        super().__init__()
        self._batched = batched
        self._max_step_seconds = max_step_seconds
        self._table = table
        self._output = output
        self._codec = codec
        self._window_seconds = window_seconds
        self._hold_seconds = hold_seconds
        self._shards = shards

    def expand(self, rows):
        keying = beam.ParDo(
            KeyByWindow(self._table, self._window_seconds, self._shards, self._batched)
        ).with_output_types(tuple[int, typing.Any])
        return (
            rows
            | "KeyByWindow" >> keying
            | "WriteWindows"
            >> beam.ParDo(
                _WriteWindows(
                    self._table,
                    self._output,
                    self._codec,
                    self._window_seconds,
                    self._hold_seconds,
                    self._max_step_seconds,
                )
            )
        )


class WriteStreamSummaries(beam.PTransform):
    """Per-line counter records -> one balanced summary record (JSON line) per firing."""

    def __init__(
        self,
        output: str,
        pseudonymization: str,
        every_seconds: int = 60,
        stream_tag: str | None = None,
    ):
        super().__init__()
        # Fixed when the job is built: names this stream's records apart from other runs' ones.
        self._tag = stream_tag or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self._output = output
        self._pseudonymization = pseudonymization
        self._every = every_seconds

    def expand(self, counts):
        output, pseudonymization, tag = self._output, self._pseudonymization, self._tag

        def write(totals, pane=beam.DoFn.PaneInfoParam):
            record = build_summary(totals, pseudonymization)
            # Rows are held (retries for their lineage, windows until they end), so what a
            # firing counts are lines; the *_written totals of a batch run have no meaning here.
            for batch_only in (
                "outputs_complete",
                "retries_written",
                "lineage_edges_written",
                "dead_letters_written",
            ):
                del record[batch_only]
            # Outcome rows decided since the last record, per value (a stream has no pending total).
            record["outcomes"] = {value: totals.get("outcome." + value, 0) for value in OUTCOMES}
            record["window"] = {
                "kind": "processing_time_firing",
                "firing": pane.index,
                "written_at": Timestamp.of(time.time()).to_rfc3339(),
            }
            # The name depends on what the record counts, never on when it was written: a
            # retried write replaces the same record instead of counting its lines twice.
            digest = hashlib.sha1(json.dumps(totals, sort_keys=True).encode()).hexdigest()[:12]
            name = f"summary-{tag}-{pane.index:06d}-{digest}.jsonl"
            line = json.dumps(record, sort_keys=True)
            path = FileSystems.join(output, SUMMARIES_DIR, name)
            with FileSystems.create(path) as handle:
                handle.write((line + "\n").encode("utf-8"))
            return record

        return (
            counts
            | "SumPerBundle" >> beam.ParDo(SumCountsPerBundle())
            | "EveryFewSeconds"
            >> beam.WindowInto(
                GlobalWindows(),
                trigger=trigger.Repeatedly(trigger.AfterProcessingTime(self._every)),
                accumulation_mode=trigger.AccumulationMode.DISCARDING,
            )
            | "SumRecord" >> beam.CombineGlobally(SumCounters()).without_defaults()
            | "WriteRecord" >> beam.Map(write)
        )


class SumCountsPerBundle(beam.DoFn):
    """Counter records (global window) -> their sum per bundle, emitted when the bundle ends.

    A sum of balanced records is balanced, and a bundle's output is committed
    with the bundle, so no line is counted twice or lost. The firing's trigger
    then sees a few records per bundle instead of one per line: the local
    runner's processing-time trigger reads state that grows with every element
    of a pane, so thousands of records per pane cost quadratic time.
    """

    def start_bundle(self):
        self._totals: dict[str, int] = {}
        self._earliest: Timestamp | None = None

    def process(self, counts, timestamp=beam.DoFn.TimestampParam):
        totals = self._totals
        for name, count in counts.items():
            totals[name] = totals.get(name, 0) + count
        if self._earliest is None or timestamp < self._earliest:
            self._earliest = timestamp  # holds no later than the earliest record summed

    def finish_bundle(self):
        if self._totals and self._earliest is not None:
            yield WindowedValue(self._totals, self._earliest, (GlobalWindow(),))
