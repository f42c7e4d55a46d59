"""Shared test data, builders and fixtures: the one place tests take them from.

Test modules import what they need from here (``from tests.conftest import retry``)
and never from one another.

* Canvas-format lines (bytes, as they arrive in a feed): :func:`line` builds any
  event from keyword arguments; :func:`retry`, :func:`completed`, :func:`started`
  and :func:`noise` are its routed and skipped shapes, with realistic request
  metadata (PII included, to prove it never reaches the tables).
* Accepted events (the NamedTuples the pipeline passes between steps):
  :func:`retry_event` and :func:`migration_event`, every optional field null
  unless given.
* Offline runners: :data:`DATAFLOW_ARGS` builds a Dataflow job graph without a
  project, :func:`no_network` runs a command without a network where the machine
  allows it.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from transforms.events import MIGRATION_COMPLETED, RETRY_EVENT, MigrationEvent, RetryEvent

# The Canvas documentation's example payloads, copied into the repository (see PROVENANCE.md there).
CANVAS_EXAMPLES = Path(__file__).resolve().parent / "data" / "canvas-examples"

# --- Canvas-format lines --------------------------------------------------------------------------

ROOT_ACCOUNT = "8H3aGjEatiLI42zzV0ly8t5UGQAxYfvrI3MDlrCx"
EVENT_TIME = "2024-07-30T19:04:35.872Z"
PII_METADATA = {
    "user_login": "teacher@example.edu",
    "user_sis_id": "SIS-12345",
    "client_ip": "203.0.113.7",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) PII-AGENT",
    "session_id": "5e55i0n5e55i0n5e55i0n5e55i0n5e5",
    "referrer": "https://canvas.example.edu/courses/9/assignments?pii-referrer",
}


def course(name: str) -> str:
    """A 40-character course uuid derived from a short name."""
    return (name * 40)[:40]


def line(event_name: str, body, event_time: str = EVENT_TIME, **metadata) -> bytes:
    """One Canvas event line: ``metadata`` (with producer and root account) and ``body``."""
    meta = {"event_name": event_name, "event_time": event_time, "producer": "canvas",
            "root_account_uuid": ROOT_ACCOUNT, **metadata}
    return json.dumps({"metadata": meta, "body": body}).encode("utf-8")


def retry(source: str, target: str, event_time: str, assignment_link: str | None = "link-1",
          user_id: str | None = "10000000000001", url: str | None = None, **body) -> bytes:
    """An ``outcomes.retry_outcome_alignment_clone`` line from course ``source`` to ``target``."""
    return line(
        RETRY_EVENT,
        {"original_course_uuid": source, "new_course_uuid": target,
         "new_course_resource_link_id": "lti-" + target[:8], "domain": "canvas.example.edu",
         "original_assignment_resource_link_id": "orig-link",
         "new_assignment_resource_link_id": assignment_link, "status": "outcome_alignment_cloning", **body},
        event_time,
        user_id=user_id,
        url=url or ("https://canvas.example.edu/api/v1/courses/1/assignments/2/retry_alignment_clone"
                    "?target_assignment_id=3&target_course_id=2"),
        context_role="TeacherEnrollment",
        request_id="req-1",
        **PII_METADATA,
    )


def completed(migration_id: str, child: str, event_time: str, source_uuid: str | None = None,
              source_lti: str | None = None, child_lti: str | None = None,
              migration_type: str = "course_copy_importer", event_name: str = MIGRATION_COMPLETED,
              **body) -> bytes:
    """A ``content_migration_completed`` line: ``child`` copied from ``source_uuid``/``_lti``."""
    fields = {"content_migration_id": migration_id, "context_id": "21070000000008972", "context_type": "Course",
              "context_uuid": child, "lti_context_id": child_lti, "source_course_lti_id": source_lti,
              "destination_course_lti_id": child_lti, "migration_type": migration_type,
              "domain": "canvas.example.edu", **body}
    if source_uuid is not None:
        fields["source_course_uuid"] = source_uuid
    return line(event_name, fields, event_time, **PII_METADATA)


def started(migration_id: str, child: str, event_time: str, source_uuid: str, source_lti: str,
            child_lti: str | None = None) -> bytes:
    """A ``content_migration_started`` line, which carries the source's uuid and LTI id."""
    return completed(migration_id, child, event_time, source_uuid, source_lti, child_lti,
                     event_name="content_migration_started")


