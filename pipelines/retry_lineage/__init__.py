"""Batch pipeline: Canvas Live Events files -> retry lineage Parquet tables.

Reads one Canvas-format event per line, classifies every line (skipped noise,
dead letter with a reason code, or an accepted retry / content migration),
deduplicates accepted events, builds ``course_lineage`` and joins every distinct
retry to it. Writes ``retries``, ``course_lineage`` and ``dead_letter`` Parquet
tables and ``_SUMMARY.json`` under ``--output``.

Run locally::

    retry-lineage run --input 'samples/*.jsonl.gz' --output out/

or, equivalently, ``python -m pipelines.retry_lineage --input ... --output ...``.
Any Beam option passes through (``--runner DataflowRunner --project ...``).

Exit codes: 0 success, 1 pipeline failure, 2 bad usage (or the output is in
use by another run), 3 the summary is not balanced or the dead-letter ratio
exceeded ``--max-dead-letter-ratio``, 130 interrupted (SIGINT), 143 terminated
(SIGTERM).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, TestOptions

from pipelines.errors import one_line
from pipelines.exit_codes import (
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PIPELINE_FAILED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    UsageError,
    print_usage_error,
    wants_help,
)
from pipelines.retry_lineage.checks import check_inputs, check_summary, validate_options
from pipelines.retry_lineage.dated_runs import ingest_days, input_patterns
from pipelines.retry_lineage.interrupts import signals_as_interrupts
from pipelines.retry_lineage.options import RetryLineageOptions, parse_options, parse_processes
from pipelines.shared_options import (
    BEAM_PASSES_THROUGH,
    SharedOptions,
    check_argv,
    hmac_key_of,
    print_help,
)
from transforms import lineage
from transforms.history import ReadLineageHistory
from transforms.outcome_history import ReadTableHistory
from transforms.parquet_writer import WriteTable, write_step
from transforms.privacy import PSEUDONYMIZATION_OFF, PSEUDONYMIZATION_ON
from transforms.publish import (
    BadRunId,
    LayoutMismatch,
    OutputBusy,
    OutputLayout,
    OutputLock,
    PublishRun,
    check_run_id,
    current_version,
    discard_version,
    prepare_output,
    read_summary,
    version_dir,
)
from transforms.read_canvas_events import ReadCanvasEvents
from transforms.resolve import (
    IDENTITY_PAIRS,
    BuildIdentityMap,
    BuildLineageGraph,
    GroupMigrations,
    JoinRetriesToLineage,
    NumberRetryAttempts,
    ResolveParents,
)
from transforms.retry_history import ReadRetryHistory
from transforms.retry_outcomes import (
    DecideRetryOutcomes,
    LatestEventTime,
    PendingRetriesFromHistory,
    event_times,
)
from transforms.summary import SummarizeRun
from transforms.tables import (
    ASSIGNMENT_STATES,
    COURSE_LINEAGE,
    DEAD_LETTER,
    RETRIES,
    RETRY_OUTCOMES,
)
from transforms.tags import (
    ASSIGNMENT_STATE_EVENTS,
    COUNTS,
    DEAD_LETTERS,
    LATEST_EVENT_TIME,
    MIGRATION_EVENTS,
    RETRY_EVENTS,
)

PROG = "retry-lineage"
_LOG = logging.getLogger("retry_lineage")


def build(
    p: beam.Pipeline,
    options: PipelineOptions,
    version: str | None = None,
    release_lease_of: str | None = None,
) -> dict[str, beam.PCollection]:
    """Add the whole batch job to ``p``; returns its outputs by name (rows and the summary).

    ``retries``, ``assignment_states`` and ``retry_outcomes`` come as lists of rows (plain
    tuples in column order), the dead letters as one list per classified range.

    The tables are written into ``OUTPUT/_versions/<version>/`` (default: the
    run id) and published by the last step; ``release_lease_of`` names the run
    whose object-store lease that step releases (a job nobody waits for).
    """
    opts = options.view_as(RetryLineageOptions)
    validate_options(opts)
    shared = options.view_as(SharedOptions)
    output, codec = shared.output, shared.parquet_codec
    run_id = check_run_id(opts.run_id or "adhoc")
    hmac_key = hmac_key_of(opts)
    version = version or run_id
    staging = version_dir(output, version)
    day = opts.date
    partition = f"ingest_date={day}" if day else ""

    events = p | "ReadCanvasEvents" >> ReadCanvasEvents(
        input_patterns(opts),
        hmac_key,
        parse_processes(options),
        output=output,
        allow_empty_input=opts.allow_empty_input,
        absent_is_empty=bool(opts.input_template),
    )
    retries = events[RETRY_EVENTS] | "NumberRetryAttempts" >> NumberRetryAttempts()
    migrations = events[MIGRATION_EVENTS] | "GroupMigrations" >> GroupMigrations()
    identity_pairs = [retries[IDENTITY_PAIRS], migrations[IDENTITY_PAIRS]]
    history = []
    if day:
        history_rows = p | "ReadLineageHistory" >> ReadLineageHistory(
            opts.lineage_history, day, output=output
        )
        identity_pairs.append(
            history_rows | "HistoryIdentityPairs" >> beam.FlatMap(lineage.row_identity_pairs)
        )
        history.append(history_rows)
    identity = (
        identity_pairs
        | "AllIdentityPairs" >> beam.Flatten()
        | "BuildIdentityMap" >> BuildIdentityMap()
    )
    lineage_rows = migrations.latest | "ResolveParents" >> ResolveParents(identity.identity)
    graph = (
        [lineage_rows, *history]
        | "AllLineageRows" >> beam.Flatten()
        | "BuildLineageGraph" >> BuildLineageGraph()
    )
    joined = retries.numbered | "JoinRetriesToLineage" >> JoinRetriesToLineage(graph)

    times = [events[LATEST_EVENT_TIME]]
    outcome_inputs = {"retries": retries.numbered, "states": events[ASSIGNMENT_STATE_EVENTS]}
    history_counts = []
    if day:
        # Retries still pending after earlier days, and their assignments' earlier states.
        # Only days whose own run recorded outcomes can have left a retry pending.
        history_retries = p | "ReadRetryHistory" >> ReadRetryHistory(output, day)
        history_outcomes = p | "ReadOutcomeHistory" >> ReadTableHistory(output, RETRY_OUTCOMES, day)
        history_states = p | "ReadStateHistory" >> ReadTableHistory(output, ASSIGNMENT_STATES, day)
        outcome_inputs["history_retries"] = {
            "retries": history_retries["with_outcomes"],
            "outcomes": history_outcomes,
        } | ("PendingRetriesFromHistory" >> PendingRetriesFromHistory())
        outcome_inputs["history_states"] = history_states
        history_counts.append(history_retries["counts"])
        times += [
            history_retries["rows"] | "HistoryRetryTimes" >> event_times(),
            history_states | "HistoryStateTimes" >> event_times(),
        ]
    clock = times | "AllEventTimes" >> beam.Flatten() | "RunClock" >> LatestEventTime()
    decided = outcome_inputs | "DecideRetryOutcomes" >> DecideRetryOutcomes(
        clock, opts.outcome_wait_seconds
    )

    written = [
        joined.rows
        | write_step(RETRIES) >> WriteTable(RETRIES, staging, codec, partition, batched=True),
        decided["assignment_states"]
        | write_step(ASSIGNMENT_STATES)
        >> WriteTable(ASSIGNMENT_STATES, staging, codec, partition, batched=True),
        decided["outcomes"]
        | write_step(RETRY_OUTCOMES)
        >> WriteTable(RETRY_OUTCOMES, staging, codec, partition, batched=True),
        lineage_rows
        | write_step(COURSE_LINEAGE) >> WriteTable(COURSE_LINEAGE, staging, codec, partition),
        events[DEAD_LETTERS]
        | write_step(DEAD_LETTER) >> WriteTable(DEAD_LETTER, staging, codec, partition),
    ]
    counts = [
        events[COUNTS],
        retries[COUNTS],
        migrations[COUNTS],
        identity[COUNTS],
        joined[COUNTS],
        decided["counts"],
        *history_counts,
        *written,
    ]
    pseudonymization = PSEUDONYMIZATION_ON if hmac_key else PSEUDONYMIZATION_OFF
    summary = (
        counts
        | "AllCounters" >> beam.Flatten()
        | "SummarizeRun" >> SummarizeRun(pseudonymization, with_outcomes=True)
    )
    summary | "PublishRun" >> PublishRun(
        OutputLayout(output, day), version, run_id, codec, release_lease_of
    )
    return {
        RETRIES.name: joined.rows,
        COURSE_LINEAGE.name: lineage_rows,
        DEAD_LETTER.name: events[DEAD_LETTERS],
        ASSIGNMENT_STATES.name: decided["assignment_states"],
        RETRY_OUTCOMES.name: decided["outcomes"],
        "summary": summary,
    }


def _print_help() -> None:
    print_help(
        "retry-lineage run",
        __doc__.split("\n\n")[0],
        [RetryLineageOptions, SharedOptions],
        epilog=BEAM_PASSES_THROUGH
        + " --verbose logs at DEBUG level, with the traceback of any failure.",
    )


def run(argv: list[str] | None = None) -> int:
    """Run the batch job to completion, publish its output, print the summary; the exit code.

    The output is locked for the whole command (every day of a backfill);
    SIGINT and SIGTERM remove the unfinished version, release the lock and
    exit 130 and 143.
    """
    argv = sys.argv[1:] if argv is None else argv
    if wants_help(argv):
        _print_help()
        return EXIT_OK
    try:
        check_argv(argv, "run", [RetryLineageOptions])
        options = parse_options(argv)
        opts = options.view_as(RetryLineageOptions)
        validate_options(opts)
        check_run_id(opts.run_id)
        hmac_key_of(opts)
        if not options.view_as(
            TestOptions
        ).dry_run:  # a dry run builds the graph offline: no file is touched
            check_inputs(opts)
    except (UsageError, BadRunId) as error:
        print_usage_error(PROG, str(error))
        return EXIT_USAGE

    output = options.view_as(SharedOptions).output
    days = ingest_days(opts)
    run_id = opts.run_id
    nothing_runs = options.view_as(TestOptions).dry_run
    # A job nobody waits for releases an object store's lease itself when it has published.
    hand_over_lease = opts.no_wait and "://" in output
    state: dict = {}
    with signals_as_interrupts() as received:
        state["signals"] = received
        lock = OutputLock(output, run_id)
        try:
            if not nothing_runs:
                lock.acquire()
        except OutputBusy as error:
            print_usage_error(PROG, str(error))
            return EXIT_USAGE
        except OSError as error:
            print_usage_error(PROG, f"cannot lock --output {output}: {error.strerror or error}")
            _LOG.debug("locking %s failed", output, exc_info=True)
            return EXIT_USAGE
        except KeyboardInterrupt:
            pass
        code = EXIT_OK
        try:
            for day in days if not received else []:
                if day:
                    opts.date, opts.start, opts.end = day, None, None
                    opts.run_id = f"{run_id}-{day}"
                code = run_once(
                    options, state=state, release_lease_of=run_id if hand_over_lease else None
                )
                if code != EXIT_OK or received:
                    if len(days) > 1 and not received:
                        _LOG.error(
                            "stopping the backfill at ingest_date=%s (exit %d): "
                            "later days depend on it",
                            day,
                            code,
                        )
                    break
        except KeyboardInterrupt:
            if not received:
                received.append(signal.SIGINT)
        finally:
            if not hand_over_lease:
                lock.release()
        if received:
            name = signal.Signals(received[0]).name
            published = state.get("version") and current_version(output) == state["version"]
            what = (
                "this run's output was published before it"
                if published
                else "the previous output is unchanged"
            )
            print(f"retry-lineage: interrupted by {name}: {output}: {what}", file=sys.stderr)
            return EXIT_TERMINATED if received[0] == signal.SIGTERM else EXIT_INTERRUPTED
    return code


def run_once(
    options: PipelineOptions, state: dict | None = None, release_lease_of: str | None = None
) -> int:
    """One pipeline (one ingest date, or an undated run), published, summarised and checked.

    Under the output's lock (taken by :func:`run`) unless nothing runs (a dry
    run): checks the output's layout, removes what interrupted runs left, then
    writes a new version and publishes it. A failed or interrupted run leaves
    the previous output as it was and removes its unfinished version.
    """
    state = {} if state is None else state
    opts = options.view_as(RetryLineageOptions)
    output = options.view_as(SharedOptions).output
    layout = OutputLayout(output, opts.date)
    where = f"ingest_date={opts.date}" if opts.date else "undated run"
    dry_run = options.view_as(TestOptions).dry_run
    try:
        version = opts.run_id if dry_run else prepare_output(layout, opts.run_id)
    except LayoutMismatch as error:
        print_usage_error(PROG, str(error))
        return EXIT_USAGE
    except Exception as error:
        _LOG.debug("%s: preparing %s failed", where, output, exc_info=True)
        print(
            f"retry-lineage: {where}: cannot prepare {output}: {one_line(error)}; "
            "nothing was published",
            file=sys.stderr,
        )
        return EXIT_PIPELINE_FAILED
    state["version"] = version
    _LOG.info("%s: reading %s", where, ", ".join(input_patterns(opts)))
    started = time.monotonic()
    keep_version = False
    try:
        pipeline = beam.Pipeline(options=options)
        build(pipeline, options, version=version, release_lease_of=release_lease_of)
        result = pipeline.run()
        if dry_run:
            keep_version = True
            _LOG.info(
                "%s: dry run: the job graph was built and validated; "
                "nothing ran, nothing was published",
                where,
            )
            return EXIT_OK
        if opts.no_wait:
            keep_version = True
            _LOG.info(
                "%s: submitted; the job publishes %s when it succeeds", where, layout.summary_path
            )
            return EXIT_OK
        state_ = result.wait_until_finish()
        if state_ != beam.runners.runner.PipelineState.DONE:
            raise RuntimeError(f"pipeline finished in state {state_}")
        keep_version = True
    except UsageError as error:
        print_usage_error(PROG, str(error))
        return EXIT_USAGE
    except Exception as error:
        _LOG.debug("%s: pipeline failed", where, exc_info=True)
        if state.get("signals"):
            return EXIT_PIPELINE_FAILED  # run() reports the interruption
        published = current_version(output) == version
        print(
            f"retry-lineage: {where}: pipeline failed: {one_line(error)}; "
            + (
                f"{output} holds this run's complete output (published before the failure)"
                if published
                else f"{output} left as it was"
            ),
            file=sys.stderr,
        )
        return EXIT_PIPELINE_FAILED
    finally:
        if not keep_version:
            discard_version(output, version)
    summary = read_summary(layout, version)
    print(json.dumps(summary, indent=2))
    _LOG.info(
        "%s: %d lines read, %d retries, %d lineage rows, %d dead letters in %.1f s; summary %s",
        where,
        summary["lines_read"],
        summary["retries_written"],
        summary["lineage_edges_written"],
        summary["dead_lettered"],
        time.monotonic() - started,
        layout.summary_path,
    )
    problems = check_summary(summary, opts.max_dead_letter_ratio)
    for problem in problems:
        print(f"retry-lineage: {where}: {problem}", file=sys.stderr)
    return EXIT_CHECK_FAILED if problems else EXIT_OK
