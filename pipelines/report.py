"""``retry-lineage report OUTPUT [--html FILE]``: one self-contained HTML page of an output folder.

Exit codes: 0 written; 2 the folder is not an output of this project, a table
is missing or unreadable, the report extra is not installed, or the page
cannot be written (one line on stderr; ``--verbose`` adds the traceback).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile

from pipelines.exit_codes import EXIT_OK, EXIT_USAGE, print_usage_error

DEFAULT_NAME = "report.html"

_LOG = logging.getLogger(__name__)


def _fail(message: str) -> int:
    print_usage_error("retry-lineage report", message)
    return EXIT_USAGE


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it: no reader sees half a page."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def run(argv: list[str] | None = None) -> int:
    """Write the report of an output folder; print its path and one line of headline figures."""
    parser = argparse.ArgumentParser(
        prog="retry-lineage report",
        description="Write one self-contained HTML page (charts and tables, no network needed) "
                    "from a batch, dated or streaming output folder.")
    parser.add_argument("output", metavar="OUTPUT", help="an output folder of retry-lineage run or stream")
    parser.add_argument("--html", metavar="FILE", help="the page to write (default: OUTPUT/report.html)")
    parser.add_argument("--verbose", action="store_true", help="show tracebacks of errors")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    try:
        from transforms import report_data, report_page
    except ImportError as error:
        _LOG.debug("report imports failed", exc_info=True)
        return _fail(f"the report needs the 'report' extra ({error.name} is missing): "
                     "pip install 'retry-lineage[report]'")
    target = args.html or os.path.join(args.output, DEFAULT_NAME)
    try:
        output = report_data.open_output(args.output)
        page, figures = report_page.build_page(output)
    except report_data.ReportInputError as error:
        _LOG.debug("cannot report on %s", args.output, exc_info=True)
        return _fail(str(error))
    except report_data.duckdb.Error as error:
        # A file that opens but fails while it is aggregated (a damaged page, a column of another
        # type).
        _LOG.debug("cannot read the tables of %s", args.output, exc_info=True)
        return _fail(f"cannot read the tables of {args.output}: {str(error).splitlines()[0]}")
    try:
        write_atomically(target, page)
    except OSError as error:
        _LOG.debug("cannot write %s", target, exc_info=True)
        return _fail(f"cannot write {target}: {error.strerror or error}")
    print(target)
    print(report_page.headline_line(figures))
    return EXIT_OK
