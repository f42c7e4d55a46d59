"""``retry-lineage`` command line: ``run`` (the batch pipeline) and ``generate`` (a synthetic feed)."""
from __future__ import annotations

import argparse
import logging
import sys

SUBCOMMANDS = ("run", "stream", "generate", "report")
# Logged by Beam's BigQuery client module on every import where google-apitools is absent
# (the default install, without the gcp extra); this job never uses BigQuery.
BEAM_APITOOLS_NOTICE = ("apitools not found, and bigquery client libraries are not available "
                        "despite the import not raising an ImportError.")


def not_beam_apitools_notice(record: logging.LogRecord) -> bool:
    """False for exactly Beam's apitools notice: every other record passes."""
    return not (record.name == "root" and record.getMessage() == BEAM_APITOOLS_NOTICE)


def generate(argv: list[str]) -> int:
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
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().addFilter(not_beam_apitools_notice)  # before anything imports Beam
    # Beam logs every worker and type-hint detail at INFO; keep the run's own log readable.
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    if argv and argv[0] in ("-h", "--help"):
        print("usage: retry-lineage {run,stream,generate,report} [options]\n\n"
              "  run       run the batch pipeline (retry-lineage run --help)\n"
              "  stream    run the streaming pipeline (Pub/Sub in; see README)\n"
              "  generate  write a synthetic feed (retry-lineage generate --help)\n"
              "  report    write an HTML report of an output folder (retry-lineage report --help)")
        return 0
    command, rest = (argv[0], argv[1:]) if argv and argv[0] in SUBCOMMANDS else ("run", argv)
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
        return exit_.code if isinstance(exit_.code, int) else 2


if __name__ == "__main__":
    sys.exit(main())