def noise(event_name: str = "asset_accessed", **body) -> bytes:
    """A line of an event the pipeline skips."""
    return line(event_name, {"asset_id": "1", **body}, **PII_METADATA, url="https://canvas.example.edu/x")


# --- a multi-day feed -----------------------------------------------------------------------------

DAYS = ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-04"]


def forest_feed(trees: int) -> dict[str, list[bytes]]:
    """Copy chains R -> A -> B -> C growing one level a day, retries along them.

    Every migration arrives no later than the retries that should see it, and
    every identity pair no later than the migration whose parent it resolves,
    so running day by day must give the answers of one run over all days.
    """
    feed = {day: [] for day in DAYS}
    for tree in range(trees):
        r, a, b, c = (course(f"{tree}{level}") for level in "RABC")
        mid = 1000 * tree
        d1, d2, d3, d4 = DAYS
        feed[d1] += [
            completed(str(mid + 1), a, f"{d1}T01:00:00Z", source_uuid=r, child_lti=f"lti-a{tree}"),
            started(str(mid + 2), b, f"{d1}T02:00:00Z", source_uuid=a, source_lti=f"lti-a{tree}", child_lti=f"lti-b{tree}"),
            retry(r, a, f"{d1}T05:00:00+02:00", assignment_link=f"x{tree}"),
        ]
        feed[d2] += [
            # Only the LTI id of the source: the identity pair came on day 1.
            completed(str(mid + 2), b, f"{d2}T01:00:00Z", source_lti=f"lti-a{tree}", child_lti=f"lti-b{tree}"),
            retry(a, b, f"{d2}T09:00:00Z", assignment_link=f"y{tree}"),
            retry(r, b, f"{d2}T10:00:00Z", assignment_link=f"y{tree}"),
        ]
        feed[d3] += [
            completed(str(mid + 3), c, f"{d3}T01:00:00Z", source_uuid=b, child_lti=f"lti-c{tree}"),
            retry(b, c, f"{d3} 07:00:00 -0100", assignment_link=f"z{tree}"),
            retry(c, c, f"{d3}T23:00:00Z", assignment_link=f"z{tree}"),
        ]
        feed[d4] += [retry(b, c, f"{d4}T00:30:00Z", assignment_link=f"z{tree}"),
                     retry(course(f"{tree}X"), course(f"{tree}Y"), f"{d4}T03:00:00Z")]
    return feed


# --- accepted events ------------------------------------------------------------------------------

def retry_event(source: str = "S", target: str = "T", t: int = 1_700_000_000_000_000, *, fp: str | None = None,
                **fields) -> RetryEvent:
    """A RetryEvent at ``t`` (epoch microseconds) with every optional field null unless given."""
    values = dict.fromkeys(RetryEvent._fields)
    values.update(event_fingerprint=fp or f"fp-retry-{source}-{target}-{t}", source_event_name=RETRY_EVENT,
                  event_time=t, original_course_uuid=source, new_course_uuid=target)
    values.update(fields)
    return RetryEvent(**values)


def migration_event(mid: str = "1", child: str = "C", t: int = 1_700_000_000_000_000, *, fp: str | None = None,
                    event_name: str = MIGRATION_COMPLETED, **fields) -> MigrationEvent:
    """A MigrationEvent (completed by default) with every optional field null unless given."""
    values = dict.fromkeys(MigrationEvent._fields)
    values.update(event_fingerprint=fp or f"fp-mig-{mid}-{t}", event_name=event_name, event_time=t,
                  content_migration_id=mid, context_uuid=child)
    values.update(fields)
    return MigrationEvent(**values)


# --- offline runners ------------------------------------------------------------------------------

DATAFLOW_ARGS = ["--runner", "DataflowRunner", "--dry_run=True", "--project", "example-project",
                 "--region", "us-central1", "--temp_location", "gs://example-bucket/tmp"]


def no_network(command: list[str]) -> list[str]:
    """The command in a network namespace of its own where this machine allows one."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n", *command]
    return command


def run_stream_pipeline(out: Path, test_stream) -> None:
    """Run the streaming job on a ``TestStream`` into ``out`` (BundleBasedDirectRunner)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from pipelines.retry_lineage_stream import build

    options = PipelineOptions(["--runner", "BundleBasedDirectRunner", "--output", str(out), "--summary-seconds", "60"])
    options.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=options) as p:
        build(p, options, lines=p | test_stream)
