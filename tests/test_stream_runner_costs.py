"""The local stream's per-bundle costs: window keying by row time, empty bundles, state copies."""

from __future__ import annotations

import collections
import random

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.internal import pickler
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.transforms import trigger
from apache_beam.transforms.window import GlobalWindow, TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from transforms.local_runner import consumers_of_nonempty_bundles, copy_unmerged_state
from transforms.stream_output import KeyByWindow, WindowBuffer, WriteWindowFiles
from transforms.tables import ASSIGNMENT_STATES, DEAD_LETTER, AssignmentStateRow

W = 300_000_000
T0 = 1_722_333_600_000_000  # 2024-07-30T10:00:00Z, a window start


def state(fingerprint: str, event_time: int) -> AssignmentStateRow:
    return AssignmentStateRow(
        fingerprint,
        "assignment_updated",
        event_time,
        "a",
        "course",
        "link",
        "9",
        "published",
        None,
        None,
        None,
        None,
    )


def test_a_list_of_state_rows_is_keyed_by_each_rows_own_window_after_pickling():
    # The runner pickles the step for every bundle: the table must still be recognised.
    keying = pickler.loads(pickler.dumps(KeyByWindow(ASSIGNMENT_STATES, 300, 4, batched=True)))
    rows = [state("a", T0 + 1), state("b", T0 + W + 1), state("c", T0 + 3 * W + 1)]
    keyed = keying.process(rows, timestamp=Timestamp(micros=T0 + 1))
    starts = sorted(start for _, items in keyed for start, _, _ in items)
    assert starts == [T0, T0 + W, T0 + 3 * W]
    assert {partition for _, items in keyed for _, partition, _ in items} == {
        "event_date=2024-07-30"
    }
    assert all(shard == start // W % 4 for shard, items in keyed for start, _, _ in items)


def test_a_dead_letter_is_keyed_by_its_elements_time():
    keying = pickler.loads(pickler.dumps(KeyByWindow(DEAD_LETTER, 300, 4)))
    row = ("late_event", "detail", "assignment_updated", None, None, b"{}")
    [(shard, (start, partition, kept))] = keying.process(row, timestamp=Timestamp(micros=T0 + W))
    assert (shard, start, partition, kept) == ((T0 + W) // W % 4, T0 + W, "", row)


@pytest.mark.slow
def test_state_rows_of_one_element_go_to_the_files_of_their_own_windows(tmp_path):
    options = PipelineOptions(["--runner", "BundleBasedDirectRunner"])
    options.view_as(StandardOptions).streaming = True
    rows = [state("a", T0 + 1), state("b", T0 + 2 * W + 1)]
    stream = (
        BeamTestStream()
        .add_elements([TimestampedValue(rows, (T0 + 1) / 1e6)])
        .advance_watermark_to((T0 + W + 1000) / 1e6)  # the first window is complete
        .advance_watermark_to_infinity()
    )
    with beam.Pipeline(options=options) as p:
        _ = (
            p
            | stream
            | WriteWindowFiles(ASSIGNMENT_STATES, str(tmp_path), "zstd", 300, batched=True)
        )
    files = sorted((tmp_path / "assignment_states" / "event_date=2024-07-30").glob("*.parquet"))
    contents = sorted(
        (path.name[:38], pq.read_table(path).column("event_fingerprint").to_pylist())
        for path in files
    )
    # Each row in the file of its own window (the element's timestamp is the earliest row's).
    assert contents == [
        ("part-20240730T100000Z-20240730T100000Z", ["a"]),
        ("part-20240730T101000Z-20240730T101000Z", ["b"]),
    ]


class _Bundle:
    def __init__(self, elements):
        self._elements = elements

    def has_elements(self):
        return bool(self._elements)


def test_only_bundles_with_elements_reach_their_consumers():
    scheduled = []
    schedule = consumers_of_nonempty_bundles(lambda executor, bundle: scheduled.append(bundle))
    full, empty = _Bundle([1]), _Bundle([])
    schedule(None, empty)
    schedule(None, full)
    assert scheduled == [full]


def test_a_keyed_state_copy_is_independent_of_the_original():
    original = trigger.InMemoryUnmergedState()
    window = GlobalWindow()
    original.set_timer(window, "wake", "WATERMARK", Timestamp(micros=5), dynamic_timer_tag="5")
    original.state[window]["log"].append(b"entry")
    original.set_global_state(trigger._ReadModifyWriteStateTag("version"), 3)
    copied = copy_unmerged_state(original, trigger.InMemoryUnmergedState())
    assert copied.timers == original.timers
    assert isinstance(copied.timers, collections.defaultdict)
    copied.set_timer(window, "wake", "WATERMARK", Timestamp(micros=9), dynamic_timer_tag="9")
    copied.clear_timer(window, "wake", "WATERMARK", dynamic_timer_tag="5")
    copied.state[window]["log"].append(b"more")
    assert original.timers == {window: {("wake", "WATERMARK", "5"): Timestamp(micros=5)}}
    assert original.state[window]["log"] == [b"entry"]
    assert copied.global_state == original.global_state


def test_window_rows_added_together_are_buffered_and_due_as_one_by_one():
    randomness = random.Random(3)
    one_by_one = WindowBuffer(W, 2 * W, 86_400_000_000)
    together = WindowBuffer(W, 2 * W, 86_400_000_000)
    for batch in range(6):
        items = [
            (T0 + randomness.randrange(400) * W, f"event_date={batch % 2}", (batch, n))
            for n in range(30)
        ]
        expected = {one_by_one.add(*item) for item in items}
        assert together.add_many(items) == expected
        until = T0 + randomness.randrange(400) * W
        assert together.flush(until) == one_by_one.flush(until)
        assert together.rows_held == one_by_one.rows_held
