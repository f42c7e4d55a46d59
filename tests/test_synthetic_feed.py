"""Tests for the synthetic Canvas Live Events feed generator (offline, a few seconds)."""

from __future__ import annotations

import collections
import gzip
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.synthetic_feed import iter_feed_lines, write_feed

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = "samples/canvas-live-events-sample.jsonl.gz"

EVENTS = 20_000
SEED = 11

RETRY = "outcomes.retry_outcome_alignment_clone"
QUIZ_DUP = "quizzes_next_quiz_duplicated"
MIGRATIONS = ("content_migration_started", "content_migration_completed")
ROUTED_NAMES = (RETRY, QUIZ_DUP, *MIGRATIONS)
REQUIRED = {RETRY: "new_course_uuid", QUIZ_DUP: "new_course_uuid"} | dict.fromkeys(MIGRATIONS, "context_uuid")
RETRY_URL_RE = re.compile(r"/api/v1/courses/\d+/assignments/\d+/retry_alignment_clone\?target_assignment_id=\d+")
TIME_RE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d{1,9})? ?(Z|[+-]\d\d:?\d\d)")


def _reject_constant(name: str):
    raise ValueError(f"non-standard JSON constant {name}")


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _is_routed(event: dict) -> bool:
    name = event["metadata"]["event_name"]
    if name == QUIZ_DUP:
        return isinstance(event.get("body"), dict) and event["body"].get("status") == "outcome_alignment_cloning"
    return name in ROUTED_NAMES


def classify(line: bytes) -> tuple[str, dict | None]:
    """(kind, event): a dead-letter kind, "blank", or "routed"/"noise" for valid events."""
    if len(line) > 1_000_000:
        return "oversize", None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8", None
    if not text.strip():
        return "blank", None
    try:
        event = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return "invalid_json", None
    try:
        for s in _strings(event):
            s.encode("utf-8")
    except UnicodeEncodeError:
        return "invalid_json", None  # escaped lone surrogate
    if not isinstance(event, dict) or not isinstance(event.get("metadata"), dict):
        return "invalid_envelope", None
    name = event["metadata"].get("event_name")
    if not isinstance(name, str) or not name:
        return "missing_event_name", None
    if not _is_routed(event):
        return "noise", event
    event_time = event["metadata"].get("event_time")
    if not isinstance(event_time, str) or not TIME_RE.fullmatch(event_time) or event_time.startswith("2024-07-32"):
        return "invalid_event_time", None
    body = event.get("body")
    if not isinstance(body, dict) or not body.get(REQUIRED[name]) or any(isinstance(v, list) for v in body.values()):
        return "invalid_body", None
    return "routed", event


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return list(iter_feed_lines(EVENTS, SEED))


@pytest.fixture(scope="module")
def classified(lines) -> list[tuple[str, dict | None]]:
    return [classify(line) for line in lines]


def _events(classified, kind):
    return [event for k, event in classified if k == kind]


def test_deterministic_per_seed():
    assert list(iter_feed_lines(3_000, 5)) == list(iter_feed_lines(3_000, 5))
    assert list(iter_feed_lines(3_000, 5)) != list(iter_feed_lines(3_000, 6))


@pytest.mark.parametrize("events", [0, 1, 7, 50, 257, 5_001])
def test_exact_line_count(events):
    lines = list(iter_feed_lines(events, 3))
    assert len(lines) == events
    assert all(isinstance(line, bytes) and b"\n" not in line for line in lines)


def test_write_feed_plain_and_gzip_round_trip(tmp_path):
    expected = list(iter_feed_lines(2_000, 9))
    plain, packed, again = tmp_path / "feed.jsonl", tmp_path / "feed.jsonl.gz", tmp_path / "again.jsonl.gz"
    assert write_feed(str(plain), 2_000, 9) == 2_000
    assert write_feed(str(packed), 2_000, 9) == 2_000
    write_feed(str(again), 2_000, 9)
    assert plain.read_bytes() == b"".join(line + b"\n" for line in expected)
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    assert packed.read_bytes() == again.read_bytes()  # no timestamp in the gzip header


