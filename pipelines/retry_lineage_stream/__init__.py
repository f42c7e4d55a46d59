r"""Streaming pipeline: Canvas Live Events as they arrive -> the same retry lineage tables.

The batch rules applied event by event (see ``transforms.streaming``):
output in fixed event-time windows with allowed lateness, late events
dead-lettered as ``late_event``, duplicates removed within a horizon, retries
held until their lineage arrives or the lineage wait passes. Tables go to the
batch layout (``OUTPUT/retries/event_date=D/``, ``OUTPUT/course_lineage/``,
``OUTPUT/dead_letter/``) as files per window; summary records go to
``OUTPUT/_summaries/``.

Locally, on files dropped into a folder (no cloud at all)::

    retry-lineage stream --watch 'DIR/*.jsonl' --output OUT --stop-after 120

On Dataflow::

    retry-lineage stream --runner DataflowRunner --project P --region R \
        --temp_location gs://B/tmp --input-subscription projects/P/subscriptions/S --output gs://B/out
"""

from __future__ import annotations

import logging
import sys
import time
import typing

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    PipelineOptions,
    StandardOptions,
    TestOptions,
    _BeamArgumentParser,
)
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.test_stream_service import TestStreamServiceController

from pipelines.errors import one_line
from pipelines.exit_codes import (
    EXIT_OK,
    EXIT_PIPELINE_FAILED,
    EXIT_USAGE,
    UsageError,
    print_usage_error,
    wants_help,
)
from pipelines.retry_lineage.options import RetryLineageOptions
from pipelines.shared_options import (
    DEFAULT_LOCAL_RUNNER,
    SharedOptions,
    check_argv,
    hmac_key_of,
    print_help,
    validate_shared_options,
)
from transforms.local_runner import cache_signatures, lighten_bundles
from transforms.parquet_writer import write_step
from transforms.privacy import PSEUDONYMIZATION_OFF, PSEUDONYMIZATION_ON
from transforms.publish import LayoutMismatch, check_stream_output
from transforms.stream_output import WriteStreamSummaries, WriteWindowFiles
from transforms.stream_state import ceil_to
from transforms.streaming import DEFAULT_STATE_SHARDS, ProcessCanvasStream
from transforms.tables import (
    ASSIGNMENT_STATES,
    COURSE_LINEAGE,
    DEAD_LETTER,
    RETRIES,
    RETRY_OUTCOMES,
)
from transforms.tags import COUNTS, DEAD_LETTERS
from transforms.watch import DEFAULT_SETTLE_SECONDS, WATCH_CODER, FolderWatcher

PROG = "retry-lineage stream"
_LOG = logging.getLogger("retry_lineage.stream")


class StreamOptions(PipelineOptions):
    """Options of the streaming job only: its source, windows, waits and state."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--input-subscription",
            "--input_subscription",
            dest="input_subscription",
            default=None,
            help="Pub/Sub subscription projects/P/subscriptions/S; message data is one event line.",
        )
        parser.add_argument(
            "--watch",
            dest="watch",
            default=None,
            help="Local source: pick up new files matching this pattern as they appear (.gz too).",
        )
        parser.add_argument(
            "--stop-after",
            "--stop_after",
            dest="stop_after",
            type=float,
            default=None,
            help="With --watch: stop watching after this many seconds, finish every file that "
            "appeared by then, write everything and exit 0.",
        )
        parser.add_argument(
            "--watch-lag-seconds",
            "--watch_lag_seconds",
            dest="watch_lag_seconds",
            type=int,
            default=600,
            help="With --watch: the watermark trails the newest event time by this much.",
        )
        parser.add_argument(
            "--watch-settle-seconds",
            "--watch_settle_seconds",
            dest="watch_settle_seconds",
            type=float,
            default=DEFAULT_SETTLE_SECONDS,
            help="With --watch: a file is read once it has not changed for this long (default 5), "
            "or at once when a FILE.done marker appears beside it.",
        )
        parser.add_argument(
            "--window-seconds",
            "--window_seconds",
            dest="window_seconds",
            type=int,
            default=300,
            help="Fixed event-time window of the output files (default 300).",
        )
        parser.add_argument(
            "--allowed-lateness-seconds",
            "--allowed_lateness_seconds",
            dest="allowed_lateness_seconds",
            type=int,
            default=3600,
            help="How long after its end a window still takes events (default 3600).",
        )
        parser.add_argument(
            "--dedup-horizon-seconds",
            "--dedup_horizon_seconds",
            dest="dedup_horizon_seconds",
            type=int,
            default=86400,
            help="How long copies of an event are recognised (default 86400).",
        )
        parser.add_argument(
            "--lineage-wait-seconds",
            "--lineage_wait_seconds",
            dest="lineage_wait_seconds",
            type=int,
            default=600,
            help="Event time a retry waits for its migration (default 600).",
        )
        parser.add_argument(
            "--summary-seconds",
            "--summary_seconds",
            dest="summary_seconds",
            type=int,
            default=60,
            help="Processing time between summary records (default 60).",
        )
        parser.add_argument(
            "--state-shards",
            "--state_shards",
            dest="state_shards",
            type=int,
            default=None,
            help=f"Keys the stream's state is spread over (root accounts hash to them; default "
            f"{DEFAULT_STATE_SHARDS} locally, {DATAFLOW_STATE_SHARDS} on Dataflow).",
        )
        parser.add_argument(
            "--lineage-retention-days",
            "--lineage_retention_days",
            dest="lineage_retention_days",
            type=int,
            default=400,
            help="Event time the join remembers a migration, an identity "
            "pair or an attempt counter (default 400).",
        )


DATAFLOW_STATE_SHARDS = 64
MAX_TIMER_STEP_SECONDS = 86_400  # see transforms.streaming_join.StreamRules.max_timer_step
# Options the stream shares with `run` but that are defined by the batch options class (one
# definition each: Beam parses every options class together).
SHARED_WITH_RUN = ("--outcome-wait-seconds",)


class _OptionsSharedWithRun:
    """The batch options the stream uses too, for the stream's argument check and help screen."""

    @classmethod
    def _add_argparse_args(cls, parser):
        for action in _batch_actions(SHARED_WITH_RUN):
            parser.add_argument(
                *action.option_strings,
                dest=action.dest,
                type=action.type,
                default=action.default,
                help=action.help,
            )


