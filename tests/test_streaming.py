"""Streaming building blocks on TestStream (BundleBasedDirectRunner): lateness, dedup, join."""
import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from transforms.events import MigrationEvent, RetryEvent
from transforms.streaming import ApplyStreamRules, window_start
from transforms.streaming_join import StreamRules

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


def apply_rules(steps, checks, window=300, lateness=3600, horizon=86400, wait=600):
    """Run ApplyStreamRules over arrivals (events at their event time) and watermark moves (µs)."""
    stream = BeamTestStream()
    for step in steps:
        if isinstance(step, int):
            stream = stream.advance_watermark_to(step / 1e6)
        else:
            stream = stream.add_elements([TimestampedValue(step, step.event_time / 1e6)])
    # Drain as the --watch source does: event time runs past every deadline before the stream ends
    # (what a timer emits once the watermark is at infinity is late for assert_that's grouping).
    stream = stream.advance_watermark_to((T0 + 30 * 86_400_000_000) / 1e6).advance_watermark_to_infinity()
    rules = StreamRules.of_seconds(window, lateness, horizon, wait, 400)
    with streaming_pipeline() as p:
        out = (
            p
            | stream
            | beam.Map(lambda event: (0, (event, event.event_fingerprint.encode(),
                                          getattr(event, "event_name", "retry"))))
            | beam.ParDo(ApplyStreamRules(rules)).with_outputs("lineage_rows", "late", "counts", main="rows")
        )
        checks(out)


def test_an_event_after_its_window_closed_is_a_late_event_dead_letter():
    window_end = T0 - T0 % 300_000_000 + 300_000_000

    def checks(out):
        assert_that(out.rows | beam.Map(lambda row: row.event_fingerprint), equal_to(
            ["first", "within-lateness", "next-window"]), label="OnTime")
        assert_that(out.late | beam.Map(lambda row: (row.error_code, row.raw)),
                    equal_to([("late_event", b"too-late")]), label="Late")

    apply_rules([
        a_retry("C", "C", T0, fingerprint="first"),
        window_end + 30_000_000,              # past the window end, within the 60 s lateness
        a_retry("C", "C", T0 + 1, fingerprint="within-lateness"),
        window_end + 61_000_000,              # past end + lateness: the window closes
        a_retry("C", "C", T0 + 2, fingerprint="too-late"),
        a_retry("C", "C", window_end + 100_000_000, fingerprint="next-window"),
    ], checks, lateness=60)


def test_duplicates_are_removed_within_the_horizon_even_across_windows():
    first = a_retry("S", "T", T0, fingerprint="a" * 64)

    def checks(out):
        assert_that(out.rows | beam.Map(lambda row: row.event_fingerprint[0]), equal_to(["a", "b", "a"]),
                    label="Distinct")
        line_counts = out.counts | beam.Filter(lambda counts: "lines_read" in counts)
        assert_that(line_counts, equal_to([{"lines_read": 1, "accepted.retry": 1}] * 3
                                          + [{"lines_read": 1, "duplicates": 1}]), label="Counts")

    apply_rules([
        first,
        T0 + HOUR,                                    # a later window: the copy is still a duplicate
        first, a_retry("S", "T", T0, fingerprint="b" * 64),
        T0 + 3 * HOUR,                                # past the 2-hour horizon: state expired
        first,
    ], checks, horizon=2 * 3600, lateness=6 * 3600)


# --- the streaming join -----------------------------------------------------


def assert_joined(steps, expected_rows, expected_lineage=None, wait_seconds=600):
    def checks(out):
        rows = out.rows | beam.Map(lambda row: (
            row.original_course_uuid[0], row.new_course_uuid[0], row.lineage_status, row.migration_id,
            "".join(course[0] for course in row.lineage_path), row.attempt_number, row.attempt_count))
        assert_that(rows, equal_to(expected_rows), label="Rows")
        if expected_lineage is not None:
            parents = out.lineage_rows | beam.Map(
                lambda row: (row.content_migration_id, row.parent_course_uuid and row.parent_course_uuid[0]))
            assert_that(parents, equal_to(expected_lineage), label="LineageRows")

    apply_rules(steps, checks, wait=wait_seconds)


def test_a_retry_before_its_migration_is_matched_when_the_migration_arrives():
    assert_joined([a_retry("A", "B", T0), T0 + MINUTE, a_migration("7", "A", "B", T0 - MINUTE)],
                  [("A", "B", "matched", "7", "AB", 1, None)], [("7", "A")])


def test_a_retry_waiting_past_its_time_is_matched_by_a_migration_that_arrives_within_the_wait():
    assert_joined([a_retry("A", "B", T0), T0 + 6 * MINUTE, a_migration("7", "A", "B", T0 - MINUTE)],
                  [("A", "B", "matched", "7", "AB", 1, None)], [("7", "A")])


