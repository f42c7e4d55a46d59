"""Dated runs of the batch job: which ingest dates a command runs, and each one's inputs."""
from __future__ import annotations

import datetime as dt
import re

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.retry_lineage.options import RetryLineageOptions
from pipelines.exit_codes import UsageError

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day(value: str, option: str) -> dt.date:
    try:
        if not _DATE.fullmatch(value):
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} must be a date YYYY-MM-DD, got {value!r}") from None


def ingest_days(options: PipelineOptions) -> list[str | None]:
    """The ingest dates to run, one pipeline each, in order; [None] for an undated run."""
    opts = options.view_as(RetryLineageOptions)
    if opts.date and (opts.start or opts.end):
        raise UsageError("--date and --start/--end exclude each other")
    if opts.date:
        return [_day(opts.date, "--date").isoformat()]
    if bool(opts.start) != bool(opts.end):
        raise UsageError("--start and --end go together")
    if opts.start:
        first, last = _day(opts.start, "--start"), _day(opts.end, "--end")
        if last < first:
            raise UsageError(f"--end {opts.end} is before --start {opts.start}")
        return [(first + dt.timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)]
    return [None]


def patterns_of_day(options: PipelineOptions, day: str | None) -> list[str]:
    """The input patterns of one ingest date: ``--input-template`` for the day, else ``--input``."""
    opts = options.view_as(RetryLineageOptions)
    return [opts.input_template.replace("{date}", day)] if opts.input_template else opts.input


def input_patterns(options: PipelineOptions) -> list[str]:
    """The input patterns of the run as configured now (a backfill sets ``--date`` day by day)."""
    return patterns_of_day(options, options.view_as(RetryLineageOptions).date)
