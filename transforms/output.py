"""Parquet output: table files written to a run's staging folder, then published.

A run writes everything under ``OUTPUT/_staging/<run_id>/``; the last step of
the pipeline, :class:`PublishRun`, then replaces each table partition and the
summary. The summary is computed from every writer's counters, so it exists
only once all files are written, and publishing waits for it. Being a pipeline
step, publishing needs no launcher process to outlive the job (a Flex Template
launcher exits after submitting). A failed or killed run never leaves a
half-written table behind, and a rerun leaves no stale files from the last one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import posixpath
import shutil

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.counters import count_pairs
from transforms.tables import DEAD_LETTER, RETRIES, TABLES, Table, to_arrow
from transforms.timestamps import utc_date

PARQUET_CODECS = ("zstd", "snappy", "gzip", "none")
DEFAULT_PARQUET_CODEC = "zstd"
DEFAULT_ROWS_PER_FILE = 1_000_000
SUMMARY_FILE = "_SUMMARY.json"
SUCCESS_MARKER = "_SUCCESS"
RUNS_DIR = "_runs"
STAGING_DIR = "_staging"

_LOG = logging.getLogger(__name__)


def staging_dir(output: str, run_id: str) -> str:
    return FileSystems.join(output, STAGING_DIR, run_id)


def write_parquet(path: str, table: Table, rows: list[tuple], codec: str) -> None:
    """Write ``rows`` as one Parquet file on any Beam filesystem."""
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        pq.write_table(to_arrow(table, rows), handle, compression=codec)


class WriteParquetFiles(beam.DoFn):
    """(relative path, rows) -> one Parquet file under the table's staging folder.

    Emits ``(<table>_written, rows)`` counter pairs: the summary checks them
    against what was accepted, so a lost file cannot go unnoticed.
    """

    def __init__(self, table: Table, table_dir: str, codec: str, rows_per_file: int = DEFAULT_ROWS_PER_FILE):
        self._table = table
        self._table_dir = table_dir
        self._codec = codec
        self._rows_per_file = rows_per_file

    def process(self, element):
        relative_dir, stem, rows = element
        rows = list(rows)
        for part, start in enumerate(range(0, len(rows), self._rows_per_file)):
            name = f"{stem}-{part:05d}.parquet"
            path = FileSystems.join(self._table_dir, relative_dir, name) if relative_dir else FileSystems.join(self._table_dir, name)
            write_parquet(path, self._table, rows[start:start + self._rows_per_file], self._codec)
        yield from count_pairs({f"{self._table.name}_written": len(rows)})


def retry_partition(row) -> str:
    """The hive partition folder of a retries row: its UTC event date."""
    return f"event_date={utc_date(row.event_time)}"


class WriteTable(beam.PTransform):
    """Rows of one table -> Parquet files in staging; returns the written-rows counter pairs.

    ``retries`` is partitioned by ``event_date`` (UTC); ``course_lineage`` is
    one file set; ``dead_letter`` input is already grouped (one list per file
    range) and written without a shuffle.
    """

    def __init__(self, table: Table, staging: str, codec: str):
        super().__init__()
        self._table = table
        self._table_dir = FileSystems.join(staging, table.name)
        self._codec = codec

    def expand(self, rows):
        table = self._table
        if table is DEAD_LETTER:
            files = rows | "NameRangeFiles" >> beam.Map(
                lambda group: ("", "part-" + _range_digest(group[0]), group))
        else:
            partition = retry_partition if table is RETRIES else (lambda row: "")
            files = (
                rows
                | "KeyByPartition" >> beam.Map(lambda row: (partition(row), row))
                | "GroupByPartition" >> beam.GroupByKey()
                | "NameFiles" >> beam.MapTuple(lambda key, group: (key, "part", group))
            )
        return files | "WriteParquetFiles" >> beam.ParDo(WriteParquetFiles(table, self._table_dir, self._codec))


def _range_digest(first_row) -> str:
    key = f"{first_row.source_file}:{first_row.source_offset}".encode("utf-8")
    return hashlib.sha1(key).hexdigest()[:16]


class PublishRun(beam.PTransform):
    """The summary dict -> ``_SUMMARY.json`` in staging, then the whole run published."""

    def __init__(self, layout: "OutputLayout", run_id: str, codec: str):
        super().__init__()
        self._layout = layout
        self._run_id = run_id
        self._codec = codec

    def expand(self, summary):
        layout, run_id, codec = self._layout, self._run_id, self._codec
        path = FileSystems.join(staging_dir(layout.output, run_id), SUMMARY_FILE)

        def write_and_publish(summary_dict):
            with FileSystems.create(path, mime_type="application/json") as handle:
                handle.write(json.dumps(summary_dict, indent=2, sort_keys=False).encode("utf-8"))
            publish_run(layout, run_id, codec)
            return layout.summary_path

        return summary | "WriteSummaryAndPublish" >> beam.Map(write_and_publish)


def _files_under(directory: str) -> list[str]:
    pattern = FileSystems.join(directory, "**")
    return [meta.path for result in FileSystems.match([pattern]) for meta in result.metadata_list]


@dataclasses.dataclass(frozen=True)
class OutputLayout:
    """Where a run's tables and summary go.

    An undated run owns ``OUTPUT/<table>/`` and ``OUTPUT/_SUMMARY.json``. A run
    for ingest date D owns only ``OUTPUT/<table>/ingest_date=D/`` and
    ``OUTPUT/_runs/ingest_date=D.json``: other days are never touched.
    """

    output: str
    ingest_date: str | None = None

    def table_dir(self, table: Table) -> str:
        base = FileSystems.join(self.output, table.name)
        return FileSystems.join(base, f"ingest_date={self.ingest_date}") if self.ingest_date else base

    @property
    def summary_path(self) -> str:
        if self.ingest_date:
            return FileSystems.join(self.output, RUNS_DIR, f"ingest_date={self.ingest_date}.json")
        return FileSystems.join(self.output, SUMMARY_FILE)

    def empty_file_dir(self, table: Table) -> str:
        """Relative folder of the empty file a table with no rows gets (retries: its event_date)."""
        return f"event_date={self.ingest_date}" if table is RETRIES and self.ingest_date else ""


def publish_run(layout: OutputLayout, run_id: str, codec: str = DEFAULT_PARQUET_CODEC) -> None:
    """Replace each table's partition and the summary with the run's staged files.

    Each table folder gets a ``_SUCCESS`` marker (holding the run id) before it
    is swapped in, so a reader that sees the marker sees the whole partition.
    Publishing again after an interruption (a retried step) finishes the job
    without touching what this run already published.
    """
    staging = staging_dir(layout.output, run_id)
    for table in TABLES:
        staged_dir = FileSystems.join(staging, table.name)
        final_dir = layout.table_dir(table)
        staged = _files_under(staged_dir)
        if not staged and _published_by(final_dir, run_id):
            continue
        if not staged:
            # Readers should get zero rows, not "no files found".
            empty_dir = FileSystems.join(staged_dir, layout.empty_file_dir(table)) if layout.empty_file_dir(table) else staged_dir
            staged = [FileSystems.join(empty_dir, "part-empty-00000.parquet")]
            write_parquet(staged[0], table, [], codec)
        marker = FileSystems.join(staged_dir, SUCCESS_MARKER)
        with FileSystems.create(marker) as handle:
            handle.write(run_id.encode("utf-8"))
        _replace_dir(staged_dir, [*staged, marker], final_dir)
    staged_summary = FileSystems.join(staging, SUMMARY_FILE)
    if FileSystems.exists(staged_summary):
        final_summary = layout.summary_path
        if FileSystems.exists(final_summary):
            FileSystems.delete([final_summary])
        _make_local_parent(final_summary)
        FileSystems.rename([staged_summary], [final_summary])
    remove_staging(layout.output, run_id)


def _published_by(final_dir: str, run_id: str) -> bool:
    marker = FileSystems.join(final_dir, SUCCESS_MARKER)
    if not FileSystems.exists(marker):
        return False
    with FileSystems.open(marker, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return handle.read().decode("utf-8", "replace") == run_id


def _make_local_parent(path: str) -> None:
    if "://" not in path:
        os.makedirs(os.path.dirname(path), exist_ok=True)


def _replace_dir(staged_dir: str, staged: list[str], final_dir: str) -> None:
    if "://" not in final_dir:
        # Local: two renames, so readers never see a half-replaced table.
        shutil.rmtree(final_dir + ".old", ignore_errors=True)
        if os.path.isdir(final_dir):
            os.rename(final_dir, final_dir + ".old")
        _make_local_parent(final_dir)
        os.rename(staged_dir, final_dir)
        shutil.rmtree(final_dir + ".old", ignore_errors=True)
        return
    stale = _files_under(final_dir)
    if stale:
        FileSystems.delete(stale)
    targets = [FileSystems.join(final_dir, posixpath.relpath(path, staged_dir)) for path in staged]
    FileSystems.rename(staged, targets)


def remove_staging(output: str, run_id: str) -> None:
    leftovers = _files_under(staging_dir(output, run_id))
    if leftovers:
        FileSystems.delete(leftovers)
    _remove_empty_local_dirs(staging_dir(output, run_id))


def _remove_empty_local_dirs(directory: str) -> None:
    if "://" in directory or not os.path.isdir(directory):
        return
    for root, _, _ in sorted(os.walk(directory), key=lambda item: -len(item[0])):
        try:
            os.rmdir(root)
        except OSError:
            pass
    try:
        os.rmdir(os.path.dirname(directory))  # _staging itself, when no other run uses it
    except OSError:
        pass


def read_summary(layout: OutputLayout) -> dict:
    with FileSystems.open(layout.summary_path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return json.loads(handle.read())
