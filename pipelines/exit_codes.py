"""Exit codes of the ``retry-lineage`` commands and the one-line usage error.

Loads no Beam (the dispatcher and ``report`` import it before, or without, Beam).
"""
from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

EXIT_OK, EXIT_PIPELINE_FAILED, EXIT_USAGE, EXIT_CHECK_FAILED = 0, 1, 2, 3
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143


class UsageError(ValueError):
    """A bad option: reported as one line, exit code 2."""


def print_usage_error(prog: str, message: str) -> None:
    """The one stderr line of a usage error: ``<prog>: error: <message>``."""
    print(f"{prog}: error: {message}", file=sys.stderr)


def wants_help(argv: Sequence[str]) -> bool:
    """Whether ``argv`` asks for the help screen."""
    return any(arg in ("-h", "--help") for arg in argv)
