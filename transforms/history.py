"""ReadLineageHistory: ``course_lineage`` rows of earlier ingest dates, for a dated run.

Lineage spans days: a retry on day D may need a migration (or the identity
pair that resolves its parent) ingested on any earlier day. Only earlier days
count, so that a day's output never depends on whether later days exist and a
rerun of day D after D+1 gives the same rows.
"""
from __future__ import annotations

import re

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.fileio import EmptyMatchTreatment

from transforms.tables import COURSE_LINEAGE, LineageRow

_INGEST_DATE = re.compile(r"ingest_date=(\d{4}-\d{2}-\d{2})")


def default_history_pattern(output: str) -> str:
    return FileSystems.join(output, COURSE_LINEAGE.name, "ingest_date=*", "*.parquet")


def counts_before(path: str, day: str) -> bool:
    """A history file counts for day D when its ingest date is earlier (or it has none)."""
    match = _INGEST_DATE.search(path)
    return match is None or match.group(1) < day


def read_lineage_rows(path: str) -> list[LineageRow]:
    """The rows of one ``course_lineage`` Parquet file, times as epoch microseconds."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        table = pq.read_table(handle, columns=COURSE_LINEAGE.schema.names)
    columns = [
        column.cast(pa.int64()).to_pylist() if pa.types.is_timestamp(column.type) else column.to_pylist()
        for column in table.columns
    ]
    return [LineageRow(*values) for values in zip(*columns)]


class ReadLineageHistory(beam.PTransform):
    """A file pattern -> the ``LineageRow`` of every history file ingested before ``day``."""

    def __init__(self, pattern: str, day: str):
        super().__init__()
        self._pattern = pattern
        self._day = day

    def expand(self, pbegin):
        day = self._day
        return (
            pbegin
            | "MatchHistory" >> fileio.MatchFiles(self._pattern, empty_match_treatment=EmptyMatchTreatment.ALLOW)
            | "EarlierDaysOnly" >> beam.Filter(lambda meta: counts_before(meta.path, day))
            | "ReadRows" >> beam.FlatMap(lambda meta: read_lineage_rows(meta.path))
        )
