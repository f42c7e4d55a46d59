"""``python -m pipelines.retry_lineage ...``: the same as ``retry-lineage ...``.

A separate ``__main__`` keeps the options class defined once, in the importable
module, whichever way the job is started. The guard matters: the classifier's
spawned worker processes import the main module again.
"""

import sys

from pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main())
