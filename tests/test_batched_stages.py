"""Assignment events and outcome rows travel in lists: sharding, partitioning, writing."""

from __future__ import annotations

import collections
import subprocess
import sys

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.test_outcomes import S, T, W, retry, state
from transforms import outcomes
from transforms.classify_range import RangeResult
from transforms.events import ROLE_ASSIGNMENT_STATE, ROLE_RETRY, Accepted
from transforms.parquet_writer import WriteTable, split_by_event_date
from transforms.read_canvas_events import ClassifyFileRange
from transforms.resolve import NumberRetryAttempts
from transforms.retry_outcomes import DecideRetryOutcomes, LatestEventTime, shard_states
from transforms.shards import ASSIGNMENT_SHARDS, shard_of, unpack_rows
from transforms.tables import ASSIGNMENT_STATES, AssignmentStateRow
from transforms.tags import ASSIGNMENT_STATE_EVENTS, COUNTS, LATEST_EVENT_TIME, RETRY_EVENTS

DAY = 86_400 * S


def test_shard_of_is_the_same_in_another_process():
    keys = [("course-a", "link-1"), ("course-b", None), ("c\u00e9", "l\ud800")]
    here = [shard_of(key) for key in keys]
    code = (
        f"from transforms.retry_outcomes import shard_of;print([shard_of(key) for key in {keys!r}])"
    )
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert there.strip() == repr(here)
    assert all(0 <= shard < ASSIGNMENT_SHARDS for shard in here)


def test_shard_states_keeps_every_event_and_puts_one_key_in_one_shard():
    events = [state(T + i * S, "published", fp=f"s{i}", link=f"link-{i % 40}") for i in range(200)]
    packed = dict(shard_states(events))
    assert all(type(values) is bytes for values in packed.values())  # they wait grouped as bytes
    shards = {shard: unpack_rows(values) for shard, values in packed.items()}
    assert len(shards) > 1
    assert sorted(AssignmentStateRow._make(v) for vs in shards.values() for v in vs) == sorted(
        events
    )
    for shard, values in shards.items():
        assert type(values[0]) is tuple  # plain tuples cross the stage boundary
        for values_of_event in values:
            event = AssignmentStateRow._make(values_of_event)
            assert shard_of(outcomes.state_key(event)) == shard


def test_split_by_event_date_cuts_a_list_at_utc_midnight():
    index = ASSIGNMENT_STATES.schema.get_field_index("event_time")
    midnight = 19_900 * DAY
    rows = [
        tuple(state(midnight - 1, "published", fp="a")),
        tuple(state(midnight, "published", fp="b")),
        tuple(state(midnight + DAY - 1, "published", fp="c")),
        tuple(state(-1, "published", fp="d")),  # before 1970: floor, not truncation
    ]
    parts = {folder: [row[0] for row in part] for folder, part in split_by_event_date(rows, index)}
    assert parts == {
        "event_date=2024-06-25": ["a"],
        "event_date=2024-06-26": ["b", "c"],
        "event_date=1969-12-31": ["d"],
    }


def test_a_classified_range_emits_its_assignment_events_as_one_list_and_its_latest_time():
    fn = ClassifyFileRange(None)
    fn._started = fn._reported = 1.0
    first, second = state(T, "published", fp="a"), state(T + 5, "deleted", fp="b")
    a_retry = retry(T + 9)
    result = RangeResult(
        collections.Counter(lines_read=3),
        [
            Accepted(ROLE_ASSIGNMENT_STATE, first),
            Accepted(ROLE_RETRY, a_retry),
            Accepted(ROLE_ASSIGNMENT_STATE, second),
        ],
        [],
    )
    outputs = [(output.tag, output.value) for output in fn._outputs(result)]
    assert (ASSIGNMENT_STATE_EVENTS, [first, second]) in outputs
    assert (RETRY_EVENTS, [a_retry]) in outputs
    assert (LATEST_EVENT_TIME, T + 9) in outputs
    assert [tag for tag, _ in outputs].count(ASSIGNMENT_STATE_EVENTS) == 1
    assert COUNTS in [tag for tag, _ in outputs]


def test_decide_retry_outcomes_on_lists_across_ranges_drops_copies_and_decides(tmp_path):
    linked = [state(T + i * S, "published", fp=f"s{i}", link=f"link-{i}") for i in range(30)]
    unlinked = state(T, "published", fp="u", link=None)  # type: ignore[arg-type]
    retries = [retry(T, link=f"link-{i}", fp=f"r{i}") for i in range(30)]
    retry_lists = [[*retries, retry(T, link=None, fp="r-none")], [retries[3]]]
    # The same events arrive in two ranges: the copies are dropped.
    ranges = [[*linked[:20], unlinked], [*linked[10:], unlinked]]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        clock = p | "Times" >> beam.Create([T + 2 * W]) | LatestEventTime()
        decided = {
            "retries": (p | "Retries" >> beam.Create(retry_lists) | NumberRetryAttempts()).numbered,
            "states": p | "States" >> beam.Create(ranges),
        } | DecideRetryOutcomes(clock, wait_seconds=W // S)
        assert_that(
            decided["assignment_states"] | beam.FlatMap(lambda rows: [row[0] for row in rows]),
            equal_to([f"s{i}" for i in range(30)]),
            label="StateRows",
        )
        assert_that(
            decided["outcomes"] | beam.FlatMap(lambda rows: [(row[0], row[6]) for row in rows]),
            equal_to(
                [(f"r{i}", outcomes.SUCCEEDED) for i in range(1, 30)]
                + [("r0", outcomes.NO_OUTCOME_EVENT), ("r-none", outcomes.NO_ASSIGNMENT_LINK)]
            ),
            label="OutcomeRows",
        )
        totals = (
            decided["counts"]
            | beam.FlatMap(lambda record: record.items())
            | beam.CombinePerKey(sum)
        )
        assert_that(
            totals,
            equal_to(
                [
                    ("accepted.assignment_state", 31),
                    ("duplicates", 11),
                    ("outcome.succeeded", 29),
                    ("outcome.no_outcome_event", 1),
                    ("outcome.no_assignment_link", 1),
                ]
            ),
            label="Counts",
        )


def test_batched_write_table_writes_every_row_of_every_list_in_its_partition(tmp_path):
    rows = [tuple(state(19_900 * DAY + i * DAY // 2, "published", fp=f"s{i}")) for i in range(5)]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        written = (
            p
            | beam.Create([rows[:2], rows[2:]])
            | WriteTable(ASSIGNMENT_STATES, str(tmp_path), "zstd", batched=True)
        )
        assert_that(
            written | beam.FlatMap(lambda record: record.items()) | beam.CombinePerKey(sum),
            equal_to([("assignment_states_written", 5)]),
        )
    found = {}
    for path in sorted((tmp_path / "assignment_states").rglob("*.parquet")):
        table = pq.read_table(path)
        found[path.parent.name] = sorted(table.column("event_fingerprint").to_pylist())
    assert found == {
        "event_date=2024-06-26": ["s0", "s1"],
        "event_date=2024-06-27": ["s2", "s3"],
        "event_date=2024-06-28": ["s4"],
    }
