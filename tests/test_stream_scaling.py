"""The stream's cost follows its events and watermark moves, not the span; its state is bounded."""
from __future__ import annotations

import itertools
import threading

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from tests.test_stream_equivalence import DAY, in_order_feed, split_into_files, watch_like_stream
from transforms import stream_state, streaming, streaming_join
from transforms.streaming import DEAD_LETTERS, ClassifyLinesInStream, ProcessCanvasStream
from transforms.watch import UNREADABLE_FILE, UnreadableFile

_bundles = itertools.count(1)
_current = threading.local()


def streaming_pipeline():
    options = PipelineOptions(["--runner", "BundleBasedDirectRunner"])
    options.view_as(StandardOptions).streaming = True
    return beam.Pipeline(options=options)


def firings_of(files, monkeypatch) -> dict:
    """Run the stream's rules on files delivered as --watch does; what the timers did."""
    seen = {"keys": set(), "bundles": set(), "callbacks": 0}
    original_start, original_advance = streaming.ApplyStreamRules.start_bundle, streaming_join.ShardState.advance

    def start_bundle(self):
        _current.bundle = next(_bundles)
        return original_start(self)

    def advance(self, until):
        if self.clock is None or until > self.clock:
            seen["bundles"].add(_current.bundle)
            seen["callbacks"] += 1
        return original_advance(self, until)

    monkeypatch.setattr(streaming.ApplyStreamRules, "start_bundle", start_bundle, raising=False)
    monkeypatch.setattr(streaming_join.ShardState, "advance", advance)
    before = set(stream_state._cache)
    with streaming_pipeline() as p:
        p | watch_like_stream(files) | ProcessCanvasStream(None, 300, 3600, 86400, 600, state_shards=4)
    seen["keys"] = {key for owner, key in set(stream_state._cache) - before if owner.startswith("rules-")}
    return seen


def test_timer_bundles_and_state_keys_do_not_grow_with_the_event_time_span(monkeypatch):
    figures = {}
    for span_days, stretch in ((1, 0.2), (120, 24)):
        timed = in_order_feed(12_000, seed=5, stretch=stretch, noise_kept=50)
        assert abs((timed[-1][0] - timed[0][0]) / DAY - span_days) < span_days * 0.1 + 0.2
        routed = sum(1 for _, line in timed if b"content_migration_" in line or b"retry_outcome" in line)
        chunk = -(-len(timed) // 8)
        files = [timed[index:index + chunk] for index in range(0, len(timed), chunk)]
        figures[span_days] = firings_of(files, monkeypatch), routed
    (short, routed), (long, _) = figures[1], figures[120]
    # State lives under the shard keys, whatever the span.
    assert 1 <= len(long["keys"]) <= 4 and len(short["keys"]) <= 4
    # Timers fire in a bundle or two per watermark move (8 files, then the drain), not per window or
    # event: as many for 120 days as for one.
    assert len(short["bundles"]) <= 2 * (8 + 2) and len(long["bundles"]) <= 2 * (8 + 2), (
        len(short["bundles"]), len(long["bundles"]))
    # Each callback is one distinct deadline, a handful per event at most.
    assert long["callbacks"] <= 4 * routed


def test_an_unreadable_file_is_one_dead_letter_counted_as_one_line():
    stream = (BeamTestStream()
              .add_elements([UnreadableFile("/in/gone.jsonl", "vanished before it was read"), [b"", b"{oops"]])
              .advance_watermark_to_infinity())
    with streaming_pipeline() as p:
        out = p | stream | beam.ParDo(ClassifyLinesInStream(None)).with_outputs(DEAD_LETTERS, "counts", main="routed")
        assert_that(out[DEAD_LETTERS] | beam.Map(lambda row: (row.error_code, row.source_file, row.raw)),
                    equal_to([(UNREADABLE_FILE, "/in/gone.jsonl", b"/in/gone.jsonl: vanished before it was read"),
                              ("invalid_json", None, b"{oops")]), label="DeadLetters")
        assert_that(out["counts"], equal_to([{"lines_read": 1, "dead_letter_by_code.unreadable_file": 1},
                                             {"lines_read": 2, "blank_lines": 1,
                                              "dead_letter_by_code.invalid_json": 1}]), label="Counts")


def test_join_state_is_pruned_by_the_retention():
    from tests.test_streaming import T0, a_migration, a_retry

    rules = streaming_join.StreamRules.of_seconds(300, 3600, 3600, 600, retention_days=30)
    state = streaming_join.ShardState(rules)
    for day in range(200):
        at = T0 + day * DAY
        for event in (a_migration(str(day), f"P{day}", f"C{day}", at), a_retry(f"P{day}", f"C{day}", at + 60_000_000)):
            assert state.admit(event)[0] == "accepted"
        state.advance(at + 3_600_000_000)
    account = state.accounts["acct"]
    # 200 days of migrations, attempts and dedup entries; only the last 30 days' (and one horizon's)
    # remain.
    assert len(account.versions) <= 31 and len(state.attempts) <= 31 and len(state.seen) <= 4
    assert state.live_size() < 120


def test_far_deadlines_are_rounded_up_by_less_than_a_day_and_near_ones_kept():
    from transforms.stream_state import coarse_deadline

    window, max_step, start = 300_000_000, 86_400_000_000, 1_722_124_800_000_000
    deadlines = [start + k * 7_000_000 for k in range(1, 2_000_000, 37)]  # about 160 days
    rounded = [coarse_deadline(deadline, start, window, max_step) for deadline in deadlines]
    assert all(0 <= late - deadline < max_step for late, deadline in zip(rounded, deadlines, strict=True))
    assert all(late == deadline for late, deadline in zip(rounded, deadlines, strict=True) if deadline - start < 16 * window)
    # A few hundred distinct timers for months of deadlines, not one per deadline or per window.
    assert len(set(rounded)) < 1_000
