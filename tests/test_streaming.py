"""Streaming time handling on TestStream (BundleBasedDirectRunner): late events, dedup with expiry."""
import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from transforms.streaming import DeduplicateWithinHorizon, GateLateEvents, window_start

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
            | beam.Map(lambda e: (window_start(e[0], 300), (e[0], e[1], e[1].encode(), "asset_accessed")))
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
    from transforms.events import RetryEvent

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
        assert_that(result.counts | beam.Map(lambda pair: pair), equal_to([("duplicates", 1)]), label="Counts")
