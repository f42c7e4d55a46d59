"""The --watch source: when a file is read, unreadable files, element timestamps and the watermark.

``FolderWatcher.read_multiple`` is driven directly with a fake clock (its
``sleep`` moves the clock and runs what the test scheduled), so nothing here
sleeps except the one end-to-end run of the command.
"""
from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
import simdjson
from apache_beam.utils import timestamp

from pipelines.cli import main
from tests.conftest import completed, course, line, retry
from transforms import watch
from transforms.timestamps import parse_event_time
from transforms.watch import (
    WATCH_CODER, FileState, FolderWatcher, SettleTracker, UnreadableFile, event_time_span, is_ready,
    open_watched_file,
)

A, B, X, Y = (course(name) for name in "ABXY")
WALL_START = 1_800_000_000.0  # the fake wall clock at fake time 0
MIN_WATERMARK = timestamp.MIN_TIMESTAMP.micros
MAX_WATERMARK = timestamp.MAX_TIMESTAMP.micros


class FakeTime:
    """A clock that moves only when the watcher sleeps; ``at(t, action)`` runs ``action`` at t."""

    def __init__(self):
        self.now = 0.0
        self._actions: list[tuple[float, object]] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL_START + self.now

    def at(self, when: float, action) -> None:
        self._actions.append((when, action))

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        due = [action for when, action in self._actions if when <= self.now]
        self._actions = [(when, action) for when, action in self._actions if when > self.now]
        for action in due:
            action()


def event(minute: int, hour: int = 10, name: str = "asset_accessed") -> bytes:
    return line(name, {"asset_id": f"{hour}:{minute}"}, f"2024-07-30T{hour:02d}:{minute:02d}:00Z")


def put(path: Path, lines: list[bytes], fake: FakeTime, append: bool = False, age_seconds: float = 0.0) -> None:
    """Write (or append) lines, modified at the fake wall clock's time minus ``age_seconds``."""
    with open(path, "ab" if append else "wb") as handle:
        handle.write(b"".join(item + b"\n" for item in lines))
    mtime_ns = int((fake.wall() - age_seconds) * 1e9)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def watcher(folder: Path, fake: FakeTime, pattern: str = "*", stop_after: float = 30, lag: int = 60,
            settle: float = 5, **kwargs) -> FolderWatcher:
    return FolderWatcher(str(folder / pattern), stop_after, lag, drain_seconds=7200, poll_seconds=1.0,
                         clock=fake.clock, sleep=fake.sleep, settle_seconds=settle, wall_clock=fake.wall, **kwargs)


def replay(source: FolderWatcher, fake: FakeTime) -> list[tuple]:
    """Every event the watcher yields: (kind, value, timestamp or None, fake time when yielded)."""
    events = []
    for item in source.read_multiple(None):
        if item.HasField("element_event"):
            for element in item.element_event.elements:
                events.append(("element", WATCH_CODER.decode(element.encoded_element), element.timestamp, fake.now))
        elif item.HasField("watermark_event"):
            # The runner's hold sequence (tagged, and the initial minimum) is not event time.
            if not item.watermark_event.tag and item.watermark_event.new_watermark != MIN_WATERMARK:
                events.append(("watermark", item.watermark_event.new_watermark, None, fake.now))
        else:
            events.append(("advance", item.processing_time_event.advance_duration, None, fake.now))
    return events


def lines_sent(events) -> list[bytes]:
    return [raw for kind, value, _, _ in events if kind == "element" and isinstance(value, list) for raw in value]


def unreadable(events) -> list[UnreadableFile]:
    return [value for kind, value, _, _ in events if kind == "element" and isinstance(value, UnreadableFile)]


def event_time_of(raw: bytes) -> int | None:
    try:
        return parse_event_time(json.loads(raw)["metadata"]["event_time"])
    except (ValueError, KeyError, TypeError):
        return None