def test_a_retry_whose_migration_never_arrives_is_emitted_after_the_wait():
    assert_joined([a_retry("X", "Y", T0), a_retry("C", "C", T0), T0 + 16 * MINUTE],
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


def test_attempts_are_numbered_in_event_time_order_whatever_the_arrival_order():
    assert_joined([a_retry("A", "A", T0 + MINUTE), a_retry("A", "A", T0), T0 + 20 * MINUTE],
                  [("A", "A", "same_course", None, "A", 1, None), ("A", "A", "same_course", None, "A", 2, None)])
    # (which row got which number is checked on the state machine below)


def test_a_migration_after_the_wait_does_not_rewrite_an_emitted_row():
    assert_joined([a_retry("A", "B", T0), T0 + 16 * MINUTE, a_migration("7", "A", "B", T0 - MINUTE)],
                  [("A", "B", "no_migration", None, "AB", 1, None)])


def test_a_retry_is_not_decided_before_an_earlier_migration_of_the_same_time_span_arrives():
    # The retry arrives first; the migration into its course, earlier in event time, comes in a
    # later element before the watermark passes the retry: the row must know it (batch's answer).
    assert_joined([a_retry("A", "B", T0 + 5), a_migration("7", "X", "B", T0), a_migration("8", "A", "B", T0 + 5),
                   T0 + 20 * MINUTE],
                  [("A", "B", "matched", "8", "AB", 1, None)])


def test_shard_state_rebuilt_from_its_log_equals_the_live_one():
    import pickle

    from transforms.streaming_join import ShardState

    rules = StreamRules.of_seconds(300, 3600, 86400, 600, 400)
    retry = a_retry("A", "B", T0 + 2)._replace(new_course_resource_link_id="lti-B")
    inputs = [
        ("admit", a_migration("1", "R", "A", T0)),
        # B's source known only by LTI id: the retry before it says which course lti-A is.
        ("admit", a_retry("R", "A", T0 + 1)._replace(new_course_resource_link_id="lti-A")),
        ("admit", a_migration("2", None, "B", T0 + 2)._replace(source_course_lti_id="lti-A")),
        ("advance", T0 + 300_000_000),
        ("admit", retry), ("admit", retry._replace(event_fingerprint="again", event_time=T0 + 1)),
        ("advance", T0 + 1200_000_000),
    ]
    live, decided = ShardState(rules), []
    for kind, value in inputs:
        if kind == "admit":
            assert live.admit(value)[0] == "accepted"
        else:
            decided.extend(live.advance(value)[1])
    rebuilt = ShardState(rules)
    for entry in pickle.loads(pickle.dumps(inputs)):
        rebuilt.replay(entry)
    assert pickle.dumps(rebuilt.__dict__) == pickle.dumps(live.__dict__)
    rows = {retry.event_fingerprint: row for retry, row in decided}
    assert rows[retry.event_fingerprint].lineage_path == [uuid("R"), uuid("A"), uuid("B")]
    assert rows[retry.event_fingerprint].lineage_status == "matched"
    # Numbered in event-time order: the copy with an earlier time is attempt 1.
    assert (rows["again"].attempt_number, rows[retry.event_fingerprint].attempt_number) == (1, 2)
    assert live.admit(retry)[0] == "duplicate"


class _FakeBag:
    def __init__(self):
        self.values = []

    def read(self):
        return iter(list(self.values))

    def add(self, value):
        self.values.append(value)

    def clear(self):
        self.values = []


class _FakeValue:
    def __init__(self):
        self.value = None

    def read(self):
        return self.value

    def write(self, value):
        self.value = value


def test_the_log_is_compacted_and_a_worker_without_the_machine_rebuilds_it():
    from transforms import stream_state
    from transforms.streaming_join import ShardState

    rules = StreamRules.of_seconds(300, 3600, 3600, 600, 400)
    log, version = _FakeBag(), _FakeValue()
    factory = lambda: ShardState(rules)  # noqa: E731
    for step in range(2000):
        machine = stream_state.load_machine("owner", 0, log, version, factory)
        event = a_retry("C", "C", T0 + step * MINUTE, fingerprint=f"f{step}")
        machine.admit(event)
        stream_state.record(machine, ("admit", event), log, version)
        machine.advance(T0 + step * MINUTE + 1)
        stream_state.record(machine, ("advance", T0 + step * MINUTE + 1), log, version)
    # Dedup entries expire after an hour: what the shard holds stays small, and so does its log.
    assert machine.live_size() < 100 and len(log.values) < 600
    stream_state.forget_cached_machines()
    rebuilt = stream_state.load_machine("owner", 0, log, version, factory)
    assert rebuilt is not machine and rebuilt.version == machine.version == 4000
    assert rebuilt.seen == machine.seen and rebuilt.attempts == machine.attempts


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
