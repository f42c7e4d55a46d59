"""Streaming gives batch's rows on in-order feeds, whatever a file's span, at a cost free of it.

The feeds come from the project's generator (copy forests across root accounts,
parents known only by LTI id, retries claiming another source, multi-hop
chains, duplicates, invalid lines), stretched to months of event time and put
in event-time order. TestStream delivers them as the ``--watch`` source does:
an element is a block of lines timestamped at most at its smallest event time
(and never behind the watermark), and the watermark moves only after a whole
file, to its newest event time minus the lag.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import zlib

import apache_beam as beam
import duckdb
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.transforms.window import TimestampedValue

from pipelines.cli import main
from pipelines.retry_lineage_stream import build
from pipelines.synthetic_feed import iter_feed_lines
from transforms.events import ROLE_ASSIGNMENT_STATE, ROUTED_EVENT_NAMES, Accepted, classify_event
from transforms.timestamps import parse_event_time

DAY = 86_400_000_000
LAG = 600_000_000
LINES_PER_ELEMENT = 500


def _event_time(line: bytes) -> int | None:
    try:
        value = json.loads(line)["metadata"]["event_time"]
        return parse_event_time(value) if isinstance(value, str) else None
    except Exception:
        return None


def in_order_feed(
    lines: int, seed: int, stretch: float, noise_kept: int = 20
) -> list[tuple[int | None, bytes]]:
    """A generated feed, its event times stretched ``stretch`` times, in event-time order.

    One noise line in ``noise_kept`` is kept (noise only needs counting; a
    TestStream holding the rest would be slow to build).

    A migration id completed a second time (a re-run) is left out: its later
    version would change batch's answer for retries before it, which no stream
    can know when it decides them. Lines without a readable event time keep
    their place after the line before them.
    """
    timed, last, completed = [], None, set()
    for line in iter_feed_lines(lines, seed):
        try:
            event = json.loads(line)
        except Exception:
            timed.append((last, line))
            continue
        micros = _event_time(line)
        if micros is None or not isinstance(event, dict):
            timed.append((last, line))
            continue
        start = 1_722_124_800_000_000  # the generator's first day
        micros = start + int((micros - start) * stretch)
        metadata = event["metadata"]
        routed = metadata.get("event_name") in ROUTED_EVENT_NAMES
        if not routed and zlib.crc32(line) % noise_kept:
            continue
        if metadata.get("event_name") == "content_migration_completed":
            migration = (event.get("body") or {}).get("content_migration_id")
            if migration in completed:
                continue
            completed.add(migration)
        seconds, fraction = divmod(micros, 1_000_000)
        metadata["event_time"] = (
            dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
            + f".{fraction:06d}Z"
        )
        timed.append((micros, json.dumps(event).encode()))
        last = micros
    first = next(micros for micros, _ in timed if micros is not None)
    timed = [(micros if micros is not None else first, line) for micros, line in timed]
    return without_parents_named_later(sorted(timed, key=lambda pair: pair[0]))


def _pairs(event: dict) -> list[tuple[str, str]]:
    body = event.get("body") or {}
    return [
        (lti, uuid)
        for lti, uuid in (
            (body.get("new_course_resource_link_id"), body.get("new_course_uuid")),
            (body.get("lti_context_id"), body.get("context_uuid")),
            (body.get("destination_course_lti_id"), body.get("context_uuid")),
            (body.get("source_course_lti_id"), body.get("source_course_uuid")),
        )
        if lti and uuid
    ]


def without_parents_named_later(timed):
    """Leave out a completed migration whose parent (known only by LTI id) a later event names.

    Batch resolves it with the whole run's identity map; a stream decides the
    row when the watermark passes the migration and cannot know that later
    event: the one way an in-order feed still changes an earlier answer.
    """
    named_at: dict[str, int] = {}
    events = []
    for micros, line in timed:
        try:
            event = json.loads(line)
            event = (
                event
                if isinstance(event, dict) and isinstance(event.get("metadata"), dict)
                else None
            )
        except Exception:
            event = None
        events.append(event)
        # Only events the pipeline accepts name identities (a dead-lettered migration names none).
        outcome = classify_event(line) if event else None
        if isinstance(outcome, Accepted) and outcome.role != ROLE_ASSIGNMENT_STATE:
            for lti, _ in _pairs(event or {}):
                named_at.setdefault(lti, micros)
    kept = []
    for (micros, line), event in zip(timed, events, strict=True):
        body = (event or {}).get("body") or {}
        if (
            event
            and event["metadata"].get("event_name") == "content_migration_completed"
            and not body.get("source_course_uuid")
            and body.get("source_course_lti_id")
            and named_at.get(body["source_course_lti_id"], micros) > micros
        ):
            continue
        kept.append((micros, line))
    return kept


def split_into_files(timed, how: str) -> list[list[tuple[int, bytes]]]:
    if how == "one_file":
        return [timed]
    if how == "file_per_day":
        files: dict[int, list] = {}
        for micros, line in timed:
            files.setdefault(micros // DAY, []).append((micros, line))
        return [files[day] for day in sorted(files)]
    rng = random.Random(how)
    if how == "one_huge_file_then_small_ones":
        cut = len(timed) * 4 // 5
        cuts = [cut] + sorted(rng.sample(range(cut + 1, len(timed)), 12))
    else:  # files of very different spans: minutes to weeks
        cuts = sorted(rng.sample(range(1, len(timed)), 40))
    bounds = [0, *cuts, len(timed)]
    return [timed[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def watch_like_stream(files) -> BeamTestStream:
    """TestStream events as the --watch source emits them (the contract the stream relies on)."""
    stream, watermark, newest = BeamTestStream(), None, None
    for lines in files:
        for start in range(0, len(lines), LINES_PER_ELEMENT):
            block = lines[start : start + LINES_PER_ELEMENT]
            stamp = (
                min(micros for micros, _ in block) // 1000 * 1000
            )  # TestStream keeps milliseconds
            if watermark is not None:
                stamp = max(stamp, watermark)
            stream = stream.add_elements(
                [TimestampedValue([line for _, line in block], stamp / 1e6)]
            )
            newest = max(newest or 0, max(micros for micros, _ in block))
        if newest - LAG > (watermark or 0):
            watermark = (newest - LAG) // 1000 * 1000
            stream = stream.advance_watermark_to(watermark / 1e6)
    return (
        stream.advance_watermark_to((newest + 2 * DAY) // 1000 * 1000 / 1e6)
        .advance_processing_time(86_400)
        .advance_watermark_to_infinity()
    )


def run_stream(files, out, *extra) -> None:
    options = PipelineOptions(["--runner", "BundleBasedDirectRunner", "--output", str(out), *extra])
    options.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=options) as p:
        build(p, options, lines=p | watch_like_stream(files))


def table_rows(pattern: str, key: str, drop=()) -> dict:
    table = (
        duckdb.sql(f"select * from read_parquet('{pattern}', union_by_name=true)")
        .to_arrow_table()
        .to_pylist()
    )
    rows = {}
    for row in table:
        assert row[key] not in rows, f"two rows for {key} {row[key]}"
        rows[row[key]] = {name: value for name, value in row.items() if name not in drop}
    return rows


@pytest.fixture(scope="module")
def months_feed(tmp_path_factory):
    """About 120 days of event time, with batch's answers for it."""
    timed = in_order_feed(60_000, seed=11, stretch=24)
    folder = tmp_path_factory.mktemp("batch")
    feed = folder / "feed.jsonl"
    feed.write_bytes(b"".join(line + b"\n" for _, line in timed))
    assert main(["run", "--input", str(feed), "--output", str(folder / "out")]) == 0
    retries = table_rows(
        f"{folder}/out/retries/**/*.parquet", "event_fingerprint", ("attempt_count", "event_date")
    )
    lineage = table_rows(f"{folder}/out/course_lineage/*.parquet", "content_migration_id")
    outcomes = table_rows(
        f"{folder}/out/retry_outcomes/**/*.parquet", "event_fingerprint", ("event_date",)
    )
    states = table_rows(
        f"{folder}/out/assignment_states/**/*.parquet", "event_fingerprint", ("event_date",)
    )
    summary = json.loads((folder / "out" / "_SUMMARY.json").read_text())
    return timed, retries, lineage, outcomes, states, summary


