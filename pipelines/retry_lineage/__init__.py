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

import argparse
import datetime as dt
import json
import contextlib
import logging
import os
import re
import signal
import sys
import tempfile
import time
import uuid

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions, TestOptions

from pipelines.errors import one_line
from transforms.classify import (
    ASSIGNMENT_STATES, DEAD_LETTERS, MIGRATIONS, RETRIES, ReadCanvasEvents, default_processes,
)
from transforms.counters import COUNTS
from transforms import lineage
from transforms.history import ReadLineageHistory
from transforms.inputs import InputError, could_read_output, is_remote, resolve_inputs
from transforms.output import DEFAULT_PARQUET_CODEC, PARQUET_CODECS, WriteTable
from transforms.publish import (
    BadRunId, LayoutMismatch, OutputBusy, OutputLayout, OutputLock, PublishRun, check_run_id, current_version,
    discard_version, prepare_output, read_summary, version_dir,
)
from transforms.privacy import PSEUDONYMIZATION_OFF, PSEUDONYMIZATION_ON, load_hmac_key
from transforms.resolve import (
    IDENTITY_PAIRS, BuildIdentityMap, BuildLineageGraph, GroupMigrations, JoinRetriesToLineage, NumberRetryAttempts,
    ResolveParents,
)
from transforms.outcomes import DEFAULT_OUTCOME_WAIT_SECONDS
from transforms.outcome_history import ReadTableHistory
from transforms.retry_outcomes import DecideRetryOutcomes, LatestEventTime, PendingRetriesFromHistory
from transforms.summary import SummarizeRun
from transforms.tables import ASSIGNMENT_STATES as ASSIGNMENT_STATES_TABLE
from transforms.tables import COURSE_LINEAGE, DEAD_LETTER, RETRY_OUTCOMES
from transforms.tables import RETRIES as RETRIES_TABLE

EXIT_OK, EXIT_PIPELINE_FAILED, EXIT_USAGE, EXIT_CHECK_FAILED = 0, 1, 2, 3
# Without --runner, run in-process: Beam's plain DirectRunner first tries to
# download the Prism binary, which fails on machines without internet access.
DEFAULT_LOCAL_RUNNER = "FnApiRunner"

_LOG = logging.getLogger("retry_lineage")


class UsageError(ValueError):
    """A bad option: reported as one line, exit code 2."""


class RetryLineageOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--input", dest="input", action="extend", nargs="+", default=None,
                            help="File pattern(s) of event lines (local or any Beam filesystem; .gz is read transparently). Repeatable.")
        parser.add_argument("--allow-empty-input", "--allow_empty_input", dest="allow_empty_input", nargs="?",
                            const=True, default=False, type=_true_or_false, metavar="true|false",
                            help="A pattern (or a dated run's day) that matches no file is read as empty input "
                                 "instead of failing with exit 2. The value is optional (Flex Templates pass one).")
        parser.add_argument("--output", dest="output", default=None, help="Output directory.")
        parser.add_argument("--hmac-key-file", "--hmac_key_file", dest="hmac_key_file", default=None,
                            help="File whose bytes key the actor HMAC (else env RETRY_LINEAGE_HMAC_KEY).")
        parser.add_argument("--max-dead-letter-ratio", "--max_dead_letter_ratio", dest="max_dead_letter_ratio", type=float, default=1.0,
                            help="Exit 3 (after writing everything) when dead-lettered/read lines exceeds this.")
        parser.add_argument("--parquet-codec", "--parquet_codec", dest="parquet_codec", default=DEFAULT_PARQUET_CODEC,
                            help=f"Parquet compression, one of {', '.join(PARQUET_CODECS)} (default {DEFAULT_PARQUET_CODEC}).")
        parser.add_argument("--parse-processes", "--parse_processes", dest="parse_processes", type=int, default=None,
                            help="Processes that classify lines in parallel inside each worker (default: every "
                                 "core on the local in-process runner, 1 on other runners, which parallelise themselves).")
        parser.add_argument("--date", dest="date", default=None,
                            help="Ingest date YYYY-MM-DD of a scheduled run: output goes to OUTPUT/<table>/ingest_date=D/.")
        parser.add_argument("--start", dest="start", default=None, help="First ingest date of a backfill (with --end).")
        parser.add_argument("--end", dest="end", default=None, help="Last ingest date of a backfill (inclusive).")
        parser.add_argument("--input-template", "--input_template", dest="input_template", default=None,
                            help="Input pattern of one day, with {date} for YYYY-MM-DD (dated runs).")
        parser.add_argument("--lineage-history", "--lineage_history", dest="lineage_history", default=None,
                            help="course_lineage Parquet of earlier days (default OUTPUT/course_lineage/ingest_date=*/*.parquet).")
        parser.add_argument("--no-wait", "--no_wait", dest="no_wait", action="store_true", default=False,
                            help="Return once the job is submitted (Flex Template launches); the job still "
                                 "publishes its output and _runs summary, which a scheduler then checks.")
        parser.add_argument("--outcome-wait-seconds", "--outcome_wait_seconds", dest="outcome_wait_seconds",
                            type=int, default=DEFAULT_OUTCOME_WAIT_SECONDS,
                            help="How long after a retry a state event of its assignment can decide its outcome; "
                                 f"past it the retry has no outcome event (default {DEFAULT_OUTCOME_WAIT_SECONDS}).")
        parser.add_argument("--run-id", "--run_id", dest="run_id", default=None,
                            help="Names this run (its version folder, the lock): letters, digits, '.', '_', '-' "
                                 "(default: UTC time and a random suffix).")


def _true_or_false(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day(value: str, option: str) -> dt.date:
    try:
        if not _DATE.fullmatch(value):
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} must be a date YYYY-MM-DD, got {value!r}") from None


def ingest_days(options: RetryLineageOptions) -> list[str | None]:
    """The ingest dates to run, one pipeline each, in order; [None] for an undated run."""
    if options.date and (options.start or options.end):
        raise UsageError("--date and --start/--end exclude each other")
    if options.date:
        return [_day(options.date, "--date").isoformat()]
    if bool(options.start) != bool(options.end):
        raise UsageError("--start and --end go together")
    if options.start:
        first, last = _day(options.start, "--start"), _day(options.end, "--end")
        if last < first:
            raise UsageError(f"--end {options.end} is before --start {options.start}")
        return [(first + dt.timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)]
    return [None]


def input_patterns(options: RetryLineageOptions) -> list[str]:
    if options.input_template:
        return [options.input_template.replace("{date}", options.date)]
    return options.input


def validate_options(options: RetryLineageOptions) -> None:
    """Raise UsageError for options that cannot work, before anything runs."""
    days = ingest_days(options)
    if options.input_template:
        if "{date}" not in options.input_template:
            raise UsageError("--input-template must contain {date}")
        if days == [None]:
            raise UsageError("--input-template needs --date or --start/--end")
        if options.input:
            raise UsageError("--input and --input-template exclude each other")
    elif not options.input:
        raise UsageError("--input is required (one or more file patterns), or --input-template with dates")
    elif len(days) > 1:
        raise UsageError("a backfill (--start/--end) reads each day through --input-template")
    if options.lineage_history and days == [None]:
        raise UsageError("--lineage-history needs --date or --start/--end")
    if not options.output:
        raise UsageError("--output is required (a directory)")
    if not 0.0 <= options.max_dead_letter_ratio <= 1.0:
        raise UsageError(f"--max-dead-letter-ratio must be between 0 and 1, got {options.max_dead_letter_ratio}")
    if options.parquet_codec not in PARQUET_CODECS:
        raise UsageError(f"--parquet-codec must be one of {', '.join(PARQUET_CODECS)}, got {options.parquet_codec!r}")
    if options.outcome_wait_seconds < 0:
        raise UsageError(f"--outcome-wait-seconds must be at least 0, got {options.outcome_wait_seconds}")
    if options.parse_processes is not None and options.parse_processes < 1:
        raise UsageError(f"--parse-processes must be at least 1, got {options.parse_processes}")
    template = options.input_template
    for day in days:
        for pattern in [template.replace("{date}", day)] if template else options.input:
            written = could_read_output(pattern, options.output)
            if written:
                raise UsageError(f"{'--input-template' if template else '--input'} {pattern} could read the output "
                                 f"({written}); narrow the pattern or write --output elsewhere")


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
        raise UsageError(f"--output {output}: cannot write in {existing} ({error.strerror or error})") from None


