"""Building blocks of the generator.

The feed's time span and event names, compact JSON, Canvas ids, the timestamp
forms producers write, and drift-free random draws.
"""

from __future__ import annotations

import calendar
import json
import random
import time

START_MS = calendar.timegm((2024, 7, 28, 0, 0, 0)) * 1000
SPAN_MS = 5 * 86_400_000

RETRY = "outcomes.retry_outcome_alignment_clone"
QUIZ_DUP = "quizzes_next_quiz_duplicated"
CLONING = "outcome_alignment_cloning"
STARTED = "content_migration_started"
COMPLETED = "content_migration_completed"

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
MINUTE_MS, HOUR_MS = 60_000, 3_600_000


def dumps(obj: object, *, ascii_only: bool = False) -> str:
    """Compact JSON, as producers write it."""
    return json.dumps(obj, ensure_ascii=ascii_only, separators=(",", ":"))


def fragment(pairs: dict, keep_nulls: bool) -> str:
    """Comma-joined ``"key":value`` members, ready to splice into a JSON object."""
    return dumps({k: v for k, v in pairs.items() if keep_nulls or v is not None})[1:-1]


def canvas_global_id(shard: int, local: int) -> str:
    """Canvas global id: 4-digit shard followed by the 13-digit local id."""
    return "%d%013d" % (shard, local)


# Timestamp forms seen from different producers; the weights favour the canonical one.
Z_MS, COLON, SPACE, NANO, COMPACT, Z_SEC, MICRO = range(7)
TIME_STYLE_WEIGHTS = {Z_MS: 60, COLON: 12, SPACE: 7, NANO: 5, COMPACT: 8, Z_SEC: 4, MICRO: 4}
TIME_STYLES = [s for s, w in TIME_STYLE_WEIGHTS.items() for _ in range(w)]


def format_time(ms: int, style: int, offset_min: int, sub_ms: int = 0) -> str:
    """ISO 8601 text for the instant ``ms`` (epoch milliseconds) in one of the feed's forms.

    ``offset_min`` is ignored by the UTC ("Z") forms; ``sub_ms`` supplies the extra
    fraction digits of the micro/nanosecond forms.
    """
    sec, milli = divmod(ms, 1000)
    if style in (Z_MS, NANO, Z_SEC, MICRO):
        offset_min = 0
    base = "%04d-%02d-%02dT%02d:%02d:%02d" % time.gmtime(sec + offset_min * 60)[:6]
    if style == Z_MS:
        return "%s.%03dZ" % (base, milli)
    if style == NANO:
        return "%s.%03d%06dZ" % (base, milli, sub_ms % 1_000_000)
    if style == MICRO:
        return "%s.%03d%03dZ" % (base, milli, sub_ms % 1000)
    if style == Z_SEC:
        return base + "Z"
    sign = "-" if offset_min < 0 else "+"
    hours, minutes = divmod(abs(offset_min), 60)
    if style == COLON:
        return "%s.%03d%s%02d:%02d" % (base, milli, sign, hours, minutes)
    if style == COMPACT:
        return "%s.%03d%s%02d%02d" % (base, milli, sign, hours, minutes)
    return "%s %s%02d%02d" % (base.replace("T", " "), sign, hours, minutes)  # SPACE


class Quota:
    """Turns a rate into whole counts without drift: rare features still appear in small feeds."""

    def __init__(self, rate: float, rng: random.Random) -> None:
        self._rate = rate
        self._acc = rng.random()

    def take(self, n: int = 1) -> int:
        self._acc += n * self._rate
        whole = int(self._acc)
        self._acc -= whole
        return whole


class Deck:
    """Draws weighted items from reshuffled decks: every item appears once per deck."""

    def __init__(self, rng: random.Random, weights: dict) -> None:
        self._rng = rng
        self._cards = [item for item, weight in weights.items() for _ in range(weight)]
        self._hand: list = []

    def draw(self):
        if not self._hand:
            self._hand = self._cards[:]
            self._rng.shuffle(self._hand)
        return self._hand.pop()


def alnum40(rng: random.Random) -> str:
    """40 random letters and digits."""
    return "".join(rng.choices(ALNUM, k=40))


def hex40(rng: random.Random) -> str:
    """40 random hex digits."""
    return "%040x" % rng.getrandbits(160)


def hex32(rng: random.Random) -> str:
    """32 random hex digits."""
    return "%032x" % rng.getrandbits(128)


def uuid4(rng: random.Random) -> str:
    """A random version-4 UUID drawn from ``rng`` (reproducible)."""
    h = "%032x" % rng.getrandbits(128)
    return "%s-%s-4%s-%x%s-%s" % (h[:8], h[8:12], h[13:16], 8 | int(h[16], 16) & 3, h[17:20], h[20:])
