"""A classifier worker process loads neither Beam nor pyarrow nor numpy: it starts fast, small."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.event_cases import make


@pytest.mark.slow
def test_a_classifier_worker_loads_no_pyarrow_numpy_or_beam(tmp_path):
    feed = tmp_path / "feed.jsonl"
    # Every kind of outcome: rows of both classifier row types are built.
    feed.write_bytes(
        b"\n".join([make("noise"), make("retry"), make("assignment"), b"{not json"]) + b"\n"
    )
    code = (
        "import sys; from transforms.classify_range import classify_file_range; "
        "from transforms.file_ranges import FileRange; "
        "result = classify_file_range(FileRange(sys.argv[1], 0, None), None); "
        "print(len(result.accepted), len(result.dead_letters)); "
        "print(sorted(m for m in ('apache_beam', 'pyarrow', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(feed)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["2 1", "[]"]


def test_the_classifier_row_types_are_the_tables_row_types():
    from transforms import events, rows, tables

    assert events.AssignmentStateRow is tables.AssignmentStateRow is rows.AssignmentStateRow
    assert events.DeadLetterRow is tables.DeadLetterRow is rows.DeadLetterRow
