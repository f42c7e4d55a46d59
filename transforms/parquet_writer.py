"""Parquet output: the table files of a run, written into the run's own folder.

A batch run writes its files into a version folder no reader looks at
(``transforms.publish`` names it and publishes it once every file and the
summary are written); the streaming writer writes under ``OUTPUT/_staging/stream``
and renames each file into place.
"""
from __future__ import annotations

import hashlib

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.counters import count_pairs
from transforms.tables import DEAD_LETTER, EVENT_DATE_TABLES, Table, to_arrow
from transforms.timestamps import utc_date

PARQUET_CODECS = ("zstd", "snappy", "gzip", "none")
DEFAULT_PARQUET_CODEC = "zstd"
DEFAULT_ROWS_PER_FILE = 1_000_000
STAGING_DIR = "_staging"


def write_parquet(path: str, table: Table, rows: list[tuple], codec: str) -> None:
    """Write ``rows`` as one Parquet file on any Beam filesystem."""
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        # codec is one of PARQUET_CODECS, checked where the option is read; pyarrow's stubs
        # want a Literal.
        pq.write_table(to_arrow(table, rows), handle, compression=codec)  # type: ignore[arg-type]


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
    """The hive partition folder of a row of a table partitioned by event_date: its UTC event date."""
    return f"event_date={utc_date(row.event_time)}"


class WriteTable(beam.PTransform):
    """Rows of one table -> Parquet files under ``staging/<table>/[partition/]``; row counters.

    ``retries``, ``assignment_states`` and ``retry_outcomes`` are partitioned by ``event_date`` (UTC); ``course_lineage`` is
    one file set; ``dead_letter`` input is already grouped (one list per file
    range) and written without a shuffle.
    """

    def __init__(self, table: Table, staging: str, codec: str, partition: str = ""):
        super().__init__()
        self._table = table
        self._table_dir = FileSystems.join(staging, table.name, partition) if partition else FileSystems.join(
            staging, table.name)
        self._codec = codec

    def expand(self, rows):
        table = self._table
        if table is DEAD_LETTER:
            files = rows | "NameRangeFiles" >> beam.Map(
                lambda group: ("", "part-" + _range_digest(group[0]), group))
        else:
            partition = retry_partition if table in EVENT_DATE_TABLES else (lambda row: "")
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
