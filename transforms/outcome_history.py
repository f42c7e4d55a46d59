"""ReadTableHistory: rows of an event_date-partitioned table, as earlier ingest days published them.

A dated run decides the outcome of retries still pending after earlier days: it
needs those days' ``retries``, ``retry_outcomes`` and ``assignment_states``. Like
the lineage history (:mod:`transforms.history`), only days before the run's own
count, and which files those are is decided when the job runs.
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import fileio
from apache_beam.io.fileio import EmptyMatchTreatment
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.history import _INGEST_DATE, counts_before
from transforms.publish import current_table_dirs
from transforms.tables import Table


def table_history_patterns(output: str, table: Table) -> list[str]:
    """File patterns of every published ingest day of an event_date-partitioned table."""
    if "://" not in output:
        return [FileSystems.join(output, table.name, "ingest_date=*", "event_date=*", "*.parquet")]
    # "**" after the day's folder: the listing starts at that folder (a store that lists folders,
    # not prefixes, finds its event_date= partitions too).
    return [
        FileSystems.join(folder, "**.parquet")
        for folder in current_table_dirs(output, table)
        if _INGEST_DATE.search(folder)
    ]


def read_table_rows(path: str, table: Table) -> list[tuple]:
    """The rows of one Parquet file of ``table`` as its row NamedTuple, times as epoch µs."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        data = pq.read_table(handle, columns=table.schema.names)
    columns = [
        column.cast(pa.int64()).to_pylist()
        if pa.types.is_timestamp(column.type)
        else column.to_pylist()
        for column in data.columns
    ]
    return [table.row(*values) for values in zip(*columns, strict=True)]


class ReadTableHistory(beam.PTransform):
    """The published rows of ``table`` in ``output`` ingested before ``day`` (maybe none)."""

    def __init__(self, output: str, table: Table, day: str):
        super().__init__()
        self._output = output
        self._table = table
        self._day = day

    def expand(self, pbegin):
        table, day = self._table, self._day
        return (
            pbegin
            | "HistoryOutput" >> beam.Create([self._output])
            | "PublishedDays" >> beam.FlatMap(table_history_patterns, table)
            | "MatchHistory" >> fileio.MatchAll(empty_match_treatment=EmptyMatchTreatment.ALLOW)
            | "EarlierDaysOnly" >> beam.Filter(lambda meta: counts_before(meta.path, day))
            | "ReadRows" >> beam.FlatMap(lambda meta: read_table_rows(meta.path, table))
        )