@pytest.mark.parametrize(
    "how",
    ["one_file", "file_per_day", "files_of_very_different_spans", "one_huge_file_then_small_ones"],
)
def test_streaming_gives_batch_rows_on_an_in_order_feed_of_months(months_feed, tmp_path, how):
    timed, batch_retries, batch_lineage, batch_outcomes, batch_states, batch_summary = months_feed
    span_days = (timed[-1][0] - timed[0][0]) / DAY
    assert span_days > 100
    # Every outcome, a state event before each failure, and some retries batch leaves pending.
    assert {row["outcome"] for row in batch_outcomes.values()} >= {
        "succeeded",
        "failed",
        "deleted",
        "superseded",
        "no_outcome_event",
        "no_assignment_link",
    }
    assert batch_summary["outcomes"]["pending"] > 0
    statuses = {row["lineage_status"] for row in batch_retries.values()}
    assert statuses == {"same_course", "matched", "source_mismatch", "no_migration"}
    assert max(row["lineage_depth"] for row in batch_retries.values()) >= 3
    # parents named by LTI id, resolved through the identity map
    assert (
        sum(
            1
            for row in batch_lineage.values()
            if row["parent_course_uuid"] and row["parent_lti_context_id"]
        )
        > 10
    )

    out = tmp_path / "stream"
    run_stream(split_into_files(timed, how), out)

    streamed = table_rows(
        f"{out}/retries/**/*.parquet", "event_fingerprint", ("attempt_count", "event_date")
    )
    assert streamed == batch_retries
    assert table_rows(f"{out}/course_lineage/*.parquet", "content_migration_id") == batch_lineage
    assert (
        table_rows(f"{out}/assignment_states/**/*.parquet", "event_fingerprint", ("event_date",))
        == batch_states
    )
    streamed_outcomes = table_rows(
        f"{out}/retry_outcomes/**/*.parquet", "event_fingerprint", ("event_date",)
    )
    assert {fp: streamed_outcomes.get(fp) for fp in batch_outcomes} == batch_outcomes
    # Retries batch leaves pending at the end of its input: the stream's drain passes their wait.
    pending = set(streamed_outcomes) - set(batch_outcomes)
    assert len(pending) == batch_summary["outcomes"]["pending"]
    assert {streamed_outcomes[fp]["outcome"] for fp in pending} <= {"no_outcome_event"}
    assert set(streamed_outcomes) == set(streamed)  # every retry decided once
    records = [
        json.loads(line)
        for path in (out / "_summaries").glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert all(record["balanced"] for record in records)
    assert sum(record["lines_read"] for record in records) == len(timed)
    assert (
        sum(record["accepted"]["assignment_state"] for record in records)
        == batch_summary["accepted"]["assignment_state"]
    )
    assert sum(sum(record["outcomes"].values()) for record in records) == len(streamed)
