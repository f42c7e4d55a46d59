"""Streaming output: Parquet files per event-time window, and summary records per firing.

``WriteWindowFiles`` buffers a table's rows per (partition, window) in state,
in the global window, and writes a file when the watermark passes the window's
end; rows that come later (retries held for their lineage, late migrations)
go out in further files, one batch per window's worth of watermark. Nothing is
dropped: however late a row comes, it is written as a further file of its window. File names
are deterministic (window start, pane, a digest of the rows; no colons,
brackets or spaces) and every file is written under a temporary name and
renamed, so readers (DuckDB while the stream runs) never see half a file.

``WriteStreamSummaries`` sums per-line counter records per processing-time
firing into one summary record each: deltas, every line in exactly one record,
each record balanced because a line's counters always travel together.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import typing

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms import trigger
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from transforms.output import STAGING_DIR, retry_partition, write_parquet
from transforms.streaming import window_start
from transforms.summary import SumCounters, build_summary
from transforms.tables import RETRIES, Table

SUMMARIES_DIR = "_summaries"


def row_time(table: Table, row, element_time: Timestamp) -> int:
    """The event time (epoch microseconds) that places a row in a window."""
    if table is RETRIES:
        return row.event_time
    completed_at = getattr(row, "completed_at", None)
    return completed_at if completed_at is not None else element_time.micros


def window_file_name(start_micros: int, pane: int, rows: list) -> str:
    digest = hashlib.sha1(repr(sorted(map(repr, rows))).encode("utf-8")).hexdigest()[:12]
    stamp = Timestamp(micros=start_micros).to_utc_datetime().strftime("%Y%m%dT%H%M%SZ")
    return f"part-{stamp}-p{pane:03d}-{digest}.parquet"


def publish_file(directory: str, name: str, table: Table, rows: list, codec: str, output: str) -> str:
    """Write under a temporary name, then rename into place."""
    temporary = FileSystems.join(output, STAGING_DIR, "stream", f"{table.name}-{name}")
    final = FileSystems.join(directory, name)
    write_parquet(temporary, table, rows, codec)
    if "://" not in final:
        os.makedirs(directory, exist_ok=True)
    FileSystems.rename([temporary], [final])
    return final


class _WriteWindow(beam.DoFn):
    BUFFER = BagStateSpec("buffer", beam.coders.PickleCoder())
    PANE = ReadModifyWriteStateSpec("pane", beam.coders.VarIntCoder())
    FLUSHED_AT = ReadModifyWriteStateSpec("flushed_at", beam.coders.VarIntCoder())
    ON_TIME = TimerSpec("on_time", TimeDomain.WATERMARK)
    LATE_FLUSH = TimerSpec("late_flush", TimeDomain.WATERMARK)

    def __init__(self, table: Table, output: str, codec: str, window_seconds: int):
        self._table = table
        self._output = output
        self._codec = codec
        self._window_micros = window_seconds * 1_000_000

    def process(self, keyed, buffer=beam.DoFn.StateParam(BUFFER), flushed_at=beam.DoFn.StateParam(FLUSHED_AT),
                on_time=beam.DoFn.TimerParam(ON_TIME), late_flush=beam.DoFn.TimerParam(LATE_FLUSH)):
        (_, start), row = keyed
        buffer.add(row)
        last = flushed_at.read()
        if last is None:
            on_time.set(Timestamp(micros=start + self._window_micros))
        else:
            # Later rows go out in batches, one window's worth of watermark after the last file.
            late_flush.set(Timestamp(micros=last + self._window_micros))

    @on_timer(ON_TIME)
    def write_on_time(self, key=beam.DoFn.KeyParam, fired=beam.DoFn.TimestampParam,
                      buffer=beam.DoFn.StateParam(BUFFER), pane=beam.DoFn.StateParam(PANE),
                      flushed_at=beam.DoFn.StateParam(FLUSHED_AT)):
        flushed_at.write(fired.micros)
        yield from self._flush(key, buffer, pane)

    @on_timer(LATE_FLUSH)
    def write_late(self, key=beam.DoFn.KeyParam, fired=beam.DoFn.TimestampParam,
                   buffer=beam.DoFn.StateParam(BUFFER), pane=beam.DoFn.StateParam(PANE),
                   flushed_at=beam.DoFn.StateParam(FLUSHED_AT)):
        flushed_at.write(fired.micros)
        yield from self._flush(key, buffer, pane)

    def _flush(self, key, buffer, pane):
        rows = list(buffer.read())
        if not rows:
            return
        buffer.clear()
        number = pane.read() or 0
        pane.write(number + 1)
        partition, start = key
        directory = FileSystems.join(self._output, self._table.name, partition) if partition else FileSystems.join(
            self._output, self._table.name)
        yield publish_file(directory, window_file_name(start, number, rows), self._table, rows, self._codec, self._output)


class WriteWindowFiles(beam.PTransform):
    """Rows of one table -> Parquet files per event-time window (returns the written paths)."""

    def __init__(self, table: Table, output: str, codec: str, window_seconds: int):
        super().__init__()
        self._table = table
        self._output = output
        self._codec = codec
        self._window_seconds = window_seconds

    def expand(self, rows):
        table, window_seconds = self._table, self._window_seconds

        def key_by_window(row, timestamp=beam.DoFn.TimestampParam):
            start = window_start(row_time(table, row, timestamp), window_seconds)
            # Windows divide a day, so a window's rows share the event date of their partition.
            partition = retry_partition(row) if table is RETRIES else ""
            return ((partition, start), row)

        return (
            rows
            | "KeyByWindow" >> beam.Map(key_by_window).with_output_types(
                typing.Tuple[typing.Tuple[str, int], typing.Any])
            | "WriteWindow" >> beam.ParDo(_WriteWindow(table, self._output, self._codec, window_seconds))
        )


class WriteStreamSummaries(beam.PTransform):
    """Per-line counter records -> one balanced summary record (JSON line) per processing-time firing."""

    def __init__(self, output: str, pseudonymization: str, every_seconds: int = 60):
        super().__init__()
        self._output = output
        self._pseudonymization = pseudonymization
        self._every = every_seconds

    def expand(self, counts):
        output, pseudonymization = self._output, self._pseudonymization

        def write(totals, pane=beam.DoFn.PaneInfoParam):
            record = build_summary(totals, pseudonymization)
            # Rows are held (retries for their lineage, windows until they end), so what a
            # firing counts are lines; the *_written totals of a batch run have no meaning here.
            for batch_only in ("outputs_complete", "retries_written", "lineage_edges_written", "dead_letters_written"):
                del record[batch_only]
            record["window"] = {"kind": "processing_time_firing", "firing": pane.index,
                                "written_at": Timestamp.of(time.time()).to_rfc3339()}
            line = json.dumps(record, sort_keys=True)
            stamp = Timestamp.of(time.time()).to_utc_datetime().strftime("%Y%m%dT%H%M%S%fZ")
            name = f"summary-{stamp}-{hashlib.sha1(line.encode()).hexdigest()[:8]}.jsonl"
            path = FileSystems.join(output, SUMMARIES_DIR, name)
            with FileSystems.create(path) as handle:
                handle.write((line + "\n").encode("utf-8"))
            return record

        return (
            counts
            | "EveryFewSeconds" >> beam.WindowInto(
                beam.window.GlobalWindows(),
                trigger=trigger.Repeatedly(trigger.AfterProcessingTime(self._every)),
                accumulation_mode=trigger.AccumulationMode.DISCARDING)
            | "SumRecord" >> beam.CombineGlobally(_SumCountDicts()).without_defaults()
            | "WriteRecord" >> beam.Map(write)
        )


class _SumCountDicts(SumCounters):
    """{name: count} records -> their sum."""

    def add_input(self, totals, counts):
        for name, count in counts.items():
            totals[name] = totals.get(name, 0) + count
        return totals