def check_inputs(options: RetryLineageOptions) -> None:
    """Resolve the input of every day to run (see transforms.inputs) and check --output, before anything runs.

    Raises UsageError: an absent literal path, a folder, a pattern (or a dated
    run's day) that matches nothing without --allow-empty-input, an input inside
    the output, an --output that is a file or cannot be written.
    """
    check_output_folder(options.output)
    for day in ingest_days(options):
        template = options.input_template
        patterns = [template.replace("{date}", day)] if template else options.input
        try:
            resolve_inputs(patterns, options.output, options.allow_empty_input,
                           option=f"--input-template (ingest_date={day})" if template else "--input",
                           absent_is_empty=bool(template))
        except InputError as error:
            raise UsageError(str(error)) from None


def parse_processes(options: PipelineOptions) -> int:
    """Classifier processes: all cores when one in-process worker would otherwise use only one."""
    chosen = options.view_as(RetryLineageOptions).parse_processes
    if chosen is not None:
        return chosen
    runner = options.view_as(StandardOptions).runner
    one_local_worker = (
        runner in (None, DEFAULT_LOCAL_RUNNER, "DirectRunner")
        and (options.view_as(DirectOptions).direct_num_workers or 1) == 1
    )
    return default_processes() if one_local_worker else 1


def hmac_key_of(options: RetryLineageOptions) -> bytes | None:
    try:
        return load_hmac_key(options.hmac_key_file)
    except (OSError, ValueError) as error:
        raise UsageError(f"--hmac-key-file: {error}") from error


