"""The classifier's worker processes end with the classification bundle, not with the job."""

from __future__ import annotations

import json

from transforms.file_ranges import split_file
from transforms.read_canvas_events import ClassifyFileRange
from transforms.tags import COUNTS


def _lines_read(outputs) -> int:
    # process() emits plain values, finish_bundle() windowed ones.
    records = [
        getattr(output.value, "value", output.value) for output in outputs if output.tag == COUNTS
    ]
    return sum(record["lines_read"] for record in records)


def _processed(fn: ClassifyFileRange, file_ranges) -> tuple[list, list]:
    """The bundle's outputs and the worker processes that ran it."""
    outputs = []
    for file_range in file_ranges:
        outputs.extend(fn.process(file_range))
    assert fn._pool is not None
    workers = list((fn._pool._processes or {}).values())
    outputs.extend(fn.finish_bundle())
    return outputs, workers


def test_the_pool_stops_after_each_bundle_and_a_later_bundle_starts_a_new_one(tmp_path):
    feed = tmp_path / "feed.jsonl"
    line = {"metadata": {"event_name": "noise"}, "body": {}}
    feed.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for _ in range(50)))
    ranges = list(split_file(str(feed), feed.stat().st_size, 1 << 20))
    fn = ClassifyFileRange(None, processes=2)
    fn.setup()
    try:
        fn.start_bundle()
        outputs, workers = _processed(fn, ranges)
        assert fn._pool is None
        assert workers and not any(worker.is_alive() for worker in workers)
        fn.start_bundle()
        outputs_again, _ = _processed(fn, ranges)
        assert fn._pool is None
    finally:
        fn.teardown()
    assert _lines_read(outputs) == _lines_read(outputs_again) == 50