def assert_time_rules(events) -> None:
    """Element timestamps: at most their earliest event time, never behind the watermark sent.

    No event reaches the stream at or behind a watermark already sent (every file
    was in the folder).
    """
    watermark = MIN_WATERMARK
    for kind, value, stamp, _ in events:
        if kind == "watermark":
            assert value > watermark, "the watermark went back"
            watermark = value
        elif kind == "element":
            assert stamp >= watermark
            times = [t for t in map(event_time_of, value) if t is not None] if isinstance(value, list) else []
            if times:
                assert stamp <= min(times)
                assert min(times) > watermark, "an event arrived behind the watermark"


# --- when a file is ready -------------------------------------------------------------------------

@pytest.mark.parametrize("state, unchanged_since, now, wall_age, ready", [
    (FileState(10, 0, marked=True), 0.0, 0.0, 0.0, True),        # a marker: at once
    (FileState(0, 0, marked=True), 0.0, 0.0, 0.0, True),         # even empty
    (FileState(0, 0, marked=False), 0.0, 100.0, 100.0, False),   # empty: waits for content
    (FileState(10, 0, marked=False), 0.0, 4.9, 4.9, False),      # changed 4.9 s ago
    (FileState(10, 0, marked=False), 0.0, 5.0, 0.0, True),       # seen unchanged for the settle time
    (FileState(10, 0, marked=False), 3.0, 3.0, 5.0, True),       # just seen, but written 5 s ago (renamed in)
    (FileState(10, 0, marked=False), 3.0, 3.0, -2.0, False),     # modification time ahead of the clock
])
def test_is_ready(state, unchanged_since, now, wall_age, ready):
    state = state._replace(mtime_ns=int(1e18))
    assert is_ready(state, unchanged_since, now, 1e9 + wall_age, settle_seconds=5) is ready


def test_the_settle_time_restarts_whenever_size_or_modification_time_changes():
    tracker = SettleTracker(settle_seconds=5)
    old = 0  # the wall clock is far behind: only what the tracker saw counts
    assert not tracker.observe("f", FileState(10, 1, False), now=0, wall_now=old)
    assert not tracker.observe("f", FileState(20, 2, False), now=4, wall_now=old)  # grew
    assert not tracker.observe("f", FileState(20, 3, False), now=8, wall_now=old)  # rewritten, same size
    assert not tracker.observe("f", FileState(20, 3, False), now=12.9, wall_now=old)
    assert tracker.settling() == ["f"]
    assert tracker.observe("f", FileState(20, 3, False), now=13, wall_now=old)
    assert tracker.observe("g", FileState(20, 3, True), now=13, wall_now=old)  # marked: no wait
    tracker.observe("empty", FileState(0, 3, False), now=13, wall_now=old)
    assert "empty" not in tracker.settling()


def test_a_growing_file_is_read_once_it_stops_changing_and_all_its_lines_arrive(tmp_path):
    fake = FakeTime()
    growing = tmp_path / "growing.jsonl"
    batches = [[event(minute) for minute in range(start, start + 3)] for start in (0, 3, 6, 9)]
    put(growing, batches[0], fake)
    # Appends at 1 s, then a 3 s pause (shorter than the settle time), then two more.
    fake.at(1, lambda: put(growing, batches[1], fake, append=True))
    fake.at(5, lambda: put(growing, batches[2], fake, append=True))
    fake.at(6, lambda: put(growing, batches[3], fake, append=True))
    events = replay(watcher(tmp_path, fake), fake)
    assert lines_sent(events) == [item for batch in batches for item in batch]
    first_sent = min(when for kind, _, _, when in events if kind == "element")
    assert first_sent >= 6 + 5  # not before it had been still for the settle time


def test_a_done_marker_makes_a_file_ready_at_once_and_is_never_read(tmp_path):
    fake = FakeTime()
    put(tmp_path / "a.jsonl", [event(1), event(2)], fake)
    (tmp_path / "a.jsonl.done").write_bytes(b"not an event\n")
    (tmp_path / "orphan.jsonl.done").write_bytes(b"a marker without its file\n")
    source = watcher(tmp_path, fake, pattern="*", settle=60)
    events = replay(source, fake)
    assert lines_sent(events) == [event(1), event(2)]
    assert [when for kind, _, _, when in events if kind == "element"] == [0]
    assert source.files_read == [str(tmp_path / "a.jsonl")] and not unreadable(events)


