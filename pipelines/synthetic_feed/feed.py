"""Assembly: noise, routed, redelivered and malformed lines merged window by window.

Also writes the feed to a file.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator

from pipelines.synthetic_feed.lineage import Lineage
from pipelines.synthetic_feed.malformed import MALFORMED
from pipelines.synthetic_feed.noise import NoiseMaker
from pipelines.synthetic_feed.primitives import Deck, Quota, SPAN_MS, START_MS, dumps
from pipelines.synthetic_feed.world import WORDS, build_world

# Lines are shuffled within windows of this many positions: enough to break
# event_time order, small enough to keep the stream local and memory flat.
SHUFFLE_WINDOW = 256

MALFORMED_SHARE = 0.002
BLANK_SHARE = 0.0003
CRLF_SHARE = 0.0003
NOISE_DUP_SHARE = 0.001
ROUTED_DUP_SHARE = 0.005
OVERSIZE_MIN_EVENTS = 5_000
OVERSIZE_SECOND_EVENTS = 200_000
OVERSIZE_BYTES = 1_050_000


class Feed:
    """Merges noise, routed, redelivered and malformed lines window by window."""

    def __init__(self, events: int, seed: int) -> None:
        self._events = events
        world_rng = random.Random(f"synthetic-feed:{seed}:world")
        accounts = build_world(world_rng)
        self._noise = NoiseMaker(random.Random(f"synthetic-feed:{seed}:noise"), accounts)
        self._lineage = Lineage(random.Random(f"synthetic-feed:{seed}:lineage"), accounts, events)
        rng = self._rng = random.Random(f"synthetic-feed:{seed}:delivery")
        self._malformed = Quota(MALFORMED_SHARE, rng)
        self._blank = Quota(BLANK_SHARE, rng)
        self._crlf = Quota(CRLF_SHARE, rng)
        self._noise_dups = Quota(NOISE_DUP_SHARE, rng)
        self._routed_dups = Quota(ROUTED_DUP_SHARE, rng)
        self._kinds = Deck(rng, {kind: 1 for kind in MALFORMED})
        self._redeliveries: dict[int, list[bytes]] = {}
        windows = self._last_window = -(-events // SHUFFLE_WINDOW)
        self._last_window -= 1
        oversize = 2 if events >= OVERSIZE_SECOND_EVENTS else 1 if events >= OVERSIZE_MIN_EVENTS else 0
        self._oversize_windows = sorted(rng.sample(range(windows), oversize)) if oversize else []

    def _time_at(self, position: int) -> int:
        return START_MS + position * SPAN_MS // self._events

    def lines(self) -> Iterator[bytes]:
        rng = self._rng
        noise_line = self._noise.line
        r = rng.random
        carry: list[bytes] = []
        position = window = 0
        while position < self._events:
            size = min(SHUFFLE_WINDOW, self._events - position)
            start_ms = self._time_at(position)
            routed = self._lineage.due(self._time_at(position + size))
            for line in routed:
                if self._routed_dups.take():
                    self._redeliver(window, line)
            batch = carry + self._redeliveries.pop(window, []) + routed + self._specials(window, size, start_ms)
            carry = batch[size:]  # only overflows in tiny feeds or bursts
            batch = batch[:size]
            step = self._time_at(position + 1) - start_ms
            noise = []
            for k in range(size - len(batch)):
                # Producers lag: event_time is a little (sometimes minutes) before delivery.
                lag = int(r() * 5_000) if r() < 0.9 else int(r() * 600_000)
                noise.append(noise_line(start_ms + k * step - lag).encode())
            for _ in range(self._noise_dups.take(len(noise))):
                self._redeliver(window, rng.choice(noise))
            batch += noise
            rng.shuffle(batch)
            for _ in range(self._crlf.take(size)):
                i = rng.randrange(size)
                if batch[i].strip():
                    batch[i] += b"\r"
            yield from batch
            position += size
            window += 1

    def _redeliver(self, window: int, line: bytes) -> None:
        # Clamped so that small feeds still contain their redeliveries.
        later = min(window + self._rng.randint(1, 8), self._last_window)
        if later > window:
            self._redeliveries.setdefault(later, []).append(line)

    def _specials(self, window: int, size: int, ms: int) -> list[bytes]:
        rng = self._rng
        out = [self._malformed_line(self._kinds.draw(), ms) for _ in range(self._malformed.take(size))]
        out += [rng.choice((b"", b" ", b"\t", b"   ", b" \t ")) for _ in range(self._blank.take(size))]
        if self._oversize_windows and self._oversize_windows[0] == window:
            self._oversize_windows.pop(0)
            out.append(self._oversize_line(ms))
        return out

    def _malformed_line(self, kind: str, ms: int) -> bytes:
        base, mutate = MALFORMED[kind]
        if base == "any" and self._rng.random() < 0.5:
            event = json.loads(self._noise.line(ms))
        else:
            event = self._lineage.sample_event(ms, body_may_lose_status=kind == "body_missing")
        return mutate(event, self._rng)

    def _oversize_line(self, ms: int) -> bytes:
        """A valid wiki page event whose HTML body pushes the line past 1,000,000 bytes."""
        event = json.loads(self._noise.line(ms, self._noise.entry("wiki_page_updated")))
        paragraph = "<p>" + " ".join(self._rng.choices(WORDS, k=200)) + "</p>"
        event["body"]["body"] = paragraph * (OVERSIZE_BYTES // len(paragraph) + 1)
        return dumps(event).encode()


def iter_feed_lines(events: int, seed: int) -> Iterator[bytes]:
    """Exactly `events` lines (bytes, without terminator), the same for the same (events, seed)."""
    if events < 0:
        raise ValueError(f"events must be >= 0, got {events}")
    if events:
        yield from Feed(events, seed).lines()


def write_feed(path: str, events: int, seed: int) -> int:
    r"""Write the feed to `path`; the number of lines written.

    gzip if path ends with .gz, with mtime=0 so that the bytes are deterministic;
    lines terminated by b"\n".
    """
    written = 0
    with open(path, "wb") as raw:
        # No file name or timestamp in the gzip header, so the bytes depend only on the feed;
        # level 1 because the benchmark feed is ~1.5 GB and compresses well anyway.
        gz = path.endswith(".gz")
        out = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1) if gz else raw
        try:
            batch: list[bytes] = []
            for line in iter_feed_lines(events, seed):
                batch.append(line)
                if len(batch) == 4096:
                    out.write(b"\n".join(batch) + b"\n")
                    written += len(batch)
                    batch = []
            if batch:
                out.write(b"\n".join(batch) + b"\n")
                written += len(batch)
        finally:
            if out is not raw:
                out.close()
    return written
