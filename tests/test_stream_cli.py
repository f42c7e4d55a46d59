"""`retry-lineage stream` as a user meets it: help, usage errors, a bounded --watch run.

The bounded run accounts for every line.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time

import pytest

from pipelines.cli import main
from tests.conftest import completed, course, line, noise, retry

A, B, X, Y = (course(name) for name in "ABXY")


def test_stream_help_prints_the_streaming_options(capsys):
    assert main(["stream", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--watch", "--input-subscription", "--stop-after", "--window-seconds", "--allowed-lateness-seconds",
                   "--dedup-horizon-seconds", "--lineage-wait-seconds", "--summary-seconds", "--state-shards",
                   "--lineage-retention-days", "--output", "--hmac-key-file", "--parquet-codec"):
        assert option in text, option
    for batch_only in ("--input ", "--date", "--max-dead-letter-ratio", "--input-template", "--run-id"):
        assert batch_only not in text, batch_only


@pytest.mark.parametrize("option", [["--date", "2024-07-30"], ["--input", "x.jsonl"],
                                    ["--max-dead-letter-ratio", "0.1"],
                                    ["--start=2024-07-30"], ["--end", "2024-07-31"], ["--input-template", "{date}"],
                                    ["--lineage-history", "h"], ["--run-id", "r"], ["--parse-processes", "2"],
                                    ["--state-shards", "0"], ["--lineage-retention-days", "0"], ["--no-such-option"]])
def test_stream_rejects_options_it_does_not_use_as_a_usage_error(tmp_path, capsys, option):
    code = main(["stream", "--watch", str(tmp_path / "*.jsonl"), "--output", str(tmp_path / "out"), *option])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("retry-lineage"), err


def test_a_bounded_watch_run_over_months_accounts_for_every_line(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    days = ["2024-03-01", "2024-04-15", "2024-06-30"]
    files = {
        "a.jsonl": [completed("1", B, f"{days[0]}T09:00:00Z", source_uuid=A), retry(A, B, f"{days[0]}T10:00:00Z"),
                    retry(A, B, f"{days[0]}T10:00:00Z"),                  # a duplicate
                    b"", b"   ", b"{broken", noise()],
        "b.jsonl": [retry(X, Y, f"{days[1]}T10:00:00Z"), line("asset_accessed", {"id": "1"}, f"{days[1]}T11:00:00Z"),
                    b'{"metadata": {}}'],
        "c.jsonl": [retry(A, B, f"{days[2]}T10:00:00Z", assignment_link="link-2"),
                    retry(X, B, f"{days[0]}T11:00:00Z")],                 # months late: its window had closed
    }
    for name in ("a.jsonl", "b.jsonl"):
        (folder / name).write_bytes(b"".join(item + b"\n" for item in files[name]))

    def drop_late_file():  # after the first two files have moved the watermark
        time.sleep(4)
        staging = tmp_path / "c.jsonl"
        staging.write_bytes(b"".join(item + b"\n" for item in files["c.jsonl"]))
        os.replace(staging, folder / "c.jsonl")

    dropper = threading.Thread(target=drop_late_file)
    dropper.start()
    try:
        assert main(["stream", "--watch", str(folder / "*.jsonl"), "--output", str(out), "--stop-after", "7",
                     "--window-seconds", "60", "--allowed-lateness-seconds", "60",
                     # a and b settle (and move the watermark) before c appears; c settles before
                     # the stop
                     "--watch-settle-seconds", "1"]) == 0
    finally:
        dropper.join()

    names = sorted(path.name for path in (out / "_summaries").glob("*.jsonl"))
    assert names and all(re.fullmatch(r"summary-\d{8}T\d{6}Z-\d{6}-[0-9a-f]{12}\.jsonl", name) for name in names)
    records = [json.loads(text) for path in (out / "_summaries").glob("*.jsonl")
               for text in path.read_text().splitlines()]
    assert all(record["balanced"] for record in records)
    total = sum(len(lines) for lines in files.values())
    assert sum(record["lines_read"] for record in records) == total == 12
    assert sum(record["duplicates"] for record in records) == 1
    assert sum(record["blank_lines"] for record in records) == 2
    assert sum(record["dead_letter_by_code"]["late_event"] for record in records) == 1
    assert sum(record["dead_letter_by_code"]["invalid_json"] for record in records) == 1
    assert sum(record["dead_letter_by_code"]["missing_event_name"] for record in records) == 1
    statuses = {status: sum(record["lineage_status"][status] for record in records)
                for status in ("matched", "no_migration")}
    assert statuses == {"matched": 2, "no_migration": 1}
