"""Malformed lines: one mutation per dead-letter reason, applied to a valid event."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from pipelines.synthetic_feed.primitives import COMPLETED, QUIZ_DUP, RETRY, SPAN_MS, STARTED, START_MS, dumps

REQUIRED_BODY_KEY = {
    RETRY: "new_course_uuid", QUIZ_DUP: "new_course_uuid", STARTED: "context_uuid", COMPLETED: "context_uuid",
}


def insert_in_string(line: bytes, junk: bytes) -> bytes:
    """``line`` with ``junk`` inserted inside a JSON string value."""
    marker = b'"root_account_lti_guid":"'
    at = line.index(marker) + len(marker)
    return line[:at] + junk + line[at:]


def truncate(event: dict, rng: random.Random) -> bytes:
    """The event's JSON cut short at a random point."""
    text = dumps(event)  # cut the str, not the bytes, so the prefix is still valid UTF-8
    return text[: rng.randrange(len(text) // 3, len(text) - 1)].encode()


def set_field(section: str, key: str, value) -> Callable[[dict, random.Random], bytes]:
    """A mutation that sets ``section.key`` to ``value`` (or to ``value(event, rng)``)."""
    def mutate(event: dict, rng: random.Random) -> bytes:
        event[section][key] = value(event, rng) if callable(value) else value
        return dumps(event).encode()
    return mutate


def drop_field(section: str | None, key: str | None = None) -> Callable[[dict, random.Random], bytes]:
    """A mutation that removes ``section.key``, or the top-level ``section``."""
    def mutate(event: dict, rng: random.Random) -> bytes:
        if section is None:
            del event[key]
        else:
            event[section].pop(key or REQUIRED_BODY_KEY[event["metadata"]["event_name"]], None)
        return dumps(event).encode()
    return mutate


def replace_required(value) -> Callable[[dict, random.Random], bytes]:
    """A mutation that replaces the event's required body field with ``value``."""
    def mutate(event: dict, rng: random.Random) -> bytes:
        key = REQUIRED_BODY_KEY[event["metadata"]["event_name"]]
        event["body"][key] = value(event["body"][key]) if callable(value) else value
        return dumps(event).encode()
    return mutate


def no_offset(event: dict, rng: random.Random) -> str:
    """A timestamp in the feed's span without a UTC offset."""
    return "%04d-%02d-%02dT%02d:%02d:%02d" % time.gmtime(START_MS // 1000 + rng.randrange(SPAN_MS // 1000))[:6]


# kind -> (base: "any" | "routed", mutation). Every kind is a distinct dead-letter reason.
MALFORMED: dict[str, tuple[str, Callable[[dict, random.Random], bytes]]] = {
    "utf8_bad_bytes": ("any", lambda e, rng: insert_in_string(dumps(e).encode(), b"\xff\xfe")),
    "utf8_latin1": ("any", lambda e, rng: insert_in_string(dumps(e).encode(), b"Caf\xe9 ")),
    "utf8_cut_sequence": ("any", lambda e, rng: insert_in_string(dumps(e).encode(), b"\xe2\x82")),
    "json_truncated": ("any", truncate),
    "json_nan": ("any", set_field("body", "points_possible", float("nan"))),
    "json_lone_surrogate": ("any", lambda e, rng: dumps(
        {**e, "body": {**e["body"], "domain": "caf\ud800"}}, ascii_only=True).encode()),
    "envelope_array": ("any", lambda e, rng: ("[" + dumps(e) + "]").encode()),
    "envelope_scalar": ("any", lambda e, rng: dumps(e["metadata"]["event_name"]).encode()),
    "metadata_missing": ("any", drop_field(None, "metadata")),
    "metadata_not_object": ("any", lambda e, rng: dumps(
        {**e, "metadata": rng.choice((None, dumps(e["metadata"]), list(e["metadata"].values())))}).encode()),
    "event_name_missing": ("any", drop_field("metadata", "event_name")),
    "event_name_null": ("any", set_field("metadata", "event_name", None)),
    "event_name_empty": ("any", set_field("metadata", "event_name", "")),
    "event_name_int": ("any", set_field("metadata", "event_name", 42)),
    "event_time_missing": ("routed", drop_field("metadata", "event_time")),
    "event_time_garbage": ("routed", set_field("metadata", "event_time", lambda e, rng: rng.choice(
        ("not a time", "", "2024-07-32T25:61:00Z", 1722366275872)))),
    "event_time_no_offset": ("routed", set_field("metadata", "event_time", no_offset)),
    "body_missing": ("routed", drop_field(None, "body")),
    "body_required_missing": ("routed", drop_field("body")),
    "body_required_empty": ("routed", replace_required("")),
    "body_wrong_type": ("routed", replace_required(lambda v: [v])),
}
