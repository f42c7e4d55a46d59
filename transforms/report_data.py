"""What the report shows, computed from an output folder: its run summaries and DuckDB aggregates.

``open_output`` recognises the three layouts this project writes (an undated
batch output with ``_SUMMARY.json``, a dated one with ``_runs/*.json`` and an
``ingest_date`` partition per day, a streaming one with ``_summaries/*.jsonl``)
and opens its tables as DuckDB views over ``OUT/<table>/**/*.parquet`` with
hive partitioning. The aggregate functions below take that connection and
return plain Python values, so each is checked against figures worked out by
hand. The ``dead_letter`` view never exposes ``raw`` (nor ``error_detail``,
which may quote input), and no query reads ``actor_user_hmac``.

This module imports neither Beam nor the pydantic models: the report must
start fast. The folder and table names it shares with the writers are
spelled here and kept equal to theirs by a test.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Iterable, Mapping

import duckdb

SUMMARY_FILE = "_SUMMARY.json"
RUNS_DIR = "_runs"
SUMMARIES_DIR = "_summaries"
RETRIES = "retries"
COURSE_LINEAGE = "course_lineage"
DEAD_LETTER = "dead_letter"
RETRY_OUTCOMES = "retry_outcomes"
REQUIRED_TABLES = (RETRIES, COURSE_LINEAGE, DEAD_LETTER)
LINEAGE_STATUSES = ("same_course", "matched", "source_mismatch", "no_migration")
DEAD_LETTER_COLUMNS = ("error_code", "event_name", "source_file", "source_offset")

UNDATED, DATED, STREAMING = "batch", "dated batch", "streaming"
_INGEST_DATE = re.compile(r"ingest_date=(\d{4}-\d{2}-\d{2})")


class ReportInputError(Exception):
    """The folder is not an output of this project, or a table cannot be read (a usage error)."""


@dataclasses.dataclass(frozen=True)
class Period:
    """One run summary (dated: an ingest day; streaming: one summary record) and its time label."""

    label: str
    summary: dict


@dataclasses.dataclass
class Output:
    """An output folder opened for the report: its layout, periods, summary and tables."""

    path: str
    kind: str
    periods: list[Period]
    summary: dict
    connection: duckdb.DuckDBPyConnection
    tables: dict[str, int]  # table -> number of Parquet files
    has_outcomes: bool

    @property
    def empty(self) -> bool:
        """True when every table holds no rows."""
        return all(count_rows(self.connection, table) == 0 for table in self.tables)


# --- summaries -----------------------------------------------------------------------

def merge_summaries(summaries: Iterable[Mapping]) -> dict:
    """One summary from several: counts and nested counts summed, checks true only when all are.

    Strings (``pseudonymization``) are kept when every summary agrees, else
    joined as ``mixed: a, b``; other values are dropped.
    """
    merged: dict = {}
    strings: dict[str, set[str]] = {}
    for summary in summaries:
        for key, value in summary.items():
            if isinstance(value, bool):
                merged[key] = merged.get(key, True) and value
            elif isinstance(value, int):
                merged[key] = merged.get(key, 0) + value
            elif isinstance(value, Mapping) and all(isinstance(v, int) and not isinstance(v, bool)
                                                    for v in value.values()):
                totals = merged.setdefault(key, {})
                for name, count in value.items():
                    totals[name] = totals.get(name, 0) + count
            elif isinstance(value, str):
                strings.setdefault(key, set()).add(value)
    for key, values in strings.items():
        merged[key] = values.pop() if len(values) == 1 else "mixed: " + ", ".join(sorted(values))
    return merged


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except (OSError, ValueError) as error:
        raise ReportInputError(f"cannot read the run summary {path}: {error}") from error
    if not isinstance(value, dict):
        raise ReportInputError(f"{path} is not a run summary (not a JSON object)")
    return value


def _read_json_lines(path: str) -> list[dict]:
    records = []
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    record = json.loads(line)
                    if not isinstance(record, dict):
                        raise ValueError(f"line {number} is not a JSON object")
                    records.append(record)
    except (OSError, ValueError) as error:
        raise ReportInputError(f"cannot read the summary records {path}: {error}") from error
    return records


def _files(directory: str, suffix: str) -> list[str]:
    if not os.path.isdir(directory):
        return []
    return sorted(os.path.join(directory, name) for name in os.listdir(directory)
                  if name.endswith(suffix) and not name.startswith("."))


def read_periods(path: str) -> tuple[str, list[Period]]:
    """(layout kind, summaries in time order) of an output folder; ReportInputError if none."""
    summary_file = os.path.join(path, SUMMARY_FILE)
    if os.path.isfile(summary_file):
        return UNDATED, [Period("this run", _read_json(summary_file))]
    runs = _files(os.path.join(path, RUNS_DIR), ".json")
    if runs:
        periods = []
        for run in runs:
            match = _INGEST_DATE.search(os.path.basename(run))
            periods.append(Period(match.group(1) if match else os.path.basename(run), _read_json(run)))
        return DATED, sorted(periods, key=lambda period: period.label)
    records = [record for name in _files(os.path.join(path, SUMMARIES_DIR), ".jsonl")
               for record in _read_json_lines(name)]
    if records or os.path.isdir(os.path.join(path, SUMMARIES_DIR)):
        periods = [Period(str((record.get("window") or {}).get("written_at", "")), record) for record in records]
        return STREAMING, sorted(periods, key=lambda period: period.label)
    raise ReportInputError(
        f"{path} is not an output of retry-lineage "
        f"(no {SUMMARY_FILE}, {RUNS_DIR}/*.json or {SUMMARIES_DIR}/*.jsonl)")


# --- tables --------------------------------------------------------------------------

def table_files(path: str, table: str) -> list[str] | None:
    """The Parquet files of ``OUT/<table>/**``, following symlinks; None if the folder is absent."""
    top = os.path.join(path, table)
    if not os.path.isdir(top):
        return None
    found: list[str] = []
    for root, dirs, names in os.walk(top, followlinks=True):
        dirs[:] = sorted(name for name in dirs if not name.startswith((".", "_")))
        found.extend(os.path.join(root, name) for name in sorted(names)
                     if name.endswith(".parquet") and not name.startswith((".", "_")))
    return found


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _create_view(connection, table: str, files: list[str], columns: str = "*") -> None:
    if files:
        listing = "[" + ", ".join(_sql_string(name) for name in files) + "]"
        source = f"read_parquet({listing}, hive_partitioning = true, union_by_name = true)"
    else:
        # A streaming output before its first window closes: the table has no file yet.
        source = {
            RETRIES: "(SELECT NULL::VARCHAR AS event_fingerprint, NULL::TIMESTAMPTZ AS event_time, "
                     "NULL::VARCHAR AS lineage_status, NULL::VARCHAR AS root_course_uuid, "
                     "NULL::VARCHAR AS original_course_uuid, NULL::VARCHAR AS new_course_uuid, "
                     "NULL::VARCHAR AS new_assignment_resource_link_id, NULL::VARCHAR AS migration_type, "
                     "NULL::DOUBLE AS seconds_since_migration, NULL::INTEGER AS lineage_depth, "
                     "NULL::BOOLEAN AS lineage_cycle, NULL::BOOLEAN AS lineage_truncated WHERE false)",
            COURSE_LINEAGE: "(SELECT NULL::VARCHAR AS content_migration_id WHERE false)",
            DEAD_LETTER: "(SELECT NULL::VARCHAR AS error_code, NULL::VARCHAR AS event_name, "
                         "NULL::VARCHAR AS source_file, NULL::BIGINT AS source_offset WHERE false)",
        }[table]
    try:
        connection.execute(f"CREATE VIEW {table} AS SELECT {columns} FROM {source}")
        connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    except duckdb.Error as error:
        raise ReportInputError(f"cannot read the {table} table of {os.path.dirname(files[0]) if files else table}: "
                               f"{str(error).splitlines()[0]}") from error


def open_output(path: str) -> Output:
    """Recognise an output folder and open its tables; ReportInputError for anything else."""
    if "://" in path:
        raise ReportInputError(f"{path}: the report reads local folders; copy the output here first")
    if not os.path.isdir(path):
        raise ReportInputError(f"{path} is not a folder")
    kind, periods = read_periods(path)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    tables: dict[str, int] = {}
    for table in REQUIRED_TABLES:
        files = table_files(path, table)
        if not files and kind != STREAMING:
            raise ReportInputError(f"{path} has no {table} table ({os.path.join(path, table)}/**/*.parquet)")
        columns = ", ".join(DEAD_LETTER_COLUMNS) if table == DEAD_LETTER and files else "*"
        _create_view(connection, table, files or [], columns)
        tables[table] = len(files or [])
    outcome_files = table_files(path, RETRY_OUTCOMES)
    if outcome_files:
        _create_view(connection, RETRY_OUTCOMES, outcome_files)
        tables[RETRY_OUTCOMES] = len(outcome_files)
    return Output(path, kind, periods, merge_summaries(period.summary for period in periods),
                  connection, tables, bool(outcome_files))


