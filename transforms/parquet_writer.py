"""Parquet output: the table files of a run, written into the run's own folder.

A batch run writes its files into a version folder no reader looks at
(``transforms.publish`` names it and publishes it once every file and the
summary are written); the streaming writer writes under ``OUTPUT/_staging/stream``
and renames each file into place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.counters import counter_record
from transforms.shards import pack_rows, unpack_rows
from transforms.tables import DEAD_LETTER, EVENT_DATE_TABLES, Table, to_arrow
from transforms.timestamps import utc_date

PARQUET_CODECS = ("zstd", "snappy", "gzip", "none")
DEFAULT_PARQUET_CODEC = "zstd"
DEFAULT_ROWS_PER_FILE = 1_000_000
STAGING_DIR = "_staging"


def write_parquet(path: str, table: Table, rows: list[tuple], codec: str) -> None:
    """Write ``rows`` as one Parquet file on any Beam filesystem."""
    write_arrow(path, to_arrow(table, rows), codec)


def write_arrow(path: str, data: pa.Table, codec: str) -> None:
    """Write an Arrow table (in the table's schema) as one Parquet file on any Beam filesystem."""
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        # codec is one of PARQUET_CODECS, checked where the option is read; pyarrow's stubs
        # want a Literal.
        pq.write_table(data, handle, compression=codec)  # type: ignore[arg-type]


def arrow_of_packed(table: Table, batches: Iterable[bytes]) -> pa.Table:
    """Packed lists of rows (:func:`transforms.shards.pack_rows`) -> one Arrow table, in order.

    Each list becomes Arrow columns before the next is unpacked, so the rows are
    Python objects one list at a time; the Arrow table holds the rest compactly.
    """
    parts = [to_arrow(table, unpack_rows(packed)) for packed in batches]
    return pa.concat_tables(parts) if parts else table.schema.empty_table()


class WriteParquetFiles(beam.DoFn):
    """(relative path, stem, rows) -> Parquet files (a file per ``rows_per_file`` rows).

    ``rows`` is a list of rows or an Arrow table in the table's schema. Emits
    ``{<table>_written: rows}`` counter records: the summary checks them
    against what was accepted, so a lost file cannot go unnoticed.
    """

    def __init__(
        self, table: Table, table_dir: str, codec: str, rows_per_file: int = DEFAULT_ROWS_PER_FILE
    ):
        self._table = table
        self._table_dir = table_dir
        self._codec = codec
        self._rows_per_file = rows_per_file

    def process(self, element):
        relative_dir, stem, rows = element
        data = rows if isinstance(rows, pa.Table) else to_arrow(self._table, list(rows))
        for part, start in enumerate(range(0, data.num_rows, self._rows_per_file)):
            name = f"{stem}-{part:05d}.parquet"
            path = (
                FileSystems.join(self._table_dir, relative_dir, name)
                if relative_dir
                else FileSystems.join(self._table_dir, name)
            )
            write_arrow(path, data.slice(start, self._rows_per_file), self._codec)
        record = counter_record({f"{self._table.name}_written": data.num_rows})
        if record:
            yield record


def write_step(table: Table) -> str:
    """The step writing a table, labelled alike in batch and streaming (``WriteCourseLineage``)."""
    return "Write" + "".join(word.title() for word in table.name.split("_"))


def retry_partition(row) -> str:
    """The hive partition folder of a row of an event_date-partitioned table: its UTC date."""
    return f"event_date={utc_date(row.event_time)}"


_MICROS_PER_DAY = 86_400_000_000


def packed_by_event_date(rows: list[tuple], time_index: int) -> Iterator[tuple[str, bytes]]:
    """:func:`split_by_event_date`, each date's rows packed (``transforms.shards.pack_rows``)."""
    for folder, day_rows in split_by_event_date(rows, time_index):
        yield folder, pack_rows([tuple(row) for row in day_rows])


def split_by_event_date(rows: list[tuple], time_index: int) -> Iterator[tuple[str, list[tuple]]]:
    """Rows (plain tuples) -> (``event_date=`` folder, its rows) for each UTC date among them.

    ``time_index`` is the position of the ``event_time`` column (epoch µs).
    """
    by_day: dict[int, list[tuple]] = {}
    for row in rows:
        by_day.setdefault(row[time_index] // _MICROS_PER_DAY, []).append(row)
    for day, day_rows in by_day.items():
        yield f"event_date={utc_date(day * _MICROS_PER_DAY)}", day_rows


class WriteTable(beam.PTransform):
    """Rows of one table -> Parquet files under ``staging/<table>/[partition/]``; row counters.

    Each partition is one file set (a file per million rows): ``retries``,
    ``assignment_states`` and ``retry_outcomes`` are partitioned by ``event_date``
    (UTC), ``course_lineage`` and ``dead_letter`` are one partition each.
    ``dead_letter`` input comes as one list of rows per classified range; the
    lists, not their rows, are shuffled to the writer, which writes them sorted
    by source file and offset.

    With ``batched=True`` the input is lists of rows (tuples in column order, plain
    or not) instead of rows: each list is cut by partition where it is and packed
    into bytes (:func:`transforms.shards.pack_rows`), and only the packed lists cross
    to the writer (a list costs the runner far less than its rows would, and bytes
    less than a list while they wait to be grouped). The writer turns them into
    Arrow columns one list at a time.
    """

    def __init__(
        self, table: Table, staging: str, codec: str, partition: str = "", batched: bool = False
    ):
        super().__init__()
        self._batched = batched
        self._table = table
        self._table_dir = (
            FileSystems.join(staging, table.name, partition)
            if partition
            else FileSystems.join(staging, table.name)
        )
        self._codec = codec

    def expand(self, rows):
        table = self._table
        if table is DEAD_LETTER:
            files = (
                rows
                | "KeyRangeLists" >> beam.Map(lambda rows_of_range: ("", rows_of_range))
                | "GroupRangeLists" >> beam.GroupByKey()
                | "NameFiles"
                >> beam.MapTuple(lambda key, lists: (key, "part", dead_letters_in_order(lists)))
            )
        elif self._batched:
            if table in EVENT_DATE_TABLES:
                time_index = table.schema.get_field_index("event_time")
                keyed = rows | "KeyByPartition" >> beam.FlatMap(packed_by_event_date, time_index)
            else:
                keyed = rows | "KeyByPartition" >> beam.Map(
                    lambda batch: ("", pack_rows([tuple(row) for row in batch]))
                )
            files = (
                keyed
                | "GroupByPartition" >> beam.GroupByKey()
                | "NameFiles"
                >> beam.MapTuple(
                    lambda key, batches: (key, "part", arrow_of_packed(table, batches))
                )
            )
        else:
            partition = retry_partition if table in EVENT_DATE_TABLES else (lambda row: "")
            files = (
                rows
                # A plain tuple crosses the grouping for less than a NamedTuple (no pickle).
                | "KeyByPartition" >> beam.Map(lambda row: (partition(row), tuple(row)))
                | "GroupByPartition" >> beam.GroupByKey()
                | "NameFiles" >> beam.MapTuple(lambda key, group: (key, "part", group))
            )
        return files | "WriteParquetFiles" >> beam.ParDo(
            WriteParquetFiles(table, self._table_dir, self._codec)
        )


def dead_letters_in_order(lists: Iterable[list]) -> list:
    """The dead-letter rows of every classified range, ordered by source file and offset.

    A file is then the same whichever order the ranges arrived in.
    """
    rows = [row for rows_of_range in lists for row in rows_of_range]
    rows.sort(
        key=lambda row: (
            row.source_file or "",
            -1 if row.source_offset is None else row.source_offset,
        )
    )
    return rows