def _batch_actions(names):
    parser = _BeamArgumentParser(add_help=False)
    RetryLineageOptions._add_argparse_args(parser)
    return [action for action in parser._actions if set(action.option_strings) & set(names)]


def check_stream_argv(argv: list[str]) -> None:
    """Type-check the options; UsageError for an unknown one or a batch-only one (no use here)."""
    check_argv(
        argv,
        "stream",
        [StreamOptions, typing.cast(type[PipelineOptions], _OptionsSharedWithRun)],
        other_commands=[("run", RetryLineageOptions)],
    )


def outcome_wait_seconds_of(options: PipelineOptions) -> int:
    """``--outcome-wait-seconds`` (defined with the batch options, used by both commands)."""
    return options.view_as(RetryLineageOptions).outcome_wait_seconds


def state_shards_of(options: PipelineOptions) -> int:
    """The number of state shards: ``--state-shards``, else the default for the runner."""
    chosen = options.view_as(StreamOptions).state_shards
    if chosen is not None:
        return chosen
    runner = options.view_as(StandardOptions).runner or ""
    return DATAFLOW_STATE_SHARDS if "Dataflow" in str(runner) else DEFAULT_STATE_SHARDS


def stream_settings(options: PipelineOptions, needs_source: bool = True):
    """The shared options (output, key, codec) plus the stream's own, validated."""
    shared = validate_shared_options(options)
    own = options.view_as(StreamOptions)
    for name in (
        "window_seconds",
        "allowed_lateness_seconds",
        "dedup_horizon_seconds",
        "lineage_wait_seconds",
        "summary_seconds",
    ):
        if getattr(own, name) < (1 if name in ("window_seconds", "summary_seconds") else 0):
            raise UsageError(
                f"--{name.replace('_', '-')} must be positive, got {getattr(own, name)}"
            )
    for name in ("state_shards", "lineage_retention_days"):
        if getattr(own, name) is not None and getattr(own, name) < 1:
            raise UsageError(
                f"--{name.replace('_', '-')} must be at least 1, got {getattr(own, name)}"
            )
    if needs_source and bool(own.input_subscription) == bool(own.watch):
        raise UsageError("give one source: --input-subscription or --watch")
    if own.stop_after is not None and not own.watch:
        raise UsageError("--stop-after bounds a --watch stream")
    if own.watch_settle_seconds < 0:
        raise UsageError(
            f"--watch-settle-seconds must not be negative, got {own.watch_settle_seconds}"
        )
    if outcome_wait_seconds_of(options) < 0:
        raise UsageError(
            f"--outcome-wait-seconds must be at least 0, got {outcome_wait_seconds_of(options)}"
        )
    if own.stop_after is not None and own.stop_after < 0:
        raise UsageError(f"--stop-after must be positive, got {own.stop_after}")
    if 86_400 % own.window_seconds:
        raise UsageError(
            "--window-seconds must divide a day, so that a window never spans two event dates"
        )
    return shared, own