def test_a_file_renamed_in_long_after_it_was_written_is_read_at_the_next_poll(tmp_path):
    fake = FakeTime()
    staged = tmp_path / "staging" / "late.jsonl"
    staged.parent.mkdir()
    put(staged, [event(1)], fake, age_seconds=3600)
    fresh = tmp_path / "staging" / "fresh.jsonl"
    # Both renamed in at 2 s; one was written an hour ago, the other just before its rename.
    fake.at(2, lambda: (put(fresh, [event(2)], fake), os.replace(staged, tmp_path / "late.jsonl"),
                        os.replace(fresh, tmp_path / "fresh.jsonl")))
    events = replay(watcher(tmp_path, fake, pattern="*.jsonl"), fake)
    sent_at = {value[0]: when for kind, value, _, when in events if kind == "element"}
    assert sent_at == {event(1): 2, event(2): 2 + 5}


def test_an_empty_file_waits_for_content(tmp_path):
    fake = FakeTime()
    (tmp_path / "later.jsonl").touch()
    fake.at(10, lambda: put(tmp_path / "later.jsonl", [event(1)], fake))
    events = replay(watcher(tmp_path, fake), fake)
    assert lines_sent(events) == [event(1)] and not unreadable(events)


# --- files that cannot be read --------------------------------------------------------------------

def test_a_file_that_vanishes_before_it_is_read_is_unreadable_and_the_watch_goes_on(tmp_path):
    fake = FakeTime()
    put(tmp_path / "a.jsonl", [event(1)], fake)
    fake.at(2, lambda: (tmp_path / "a.jsonl").unlink())
    fake.at(3, lambda: put(tmp_path / "b.jsonl", [event(2)], fake))
    source = watcher(tmp_path, fake)
    events = replay(source, fake)
    assert unreadable(events) == [UnreadableFile(str(tmp_path / "a.jsonl"), "vanished before it was read")]
    assert lines_sent(events) == [event(2)]
    assert events[-1][:2] == ("watermark", MAX_WATERMARK)  # the stream still closes


def test_a_file_that_vanishes_or_cannot_be_opened_when_ready_is_unreadable(tmp_path):
    fake = FakeTime()
    for name in ("a.jsonl", "b.jsonl", "c.jsonl"):
        put(tmp_path / name, [event(1)], fake, age_seconds=60)

    def opener(path):
        if path.endswith("a.jsonl"):
            os.unlink(path)
        if path.endswith("b.jsonl"):
            raise PermissionError(13, "Permission denied", path)
        return open_watched_file(path)

    events = replay(watcher(tmp_path, fake, open_file=opener), fake)
    found = unreadable(events)
    assert [(Path(item.path).name, item.reason.split(":")[0]) for item in found] == [
        ("a.jsonl", "vanished before it was read"), ("b.jsonl", "cannot be opened")]
    assert "Permission denied" in found[1].reason
    assert lines_sent(events) == [event(1)]


