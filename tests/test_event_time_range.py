"""Event times that parse but cannot be a row (outside UTC years 1-9999) are dead letters."""
import json

import duckdb
import pytest
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.transforms.window import TimestampedValue

from pipelines.cli import main
from tests.conftest import completed, course, retry, run_stream_pipeline
from transforms.events import INVALID_EVENT_TIME, Accepted, DeadLetter, classify_event
from transforms.timestamps import TimestampError, parse_event_time, utc_date

A, B = course("A"), course("B")
OUT_OF_RANGE = ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"]
EDGES = {"0001-01-01T00:00:00Z": "0001-01-01", "9999-12-31T23:59:59.999999Z": "9999-12-31",
         "0001-01-01T00:59:00+00:59": "0001-01-01", "9999-12-31T22:59:59-01:00": "9999-12-31"}
ARRIVAL = 1_722_333_600


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_an_instant_before_year_1_or_after_9999_in_utc_is_a_timestamp_error(text):
    with pytest.raises(TimestampError, match="years 1 to 9999"):
        parse_event_time(text)


@pytest.mark.parametrize("text, date", EDGES.items())
def test_the_first_and_last_instants_of_the_range_are_accepted(text, date):
    assert utc_date(parse_event_time(text)) == date


@pytest.mark.parametrize("text", OUT_OF_RANGE)
@pytest.mark.parametrize("make", [lambda t: retry(A, B, t), lambda t: completed("7", B, t, source_uuid=A)],
                         ids=["retry", "migration"])
def test_routed_events_with_such_a_time_are_invalid_event_time(text, make):
    outcome = classify_event(make(text))
    assert isinstance(outcome, DeadLetter) and outcome.error_code == INVALID_EVENT_TIME, outcome
    assert "years 1 to 9999" in outcome.error_detail


def edge_feed():
    lines = [retry(A, B, text, assignment_link=f"out-{n}") for n, text in enumerate(OUT_OF_RANGE)]
    lines += [completed("9", B, OUT_OF_RANGE[1], source_uuid=A)]
    lines += [retry(A, B, text, assignment_link=f"edge-{n}") for n, text in enumerate(EDGES)]
    lines += [completed("8", B, "0001-01-01T00:00:00Z", source_uuid=A)]
    return lines


def test_batch_dead_letters_them_and_writes_the_edges(tmp_path):
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\n".join(edge_feed()) + b"\n")
    out = tmp_path / "out"
    assert main(["run", "--input", str(feed), "--output", str(out), "--parse-processes", "1"]) == 0
    summary = json.loads((out / "_SUMMARY.json").read_text())
    assert summary["balanced"] and summary["outputs_complete"]
    assert summary["dead_letter_by_code"][INVALID_EVENT_TIME] == 3
    assert summary["retries_written"] == len(EDGES) and summary["lineage_edges_written"] == 1
    dates = duckdb.sql("select distinct cast(event_date as varchar) "
        f"from read_parquet('{out}/retries/**/*.parquet', "
                       "hive_partitioning=true) order by 1").fetchall()
    assert dates == [("0001-01-01",), ("9999-12-31",)]


def test_streaming_dead_letters_them_and_goes_on(tmp_path):
    # Only out-of-range times and ordinary ones: the late gate's clock steps one window at a
    # time between the times it has seen, so years 1 and 9999 in one stream would take ages.
    feed = [retry(A, B, text, assignment_link=f"out-{n}") for n, text in enumerate(OUT_OF_RANGE)]
    feed += [completed("9", B, OUT_OF_RANGE[1], source_uuid=A), retry(A, B, "2024-07-30T10:01:00Z")]
    lines = (
        BeamTestStream()
        .add_elements([TimestampedValue(line, ARRIVAL) for line in feed])
        .advance_processing_time(120)
        .advance_watermark_to_infinity()
    )
    out = tmp_path / "out"
    run_stream_pipeline(out, lines)
    dead = duckdb.sql(f"select error_code, count(*) from read_parquet('{out}/dead_letter/*.parquet') group by 1").fetchall()
    assert dead == [(INVALID_EVENT_TIME, 3)]
    records = [json.loads(line) for path in (out / "_summaries").glob("*.jsonl") for line in path.read_text().splitlines()]
    assert sum(record["lines_read"] for record in records) == len(feed)
    assert all(record["balanced"] for record in records)


def test_an_accepted_edge_time_is_an_accepted_event():
    assert isinstance(classify_event(retry(A, B, "9999-12-31T23:59:59.999999Z")), Accepted)
