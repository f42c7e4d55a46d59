"""``python -m pipelines.retry_lineage ...``: the same as ``retry-lineage ...``.

A separate ``__main__`` keeps the options class defined once, in the importable
module, whichever way the job is started.
"""
import sys

from pipelines.cli import main

sys.exit(main())