def test_make_sample_regenerates_the_committed_sample_byte_for_byte(tmp_path):
    recipe = subprocess.run(["make", "-n", "-B", "sample"], cwd=ROOT, capture_output=True, text=True, check=True)
    command = next(line for line in recipe.stdout.splitlines() if "retry-lineage generate" in line)
    argv = shlex.split(command.split("retry-lineage", 1)[1])
    output = argv.index("--output") + 1
    assert argv[output] == SAMPLE
    argv[output] = str(tmp_path / "sample.jsonl.gz")
    assert main(argv) == 0
    assert (tmp_path / "sample.jsonl.gz").read_bytes() == (ROOT / SAMPLE).read_bytes()


@pytest.mark.slow
def test_the_pipelines_never_import_the_generator():
    # It ships in the image for `retry-lineage generate` only: workers and launchers never load it.
    code = ("import sys, pipelines.cli, pipelines.retry_lineage, pipelines.retry_lineage_stream; "
            "print(sorted(name for name in sys.modules if name.startswith('pipelines.synthetic_feed')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=120)
    assert done.stdout.strip() == "[]"


def test_routed_share(classified):
    share = len(_events(classified, "routed")) / len(classified)
    assert 0.01 <= share <= 0.03, share


def test_noise_variety_and_sizes(lines, classified):
    names = collections.Counter(e["metadata"]["event_name"] for e in _events(classified, "noise"))
    assert len(names) >= 20
    assert not {"content_migration_started", "content_migration_completed", RETRY} & set(names)
    sizes = [len(line) for line, (kind, _) in zip(lines, classified, strict=True) if kind == "noise"]
    assert sum(800 <= size <= 2_000 for size in sizes) / len(sizes) > 0.8


def test_noise_carries_pii_like_metadata(classified):
    meta = next(e["metadata"] for e in _events(classified, "noise") if "user_login" in e["metadata"])
    for key in ("client_ip", "user_agent", "session_id", "request_id", "url", "hostname", "root_account_uuid", "user_id"):
        assert key in meta
    assert re.fullmatch(r"[^@\s]+@[\w.-]+", meta["user_login"])
    assert re.fullmatch(r"\d{17}", meta["user_id"])


@pytest.mark.parametrize("kind", [
    "oversize", "invalid_utf8", "invalid_json", "invalid_envelope", "missing_event_name",
    "invalid_event_time", "invalid_body", "blank",
])
def test_every_dead_letter_kind_present(classified, kind):
    assert any(k == kind for k, _ in classified)


def test_dead_letter_share_is_small(classified):
    bad = sum(k not in ("routed", "noise", "blank") for k, _ in classified)
    assert 0.001 <= bad / len(classified) <= 0.004


def test_specific_malformations_present(lines):
    assert any(b"NaN" in line and line.startswith(b"{") for line in lines)
    assert any(b"\\ud800" in line for line in lines)
    assert any(line.startswith(b"[") for line in lines)
    assert any(line.endswith(b"\r") for line in lines)


def test_both_retry_forms_and_their_bodies(classified):
    routed = _events(classified, "routed")
    form1 = [e for e in routed if e["metadata"]["event_name"] == RETRY]
    form2 = [e for e in routed if e["metadata"]["event_name"] == QUIZ_DUP]
    assert form1 and form2
    assert set(form1[0]["body"]) == {
        "original_course_uuid", "new_course_uuid", "new_course_resource_link_id", "domain",
        "original_assignment_resource_link_id", "new_assignment_resource_link_id", "status",
    }
    assert "new_assignment_resource_link_id" not in form2[0]["body"]
    for event in form1:
        meta, body = event["metadata"], event["body"]
        assert RETRY_URL_RE.search(meta["url"])
        assert re.fullmatch(r"[A-Za-z0-9]{40}", body["new_course_uuid"])
        assert re.fullmatch(r"[0-9a-f]{40}", body["new_course_resource_link_id"])
        in_course = body["original_course_uuid"] == body["new_course_uuid"]
        assert ("target_course_id=" in meta["url"]) != in_course
    assert any(e["body"]["original_course_uuid"] == e["body"]["new_course_uuid"] for e in form1)


def test_repeated_attempts_on_same_assignment(classified):
    attempts = collections.Counter(
        (e["body"]["new_course_uuid"], e["body"]["new_assignment_resource_link_id"])
        for e in _events(classified, "routed") if e["metadata"]["event_name"] == RETRY
    )
    assert max(attempts.values()) >= 2


def test_migrations_with_and_without_source(classified):
    migrations = [e for e in _events(classified, "routed") if e["metadata"]["event_name"] in MIGRATIONS]
    types = collections.Counter(e["body"]["migration_type"] for e in migrations)
    assert {"course_copy_importer", "master_course_import"} <= set(types)
    sourceless = [e for e in migrations if not e["body"].get("source_course_lti_id")]
    assert sourceless
    assert all(e["body"]["migration_type"] not in ("course_copy_importer", "master_course_import") for e in sourceless)
    assert any("source_course_lti_id" in e["body"] and e["body"]["source_course_lti_id"] is None for e in sourceless)
    assert any("source_course_lti_id" not in e["body"] for e in sourceless)
    completed_lti_only = [
        e for e in migrations if e["metadata"]["event_name"] == "content_migration_completed"
        and e["body"].get("source_course_lti_id") and "source_course_uuid" not in e["body"]
    ]
    assert completed_lti_only
    assert any(e["body"]["context_type"] == "Account" for e in migrations)
    assert all(e["metadata"]["job_id"] for e in migrations)


def test_migration_redelivered_with_other_event_time(classified):
    times = collections.defaultdict(set)
    for e in _events(classified, "routed"):
        if e["metadata"]["event_name"] == "content_migration_completed":
            times[e["body"]["content_migration_id"]].add(e["metadata"]["event_time"])
    assert any(len(t) >= 2 for t in times.values())


def test_copy_forest_has_multiple_levels(classified):
    parent = {}
    lti_to_uuid = {}
    for e in _events(classified, "routed"):
        body = e["body"]
        if e["metadata"]["event_name"] in MIGRATIONS and body["context_type"] == "Course":
            lti_to_uuid[body["lti_context_id"]] = body["context_uuid"]
            if body.get("source_course_uuid"):
                lti_to_uuid[body["source_course_lti_id"]] = body["source_course_uuid"]
    for e in _events(classified, "routed"):
        body = e["body"]
        if e["metadata"]["event_name"] in MIGRATIONS and body.get("source_course_lti_id"):
            source = lti_to_uuid.get(body["source_course_lti_id"])
            if source:
                parent[body["context_uuid"]] = source

    def depth(uuid):
        return 1 + depth(parent[uuid]) if uuid in parent else 1

    assert max(depth(u) for u in parent) >= 3
    assert len({e["metadata"]["root_account_uuid"] for e in _events(classified, "routed")}) >= 3


def test_exact_duplicates_and_disorder(lines, classified):
    counts = collections.Counter(line for line in lines if line.strip())
    assert any(n >= 2 for n in counts.values())
    duplicated_routed = [e for line, (k, e) in zip(lines, classified, strict=True) if k == "routed" and counts[line] >= 2]
    assert duplicated_routed
    times = [e["metadata"]["event_time"] for k, e in classified if k == "noise"][:2_000]
    utc = [t for t in times if t.endswith("Z") and "T" in t]
    assert utc != sorted(utc)


def test_mixed_timestamp_forms(classified):
    times = [e["metadata"]["event_time"] for k, e in classified if k in ("routed", "noise")]
    assert all(TIME_RE.fullmatch(t) for t in times)
    assert any(t.endswith("Z") for t in times)
    assert any(re.search(r"T.*[+-]\d\d:\d\d$", t) for t in times)
    assert any(re.search(r"\d \d\d:\d\d:\d\d [+-]\d{4}$", t) for t in times)
    assert any(re.search(r"\.\d{9}Z$", t) for t in times)
    assert any(t.endswith("+0530") for t in times)
    assert {t[:10] for t in times} >= {"2024-07-28", "2024-07-30", "2024-08-01"}


def test_null_values_and_dropped_null_keys(classified):
    metas = [e["metadata"] for e in _events(classified, "noise") if "user_login" in e["metadata"]]
    assert any(m.get("user_sis_id", "") is None for m in metas)
    assert any("user_sis_id" not in m for m in metas)
