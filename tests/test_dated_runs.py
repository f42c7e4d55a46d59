"""Scheduled, dated runs: partitions, reruns, empty days, failures, lineage across days."""

import json

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from tests.conftest import DAYS, completed, course, forest_feed

# Every test here runs a whole pipeline or a subprocess: `make test-fast` leaves them out.
pytestmark = pytest.mark.slow

LINEAGE_COLUMNS = [
    "lineage_status",
    "migration_id",
    "migration_type",
    "migration_completed_at",
    "seconds_since_migration",
    "lineage_path",
    "root_course_uuid",
    "lineage_depth",
    "lineage_cycle",
    "lineage_truncated",
]


def write_days(tmp_path, feed):
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    for day, lines in feed.items():
        (folder / f"{day}.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    return str(folder / "{date}.jsonl")


def read(pattern: str) -> list[dict]:
    return (
        duckdb.sql(f"select * from read_parquet('{pattern}', hive_partitioning=true)")
        .to_arrow_table()
        .to_pylist()
    )


def by_fingerprint(rows, columns):
    return {row["event_fingerprint"]: tuple(row[c] for c in columns) for row in rows}


def test_days_one_by_one_equal_one_run_over_all_days(tmp_path):
    template = write_days(tmp_path, forest_feed(30))
    batch, dated = tmp_path / "batch", tmp_path / "dated"
    assert main(["run", "--input", template.replace("{date}", "*"), "--output", str(batch)]) == 0
    assert (
        main(
            [
                "run",
                "--start",
                DAYS[0],
                "--end",
                DAYS[-1],
                "--input-template",
                template,
                "--output",
                str(dated),
            ]
        )
        == 0
    )

    batch_retries = read(f"{batch}/retries/**/*.parquet")
    dated_retries = read(f"{dated}/retries/**/*.parquet")
    assert len(batch_retries) == len(dated_retries) == 30 * 7
    assert by_fingerprint(dated_retries, LINEAGE_COLUMNS) == by_fingerprint(
        batch_retries, LINEAGE_COLUMNS
    )
    statuses = {row["lineage_status"] for row in dated_retries}
    assert statuses == {"matched", "source_mismatch", "no_migration", "same_course"}
    assert max(row["lineage_depth"] for row in dated_retries) == 3  # R, A, B, C across three days
    lineage_columns = [
        "content_migration_id",
        "child_course_uuid",
        "parent_course_uuid",
        "completed_at",
    ]
    assert sorted(
        tuple(r[c] for c in lineage_columns) for r in read(f"{dated}/course_lineage/**/*.parquet")
    ) == sorted(
        tuple(r[c] for c in lineage_columns) for r in read(f"{batch}/course_lineage/*.parquet")
    )
    assert {str(row["ingest_date"]) for row in dated_retries} == set(DAYS)


def test_dated_layout_summary_and_success_markers(tmp_path):
    template = write_days(tmp_path, forest_feed(2))
    out = tmp_path / "out"
    assert main(["run", "--date", DAYS[1], "--input-template", template, "--output", str(out)]) == 0
    for table in ("retries", "course_lineage", "dead_letter"):
        assert (out / table / f"ingest_date={DAYS[1]}" / "_SUCCESS").exists(), table
    assert list((out / "retries" / f"ingest_date={DAYS[1]}").glob("event_date=*/*.parquet"))
    summary = json.loads((out / "_runs" / f"ingest_date={DAYS[1]}.json").read_text())
    assert summary["balanced"] and summary["lines_read"] == 6
    assert not (out / "_SUMMARY.json").exists()


def test_rerun_replaces_exactly_its_partition(tmp_path):
    out = tmp_path / "out"
    template = write_days(tmp_path, forest_feed(3))
    assert (
        main(
            [
                "run",
                "--start",
                DAYS[0],
                "--end",
                DAYS[1],
                "--input-template",
                template,
                "--output",
                str(out),
            ]
        )
        == 0
    )
    other_day = sorted(
        p.read_bytes() for p in (out / "retries" / f"ingest_date={DAYS[0]}").rglob("*.parquet")
    )
    partition = out / "retries" / f"ingest_date={DAYS[1]}"
    stale = (
        partition / "event_date=2024-07-02" / "part-99999.parquet"
    )  # as if an earlier run had more shards
    stale.write_bytes((partition / "event_date=2024-07-02" / "part-00000.parquet").read_bytes())

    (tmp_path / "in" / f"{DAYS[1]}.jsonl").write_bytes(forest_feed(1)[DAYS[1]][1] + b"\n")
    assert main(["run", "--date", DAYS[1], "--input-template", template, "--output", str(out)]) == 0
    assert not stale.exists()
    assert len(read(f"{partition}/**/*.parquet")) == 1
    assert (
        sorted(
            p.read_bytes() for p in (out / "retries" / f"ingest_date={DAYS[0]}").rglob("*.parquet")
        )
        == other_day
    )


def test_empty_day_leaves_one_empty_file_per_table(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / f"{DAYS[2]}.jsonl").write_bytes(b"")
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "--date",
                DAYS[2],
                "--input-template",
                str(tmp_path / "in" / "{date}.jsonl"),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    retries = list(
        (out / "retries" / f"ingest_date={DAYS[2]}" / f"event_date={DAYS[2]}").glob("*.parquet")
    )
    assert len(retries) == 1 and pq.read_table(retries[0]).num_rows == 0
    for table in ("course_lineage", "dead_letter"):
        files = list((out / table / f"ingest_date={DAYS[2]}").glob("*.parquet"))
        assert len(files) == 1 and pq.read_table(files[0]).num_rows == 0
    assert read(f"{out}/retries/**/*.parquet") == []


def test_a_failed_rerun_leaves_the_previous_partition_intact(tmp_path, monkeypatch):
    import transforms.parquet_writer as output

    out = tmp_path / "out"
    template = write_days(tmp_path, forest_feed(3))
    assert main(["run", "--date", DAYS[1], "--input-template", template, "--output", str(out)]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    real_write = output.write_arrow  # every table file of a batch run is written by it
    written = []

    def write_then_fail(path, data, codec):
        real_write(path, data, codec)
        written.append(path)
        if len(written) == 2:
            raise OSError("disk full (injected)")

    monkeypatch.setattr(output, "write_arrow", write_then_fail)
    assert main(["run", "--date", DAYS[1], "--input-template", template, "--output", str(out)]) == 1
    assert len(written) == 2  # the failure came after output had been written
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert len(read(f"{out}/retries/**/*.parquet")) == 3 * 2


def test_a_day_sees_only_earlier_days(tmp_path):
    feed = forest_feed(2)
    # Ingested on day 3 but completed on day 2 before the R -> B retries: a run
    # over all days would match them; day 2 on its own must not see it.
    feed[DAYS[2]] += [
        completed(
            f"{tree}999", course(f"{tree}B"), f"{DAYS[1]}T08:00:00Z", source_uuid=course(f"{tree}R")
        )
        for tree in range(2)
    ]
    template = write_days(tmp_path, feed)
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "--start",
                DAYS[0],
                "--end",
                DAYS[2],
                "--input-template",
                template,
                "--output",
                str(out),
            ]
        )
        == 0
    )
    first = read(f"{out}/retries/ingest_date={DAYS[1]}/**/*.parquet")
    assert main(["run", "--date", DAYS[1], "--input-template", template, "--output", str(out)]) == 0
    again = read(f"{out}/retries/ingest_date={DAYS[1]}/**/*.parquet")
    assert by_fingerprint(again, LINEAGE_COLUMNS) == by_fingerprint(first, LINEAGE_COLUMNS)
    statuses = sorted((row["original_course_uuid"][1], row["lineage_status"]) for row in again)
    assert statuses == [
        ("A", "matched"),
        ("A", "matched"),
        ("R", "source_mismatch"),
        ("R", "source_mismatch"),
    ]

    batch = tmp_path / "batch"
    assert main(["run", "--input", template.replace("{date}", "*"), "--output", str(batch)]) == 0
    assert {
        row["lineage_status"]
        for row in read(f"{batch}/retries/**/*.parquet")
        if row["original_course_uuid"][1] == "R" and row["new_course_uuid"][1] == "B"
    } == {"matched"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--date", "2024-07-01", "--start", "2024-07-01", "--end", "2024-07-02"], "exclude"),
        (["--date", "2024-7-1"], "YYYY-MM-DD"),
        (["--date", "2024-02-30"], "YYYY-MM-DD"),
        (["--start", "2024-07-01"], "go together"),
        (["--start", "2024-07-02", "--end", "2024-07-01"], "before"),
        (["--date", "2024-07-01", "--input-template", "in/day.jsonl"], "{date}"),
        (["--input-template", "in/{date}.jsonl"], "needs --date"),
        (["--input", "x.jsonl", "--lineage-history", "h/*.parquet"], "needs --date"),
        (
            ["--input", "x.jsonl", "--start", "2024-07-01", "--end", "2024-07-02"],
            "--input-template",
        ),
    ],
)
def test_bad_date_options_are_usage_errors(tmp_path, capsys, args, message):
    argv = ["run", "--output", str(tmp_path / "out"), *args]
    if "--input" not in args and "--input-template" not in args:
        argv += ["--input-template", "in/{date}.jsonl"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_publishing_again_after_an_interruption_finishes_without_harm(tmp_path):
    from transforms.parquet_writer import write_parquet
    from transforms.publish import OutputLayout, publish, version_dir
    from transforms.tables import COURSE_LINEAGE, DEAD_LETTER, RETRIES, LineageRow

    out = str(tmp_path / "out")
    layout = OutputLayout(out, DAYS[0])
    version = version_dir(out, "run-1")
    row = LineageRow("1", "c" * 40, None, None, None, None, 0, None, None, "f" * 64)
    write_parquet(
        f"{version}/course_lineage/ingest_date={DAYS[0]}/part-00000.parquet",
        COURSE_LINEAGE,
        [row],
        "zstd",
    )
    publish(layout, "run-1", "run-1", {})
    published = {
        p.relative_to(tmp_path): p.read_bytes()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    }
    publish(layout, "run-1", "run-1", {})  # a retried step: the version is already the current one
    again = {
        p.relative_to(tmp_path): p.read_bytes()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    }
    assert again == published
    assert pq.read_table(f"{out}/course_lineage/ingest_date={DAYS[0]}").num_rows == 1
    for table in (RETRIES, COURSE_LINEAGE, DEAD_LETTER):
        assert (
            tmp_path / "out" / table.name / f"ingest_date={DAYS[0]}" / "_SUCCESS"
        ).read_text() == "run-1"