def _truncated(compress, data: bytes) -> bytes:
    whole = compress(data)
    return whole[:len(whole) * 2 // 3]


def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def _deflate(data: bytes) -> bytes:
    import zlib

    return zlib.compress(data)


@pytest.mark.parametrize("name, compress", [
    ("whole.jsonl.gz", gzip.compress), ("whole.JSONL.BZ2", bz2.compress), ("whole.jsonl.xz", lzma.compress),
    ("whole.jsonl.zst", _zstd), ("whole.jsonl.deflate", _deflate),
    ("two-frames.jsonl.zst", lambda data: _zstd(data[:len(data) // 2]) + _zstd(data[len(data) // 2:])),
    ("two-members.jsonl.gz", lambda data: gzip.compress(data[:len(data) // 2]) + gzip.compress(data[len(data) // 2:])),
])
def test_open_watched_file_reads_every_codec_whole(tmp_path, name, compress):
    data = b"".join(b'{"n": %d}\n' % n for n in range(50_000))
    (tmp_path / name).write_bytes(compress(data))
    with open_watched_file(str(tmp_path / name)) as handle:
        assert handle.read(7) + handle.read(100_000) + handle.read() == data


@pytest.mark.parametrize("name, content", [
    ("cut.jsonl.zst", lambda data: _truncated(_zstd, data)),
    ("cut.jsonl.deflate", lambda data: _truncated(_deflate, data)),
    ("cut.jsonl.gz", lambda data: _truncated(gzip.compress, data)),
    ("CUT.JSONL.GZ", lambda data: _truncated(gzip.compress, data)),
    ("cut.jsonl.bz2", lambda data: _truncated(bz2.compress, data)),
    ("cut.jsonl.xz", lambda data: _truncated(lzma.compress, data)),
    ("corrupt.jsonl.gz", lambda data: b"\x1f\x8b\x08\x00not gzip at all" + data[:100]),
    ("plain-but-named.jsonl.gz", lambda data: data),
])
def test_a_truncated_or_corrupt_compressed_file_is_unreadable_and_the_watch_goes_on(tmp_path, name, content):
    fake = FakeTime()
    data = b"".join(event(minute % 60, 10 + minute // 60) + b"\n" for minute in range(300))
    (tmp_path / name).write_bytes(content(data))
    os.utime(tmp_path / name, (WALL_START - 60, WALL_START - 60))
    fake.at(2, lambda: put(tmp_path / "next.jsonl", [event(59, 23)], fake, age_seconds=60))
    events = replay(watcher(tmp_path, fake), fake)
    found = unreadable(events)
    assert [item.path for item in found] == [str(tmp_path / name)]
    assert found[0].reason.startswith("ended early or is corrupt after ")
    sent = lines_sent(events)
    assert sent[-1] == event(59, 23)  # the next file is read
    assert set(sent[:-1]) <= set(data.splitlines())  # lines sent before the break stay sent


def test_a_file_still_changing_when_a_bounded_watch_stops_is_unreadable(tmp_path):
    fake = FakeTime()
    growing = tmp_path / "log.jsonl"
    put(growing, [event(0)], fake)
    for second in range(1, 40):
        fake.at(second, lambda second=second: put(growing, [event(second % 60)], fake, append=True))
    events = replay(watcher(tmp_path, fake, stop_after=10, settle=5), fake)
    assert unreadable(events) == [UnreadableFile(str(growing), "still changing when the watch stopped")]
    assert not lines_sent(events)
    assert fake.now <= 10 + 5 + 2 + 1


# --- element timestamps and the watermark ---------------------------------------------------------

def test_event_time_span():
    parser = simdjson.Parser()
    z_lines = [event(5), event(1), event(9), b"", b"{broken", line("x", {}, "not a time"), line("x", {}, None)]
    assert event_time_span(parser, z_lines) == (parse_event_time("2024-07-30T10:01:00Z"),
                                                 parse_event_time("2024-07-30T10:09:00Z"))
    offsets = [line("x", {}, "2024-07-30T12:00:00+02:00"), line("x", {}, "2024-07-30T10:30:00Z"),
               line("x", {}, "2024-07-30T09:00:00-02:00")]
    assert event_time_span(parser, offsets) == (parse_event_time("2024-07-30T10:00:00Z"),
                                                parse_event_time("2024-07-30T11:00:00Z"))
    # Same shape, but the latest text is no date: it is left out, not trusted.
    odd = [event(1), line("x", {}, "2024-19-30T10:00:00Z")]
    assert event_time_span(parser, odd) == (parse_event_time("2024-07-30T10:01:00Z"),) * 2
    assert event_time_span(parser, [b"", b"{}", event(1).replace(b"event_time", b"time"), b"[1]", b'"text"', b"3",
                                    b'{"metadata": 5}', b'{"metadata": {"event_time": 5}}']) is None
    # A time that is an object does not keep the parser from the lines after it.
    assert event_time_span(parser, [b'{"metadata": {"event_time": {"a": 1}}}', b'{"metadata": [1]}', event(7)]) == (
        parse_event_time("2024-07-30T10:07:00Z"),) * 2


def test_event_time_span_agrees_with_parsing_every_line_on_mixed_layouts_and_offsets():
    import random

    rng = random.Random(7)
    layouts = ["%Y-%m-%dT%H:%M:%S.{ms}Z", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.{ms}{off}",
               "%Y-%m-%d %H:%M:%S {offc}", "%Y-%m-%dT%H:%M:%S.{ms}123456Z", "%Y-%m-%dT%H:%M:%S{off}"]
    parser = simdjson.Parser()
    for _ in range(200):
        lines = []
        for _ in range(rng.randint(1, 40)):
            moment = time.gmtime(1_722_000_000 + rng.randint(0, 400_000))
            hours, minutes = rng.choice([(0, 0), (2, 0), (-5, 0), (5, 30), (-9, 30)])
            offset = f"{'-' if hours < 0 else '+'}{abs(hours):02d}:{minutes:02d}"
            text = time.strftime(rng.choice(layouts), moment).format(
                ms=f"{rng.randint(0, 999):03d}", off=offset, offc=offset.replace(":", ""))
            lines.append(line("x", {}, text) if rng.random() > 0.1 else b"{broken")
        expected = [event_time_of(raw) for raw in lines]
        expected = [t for t in expected if t is not None]
        assert event_time_span(parser, lines) == ((min(expected), max(expected)) if expected else None)


def test_element_timestamps_are_at_most_the_earliest_event_time_of_their_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(watch, "_LINES_PER_EVENT", 4)
    fake = FakeTime()
    # Two hours of events in one file, each block of four out of order, with a lag of one minute.
    minutes = [m for start in range(0, 120, 4) for m in (start + 3, start + 1, start + 2, start)]
    put(tmp_path / "span.jsonl", [event(m % 60, 10 + m // 60) for m in minutes] + [b"{broken"], fake, age_seconds=60)
    events = replay(watcher(tmp_path, fake, lag=60), fake)
    assert len([kind for kind, *_ in events if kind == "element"]) == 31
    assert_time_rules(events)
    assert next(value for kind, value, _, _ in events if kind == "watermark") == parse_event_time(
        "2024-07-30T11:59:00Z") - 60_000_000  # once, after the whole file


def test_the_watermark_waits_for_every_file_ready_in_the_same_poll(tmp_path):
    fake = FakeTime()
    put(tmp_path / "a.jsonl", [event(m, 12) for m in range(0, 30)], fake, age_seconds=60)
    put(tmp_path / "b.jsonl", [event(m, 10) for m in range(0, 10)], fake, age_seconds=60)  # older events
    events = replay(watcher(tmp_path, fake, lag=60), fake)
    assert len(lines_sent(events)) == 40
    assert_time_rules(events)


def test_the_watermark_waits_while_a_file_is_still_settling(tmp_path):
    fake = FakeTime()
    put(tmp_path / "old.jsonl", [event(m, 9) for m in range(0, 10)], fake)  # still being written
    put(tmp_path / "new.jsonl", [event(m, 12) for m in range(0, 10)], fake)
    (tmp_path / "new.jsonl.done").touch()
    fake.at(3, lambda: put(tmp_path / "old.jsonl", [event(m, 9) for m in range(10, 20)], fake, append=True))
    events = replay(watcher(tmp_path, fake, lag=60), fake)
    assert len(lines_sent(events)) == 30
    assert_time_rules(events)
    first_watermark = next(when for kind, _, _, when in events if kind == "watermark")
    assert first_watermark >= 3 + 5


def test_a_bounded_watch_drains_and_closes(tmp_path):
    fake = FakeTime()
    put(tmp_path / "a.jsonl", [event(1), event(30)], fake, age_seconds=60)
    events = replay(watcher(tmp_path, fake, stop_after=3, lag=60), fake)
    newest = parse_event_time("2024-07-30T10:30:00Z")
    moves = [(kind, value) for kind, value, _, _ in events if kind != "element"]
    # Event time past every window and wait first, then the runner's clock past the last summary
    # trigger.
    assert moves[-3:] == [("watermark", newest + 7200 * 1_000_000), ("advance", 86_400 * 1_000_000),
                          ("watermark", MAX_WATERMARK)]
    assert lines_sent(events) == [event(1), event(30)]
    assert fake.now == 3


def test_unreadable_elements_are_stamped_where_the_stream_is(tmp_path):
    fake = FakeTime()
    put(tmp_path / "a.jsonl", [event(30)], fake, age_seconds=60)
    (tmp_path / "b.jsonl.gz").write_bytes(b"not gzip")
    os.utime(tmp_path / "b.jsonl.gz", (WALL_START - 60, WALL_START - 60))
    events = replay(watcher(tmp_path, fake), fake)
    stamps = {type(value).__name__: stamp for kind, value, stamp, _ in events if kind == "element"}
    assert stamps == {"list": parse_event_time("2024-07-30T10:30:00Z"),
                      "UnreadableFile": parse_event_time("2024-07-30T10:30:00Z")}


def test_negative_settle_time_is_a_usage_error(tmp_path, capsys):
    assert main(["stream", "--watch", str(tmp_path / "*.jsonl"), "--output", str(tmp_path / "out"),
                 "--watch-settle-seconds", "-1"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "retry-lineage stream: error: --watch-settle-seconds must not be negative, got -1.0"]


# --- the command, end to end ----------------------------------------------------------------------

def test_a_bounded_watch_run_accounts_for_every_line_of_files_appended_in_place_and_marked(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    appended = [retry(A, B, "2024-07-30T10:01:00Z"), b"{broken", retry(X, Y, "2024-07-30T10:20:00Z"), b"",
                *(line("asset_accessed", {"id": str(n)}, f"2024-07-30T10:{n:02d}:00Z") for n in range(2, 22))]
    marked = [completed("9", B, "2024-07-30T09:59:00Z", source_uuid=A), retry(X, Y, "2024-07-30T10:20:00Z")]

    def write_slowly():
        # Appended in place, a line every 0.2 s with one pause of 2 s: every pause is shorter than
        # the
        # settle time, so the file is not read before it is complete.
        with open(folder / "appended.jsonl", "wb") as handle:
            for number, item in enumerate(appended):
                handle.write(item + b"\n")
                handle.flush()
                time.sleep(2.0 if number == len(appended) // 2 else 0.2)
        (folder / "marked.jsonl").write_bytes(b"".join(item + b"\n" for item in marked))
        (folder / "marked.jsonl.done").write_bytes(b"this marker is not an event\n")

    command = subprocess.Popen(
        [sys.executable, "-m", "pipelines.retry_lineage", "stream", "--watch", str(folder / "*"),
         "--output", str(out), "--stop-after", "12", "--watch-settle-seconds", "4"],
        stderr=subprocess.PIPE, text=True)
    watching, log = threading.Event(), []

    def read_log():
        for entry in command.stderr:
            log.append(entry)
            if "watch: watching" in entry:
                watching.set()

    reader = threading.Thread(target=read_log)
    reader.start()
    try:
        assert watching.wait(120), "".join(log)[-3000:]
        write_slowly()  # from the moment the command watches
        returncode = command.wait(timeout=180)
    finally:
        if command.poll() is None:
            command.kill()
        reader.join()
    assert returncode == 0, "".join(log)[-3000:]
    records = [json.loads(item) for path in (out / "_summaries").glob("*.jsonl")
               for item in path.read_text().splitlines()]
    assert sum(record["lines_read"] for record in records) == len(appended) + len(marked)
    assert all(record["balanced"] for record in records)
    assert sum(record["duplicates"] for record in records) == 1
    assert "2 files read, 0 unreadable" in "".join(log)
    retries = duckdb.sql(
        "select original_course_uuid, lineage_status "
        f"from read_parquet('{out}/retries/**/*.parquet')").fetchall()
    assert sorted((uuid[0], status) for uuid, status in retries) == [("A", "matched"), ("X", "no_migration")]