def count_rows(connection, table: str) -> int:
    """The number of rows of a table (a DuckDB view)."""
    return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# --- aggregates ------------------------------------------------------------------------

def ratio(part: float, whole: float) -> float | None:
    """``part / whole``, or None when ``whole`` is zero."""
    return part / whole if whole else None


def headline(connection, summary: Mapping) -> dict:
    """The headline figures: the summary's counters and checks, and what the tables hold."""
    retries, courses, assignments, matched = connection.execute(
        "SELECT count(*), count(DISTINCT new_course_uuid), "
        "count(DISTINCT CASE WHEN new_assignment_resource_link_id IS NOT NULL "
        "THEN (new_course_uuid, new_assignment_resource_link_id) END), "
        "count(*) FILTER (WHERE lineage_status = 'matched') FROM retries").fetchone()
    lines_read = summary.get("lines_read", 0)
    dead_lettered = summary.get("dead_lettered", 0)
    accepted = summary.get("accepted", {})
    return {
        "lines_read": lines_read,
        "retries": retries,
        "courses_retried": courses,
        "assignments_retried": assignments,
        "matched": matched,
        "matched_share": ratio(matched, retries),
        "dead_lettered": dead_lettered,
        "dead_letter_rate": ratio(dead_lettered, lines_read),
        "duplicates": summary.get("duplicates", 0),
        "pseudonymization": summary.get("pseudonymization", "unknown"),
        "lineage_edges": count_rows(connection, COURSE_LINEAGE),
        "identity_conflicts": summary.get("identity_conflicts", 0),
        "balanced": summary.get("balanced"),
        "outputs_complete": summary.get("outputs_complete"),
        "balance_terms": {
            "lines_read": lines_read,
            "blank_lines": summary.get("blank_lines", 0),
            "dead_lettered": dead_lettered,
            "skipped": summary.get("skipped", 0),
            "duplicates": summary.get("duplicates", 0),
            "accepted": sum(accepted.values()) if isinstance(accepted, Mapping) else 0,
        },
    }


