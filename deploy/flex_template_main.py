"""Flex Template entry point: the template's parameters arrive as --flags.

The Flex Template launcher runs ``python flex_template_main.py --input=... --output=...``;
this is ``retry-lineage run`` with those flags. The code lives in the installed
package, so the workers can unpickle every DoFn.
"""

import sys

from pipelines.cli import main

if __name__ == "__main__":
    # The launcher VM only has to submit the job; the job publishes its own output.
    sys.exit(main(["run", "--no-wait", *sys.argv[1:]]))
