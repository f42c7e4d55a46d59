"""The batch job's own options (``retry-lineage run``).

The options both pipelines share are in :mod:`pipelines.shared_options`.
"""

from __future__ import annotations

import argparse
import time
import uuid

from apache_beam.options.pipeline_options import (
    DirectOptions,
    PipelineOptions,
    StandardOptions,
    TypeOptions,
)

from pipelines.shared_options import DEFAULT_LOCAL_RUNNER
from transforms.outcomes import DEFAULT_OUTCOME_WAIT_SECONDS
from transforms.read_canvas_events import default_processes


class RetryLineageOptions(PipelineOptions):
    """Options of the batch job only: its input, dated runs, checks and local parallelism."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--input",
            dest="input",
            action="extend",
            nargs="+",
            default=None,
            help="File pattern(s) of event lines (local or any Beam filesystem; .gz is read "
            "transparently). Repeatable.",
        )
        parser.add_argument(
            "--allow-empty-input",
            "--allow_empty_input",
            dest="allow_empty_input",
            nargs="?",
            const=True,
            default=False,
            type=_true_or_false,
            metavar="true|false",
            help="A pattern (or a dated run's day) that matches no file is read as empty input "
            "instead of failing with exit 2. The value is optional (Flex Templates pass one).",
        )
        parser.add_argument(
            "--max-dead-letter-ratio",
            "--max_dead_letter_ratio",
            dest="max_dead_letter_ratio",
            type=float,
            default=1.0,
            help="Exit 3 (after writing everything) when dead-lettered/read lines exceeds this.",
        )
        parser.add_argument(
            "--parse-processes",
            "--parse_processes",
            dest="parse_processes",
            type=int,
            default=None,
            help="Processes that classify lines in parallel inside each worker (default: every "
            "core on the local in-process runner, 1 on other runners, "
            "which parallelise themselves).",
        )
        parser.add_argument(
            "--date",
            dest="date",
            default=None,
            help="Ingest date YYYY-MM-DD of a scheduled run: "
            "output goes to OUTPUT/<table>/ingest_date=D/.",
        )
        parser.add_argument(
            "--start",
            dest="start",
            default=None,
            help="First ingest date of a backfill (with --end).",
        )
        parser.add_argument(
            "--end", dest="end", default=None, help="Last ingest date of a backfill (inclusive)."
        )
        parser.add_argument(
            "--input-template",
            "--input_template",
            dest="input_template",
            default=None,
            help="Input pattern of one day, with {date} for YYYY-MM-DD (dated runs).",
        )
        parser.add_argument(
            "--lineage-history",
            "--lineage_history",
            dest="lineage_history",
            default=None,
            help="course_lineage Parquet of earlier days "
            "(default OUTPUT/course_lineage/ingest_date=*/*.parquet).",
        )
        parser.add_argument(
            "--outcome-wait-seconds",
            "--outcome_wait_seconds",
            dest="outcome_wait_seconds",
            type=int,
            default=DEFAULT_OUTCOME_WAIT_SECONDS,
            help="How long after a retry a state event of its assignment can decide its "
            f"outcome; past it the retry has no outcome event "
            f"(default {DEFAULT_OUTCOME_WAIT_SECONDS}).",
        )
        parser.add_argument(
            "--no-wait",
            "--no_wait",
            dest="no_wait",
            action="store_true",
            default=False,
            help="Return once the job is submitted (Flex Template launches); the job still "
            "publishes its output and _runs summary, which a scheduler then checks.",
        )
        parser.add_argument(
            "--run-id",
            "--run_id",
            dest="run_id",
            default=None,
            help="Names this run (its version folder, the lock): letters, digits, '.', '_', '-' "
            "(default: UTC time and a random suffix).",
        )


def _true_or_false(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def parse_options(argv: list[str]) -> PipelineOptions:
    """The options of ``argv``, with the local runner and a fresh run id where none was given.

    Beam's type inference of every step's output (``pipeline_type_check``) is off: it
    costs about a second of start-up on each run, while the graph is this package's
    own and is built with it on by the tests (``tests/test_graph_type_check.py``).
    """
    options = PipelineOptions(argv)
    options.view_as(TypeOptions).pipeline_type_check = False
    standard = options.view_as(StandardOptions)
    if standard.runner is None:
        standard.runner = DEFAULT_LOCAL_RUNNER
    opts = options.view_as(RetryLineageOptions)
    if opts.run_id is None:  # an explicit empty --run-id is refused by check_run_id
        opts.run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
    return options


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
