"""`retry-lineage report`: each chart's aggregates, the layouts it reads, its page, its errors.

The aggregates are checked against figures worked out by hand.
"""

import os
import shutil

import duckdb
import pytest

from pipelines.cli import main
from tests import report_fixtures as fx
from tests.conftest import completed, course, noise, retry
from transforms import report_data as data
from transforms import report_page
from transforms.tables import DEAD_LETTER_SCHEMA


@pytest.fixture
def undated(tmp_path):
    return data.open_output(str(fx.write_undated(tmp_path / "out", outcomes=True)))


def test_names_shared_with_the_writers_are_the_writers_own():
    from transforms import publish, stream_output
    from transforms.lineage import LINEAGE_STATUSES
    from transforms.tables import ASSIGNMENT_STATES, RETRY_OUTCOMES, TABLES

    assert (data.SUMMARY_FILE, data.RUNS_DIR, data.SUMMARIES_DIR) == (
        publish.SUMMARY_FILE,
        publish.RUNS_DIR,
        stream_output.SUMMARIES_DIR,
    )
    # The tables every output has; an output without the outcome tables still makes a page.
    optional = (ASSIGNMENT_STATES, RETRY_OUTCOMES)
    assert tuple(table.name for table in TABLES if table not in optional) == data.REQUIRED_TABLES
    assert RETRY_OUTCOMES.name == data.RETRY_OUTCOMES
    assert data.LINEAGE_STATUSES == LINEAGE_STATUSES
    assert set(data.DEAD_LETTER_COLUMNS) <= set(DEAD_LETTER_SCHEMA.names) - {"raw", "error_detail"}


def test_headline_figures(undated):
    figures = data.headline(undated.connection, undated.summary)
    assert figures["lines_read"] == 21
    assert figures["retries"] == 6
    assert figures["courses_retried"] == 4  # B, C, E, F
    assert figures["assignments_retried"] == 3  # (B, L1), (C, L2), (F, L3); f4 has no link
    assert figures["matched"] == 3 and figures["matched_share"] == 0.5
    assert figures["dead_lettered"] == 3 and figures["dead_letter_rate"] == 3 / 21
    assert figures["duplicates"] == 1 and figures["identity_conflicts"] == 1
    assert figures["pseudonymization"] == "hmac-sha256"
    assert figures["lineage_edges"] == 2
    assert figures["balanced"] is True and figures["outputs_complete"] is True
    assert figures["balance_terms"] == {
        "lines_read": 21,
        "blank_lines": 1,
        "dead_lettered": 3,
        "skipped": 8,
        "duplicates": 1,
        "accepted": 8,
    }


def test_retries_per_utc_day_by_status(undated):
    # f2 at 23:59:59Z stays on 07-01 and f3 at 00:00:00Z is on 07-02, whatever the machine's zone.
    assert data.retries_per_day(undated.connection) == [
        ("2024-07-01", "matched", 2),
        ("2024-07-02", "no_migration", 1),
        ("2024-07-02", "same_course", 1),
        ("2024-07-03", "matched", 1),
        ("2024-07-03", "source_mismatch", 1),
    ]


