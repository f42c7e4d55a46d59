"""Whatever escapes a subcommand is one line on stderr and exit 1; --verbose adds the traceback."""
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.errors import one_line
from transforms.file_ranges import UnreadableInputError

ROOT = Path(__file__).resolve().parent.parent


def cli(*args):
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return done.returncode, done.stderr


def test_an_unexpected_error_is_one_line_and_exit_1():
    code, stderr = cli("generate", "--events", "10", "--output", "/proc/no-such-folder/feed.jsonl")
    assert code == 1
    assert stderr.splitlines() == [
        "retry-lineage: error: FileNotFoundError: [Errno 2] No such file or directory: "
        "'/proc/no-such-folder/feed.jsonl'"]


def test_verbose_anywhere_shows_the_traceback_for_every_subcommand():
    for args in (["--verbose", "generate"], ["generate", "--verbose"]):
        code, stderr = cli(*args, "--events", "10", "--output", "/proc/no-such-folder/feed.jsonl")
        assert code == 1 and "Traceback (most recent call last)" in stderr, stderr
        assert stderr.rstrip().splitlines()[-1].startswith("retry-lineage: error: FileNotFoundError")
    code, stderr = cli("stream", "--verbose", "--output", "o")
    assert code == 2
    assert stderr.splitlines() == ["retry-lineage stream: error: give one source: --input-subscription or --watch"]


def test_verbose_sets_this_projects_loggers_to_debug_and_back(tmp_path):
    assert main(["generate", "--verbose", "--events", "1", "--output", str(tmp_path / "a.jsonl")]) == 0
    assert logging.getLogger("retry_lineage").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("transforms.file_ranges").getEffectiveLevel() == logging.DEBUG
    assert main(["generate", "--events", "1", "--output", str(tmp_path / "b.jsonl")]) == 0
    assert logging.getLogger("retry_lineage").level == logging.NOTSET


def fail_like_a_beam_step() -> None:
    try:
        raise UnreadableInputError("/in/a.jsonl.gz: compressed data ends early (truncated file?)")
    except UnreadableInputError as error:
        # As Beam re-raises: a new error whose context (not cause) is the original.
        step = " [while running 'ReadCanvasEvents/ClassifyFileRange']"
        raise UnreadableInputError(error.args[0] + step)  # noqa: B904


def test_one_line_names_our_errors_through_beam_and_remote_tracebacks():
    with pytest.raises(UnreadableInputError) as augmented:
        fail_like_a_beam_step()
    assert one_line(augmented.value) == "/in/a.jsonl.gz: compressed data ends early (truncated file?)"
    remote = RuntimeError("Dataflow job failed:\nTraceback (most recent call last):\n  File ...\n"
                          "transforms.file_ranges.UnreadableInputError: gs://b/a.jsonl.xz: "
        "compressed data ends early "
                          "(truncated file?) [while running 'ReadCanvasEvents/ClassifyFileRange']\n")
    assert one_line(remote) == "gs://b/a.jsonl.xz: compressed data ends early (truncated file?)"
    assert one_line(ValueError("first line\nsecond")) == "ValueError: first line"
    worker = RuntimeError("Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n    g()\n"
                          "AttributeError: no attribute 'y' [while running 'ListFiles']\n\n")
    assert one_line(worker) == "AttributeError: no attribute 'y'"
