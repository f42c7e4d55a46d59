"""ReadLineageHistory: ``course_lineage`` rows of earlier ingest dates, for a dated run.

Lineage spans days: a retry on day D may need a migration (or the identity
pair that resolves its parent) ingested on any earlier day. Only earlier days
count, so that a day's output never depends on whether later days exist and a
rerun of day D after D+1 gives the same rows.

By default the history is the output's own published ``course_lineage``:
through the links of a local output (which lead into its current version), or
the days the manifest of an object-store output names. Which files that is is
decided when the job runs, not when it is built, so building a job needs no
access to the output.
"""
from __future__ import annotations

import re

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import fileio
from apache_beam.io.fileio import EmptyMatchTreatment
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.publish import current_table_dirs
from transforms.tables import COURSE_LINEAGE, LineageRow

_INGEST_DATE = re.compile(r"ingest_date=(\d{4}-\d{2}-\d{2})")


def default_history_pattern(output: str) -> str:
    """A local output's history: its ``course_lineage`` days, through the current version's link."""
    return FileSystems.join(output, COURSE_LINEAGE.name, "ingest_date=*", "*.parquet")


def published_history_patterns(output: str) -> list[str]:
    """File patterns of every published ``course_lineage`` day of ``output`` (local or remote)."""
    if "://" not in output:
        return [default_history_pattern(output)]
    return [FileSystems.join(folder, "*.parquet") for folder in current_table_dirs(output, COURSE_LINEAGE)
            if _INGEST_DATE.search(folder)]


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
    return [LineageRow(*values) for values in zip(*columns, strict=True)]


class ReadLineageHistory(beam.PTransform):
    """History files -> the ``LineageRow`` of every file ingested before ``day``.

    The pattern defaults to the published history of ``output``.
    """

    def __init__(self, pattern: str | None, day: str, output: str | None = None):
        super().__init__()
        if pattern is None and output is None:
            raise ValueError("ReadLineageHistory needs a pattern or an output")
        self._pattern = pattern
        self._day = day
        self._output = output

    def expand(self, pbegin):
        day = self._day
        if self._pattern is not None:
            patterns = pbegin | "HistoryPattern" >> beam.Create([self._pattern])
        else:
            patterns = (pbegin | "HistoryOutput" >> beam.Create([self._output])
                        | "PublishedHistory" >> beam.FlatMap(published_history_patterns))
        return (
            patterns
            | "MatchHistory" >> fileio.MatchAll(empty_match_treatment=EmptyMatchTreatment.ALLOW)
            | "EarlierDaysOnly" >> beam.Filter(lambda meta: counts_before(meta.path, day))
            | "ReadRows" >> beam.FlatMap(lambda meta: read_lineage_rows(meta.path))
        )