def test_retries_per_day_ignores_the_machine_time_zone(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    output = data.open_output(str(fx.write_undated(tmp_path / "out")))
    assert [day for day, _, _ in data.retries_per_day(output.connection)][:1] == ["2024-07-01"]
    assert (
        data.top_courses(output.connection, "root_course_uuid")[0].last_retry == "2024-07-03 13:00"
    )


def test_lineage_status_counts(undated):
    assert data.lineage_status_counts(undated.connection) == [
        ("same_course", 1, 1 / 6),
        ("matched", 3, 0.5),
        ("source_mismatch", 1, 1 / 6),
        ("no_migration", 1, 1 / 6),
    ]


def test_top_courses(undated):
    roots = data.top_courses(undated.connection, "root_course_uuid")
    assert roots == [
        data.CourseCount(fx.A, 4, 4 / 6, "2024-07-03 13:00"),
        data.CourseCount(fx.C, 1, 1 / 6, "2024-07-02 00:00"),
        data.CourseCount(fx.D, 1, 1 / 6, "2024-07-02 05:00"),
    ]
    sources = data.top_courses(undated.connection, "original_course_uuid", limit=2)
    assert sources == [
        data.CourseCount(fx.A, 3, 0.5, "2024-07-03 13:00"),
        data.CourseCount(fx.B, 1, 1 / 6, "2024-07-03 12:00"),
    ]
    with pytest.raises(ValueError, match="actor_user_hmac"):
        data.top_courses(undated.connection, "actor_user_hmac")


def test_migration_types_depths_and_chains(undated):
    assert data.migration_types(undated.connection) == [
        ("course_copy_importer", 3),
        ("(none)", 2),
        ("blueprint", 1),
    ]
    assert data.lineage_depths(undated.connection) == [(0, 1), (1, 4), (2, 1)]
    assert data.chain_quality(undated.connection) == {
        "retries": 6,
        "truncated": 1,
        "cyclic": 1,
        "truncated_or_cyclic": 2,
        "share": 2 / 6,
    }


def test_seconds_since_migration_on_log_bins(undated):
    bins, under_one = data.log_histogram(undated.connection, "retries", "seconds_since_migration")
    assert under_one == 1  # f5: 0.5 s; f3 and f4 have no migration
    # Quarter decades: 30 s in bin 5 (10^1.25..10^1.5), 3600 s in bin 14, 86400 s in bin 19; no gaps
    # between.
    assert [round(lower, 6) for lower, _, _ in bins] == [
        round(10 ** (k / 4), 6) for k in range(5, 20)
    ]
    assert [count for _, _, count in bins] == [1] + [0] * 8 + [1] + [0] * 4 + [1]
    for value, (lower, upper, _) in zip(
        (30, 3600, 86400), (bins[0], bins[9], bins[14]), strict=True
    ):
        assert lower < value < upper
    assert data.quantiles(undated.connection, "retries", "seconds_since_migration") == {
        "median": pytest.approx(1815.0),
        "p90": pytest.approx(61560.0),
    }


def test_attempts_per_assignment(undated):
    # (B, L1) has f1, f2, f6; (C, L2) and (F, L3) one each; f4 has no link.
    assert data.attempts_per_assignment(undated.connection) == ([(1, 2), (3, 1)], 1)


def test_outcomes(undated):
    assert undated.has_outcomes
    assert data.outcome_shares(undated.connection) == [
        ("succeeded", 3, 0.6),
        ("failed", 1, 0.2),
        ("no_outcome_event", 1, 0.2),
    ]
    assert data.success_by_source(undated.connection) == [
        data.SourceSuccess(fx.A, 3, 2, 2 / 3),
        data.SourceSuccess(fx.B, 1, 0, 0.0),
        data.SourceSuccess(fx.C, 1, 1, 1.0),
    ]
    bins, under_one = data.log_histogram(undated.connection, "retry_outcomes", "seconds_to_outcome")
    assert (
        under_one == 1 and len(bins) == 8 and (bins[0][2], bins[-1][2]) == (1, 1)
    )  # 120 s: bin 8; 7200 s: bin 15


def test_data_quality(undated):
    assert data.dead_letters_by_code(undated.summary) == [("invalid_json", 2), ("oversize", 1)]
    assert data.dead_letters_by_file(undated.connection) == [
        ("feed-1.jsonl", 2),
        ("feed-2.jsonl", 1),
    ]
    assert data.top_skipped(undated.summary) == [
        ("asset_accessed", 5),
        ("logged_in", 2),
        (fx.HOSTILE_EVENT_NAME, 1),
    ]
    assert data.top_skipped(undated.summary, limit=1) == [("asset_accessed", 5)]
    with pytest.raises(duckdb.BinderException, match="raw"):
        undated.connection.execute("SELECT raw FROM dead_letter").fetchall()


def test_merge_summaries():
    merged = data.merge_summaries(
        [
            {
                "lines_read": 3,
                "balanced": True,
                "dead_letter_by_code": {"a": 1},
                "pseudonymization": "disabled",
            },
            {
                "lines_read": 4,
                "balanced": False,
                "dead_letter_by_code": {"a": 2, "b": 1},
                "pseudonymization": "x",
                "window": {"kind": "k"},
            },
        ]
    )
    assert merged == {
        "lines_read": 7,
        "balanced": False,
        "dead_letter_by_code": {"a": 3, "b": 1},
        "pseudonymization": "mixed: disabled, x",
    }


def test_dated_output_reads_every_ingest_day(tmp_path):
    # Each day: its retries, its dead letters and one skipped line.
    output = data.open_output(str(fx.write_dated(tmp_path / "out")))
    assert output.kind == data.DATED
    assert [period.label for period in output.periods] == list(fx.DATED_DAYS)
    assert output.summary["lines_read"] == (2 + 2 + 1) + (2 + 0 + 1) + (2 + 1 + 1)
    assert output.summary["balanced"] is True
    assert data.count_rows(output.connection, "retries") == 6
    assert data.retries_per_day(output.connection)[0] == ("2024-07-01", "matched", 2)
    assert data.dead_letters_over_time(output.periods, output.kind) == [
        ("2024-07-01", "invalid_json", 2),
        ("2024-07-03", "oversize", 1),
    ]
    assert data.attempts_per_assignment(output.connection) == ([(1, 2), (3, 1)], 1)


def test_streaming_output_before_every_table_has_a_file(tmp_path):
    output = data.open_output(str(fx.write_streaming(tmp_path / "out")))
    assert output.kind == data.STREAMING and not output.empty
    assert (
        output.summary["lines_read"] == (2 + 2 + 1) + (0 + 1 + 1)
        and "outputs_complete" not in output.summary
    )
    assert data.count_rows(output.connection, "retries") == 2
    assert data.count_rows(output.connection, "dead_letter") == 0
    assert data.dead_letters_by_code(output.summary) == [("invalid_json", 2), ("late_event", 1)]
    assert data.dead_letters_over_time(output.periods, output.kind) == [
        ("2024-07-01 10:00", "invalid_json", 2),
        ("2024-07-01 11:00", "late_event", 1),
    ]
    page, figures = report_page.build_page(output)
    assert "streaming output, 2 summary record(s)" in page and figures["outputs_complete"] is None


def test_tables_and_summary_behind_symlinks(tmp_path):
    """The publish step may point OUT/<table> and OUT/_SUMMARY.json at a versioned folder."""
    version = fx.write_undated(tmp_path / "out" / "_versions" / "v1")
    out = tmp_path / "out"
    for name in ("retries", "course_lineage", "dead_letter", "_SUMMARY.json"):
        os.symlink(version / name, out / name)
    output = data.open_output(str(out))
    assert data.count_rows(output.connection, "retries") == 6 and output.kind == data.UNDATED


def test_page_holds_the_data_and_nothing_private(tmp_path, capsys):
    out = fx.write_undated(tmp_path / "out", outcomes=True)
    assert main(["report", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        str(out / "report.html"),
        "21 lines read, 6 retries in 4 courses (50.0% matched), 3 dead letters (14.3%), "
        "balance check passed",
    ]
    page = (out / "report.html").read_text()
    assert fx.RAW_MARKER.decode() not in page and fx.HMAC_MARKER not in page
    assert "Expecting value" not in page  # error_detail may quote input
    assert fx.HOSTILE_EVENT_NAME not in page  # escaped, never markup
    assert (
        fx.A in page and "course_copy_importer" in page and "Success rate by source course" in page
    )
    assert "<script src" not in page and "http://" not in page.split("<script>")[0]
    assert page.count('class="chart"') == 11


def test_page_says_when_outcomes_are_missing(tmp_path):
    output = data.open_output(str(fx.write_undated(tmp_path / "out")))
    page, _ = report_page.build_page(output)
    assert (
        "no <code>retry_outcomes</code> table" in page
        and "Success rate by source course" not in page
    )


def test_html_option_and_atomic_write(tmp_path, capsys):
    out = fx.write_undated(tmp_path / "out")
    target = tmp_path / "pages" / "r.html"
    assert main(["report", str(out), "--html", str(target)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == str(target)
    assert target.read_text().startswith("<!DOCTYPE html>")
    assert sorted(os.listdir(target.parent)) == ["r.html"]
    assert not (out / "report.html").exists()


def run_feed(tmp_path, lines, *extra):
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    assert main(["run", "--input", str(feed), "--output", str(out), *extra]) == 0
    return out


def test_report_of_a_real_batch_run(tmp_path, capsys):
    a, b, c = course("A"), course("B"), course("C")
    key = tmp_path / "key"
    key.write_bytes(b"secret")
    out = run_feed(
        tmp_path,
        [
            completed("1", b, "2024-07-01T00:00:00Z", source_uuid=a),
            retry(a, b, "2024-07-02T00:00:00Z"),
            retry(a, b, "2024-07-03T00:00:00Z"),
            retry(c, b, "2024-07-03T01:00:00Z", assignment_link="link-2"),
            noise(),
            noise("logged_in"),
            b'{"broken SECRET-RAW',
        ],
        "--hmac-key-file",
        str(key),
    )
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "7 lines read, 3 retries in 1 courses (66.7% matched), 1 dead letters (14.3%), "
        "balance check passed"
    )
    page = (out / "report.html").read_text()
    import duckdb

    hmacs = [
        row[0]
        for row in duckdb.sql(
            f"SELECT actor_user_hmac FROM read_parquet('{out}/retries/**/*.parquet')"
        ).fetchall()
    ]
    assert hmacs and all(hmacs) and not any(value in page for value in hmacs)
    assert "SECRET-RAW" not in page
    output = data.open_output(str(out))
    assert data.attempts_per_assignment(output.connection) == ([(1, 1), (2, 1)], 0)
    assert data.retries_per_day(output.connection) == [
        ("2024-07-02", "matched", 1),
        ("2024-07-03", "matched", 1),
        ("2024-07-03", "source_mismatch", 1),
    ]


def test_empty_output_gives_a_page_that_says_nothing_yet(tmp_path, capsys):
    out = run_feed(tmp_path, [noise(), b""])
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert "0 retries" in capsys.readouterr().out
    page = (out / "report.html").read_text()
    assert (
        "Nothing yet." in page and 'class="chart"' not in page and page.rstrip().endswith("</html>")
    )


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_errors_are_one_line_exit_2(tmp_path, capsys):
    stranger = tmp_path / "stranger"
    (stranger / "retries").mkdir(parents=True)
    (stranger / "notes.txt").write_text("hello")
    assert main(["report", str(stranger)]) == 2
    assert "not an output of retry-lineage" in one_line_error(capsys)
    assert main(["report", str(tmp_path / "absent")]) == 2
    assert "not a folder" in one_line_error(capsys)
    assert main(["report", "gs://bucket/out"]) == 2
    one_line_error(capsys)

    out = fx.write_undated(tmp_path / "out")
    shutil.rmtree(out / "dead_letter")
    assert main(["report", str(out)]) == 2
    assert "no dead_letter table" in one_line_error(capsys)

    out = fx.write_undated(tmp_path / "out2")
    (out / "retries" / "event_date=2024-07-01" / "part-00000.parquet").write_bytes(b"not parquet")
    assert main(["report", str(out)]) == 2
    assert "cannot read the retries table" in one_line_error(capsys)

    out = fx.write_undated(tmp_path / "out3")
    (out / "_SUMMARY.json").write_text("{truncated")
    assert main(["report", str(out)]) == 2
    assert "cannot read the run summary" in one_line_error(capsys)

    out = fx.write_undated(tmp_path / "out4")
    (tmp_path / "file").write_text("")
    assert main(["report", str(out), "--html", str(tmp_path / "file" / "r.html")]) == 2
    assert "cannot write" in one_line_error(capsys)
    assert not (out / "report.html").exists()


@pytest.mark.slow
def test_report_of_real_dated_and_streaming_runs(tmp_path, capsys):
    """The layouts the pipelines write today: a two-day backfill and a bounded --watch stream."""
    a, b = course("A"), course("B")
    days = {
        "2024-07-01": [
            completed("1", b, "2024-07-01T00:00:00Z", source_uuid=a),
            noise(),
            b"{broken",
        ],
        "2024-07-02": [
            retry(a, b, "2024-07-02T00:00:00Z"),
            retry(a, b, "2024-07-02T01:00:00Z"),
            noise(),
        ],
    }
    for day, lines in days.items():
        (tmp_path / f"{day}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    dated = tmp_path / "dated"
    assert (
        main(
            [
                "run",
                "--start",
                "2024-07-01",
                "--end",
                "2024-07-02",
                "--input-template",
                str(tmp_path / "{date}.jsonl"),
                "--output",
                str(dated),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["report", str(dated)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "6 lines read, 2 retries in 1 courses (100.0% matched), 1 dead letters (16.7%), "
        "balance check passed"
    )
    output = data.open_output(str(dated))
    assert output.kind == data.DATED and [period.label for period in output.periods] == list(days)
    assert data.dead_letters_over_time(output.periods, output.kind) == [
        ("2024-07-01", "invalid_json", 1)
    ]
    assert (
        "dated batch output, 2 ingest day(s) 2024-07-01 to 2024-07-02"
        in (dated / "report.html").read_text()
    )

    watched = tmp_path / "watched"
    watched.mkdir()
    (tmp_path / "2024-07-01.jsonl").rename(watched / "a.jsonl")
    (tmp_path / "2024-07-02.jsonl").rename(watched / "b.jsonl")
    stream = tmp_path / "stream"
    assert (
        main(
            [
                "stream",
                "--watch",
                str(watched / "*.jsonl"),
                "--output",
                str(stream),
                "--stop-after",
                "5",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["report", str(stream)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "6 lines read, 2 retries in 1 courses (100.0% matched), 1 dead letters (16.7%), "
        "balance check passed"
    )
    assert data.open_output(str(stream)).kind == data.STREAMING


def test_verbose_logs_the_traceback(tmp_path, capsys, caplog):
    out = fx.write_undated(tmp_path / "out")
    (out / "_SUMMARY.json").write_text("[1, 2")
    with caplog.at_level("DEBUG"):
        assert main(["report", str(out), "--verbose"]) == 2
    one_line_error(capsys)
    assert any(record.exc_info for record in caplog.records if record.name == "pipelines.report")


def test_browser_lookup(monkeypatch, tmp_path):
    from tests.browser import find_browser

    monkeypatch.delenv("RETRY_LINEAGE_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_browser() is None  # the browser tests then fail, never skip
    monkeypatch.setenv("RETRY_LINEAGE_CHROMIUM", "/opt/chrome/chrome")
    assert find_browser() == "/opt/chrome/chrome"