def retries_per_day(connection) -> list[tuple[str, str, int]]:
    """(UTC day, lineage_status, retries), by day then status."""
    return [tuple(row) for row in connection.execute(
        "SELECT strftime(event_time, '%Y-%m-%d') AS day, lineage_status, count(*) FROM retries "
        "GROUP BY ALL ORDER BY day, lineage_status").fetchall()]


def lineage_status_counts(connection) -> list[tuple[str, int, float]]:
    """(lineage_status, retries, share) of every status (zeros too), in LINEAGE_STATUSES order."""
    counts = dict(connection.execute("SELECT lineage_status, count(*) FROM retries GROUP BY 1").fetchall())
    total = sum(counts.values())
    statuses = list(LINEAGE_STATUSES) + sorted(set(counts) - set(LINEAGE_STATUSES))
    return [(status, counts.get(status, 0), ratio(counts.get(status, 0), total) or 0.0) for status in statuses]


@dataclasses.dataclass(frozen=True)
class CourseCount:
    """A course's retries, their share of all retries, and the time of its last retry."""

    course: str
    retries: int
    share: float
    last_retry: str  # UTC, minute precision


def top_courses(connection, column: str, limit: int = 15) -> list[CourseCount]:
    """The courses of ``column`` (root or original course uuid) with the most retries."""
    if column not in ("root_course_uuid", "original_course_uuid"):
        raise ValueError(column)
    rows = connection.execute(
        f"SELECT {column}, count(*) AS n, count(*) / sum(count(*)) OVER () AS share, "
        f"strftime(max(event_time), '%Y-%m-%d %H:%M') FROM retries GROUP BY 1 "
        f"ORDER BY n DESC, 1 LIMIT {int(limit)}").fetchall()
    return [CourseCount(course, n, share, last) for course, n, share, last in rows]


