"""Checks of the batch job: options that cannot work, inputs and output, the summary after."""

from __future__ import annotations

import os
import tempfile

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.exit_codes import UsageError
from pipelines.retry_lineage.dated_runs import ingest_days, patterns_of_day
from pipelines.retry_lineage.options import RetryLineageOptions
from pipelines.shared_options import SharedOptions, validate_shared_options
from transforms.inputs import InputError, could_read_output, is_remote, resolve_inputs


def validate_options(options: PipelineOptions) -> None:
    """Raise UsageError for options that cannot work, before anything runs."""
    opts = options.view_as(RetryLineageOptions)
    days = ingest_days(opts)
    if opts.input_template:
        if "{date}" not in opts.input_template:
            raise UsageError("--input-template must contain {date}")
        if days == [None]:
            raise UsageError("--input-template needs --date or --start/--end")
        if opts.input:
            raise UsageError("--input and --input-template exclude each other")
    elif not opts.input:
        raise UsageError(
            "--input is required (one or more file patterns), or --input-template with dates"
        )
    elif len(days) > 1:
        raise UsageError("a backfill (--start/--end) reads each day through --input-template")
    if opts.lineage_history and days == [None]:
        raise UsageError("--lineage-history needs --date or --start/--end")
    output = validate_shared_options(opts).output
    if not 0.0 <= opts.max_dead_letter_ratio <= 1.0:
        raise UsageError(
            f"--max-dead-letter-ratio must be between 0 and 1, got {opts.max_dead_letter_ratio}"
        )
    if opts.parse_processes is not None and opts.parse_processes < 1:
        raise UsageError(f"--parse-processes must be at least 1, got {opts.parse_processes}")
    if opts.outcome_wait_seconds < 0:
        raise UsageError(
            f"--outcome-wait-seconds must be at least 0, got {opts.outcome_wait_seconds}"
        )
    option = "--input-template" if opts.input_template else "--input"
    for day in days:
        for pattern in patterns_of_day(opts, day):
            written = could_read_output(pattern, output)
            if written:
                raise UsageError(
                    f"{option} {pattern} could read the output "
                    f"({written}); narrow the pattern or write --output elsewhere"
                )


def check_output_folder(output: str) -> None:
    """A local --output must be a folder this process can write in (checked by writing there)."""
    if is_remote(output):
        return
    if os.path.exists(output) and not os.path.isdir(output):
        raise UsageError(f"--output {output} is a file, not a folder")
    existing = os.path.abspath(output)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"--output {output}: {existing} is a file, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".retry-lineage-probe-", dir=existing))
    except OSError as error:
        raise UsageError(
            f"--output {output}: cannot write in {existing} ({error.strerror or error})"
        ) from None


def check_inputs(options: PipelineOptions) -> None:
    """Resolve every day's input (see transforms.inputs) and check --output, before anything runs.

    Raises UsageError: an absent literal path, a folder, a pattern (or a dated
    run's day) that matches nothing without --allow-empty-input, an input inside
    the output, an --output that is a file or cannot be written.
    """
    opts = options.view_as(RetryLineageOptions)
    output = options.view_as(SharedOptions).output
    check_output_folder(output)
    for day in ingest_days(opts):
        template = opts.input_template
        try:
            resolve_inputs(
                patterns_of_day(opts, day),
                output,
                opts.allow_empty_input,
                option=f"--input-template (ingest_date={day})" if template else "--input",
                absent_is_empty=bool(template),
            )
        except InputError as error:
            raise UsageError(str(error)) from None


def check_summary(summary: dict, max_dead_letter_ratio: float) -> list[str]:
    """What is wrong with a finished run, as sentences; empty when it may exit 0."""
    problems = []
    if not summary["balanced"]:
        problems.append("run summary is not balanced: some input lines are unaccounted for")
    if not summary["outputs_complete"]:
        problems.append("written rows do not match accepted events: output is incomplete")
    if not summary.get("outcomes_complete", True):
        problems.append("retry outcomes written and pending do not account for every retry once")
    ratio = summary["dead_lettered"] / summary["lines_read"] if summary["lines_read"] else 0.0
    if ratio > max_dead_letter_ratio:
        problems.append(
            f"dead-letter ratio {ratio:.4f} exceeds --max-dead-letter-ratio {max_dead_letter_ratio}"
        )
    return problems
