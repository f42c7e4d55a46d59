"""The `retry-lineage` command end to end: exit codes, output layout, Parquet read back."""

import json
import subprocess
import sys

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from tests.conftest import PII_METADATA, completed, course, noise, retry
from transforms.tables import COURSE_LINEAGE, DEAD_LETTER, RETRIES

# Every test here runs a whole pipeline or a subprocess: `make test-fast` leaves them out.
pytestmark = pytest.mark.slow

A, B = course("A"), course("B")
SMALL_FEED = [
    completed("1", B, "2024-07-01T00:00:00Z", source_uuid=A),
    retry(A, B, "2024-07-02T00:00:00Z"),
    noise(),
    b"{broken",
]


def write_feed(path, lines):
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)


def test_bad_options_exit_2_with_one_line(tmp_path, capsys):
    feed = write_feed(tmp_path / "feed.jsonl", SMALL_FEED)
    empty_key = tmp_path / "empty.key"
    empty_key.write_bytes(b"")
    cases = [
        ["run", "--output", str(tmp_path / "out")],
        ["run", "--input", feed],
        ["run", "--input", feed, "--output", str(tmp_path / "out"), "--max-dead-letter-ratio", "2"],
        [
            "run",
            "--input",
            feed,
            "--output",
            str(tmp_path / "out"),
            "--max-dead-letter-ratio",
            "lots",
        ],
        ["run", "--input", feed, "--output", str(tmp_path / "out"), "--parquet-codec", "lzma"],
        ["run", "--input", feed, "--output", str(tmp_path / "out"), "--no-such-option", "1"],
        [
            "run",
            "--input",
            feed,
            "--output",
            str(tmp_path / "out"),
            "--hmac-key-file",
            str(tmp_path / "missing.key"),
        ],
        [
            "run",
            "--input",
            feed,
            "--output",
            str(tmp_path / "out"),
            "--hmac-key-file",
            str(empty_key),
        ],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err and "Traceback" not in err, argv
        assert len(err.splitlines()) == 1, (argv, err)
    assert not (tmp_path / "out").exists()


def test_dead_letter_ratio_over_limit_exits_3_after_writing(tmp_path):
    feed = write_feed(tmp_path / "feed.jsonl", SMALL_FEED)
    out = tmp_path / "out"
    assert (
        main(["run", "--input", feed, "--output", str(out), "--max-dead-letter-ratio", "0.1"]) == 3
    )
    summary = json.loads((out / "_SUMMARY.json").read_text())
    assert summary["dead_lettered"] == 1 and summary["lines_read"] == 4
    assert pq.read_table(out / "dead_letter").num_rows == 1
    assert (
        main(["run", "--input", feed, "--output", str(out), "--max-dead-letter-ratio", "0.25"]) == 0
    )


def test_rerun_replaces_previous_output_and_leaves_no_staging(tmp_path):
    out = tmp_path / "out"
    first = write_feed(tmp_path / "first.jsonl", SMALL_FEED + [retry(A, B, "2024-07-09T00:00:00Z")])
    assert main(["run", "--input", first, "--output", str(out)]) == 0
    assert (out / "retries" / "event_date=2024-07-09").is_dir()
    second = write_feed(tmp_path / "second.jsonl", SMALL_FEED)
    assert main(["run", "--input", second, "--output", str(out)]) == 0
    assert not (out / "retries" / "event_date=2024-07-09").exists()
    assert not (out / "_staging").exists()
    # The tables and the summary are links into the current version (see transforms/publish.py).
    assert sorted(p.name for p in out.iterdir()) == [
        "_LOCK",
        "_SUMMARY.json",
        "_current",
        "_versions",
        "assignment_states",
        "course_lineage",
        "dead_letter",
        "retries",
        "retry_outcomes",
    ]


def test_empty_tables_still_have_a_readable_file(tmp_path):
    feed = write_feed(tmp_path / "feed.jsonl", [noise()])
    out = tmp_path / "out"
    assert main(["run", "--input", feed, "--output", str(out)]) == 0
    for table in (RETRIES, COURSE_LINEAGE, DEAD_LETTER):
        read = pq.read_table(out / table.name)
        assert read.num_rows == 0 and read.schema.names == table.schema.names


def test_generated_feed_end_to_end(tmp_path, monkeypatch):
    from pipelines.synthetic_feed import write_feed as generate

    feed = tmp_path / "feed.jsonl.gz"
    generate(str(feed), 20_000, 11)
    key = tmp_path / "hmac.key"
    key.write_bytes(b"test-key\n")
    out = tmp_path / "out"
    assert (
        main(["run", "--input", str(feed), "--output", str(out), "--hmac-key-file", str(key)]) == 0
    )

    summary = json.loads((out / "_SUMMARY.json").read_text())
    assert summary["balanced"] and summary["outputs_complete"]
    assert summary["lines_read"] == 20_000
    assert summary["pseudonymization"] == "hmac-sha256"
    assert all(
        summary["dead_letter_by_code"][code] > 0
        for code in summary["dead_letter_by_code"]
        if code != "oversize"
    )
    assert summary["duplicates"] > 0 and summary["accepted"]["retry"] > 0

    con = duckdb.connect()
    retries = con.sql(
        f"select * from read_parquet('{out}/retries/**/*.parquet', hive_partitioning=true)"
    ).to_arrow_table()
    assert retries.num_rows == summary["retries_written"]
    assert "event_date" in retries.schema.names
    statuses = dict(
        con.execute(
            f"select lineage_status, count(*) from read_parquet('{out}/retries/**/*.parquet') "
            "group by 1"
        ).fetchall()
    )
    assert statuses == {k: v for k, v in summary["lineage_status"].items() if v}
    assert set(statuses) == {"same_course", "matched", "source_mismatch", "no_migration"}
    assert (
        con.execute(
            f"select max(lineage_depth) from read_parquet('{out}/retries/**/*.parquet')"
        ).fetchone()[0]
        >= 2
    )
    lineage = pq.read_table(out / "course_lineage")
    assert lineage.num_rows == summary["lineage_edges_written"]
    dead = pq.read_table(out / "dead_letter")
    assert dead.num_rows == summary["dead_lettered"]

    for table, read in (
        (RETRIES, retries.drop(["event_date"])),
        (COURSE_LINEAGE, lineage),
        (DEAD_LETTER, dead),
    ):
        assert read.schema.names == table.schema.names
        for row in read.slice(0, 200).to_pylist():
            table.record.model_validate(row)


def pii_values_in(feed_lines):
    values = set()
    for raw in feed_lines:
        try:
            event = json.loads(raw)
            metadata = event["metadata"]
        except Exception:
            continue
        if isinstance(metadata, dict):
            for field in (
                "user_login",
                "user_sis_id",
                "client_ip",
                "user_agent",
                "session_id",
                "url",
                "referrer",
            ):
                if isinstance(metadata.get(field), str) and len(metadata[field]) > 3:
                    values.add(metadata[field])
    return values


def test_no_pii_outside_dead_letter(tmp_path):
    from pipelines.synthetic_feed import iter_feed_lines

    lines = list(iter_feed_lines(5_000, 3)) + SMALL_FEED
    feed = write_feed(tmp_path / "feed.jsonl", lines)
    out = tmp_path / "out"
    assert main(["run", "--input", feed, "--output", str(out)]) == 0
    pii = pii_values_in(lines) | set(PII_METADATA.values())
    for table in ("retries", "course_lineage"):
        for row in pq.read_table(out / table).to_pylist():
            for value in row.values():
                cells = value if isinstance(value, list) else [value]
                assert not any(isinstance(cell, str) and cell in pii for cell in cells), (
                    table,
                    value,
                )
    raw = b"".join(pq.read_table(out / "dead_letter").column("raw").to_pylist())
    assert b"@example" in raw or b"client_ip" in raw  # dead letters keep the raw line, PII included


def test_console_script_and_module_entry_points(tmp_path):
    feed = write_feed(tmp_path / "feed.jsonl", SMALL_FEED)
    for command in (
        [sys.executable, "-m", "pipelines.retry_lineage"],
        [sys.executable, "-m", "pipelines.cli", "run"],
    ):
        out = tmp_path / ("out" + str(len(command)))
        done = subprocess.run(
            [*command, "--input", feed, "--output", str(out)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout)["balanced"] is True


def test_process_pool_gives_the_same_output_as_one_process(tmp_path):
    from pipelines.synthetic_feed import write_feed as generate

    feed = tmp_path / "feed.jsonl"  # uncompressed, so that sub-ranges are cut mid-file
    generate(str(feed), 8_000, 5)
    outputs = {}
    for processes in (1, 3):
        out = tmp_path / f"out{processes}"
        assert (
            main(
                [
                    "run",
                    "--input",
                    str(feed),
                    "--output",
                    str(out),
                    "--parse-processes",
                    str(processes),
                ]
            )
            == 0
        )
        summary = json.loads((out / "_SUMMARY.json").read_text())
        retries = (
            pq.read_table(out / "retries")
            .sort_by("event_fingerprint")
            .drop(["event_date"])
            .to_pylist()
        )
        dead = sorted(
            (row["source_offset"], row["error_code"])
            for row in pq.read_table(out / "dead_letter").to_pylist()
        )
        outputs[processes] = (summary, retries, dead)
    assert outputs[1] == outputs[3]


def test_generate_subcommand_writes_a_deterministic_feed(tmp_path, capsys):
    first, second = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    assert main(["generate", "--events", "300", "--seed", "4", "--output", str(first)]) == 0
    assert main(["generate", "--events", "300", "--seed", "4", "--output", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    import gzip

    assert len(gzip.decompress(first.read_bytes()).splitlines()) == 300
    assert main(["generate", "--events", "-1", "--output", str(first)]) == 2


@pytest.mark.parametrize(
    "codec, parquet_name", [("zstd", "ZSTD"), ("snappy", "SNAPPY"), ("none", "UNCOMPRESSED")]
)
def test_parquet_codec_option_is_what_the_files_use(tmp_path, codec, parquet_name):
    feed = write_feed(tmp_path / "feed.jsonl", SMALL_FEED)
    out = tmp_path / "out"
    assert main(["run", "--input", feed, "--output", str(out), "--parquet-codec", codec]) == 0
    for path in out.rglob("*.parquet"):
        assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == parquet_name, (
            path
        )