def build(p: beam.Pipeline, options: PipelineOptions, version: str | None = None,
          release_lease_of: str | None = None) -> dict[str, beam.PCollection]:
    """Add the whole batch job to ``p``; returns its outputs by name (rows and the summary).

    The tables are written into ``OUTPUT/_versions/<version>/`` (default: the
    run id) and published by the last step; ``release_lease_of`` names the run
    whose object-store lease that step releases (a job nobody waits for).
    """
    opts = options.view_as(RetryLineageOptions)
    validate_options(opts)
    run_id = check_run_id(opts.run_id or "adhoc")
    hmac_key = hmac_key_of(opts)
    version = version or run_id
    staging = version_dir(opts.output, version)
    day = opts.date
    partition = f"ingest_date={day}" if day else ""

    events = p | "ReadCanvasEvents" >> ReadCanvasEvents(
        input_patterns(opts), hmac_key, parse_processes(options), output=opts.output,
        allow_empty_input=opts.allow_empty_input, absent_is_empty=bool(opts.input_template))
    retries = events[RETRIES] | "NumberRetryAttempts" >> NumberRetryAttempts()
    migrations = events[MIGRATIONS] | "GroupMigrations" >> GroupMigrations()
    identity_pairs = [retries[IDENTITY_PAIRS], migrations[IDENTITY_PAIRS]]
    history = []
    if day:
        history_rows = p | "ReadLineageHistory" >> ReadLineageHistory(opts.lineage_history, day, output=opts.output)
        identity_pairs.append(history_rows | "HistoryIdentityPairs" >> beam.FlatMap(lineage.row_identity_pairs))
        history.append(history_rows)
    identity = identity_pairs | "AllIdentityPairs" >> beam.Flatten() | "BuildIdentityMap" >> BuildIdentityMap()
    lineage_rows = migrations.latest | "ResolveParents" >> ResolveParents(identity.identity)
    graph = (
        [lineage_rows, *history]
        | "AllLineageRows" >> beam.Flatten()
        | "BuildLineageGraph" >> BuildLineageGraph()
    )
    joined = retries.numbered | "JoinRetriesToLineage" >> JoinRetriesToLineage(graph)

    seen = [events[RETRIES], events[MIGRATIONS], events[ASSIGNMENT_STATES]]
    outcome_inputs = {"retries": retries.numbered, "states": events[ASSIGNMENT_STATES]}
    if day:
        # Retries still pending after earlier days, and their assignments' earlier states.
        history_retries = p | "ReadRetryHistory" >> ReadTableHistory(opts.output, RETRIES_TABLE, day)
        history_outcomes = p | "ReadOutcomeHistory" >> ReadTableHistory(opts.output, RETRY_OUTCOMES, day)
        history_states = p | "ReadStateHistory" >> ReadTableHistory(opts.output, ASSIGNMENT_STATES_TABLE, day)
        outcome_inputs["history_retries"] = {"retries": history_retries, "outcomes": history_outcomes} | (
            "PendingRetriesFromHistory" >> PendingRetriesFromHistory())
        outcome_inputs["history_states"] = history_states
        seen += [history_retries, history_states]
    clock = seen | "AllAcceptedEvents" >> beam.Flatten() | "RunClock" >> LatestEventTime()
    decided = outcome_inputs | "DecideRetryOutcomes" >> DecideRetryOutcomes(clock, opts.outcome_wait_seconds)

    written = [
        joined.rows | "WriteRetries" >> WriteTable(RETRIES_TABLE, staging, opts.parquet_codec, partition),
        decided["assignment_states"] | "WriteAssignmentStates" >> WriteTable(
            ASSIGNMENT_STATES_TABLE, staging, opts.parquet_codec, partition),
        decided["outcomes"] | "WriteRetryOutcomes" >> WriteTable(RETRY_OUTCOMES, staging, opts.parquet_codec, partition),
        lineage_rows | "WriteCourseLineage" >> WriteTable(COURSE_LINEAGE, staging, opts.parquet_codec, partition),
        events[DEAD_LETTERS] | "WriteDeadLetters" >> WriteTable(DEAD_LETTER, staging, opts.parquet_codec, partition),
    ]
    counts = [events[COUNTS], retries[COUNTS], migrations[COUNTS], identity[COUNTS], joined[COUNTS],
              decided["counts"], *written]
    pseudonymization = PSEUDONYMIZATION_ON if hmac_key else PSEUDONYMIZATION_OFF
    summary = counts | "AllCounters" >> beam.Flatten() | "SummarizeRun" >> SummarizeRun(
        pseudonymization, with_outcomes=True)
    summary | "PublishRun" >> PublishRun(OutputLayout(opts.output, day), version, run_id, opts.parquet_codec,
                                         release_lease_of)
    return {
        "retries": joined.rows,
        "course_lineage": lineage_rows,
        "dead_letter": events[DEAD_LETTERS],
        "assignment_states": decided["assignment_states"],
        "retry_outcomes": decided["outcomes"],
        "summary": summary,
    }


def print_help() -> None:
    parser = argparse.ArgumentParser(
        prog="retry-lineage run", description=__doc__.split("\n\n")[0],
        epilog="Every Apache Beam pipeline option (--runner, --project, --temp_location, ...) passes through. "
               "--verbose logs at DEBUG level, with the traceback of any failure.")
    RetryLineageOptions._add_argparse_args(parser)
    parser.print_help()


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
        problems.append(f"dead-letter ratio {ratio:.4f} exceeds --max-dead-letter-ratio {max_dead_letter_ratio}")
    return problems


