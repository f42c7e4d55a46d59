"""A first run prints what concerns the run, however it is started: not Beam's BigQuery notice."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.run_logging import BEAM_APITOOLS_NOTICE, not_beam_apitools_notice
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


def without_apitools(tmp_path: Path) -> dict[str, str]:
    """An environment where google-apitools fails to import (a raising package)."""
    hidden = tmp_path / "no-apitools" / "apitools"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text(
        'raise ImportError("google-apitools is not installed here")\n'
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(hidden.parent), str(REPO), os.environ.get("PYTHONPATH", "")]
        ),
    }
    probe = subprocess.run(
        [sys.executable, "-c", "import apache_beam.io.gcp.internal.clients.bigquery"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        BEAM_APITOOLS_NOTICE in probe.stderr
    )  # the environment shows the notice without the filter
    return env


def small_feed(tmp_path: Path) -> Path:
    a, b = course("A"), course("B")
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(
        b"\n".join(
            [
                completed("1", b, "2024-07-01T00:00:00Z", source_uuid=a),
                retry(a, b, "2024-07-02T00:00:00Z"),
                noise(),
            ]
        )
        + b"\n"
    )
    return feed


@pytest.mark.slow
def test_run_without_apitools_prints_no_notice_and_keeps_other_warnings(tmp_path):
    env = without_apitools(tmp_path)
    feed = small_feed(tmp_path)
    # main() as the console script calls it, then one more warning of the root logger's own.
    script = (
        "import logging, sys; from pipelines.cli import main; code = main(sys.argv[1:]); "
        "logging.warning('a warning of the run'); sys.exit(code)"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "run",
            "--input",
            str(feed),
            "--output",
            str(tmp_path / "out"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["balanced"] is True
    assert "apitools not found" not in done.stderr
    assert "WARNING root: a warning of the run" in done.stderr


ENTRY_POINTS = {
    "python -m pipelines.retry_lineage": [sys.executable, "-m", "pipelines.retry_lineage"],
    "python -m pipelines.retry_lineage run": [
        sys.executable,
        "-m",
        "pipelines.retry_lineage",
        "run",
    ],
    "python -m pipelines.cli run": [sys.executable, "-m", "pipelines.cli", "run"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_every_entry_point_prints_no_notice_and_logs_the_run_as_the_console_script_does(
    tmp_path, name
):
    env = without_apitools(tmp_path)
    done = subprocess.run(
        [
            *ENTRY_POINTS[name],
            "--input",
            str(small_feed(tmp_path)),
            "--output",
            str(tmp_path / "out"),
            "--parse-processes",
            "1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["balanced"] is True
    assert "apitools" not in done.stderr
    # The run's own log, in the project's format: logging is set up before Beam is imported.
    assert " INFO retry_lineage: undated run: reading " in done.stderr, done.stderr[-3000:]


@pytest.mark.slow
def test_the_flex_template_launcher_prints_no_notice(tmp_path):
    from tests.conftest import DATAFLOW_ARGS, no_network

    command = no_network(
        [
            sys.executable,
            str(REPO / "deploy" / "flex_template_main.py"),
            *DATAFLOW_ARGS,
            "--input=gs://example-bucket/in/*.jsonl",
            "--output=gs://example-bucket/out",
        ]
    )
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=without_apitools(tmp_path),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "apitools" not in done.stderr
