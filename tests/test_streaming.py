"""Streaming building blocks on TestStream (BundleBasedDirectRunner): late events, dedup, the join."""
import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from transforms.events import MigrationEvent, RetryEvent
from transforms.streaming import DeduplicateWithinHorizon, GateLateEvents, window_start
from transforms.streaming_join import (
    AccountLineage, JoinRetriesInStream, NumberAttemptsInStream, account_key, assignment_key,
)

# Every test here runs a whole pipeline or a subprocess: `make test-fast` leaves them out.
pytestmark = pytest.mark.slow

HOUR = 3_600_000_000
T0 = 1_722_300_000_000_000  # 2024-07-30 00:40:00 UTC, in microseconds


def streaming_pipeline():
    options = PipelineOptions(["--runner", "BundleBasedDirectRunner"])
    options.view_as(StandardOptions).streaming = True
    return beam.Pipeline(options=options)


@pytest.mark.parametrize("micros, window, start", [
    (0, 300, 0),
    (299_999_999, 300, 0),
    (300_000_000, 300, 300_000_000),
    (T0 + 123, 300, T0 - T0 % 300_000_000),
])
def test_window_start(micros, window, start):
    assert window_start(micros, window) == start


def gated(events, watermark_moves):
    """Run GateLateEvents on (event_time, name) arrivals interleaved with watermark moves (seconds)."""
    stream = BeamTestStream()
    for step in events:
        if isinstance(step, tuple):
            event_time, name = step
            stream = stream.add_elements([TimestampedValue((event_time, name), event_time / 1e6)])
        else:
            stream = stream.advance_watermark_to(step)
    stream = stream.advance_watermark_to_infinity()
    with streaming_pipeline() as p:
        result = (
            p
            | stream
            | beam.Map(lambda e: (0, (window_start(e[0], 300), e[0], e[1], e[1].encode(), "asset_accessed")))
            | beam.ParDo(GateLateEvents(300, 60)).with_outputs("late", "counts", main="on_time")
        )
        watermark_moves(result)


def test_an_event_after_its_window_closed_is_a_late_event_dead_letter():
    window_end = (T0 - T0 % 300_000_000 + 300_000_000) / 1e6

    def checks(result):
        assert_that(result.on_time, equal_to(["first", "within-lateness", "next-window"]), label="OnTime")
        assert_that(result.late | beam.Map(lambda row: (row.error_code, row.raw)),
                    equal_to([("late_event", b"too-late")]), label="Late")

    gated([
        (T0, "first"),
        window_end + 30,                      # past the window end, within the 60 s lateness
        (T0 + 1, "within-lateness"),
        window_end + 61,                      # past end + lateness: the window closes
        (T0 + 2, "too-late"),
        (int((window_end + 100) * 1e6), "next-window"),
    ], checks)