def build(
    p: beam.Pipeline, options: PipelineOptions, lines: beam.PCollection | None = None
) -> dict:
    """Add the streaming job to ``p``; ``lines`` replaces the source (tests). Its outputs."""
    shared, own = stream_settings(options, needs_source=lines is None)
    if "BundleBased" in str(options.view_as(StandardOptions).runner):
        cache_signatures()  # the local runner inspects every DoFn for every bundle
        lighten_bundles()  # ... and runs every consumer of every bundle, empty ones too
    if lines is None:
        lines = p | "ReadFromPubSub" >> beam.io.ReadFromPubSub(subscription=own.input_subscription)
    hmac_key = hmac_key_of(shared)
    shards = state_shards_of(options)
    stream = lines | "ProcessCanvasStream" >> ProcessCanvasStream(
        hmac_key,
        own.window_seconds,
        own.allowed_lateness_seconds,
        own.dedup_horizon_seconds,
        own.lineage_wait_seconds,
        source=own.input_subscription or own.watch,
        state_shards=shards,
        lineage_retention_days=own.lineage_retention_days,
        outcome_wait_seconds=outcome_wait_seconds_of(options),
    )
    codec, output = shared.parquet_codec, shared.output
    # A window's file waits for the retries of the window, decided at most one lineage wait
    # after it.
    hold = ceil_to(own.lineage_wait_seconds, own.window_seconds)
    written = {
        table.name: stream[key]
        | write_step(table)
        >> WriteWindowFiles(
            table,
            output,
            codec,
            own.window_seconds,
            hold_seconds=hold,
            shards=shards,
            max_step_seconds=max(own.allowed_lateness_seconds, MAX_TIMER_STEP_SECONDS),
            batched=table is ASSIGNMENT_STATES,  # lists of rows, one per input element
        )
        for key, table in (
            (RETRIES.name, RETRIES),
            (COURSE_LINEAGE.name, COURSE_LINEAGE),
            (DEAD_LETTERS, DEAD_LETTER),
            (ASSIGNMENT_STATES.name, ASSIGNMENT_STATES),
            (RETRY_OUTCOMES.name, RETRY_OUTCOMES),
        )
    }
    pseudonymization = PSEUDONYMIZATION_ON if hmac_key else PSEUDONYMIZATION_OFF
    summaries = stream[COUNTS] | "WriteStreamSummaries" >> WriteStreamSummaries(
        output,
        pseudonymization,
        own.summary_seconds,
        stream_tag=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
    )
    return {**stream, "files": written, "summaries": summaries}


def run(argv: list[str] | None = None) -> int:
    """Build and run the streaming job (until cancelled, or submitted with a remote runner)."""
    argv = sys.argv[1:] if argv is None else argv
    if wants_help(argv):
        print_help(
            PROG,
            __doc__.split("\n\n")[0],
            [
                SharedOptions,
                StreamOptions,
                typing.cast(type[PipelineOptions], _OptionsSharedWithRun),
            ],
        )
        return EXIT_OK
    try:
        check_stream_argv(argv)
        options = PipelineOptions(argv)
        standard = options.view_as(StandardOptions)
        standard.streaming = True
        if standard.runner in (None, DEFAULT_LOCAL_RUNNER, "DirectRunner"):
            standard.runner = (
                "BundleBasedDirectRunner"  # the local runner that runs streaming Python pipelines
            )
        shared, own = stream_settings(options)
        if not options.view_as(TestOptions).dry_run:
            check_stream_output(shared.output)
        pipeline = beam.Pipeline(options=options)
        watcher = None
        if own.watch:
            # Event time past every window and wait of the last events (the outcome wait too), and
            # past their timers, which may be rounded up by a day (or the lateness) when they lie
            # far beyond a shard's clock.
            max_step = max(own.allowed_lateness_seconds, MAX_TIMER_STEP_SECONDS)
            drain = (
                2 * (own.window_seconds + own.allowed_lateness_seconds + own.lineage_wait_seconds)
                + max_step
                + outcome_wait_seconds_of(options)
                + own.window_seconds
                + max_step
            )
            watcher = TestStreamServiceController(
                FolderWatcher(
                    own.watch,
                    own.stop_after if own.stop_after is not None else float("inf"),
                    own.watch_lag_seconds,
                    drain,
                    settle_seconds=own.watch_settle_seconds,
                )
            )
            lines = pipeline | "WatchFolder" >> TestStream(
                coder=WATCH_CODER, endpoint=watcher.endpoint
            )
            build(pipeline, options, lines=lines)
        else:
            build(pipeline, options)
    except (UsageError, LayoutMismatch) as error:
        print_usage_error(PROG, str(error))
        return EXIT_USAGE
    try:
        if watcher is not None:
            watcher.start()
        result = pipeline.run()
        if options.view_as(TestOptions).dry_run:
            _LOG.info("dry run: the streaming job graph was built and validated; nothing ran")
            return EXIT_OK
        result.wait_until_finish()
    except Exception as error:
        _LOG.debug("streaming pipeline failed", exc_info=True)
        print(
            f"{PROG}: pipeline failed: {one_line(error)} (--verbose shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_PIPELINE_FAILED
    finally:
        if watcher is not None:
            watcher.stop()
    _LOG.info(
        "stream finished; tables and _summaries are in %s", options.view_as(SharedOptions).output
    )
    return EXIT_OK
