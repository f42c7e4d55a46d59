"""Entry points of retry-lineage: the batch and streaming pipelines, the report and the generator.

Started as ``python -m pipelines.<module>``, this package sets up logging
before that module imports Beam, as the ``retry-lineage`` console script does:
Beam's import-time notices (its apitools warning) are filtered, and the run
logs in the project's format.
"""

import sys

if sys.argv[:1] == [
    "-m"
]:  # Python is still locating the module given to -m (see `python -m` in its docs)
    from pipelines.run_logging import configure_logging

    configure_logging("--verbose" in sys.argv)