def test_duplicates_are_removed_within_the_horizon_even_across_windows():
    def retry(fingerprint, event_time):
        return RetryEvent(fingerprint, "outcomes.retry_outcome_alignment_clone", event_time, *([None] * 3),
                          "S" * 40, "T" * 40, *([None] * 10))

    first = retry("a" * 64, T0)
    stream = (
        BeamTestStream()
        .add_elements([TimestampedValue(first, T0 / 1e6)])
        .advance_watermark_to((T0 + HOUR) / 1e6)                  # a later window: the copy is still a duplicate
        .add_elements([TimestampedValue(first, T0 / 1e6), TimestampedValue(retry("b" * 64, T0), T0 / 1e6)])
        .advance_watermark_to((T0 + 3 * HOUR) / 1e6)              # past the 2-hour horizon: state expired
        .add_elements([TimestampedValue(first, T0 / 1e6)])
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        result = (
            p
            | stream
            | beam.Map(lambda event: (event.event_fingerprint, event))
            | beam.ParDo(DeduplicateWithinHorizon(2 * 3600)).with_outputs("counts", main="distinct")
        )
        assert_that(result.distinct | beam.Map(lambda e: e.event_fingerprint[0]), equal_to(["a", "b", "a"]),
                    label="Distinct")
        assert_that(result.counts, equal_to([{"lines_read": 1, "accepted.retry": 1}] * 3
                                            + [{"lines_read": 1, "duplicates": 1}]), label="Counts")


# --- the streaming join -----------------------------------------------------


MINUTE = 60_000_000


def uuid(name):
    return (name * 40)[:40]


def a_retry(source, target, event_time, link="L", fingerprint=None):
    return RetryEvent(fingerprint or f"{source}{target}{event_time}", "outcomes.retry_outcome_alignment_clone",
                      event_time, "acct", "d", "outcome_alignment_cloning", uuid(source), uuid(target), None, None,
                      link, None, None, None, None, None, None, None)


def a_migration(migration_id, parent, child, completed_at):
    return MigrationEvent(f"m{migration_id}", "content_migration_completed", completed_at, migration_id, uuid(child),
                          None, None, uuid(parent) if parent else None, None, "course_copy_importer", "acct", "d")


def assert_joined(steps, expected_rows, expected_lineage=None, wait_seconds=600):
    """Run JoinRetriesInStream over arrivals (events) and watermark moves (microseconds)."""
    stream = BeamTestStream()
    for step in steps:
        if isinstance(step, int):
            stream = stream.advance_watermark_to(step / 1e6)
        else:
            stream = stream.add_elements([TimestampedValue(step, step.event_time / 1e6)])
    stream = stream.advance_watermark_to_infinity()
    with streaming_pipeline() as p:
        events = p | stream
        numbered = (
            events
            | beam.Filter(lambda event: isinstance(event, RetryEvent))
            | beam.Map(assignment_key)
            | beam.ParDo(NumberAttemptsInStream())
        )
        migrations = (events | beam.Filter(lambda event: isinstance(event, MigrationEvent))
                      | beam.Map(lambda event: (event, None)))
        out = (
            (numbered, migrations) | beam.Flatten()
            | beam.Map(account_key)
            | beam.ParDo(JoinRetriesInStream(wait_seconds)).with_outputs("lineage_rows", "counts", main="rows")
        )
        rows = out.rows | beam.Map(lambda row: (
            row.original_course_uuid[0], row.new_course_uuid[0], row.lineage_status, row.migration_id,
            "".join(course[0] for course in row.lineage_path), row.attempt_number, row.attempt_count))
        assert_that(rows, equal_to(expected_rows), label="Rows")
        if expected_lineage is not None:
            parents = out.lineage_rows | beam.Map(
                lambda row: (row.content_migration_id, row.parent_course_uuid and row.parent_course_uuid[0]))
            assert_that(parents, equal_to(expected_lineage), label="LineageRows")


def test_a_retry_before_its_migration_is_matched_when_the_migration_arrives():
    assert_joined([a_retry("A", "B", T0), T0 + MINUTE, a_migration("7", "A", "B", T0 - MINUTE)],
                  [("A", "B", "matched", "7", "AB", 1, None)], [("7", "A")])


def test_a_retry_whose_migration_never_arrives_is_emitted_after_the_wait():
    assert_joined([a_retry("X", "Y", T0), a_retry("C", "C", T0), T0 + 11 * MINUTE],
                  [("X", "Y", "no_migration", None, "XY", 1, None), ("C", "C", "same_course", None, "C", 1, None)])


def test_multi_hop_path_and_attempts_seen_so_far():
    assert_joined([
        a_migration("1", "R", "A", T0 - 120 * MINUTE),
        a_migration("2", "A", "B", T0 - 60 * MINUTE),
        a_retry("A", "B", T0),
        a_retry("A", "B", T0 + MINUTE),
        a_retry("R", "B", T0 + 2 * MINUTE, link=None),
        T0 + 20 * MINUTE,
    ], [("A", "B", "matched", "2", "RAB", 1, None), ("A", "B", "matched", "2", "RAB", 2, None),
        ("R", "B", "source_mismatch", "2", "RB", None, None)])


def test_a_migration_after_the_wait_does_not_rewrite_an_emitted_row():
    assert_joined([a_retry("A", "B", T0), T0 + 11 * MINUTE, a_migration("7", "A", "B", T0 - MINUTE)],
                  [("A", "B", "no_migration", None, "AB", 1, None)])


def test_account_lineage_index_equals_a_rebuild_from_its_facts():
    import pickle

    retry = a_retry("A", "B", T0 + 2)._replace(new_course_resource_link_id="lti-B")
    events = [
        a_migration("1", "R", "A", T0),
        # B's source known only by LTI id: the retry before it says which course lti-A is.
        a_retry("R", "A", T0 + 1)._replace(new_course_resource_link_id="lti-A"),
        a_migration("2", None, "B", T0 + 2)._replace(source_course_lti_id="lti-A"),
        retry, retry._replace(event_fingerprint="again"),
    ]
    incremental, facts = AccountLineage(), []
    for event in events:
        facts.extend(incremental.add(event)[1])
    rebuilt = AccountLineage(pickle.loads(pickle.dumps(facts)))
    assert rebuilt.version == incremental.version == len(facts)
    assert rebuilt.graph == incremental.graph
    assert rebuilt.graph[uuid("B")][0].parent_course_uuid == uuid("A")
    assert rebuilt.row(retry, 2) == incremental.row(retry, 2)
    assert rebuilt.row(retry, 2).lineage_path == [uuid("R"), uuid("A"), uuid("B")]
    # An identity pair seen again is not stored again.
    assert sum(1 for fact in facts if fact == ("i", "lti-B", uuid("B"))) == 1
    assert len(facts) == len(set(facts))


# --- the whole stream, from raw lines ------------------------------------------

from tests.conftest import completed, noise, retry  # noqa: E402


def balanced(counts: dict) -> bool:
    settled = sum(n for name, n in counts.items() if name.startswith(("dead_letter_by_code.", "skipped_by_event_name.",
                                                                        "accepted.")))
    return counts.get("lines_read", 0) == counts.get("blank_lines", 0) + counts.get("duplicates", 0) + settled


def test_lines_through_the_whole_stream():
    from transforms.streaming import ProcessCanvasStream

    a, b = uuid("A"), uuid("B")
    t0 = "2024-07-30T10:00:00Z"
    arrive = T0 / 1e6
    stream = (
        BeamTestStream()
        .add_elements([TimestampedValue(retry(a, b, t0), arrive), TimestampedValue(noise(), arrive), b"{oops"])
        .add_elements([TimestampedValue(retry(a, b, t0), arrive)])                      # a copy
        .add_elements([TimestampedValue(completed("5", b, "2024-07-30T09:00:00Z", source_uuid=a), arrive)])
        .advance_watermark_to(1_722_340_000 + 3 * 3600)                                 # far past every window
        .add_elements([TimestampedValue(completed("6", b, "2024-07-30T09:30:00Z", source_uuid=a), arrive)])
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        out = p | stream | ProcessCanvasStream(None, 300, 3600, 86400, 600)
        assert_that(out["retries"] | beam.Map(lambda row: (row.lineage_status, row.migration_id, row.attempt_number)),
                    equal_to([("matched", "5", 1)]), label="Retries")
        assert_that(out["course_lineage"] | beam.Map(lambda row: row.content_migration_id), equal_to(["5"]),
                    label="Lineage")
        assert_that(out["dead_letters"] | beam.Map(lambda row: row.error_code),
                    equal_to(["invalid_json", "late_event"]), label="DeadLetters")
        line_counts = out["counts"] | beam.Filter(lambda counts: "lines_read" in counts)
        assert_that(line_counts | beam.Map(balanced), equal_to([True] * 6), label="EachLineBalances")