def migration_types(connection) -> list[tuple[str, int]]:
    """(migration_type, retries), most first; a retry with no migration counts as ``(none)``."""
    return [tuple(row) for row in connection.execute(
        "SELECT coalesce(migration_type, '(none)') AS kind, count(*) AS n FROM retries "
        "GROUP BY 1 ORDER BY n DESC, kind").fetchall()]


def lineage_depths(connection) -> list[tuple[int, int]]:
    """(lineage_depth, retries), by depth."""
    return [tuple(row) for row in connection.execute(
        "SELECT lineage_depth, count(*) FROM retries GROUP BY 1 ORDER BY 1").fetchall()]


def chain_quality(connection) -> dict:
    """Retries whose chain is truncated, cyclic, either, and their share of all retries."""
    total, truncated, cyclic, either = connection.execute(
        "SELECT count(*), count(*) FILTER (WHERE lineage_truncated), "
        "count(*) FILTER (WHERE lineage_cycle), "
        "count(*) FILTER (WHERE lineage_truncated OR lineage_cycle) FROM retries").fetchone()
    return {"retries": total, "truncated": truncated, "cyclic": cyclic,
            "truncated_or_cyclic": either, "share": ratio(either, total)}


BINS_PER_DECADE = 4


def log_histogram(connection, table: str, column: str) -> tuple[list[tuple[float, float, int]], int]:
    """(bins, values under 1 s) of a seconds column; bins (lower, upper, count), 4 per decade.

    The bins run without gaps from the lowest to the highest one that holds a value.
    Null values are left out; values under one second (zero included) are
    counted apart because a log scale cannot show them.
    """
    per = BINS_PER_DECADE
    rows = connection.execute(
        f"SELECT floor(log10({column}) * {per})::BIGINT AS bin, count(*) FROM {table} "
        f"WHERE {column} >= 1 GROUP BY 1 ORDER BY 1").fetchall()
    under_one = connection.execute(
        f"SELECT count(*) FROM {table} WHERE {column} < 1").fetchone()[0]
    counts = dict(rows)
    bins = range(min(counts), max(counts) + 1) if counts else ()
    return [(10 ** (bin_ / per), 10 ** ((bin_ + 1) / per), counts.get(bin_, 0)) for bin_ in bins], under_one


def quantiles(connection, table: str, column: str) -> dict | None:
    """Median and 90th percentile of a column (nulls left out); None when it has no value."""
    median, p90 = connection.execute(
        f"SELECT quantile_cont({column}, 0.5), quantile_cont({column}, 0.9) FROM {table}").fetchone()
    return None if median is None else {"median": median, "p90": p90}


