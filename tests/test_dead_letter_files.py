"""The dead-letter table is one file per partition, not one per classified range."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from tests.conftest import course, noise, retry
from transforms.parquet_writer import dead_letters_in_order
from transforms.tables import DeadLetterRow


def parquet_files(folder: Path) -> list[Path]:
    return sorted(
        Path(root) / name
        for root, _, names in os.walk(folder, followlinks=True)
        for name in names
        if name.endswith(".parquet")
    )


def write_inputs(folder: Path, files: int) -> None:
    folder.mkdir()
    for index in range(files):
        lines = [
            noise(),
            b"{broken",
            retry(course("A"), course("B"), "2024-07-30T10:00:00Z"),
            b'{"metadata": {}}',
        ]
        (folder / f"part-{index}.jsonl").write_bytes(b"".join(item + b"\n" for item in lines))


@pytest.mark.slow
def test_dead_letters_of_many_files_are_one_file(tmp_path, capsys):
    write_inputs(tmp_path / "in", 5)
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "--input",
                str(tmp_path / "in" / "*.jsonl"),
                "--output",
                str(out),
                "--parse-processes",
                "1",
            ]
        )
        == 0
    ), capsys.readouterr().err
    files = parquet_files(out / "dead_letter")
    assert len(files) == 1, files
    rows = pq.read_table(files[0]).to_pylist()
    assert len(rows) == 10
    assert [(Path(row["source_file"]).name, row["source_offset"]) for row in rows] == sorted(
        (f"part-{index}.jsonl", offset)
        for index in range(5)
        for offset in (len(noise()) + 1, rows[1]["source_offset"])
    )


@pytest.mark.slow
def test_a_dated_run_writes_one_dead_letter_file_in_its_partition(tmp_path, capsys):
    write_inputs(tmp_path / "2024-07-30", 3)
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "--date",
                "2024-07-30",
                "--input-template",
                str(tmp_path / "{date}" / "*.jsonl"),
                "--output",
                str(out),
                "--parse-processes",
                "1",
            ]
        )
        == 0
    ), capsys.readouterr().err
    files = parquet_files(out / "dead_letter")
    assert [file.parent.name for file in files] == ["ingest_date=2024-07-30"]
    assert pq.read_table(files[0]).num_rows == 6


def test_dead_letters_are_ordered_by_source_file_and_offset_whatever_the_order_of_the_ranges():
    def row(path, offset):
        return DeadLetterRow("invalid_json", "x", None, path, offset, b"{")

    lists = [[row("b", 5), row("b", 1)], [row("a", 9)], [row(None, None)]]
    expected = [row(None, None), row("a", 9), row("b", 1), row("b", 5)]
    assert dead_letters_in_order(lists) == expected
    assert dead_letters_in_order(reversed(lists)) == expected
