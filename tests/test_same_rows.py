"""The batch job writes the same rows as a reference version of the code, on three fixed inputs.

The expected digests (``tests/data/same-rows/expected.json``) of ``retries``,
``course_lineage`` and ``dead_letter`` were computed from the code at commit
64df497 (before the restructuring), those of ``assignment_states`` and
``retry_outcomes`` from the code at commit b9577df (when outcomes were first
complete in batch and streaming), by the commands listed in that file. The
third input is a feed of the outcome-aware generator in which every decided
outcome value occurs. A change that means to change the rows updates the
figures in the same commit and says why there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli import main
from tests.output_digest import table_digests

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "same-rows"
EXPECTED = json.loads((DATA / "expected.json").read_text())
HMAC_KEY = b"same-rows-test-key-0123456789abcdef"
INPUTS = {
    # The bundled sample as it was then (the sample was regenerated since, with assignment states).
    "sample": (DATA / "canvas-live-events-sample.jsonl.gz", False),
    "generated_feed": (DATA / "generated-feed-3000-seed20261201.jsonl.gz", True),
    "outcomes_feed": (DATA / "generated-outcomes-feed-4000-seed3.jsonl.gz", True),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_the_rows_and_the_summary_are_those_of_the_code_before_the_refactoring(
    tmp_path, capsys, name
):
    path, keyed = INPUTS[name]
    argv = [
        "run",
        "--input",
        str(path),
        "--output",
        str(tmp_path / "out"),
        "--parse-processes",
        "1",
    ]
    if keyed:
        (tmp_path / "key").write_bytes(HMAC_KEY)
        argv += ["--hmac-key-file", str(tmp_path / "key")]
    assert main(argv) == 0, capsys.readouterr().err
    assert table_digests(str(tmp_path / "out")) == EXPECTED[name]["tables"]
    summary = json.loads((tmp_path / "out" / "_SUMMARY.json").read_text())
    # Every figure the old summary had is unchanged (a new counter may be added).
    assert {key: summary.get(key) for key in EXPECTED[name]["summary"]} == EXPECTED[name]["summary"]


def test_the_digest_sees_a_changed_value_a_moved_row_and_a_lost_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    def write(rows_by_folder):
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        for folder, rows in rows_by_folder.items():
            (out / "retries" / folder).mkdir(parents=True)
            pq.write_table(
                pa.table({"a": [r[0] for r in rows], "b": [r[1] for r in rows]}),
                out / "retries" / folder / "part-0.parquet",
            )
        return table_digests(str(out))["retries"]

    base = write({"event_date=2024-01-01": [(1, "x"), (2, "y")]})
    assert base == write(
        {"event_date=2024-01-01": [(2, "y"), (1, "x")]}
    )  # order and files do not matter
    assert base != write({"event_date=2024-01-01": [(1, "x"), (2, "z")]})
    assert base != write({"event_date=2024-01-01": [(1, "x")], "event_date=2024-01-02": [(2, "y")]})
    assert base != write({"event_date=2024-01-01": [(1, "x")]})