def attempts_per_assignment(connection) -> tuple[list[tuple[int, int]], int]:
    """((retries of an assignment, assignments with that many), retries with no assignment link)."""
    rows = connection.execute(
        "SELECT n, count(*) FROM (SELECT count(*) AS n FROM retries "
        "WHERE new_assignment_resource_link_id IS NOT NULL "
        "GROUP BY new_course_uuid, new_assignment_resource_link_id) GROUP BY n ORDER BY n").fetchall()
    unlinked = connection.execute(
        "SELECT count(*) FROM retries WHERE new_assignment_resource_link_id IS NULL").fetchone()[0]
    return [tuple(row) for row in rows], unlinked


def outcome_shares(connection) -> list[tuple[str, int, float]]:
    """(outcome, retries, share), most first."""
    return [tuple(row) for row in connection.execute(
        "SELECT outcome, count(*) AS n, count(*) / sum(count(*)) OVER () FROM retry_outcomes "
        "GROUP BY 1 ORDER BY n DESC, outcome").fetchall()]


@dataclasses.dataclass(frozen=True)
class SourceSuccess:
    """A source course's retry outcomes and how many of them succeeded."""

    course: str
    outcomes: int
    succeeded: int
    success_rate: float


def success_by_source(connection, limit: int = 15) -> list[SourceSuccess]:
    """Retries' success rate by source course (``original_course_uuid``), most outcomes first."""
    rows = connection.execute(
        "SELECT r.original_course_uuid, count(*) AS n, "
        "count(*) FILTER (WHERE o.outcome = 'succeeded') "
        "FROM retry_outcomes o JOIN retries r USING (event_fingerprint) "
        f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT {int(limit)}").fetchall()
    return [SourceSuccess(course, n, ok, ok / n) for course, n, ok in rows]


def dead_letters_by_code(summary: Mapping) -> list[tuple[str, int]]:
    """(error_code, dead letters) of the run summary, most first, codes with none left out.

    The summary counts every dead letter, also those a stream has not written to a file yet.
    """
    counts = summary.get("dead_letter_by_code") or {}
    return sorted(((code, count) for code, count in counts.items() if count), key=lambda item: (-item[1], item[0]))


def dead_letters_by_file(connection, limit: int = 20) -> list[tuple[str, int]]:
    """(input file, dead letters), most first."""
    return [tuple(row) for row in connection.execute(
        "SELECT coalesce(source_file, '(unknown)'), count(*) AS n FROM dead_letter "
        f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT {int(limit)}").fetchall()]


def dead_letters_over_time(periods: list[Period], kind: str) -> list[tuple[str, str, int]]:
    """(period, error_code, dead letters) from the summaries: per ingest day, or stream UTC hour."""
    totals: dict[tuple[str, str], int] = {}
    for period in periods:
        label = period.label
        if kind == STREAMING:
            label = label[:13].replace("T", " ") + ":00" if len(label) >= 13 else "(unknown)"
        for code, count in (period.summary.get("dead_letter_by_code") or {}).items():
            if count:
                totals[(label, code)] = totals.get((label, code), 0) + count
    return [(label, code, count) for (label, code), count in sorted(totals.items())]


def top_skipped(summary: Mapping, limit: int = 20) -> list[tuple[str, int]]:
    """The ``limit`` event names skipped most often, with their counts."""
    counts = summary.get("skipped_by_event_name") or {}
    return sorted(((name, count) for name, count in counts.items() if count),
                  key=lambda item: (-item[1], item[0]))[:limit]


def humane_seconds(seconds: float) -> str:
    """``90`` -> ``1.5 min``: a duration in the largest unit that keeps it >= 1."""
    if seconds is None or math.isnan(seconds):
        return "n/a"
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"
