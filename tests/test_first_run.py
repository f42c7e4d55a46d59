"""A user's first run prints what concerns the run: not Beam's notice about BigQuery clients."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import BEAM_APITOOLS_NOTICE, not_beam_apitools_notice
from tests.conftest import completed, course, noise, retry

REPO = Path(__file__).resolve().parents[1]


def record(name: str, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, None, None)


def test_the_filter_drops_exactly_beams_notice():
    assert not not_beam_apitools_notice(record("root", BEAM_APITOOLS_NOTICE))
    assert not_beam_apitools_notice(record("root", "apitools not found"))
    assert not_beam_apitools_notice(record("root", BEAM_APITOOLS_NOTICE + " and more"))
    assert not_beam_apitools_notice(record("retry_lineage", BEAM_APITOOLS_NOTICE))
    assert not_beam_apitools_notice(record("root", "the dead-letter ratio is high"))


@pytest.mark.slow
def test_run_without_apitools_prints_no_notice_and_keeps_other_warnings(tmp_path):
    # Where google-apitools is not installed (`make run`'s environment), as a package that fails to
    # import.
    hidden = tmp_path / "no-apitools" / "apitools"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("google-apitools is not installed here")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hidden.parent), str(REPO), os.environ.get("PYTHONPATH", "")])}
    probe = subprocess.run([sys.executable, "-c", "import apache_beam.io.gcp.internal.clients.bigquery"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert BEAM_APITOOLS_NOTICE in probe.stderr  # the environment shows the notice without the filter

    a, b = course("A"), course("B")
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\n".join([completed("1", b, "2024-07-01T00:00:00Z", source_uuid=a),
                                 retry(a, b, "2024-07-02T00:00:00Z"), noise()]) + b"\n")
    # main() as the console script calls it, then one more warning of the root logger's own.
    script = ("import logging, sys; from pipelines.cli import main; code = main(sys.argv[1:]); "
              "logging.warning('a warning of the run'); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script, "run", "--input", str(feed), "--output", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["balanced"] is True
    assert "apitools not found" not in done.stderr
    assert "WARNING root: a warning of the run" in done.stderr