def parse_options(argv: list[str]) -> PipelineOptions:
    options = PipelineOptions(argv)
    standard = options.view_as(StandardOptions)
    if standard.runner is None:
        standard.runner = DEFAULT_LOCAL_RUNNER
    opts = options.view_as(RetryLineageOptions)
    if opts.run_id is None:  # an explicit empty --run-id is refused by check_run_id
        opts.run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
    return options


EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143


@contextlib.contextmanager
def signals_as_interrupts():
    """SIGINT and SIGTERM both interrupt the run (KeyboardInterrupt); yields the list of signals received.

    After the first signal both are ignored, so that removing the unfinished
    version and releasing the lock cannot be cut short.
    """
    received: list[int] = []

    def interrupt(signum, frame):
        received.append(signum)
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    def quiet_after_a_signal(record: logging.LogRecord) -> bool:
        # Beam logs the interrupted step with a traceback; the run reports the interruption in one line.
        return not (received and record.name.startswith("apache_beam"))

    try:
        previous = {number: signal.signal(number, interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        previous = {}
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(quiet_after_a_signal)
    try:
        yield received
    finally:
        for handler in handlers:
            handler.removeFilter(quiet_after_a_signal)
        for number, handler in previous.items():
            signal.signal(number, handler)


def _error(message: str) -> None:
    print(f"retry-lineage: error: {message}", file=sys.stderr)


def run(argv: list[str] | None = None) -> int:
    """Run the batch job to completion, publish its output, print the summary; returns the exit code.

    The output is locked for the whole command (every day of a backfill);
    SIGINT and SIGTERM remove the unfinished version, release the lock and
    exit 130 and 143.
    """
    argv = sys.argv[1:] if argv is None else argv
    if any(arg in ("-h", "--help") for arg in argv):
        print_help()
        return EXIT_OK
    try:
        check_argv(argv)
        options = parse_options(argv)
        opts = options.view_as(RetryLineageOptions)
        validate_options(opts)
        check_run_id(opts.run_id)
        hmac_key_of(opts)
        if not options.view_as(TestOptions).dry_run:  # a dry run builds the graph offline: no file is touched
            check_inputs(opts)
    except (UsageError, BadRunId) as error:
        _error(str(error))
        return EXIT_USAGE

    days = ingest_days(opts)
    run_id = opts.run_id
    nothing_runs = options.view_as(TestOptions).dry_run
    # A job nobody waits for releases an object store's lease itself when it has published.
    hand_over_lease = opts.no_wait and "://" in opts.output
    state: dict = {}
    with signals_as_interrupts() as received:
        state["signals"] = received
        lock = OutputLock(opts.output, run_id)
        try:
            if not nothing_runs:
                lock.acquire()
        except OutputBusy as error:
            _error(str(error))
            return EXIT_USAGE
        except OSError as error:
            _error(f"cannot lock --output {opts.output}: {error.strerror or error}")
            _LOG.debug("locking %s failed", opts.output, exc_info=True)
            return EXIT_USAGE
        except KeyboardInterrupt:
            pass
        code = EXIT_OK
        try:
            for day in days if not received else []:
                if day:
                    opts.date, opts.start, opts.end = day, None, None
                    opts.run_id = f"{run_id}-{day}"
                code = run_once(options, state=state, release_lease_of=run_id if hand_over_lease else None)
                if code != EXIT_OK or received:
                    if len(days) > 1 and not received:
                        _LOG.error("stopping the backfill at ingest_date=%s (exit %d): later days depend on it",
                                   day, code)
                    break
        except KeyboardInterrupt:
            if not received:
                received.append(signal.SIGINT)
        finally:
            if not hand_over_lease:
                lock.release()
        if received:
            name = signal.Signals(received[0]).name
            published = state.get("version") and current_version(opts.output) == state["version"]
            what = "this run's output was published before it" if published else "the previous output is unchanged"
            print(f"retry-lineage: interrupted by {name}: {opts.output}: {what}", file=sys.stderr)
            return EXIT_TERMINATED if received[0] == signal.SIGTERM else EXIT_INTERRUPTED
    return code


def run_once(options: PipelineOptions, state: dict | None = None, release_lease_of: str | None = None) -> int:
    """One pipeline (one ingest date, or an undated run), published, summarised and checked.

    Under the output's lock (taken by :func:`run`) unless nothing runs (a dry
    run): checks the output's layout, removes what interrupted runs left, then
    writes a new version and publishes it. A failed or interrupted run leaves
    the previous output as it was and removes its unfinished version.
    """
    state = {} if state is None else state
    opts = options.view_as(RetryLineageOptions)
    layout = OutputLayout(opts.output, opts.date)
    where = f"ingest_date={opts.date}" if opts.date else "undated run"
    dry_run = options.view_as(TestOptions).dry_run
    try:
        version = opts.run_id if dry_run else prepare_output(layout, opts.run_id)
    except LayoutMismatch as error:
        _error(str(error))
        return EXIT_USAGE
    except Exception as error:
        _LOG.debug("%s: preparing %s failed", where, opts.output, exc_info=True)
        print(f"retry-lineage: {where}: cannot prepare {opts.output}: {one_line(error)}; nothing was published",
              file=sys.stderr)
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
            _LOG.info("%s: dry run: the job graph was built and validated; nothing ran, nothing was published", where)
            return EXIT_OK
        if opts.no_wait:
            keep_version = True
            _LOG.info("%s: submitted; the job publishes %s when it succeeds", where, layout.summary_path)
            return EXIT_OK
        state_ = result.wait_until_finish()
        if state_ != beam.runners.runner.PipelineState.DONE:
            raise RuntimeError(f"pipeline finished in state {state_}")
        keep_version = True
    except UsageError as error:
        _error(str(error))
        return EXIT_USAGE
    except Exception as error:
        _LOG.debug("%s: pipeline failed", where, exc_info=True)
        if state.get("signals"):
            return EXIT_PIPELINE_FAILED  # run() reports the interruption
        published = current_version(opts.output) == version
        print(f"retry-lineage: {where}: pipeline failed: {one_line(error)}; " + (
            f"{opts.output} holds this run's complete output (published before the failure)" if published
            else f"{opts.output} left as it was"), file=sys.stderr)
        return EXIT_PIPELINE_FAILED
    finally:
        if not keep_version:
            discard_version(opts.output, version)
    summary = read_summary(layout, version)
    print(json.dumps(summary, indent=2))
    _LOG.info("%s: %d lines read, %d retries, %d lineage rows, %d dead letters in %.1f s; summary %s",
              where, summary["lines_read"], summary["retries_written"], summary["lineage_edges_written"],
              summary["dead_lettered"], time.monotonic() - started, layout.summary_path)
    problems = check_summary(summary, opts.max_dead_letter_ratio)
    for problem in problems:
        print(f"retry-lineage: {where}: {problem}", file=sys.stderr)
    return EXIT_CHECK_FAILED if problems else EXIT_OK


class _OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def check_argv(argv: list[str]) -> None:
    """Type-check every option Beam knows and reject unknown ones, as one-line UsageErrors.

    Beam's own parsing prints a usage screen for a bad value and silently
    ignores an unknown option, so a typo would change a run without a word.
    """
    parser = _OneLineErrorParser(add_help=False, allow_abbrev=False)
    for options_class in _all_options_classes(PipelineOptions):
        try:
            options_class._add_argparse_args(parser)
        except argparse.ArgumentError:
            pass  # an option defined by two option classes: the first definition is enough
    _, unknown = parser.parse_known_args(argv)
    unknown = [arg for arg in unknown if arg.startswith("--")]
    if unknown:
        raise UsageError(f"unrecognized option {unknown[0].split('=')[0]}")


def _all_options_classes(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_options_classes(sub)
