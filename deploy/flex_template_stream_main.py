"""Flex Template entry point of the streaming job (a second template spec on the same image).

The launcher runs ``python flex_template_stream_main.py --input_subscription=... --output=...``:
``retry-lineage stream`` with those flags, which submits the job and returns.
"""

import sys

from pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main(["stream", *sys.argv[1:]]))
