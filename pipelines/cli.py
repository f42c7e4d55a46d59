"""``retry-lineage``: ``run`` (batch), ``stream``, ``generate`` (a synthetic feed) and ``report``.

Errors are one line on stderr with the exit code the README documents;
``--verbose`` (any subcommand) logs at DEBUG, tracebacks included.
"""
from __future__ import annotations

import argparse
import logging
import sys

from pipelines.exit_codes import EXIT_OK, EXIT_PIPELINE_FAILED, EXIT_USAGE, print_usage_error

SUBCOMMANDS = ("run", "stream", "generate", "report")
VERBOSE = "--verbose"
# Loggers of this project: --verbose sets them to DEBUG.
OWN_LOGGERS = ("retry_lineage", "pipelines", "transforms")

_LOG = logging.getLogger("retry_lineage.cli")
# Logged by Beam's BigQuery client module on every import where google-apitools is absent
# (the default install, without the gcp extra); this job never uses BigQuery.
BEAM_APITOOLS_NOTICE = ("apitools not found, and bigquery client libraries are not available "
                        "despite the import not raising an ImportError.")


def not_beam_apitools_notice(record: logging.LogRecord) -> bool:
    """False for exactly Beam's apitools notice: every other record passes."""
    return not (record.name == "root" and record.getMessage() == BEAM_APITOOLS_NOTICE)


class _QuietBeamErrors(logging.Filter):
    """Drops Beam's ERROR records (a step's traceback) unless verbose; the command says one line."""

    quiet = True

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.quiet and record.name.startswith("apache_beam") and record.levelno >= logging.ERROR)


_QUIET_BEAM_ERRORS = _QuietBeamErrors()


def configure_logging(verbose: bool) -> None:
    """INFO to stderr (DEBUG for this project's loggers when verbose); safe to call again."""
    root = logging.getLogger()
    if not root.handlers:  # a host that configured logging (a test runner, an application) keeps its own
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        for handler in root.handlers:
            handler.addFilter(_QUIET_BEAM_ERRORS)
    if not_beam_apitools_notice not in root.filters:  # before anything imports Beam
        root.addFilter(not_beam_apitools_notice)
    _QUIET_BEAM_ERRORS.quiet = not verbose
    # Beam logs every worker and type-hint detail at INFO; keep the run's own log readable.
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.NOTSET)


def generate(argv: list[str]) -> int:
    """Write a synthetic feed (``retry-lineage generate``); the exit code."""
    parser = argparse.ArgumentParser(prog="retry-lineage generate",
                                     description="Write a deterministic synthetic Canvas Live Events feed.")
    parser.add_argument("--events", type=int, required=True, help="number of lines to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same bytes)")
    parser.add_argument("--output", required=True, help="file to write; gzip when it ends with .gz")
    args = parser.parse_args(argv)
    if args.events < 0:
        parser.error("--events must be >= 0")
    from pipelines.synthetic_feed import write_feed

    lines = write_feed(args.output, args.events, args.seed)
    print(f"wrote {lines} lines to {args.output}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """The ``retry-lineage`` command: run a subcommand and return its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    verbose = VERBOSE in argv
    argv = [arg for arg in argv if arg != VERBOSE]
    configure_logging(verbose)
    if argv and argv[0] in ("-h", "--help"):
        print("usage: retry-lineage {run,stream,generate,report} [--verbose] [options]\n\n"
              "  run       run the batch pipeline (retry-lineage run --help)\n"
              "  stream    run the streaming pipeline (Pub/Sub in; see README)\n"
              "  generate  write a synthetic feed (retry-lineage generate --help)\n"
              "  report    write an HTML report of an output folder (retry-lineage report --help)\n\n"
              "  --verbose log at DEBUG level, with the traceback of any failure")
        return EXIT_OK
    command, rest = (argv[0], argv[1:]) if argv and argv[0] in SUBCOMMANDS else ("run", argv)
    try:
        return _run_command(command, rest)
    except Exception as error:  # whatever escaped the subcommand: one line, the traceback only with --verbose
        from pipelines.errors import one_line

        _LOG.debug("%s failed", command, exc_info=True)
        print_usage_error("retry-lineage", one_line(error))
        return EXIT_PIPELINE_FAILED


def _run_command(command: str, rest: list[str]) -> int:
    try:
        if command == "generate":
            return generate(rest)
        if command == "report":
            from pipelines.report import run as run_report

            return run_report(rest)
        if command == "stream":
            from pipelines.retry_lineage_stream import run as run_stream

            return run_stream(rest)
        from pipelines.retry_lineage import run

        return run(rest)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
