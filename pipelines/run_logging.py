"""Logging of every entry point: INFO to stderr, one format, Beam's noise filtered, --verbose DEBUG.

Loads no Beam: it runs before Beam is imported (by :mod:`pipelines.cli`, and by
``pipelines/__init__.py`` when a module is started with ``python -m``).
"""

from __future__ import annotations

import logging

# Loggers of this project: --verbose sets them to DEBUG.
OWN_LOGGERS = ("retry_lineage", "pipelines", "transforms")

# Logged by Beam's BigQuery client module on every import where google-apitools is absent
# (the default install, without the gcp extra); this job never uses BigQuery.
BEAM_APITOOLS_NOTICE = (
    "apitools not found, and bigquery client libraries are not available "
    "despite the import not raising an ImportError."
)


def not_beam_apitools_notice(record: logging.LogRecord) -> bool:
    """False for exactly Beam's apitools notice: every other record passes."""
    return not (record.name == "root" and record.getMessage() == BEAM_APITOOLS_NOTICE)


class _QuietBeamErrors(logging.Filter):
    """Drops Beam's ERROR records (a step's traceback) unless verbose; the command says one line."""

    quiet = True

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            self.quiet and record.name.startswith("apache_beam") and record.levelno >= logging.ERROR
        )


_QUIET_BEAM_ERRORS = _QuietBeamErrors()


def configure_logging(verbose: bool) -> None:
    """INFO to stderr (DEBUG for this project's loggers when verbose); safe to call again."""
    root = logging.getLogger()
    if (
        not root.handlers
    ):  # a host that configured logging (a test runner, an application) keeps its own
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        for handler in root.handlers:
            handler.addFilter(_QUIET_BEAM_ERRORS)
    if not_beam_apitools_notice not in root.filters:  # before anything imports Beam
        root.addFilter(not_beam_apitools_notice)
    _QUIET_BEAM_ERRORS.quiet = not verbose
    # Beam logs every worker and type-hint detail at INFO; keep the run's own log readable.
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.NOTSET)
