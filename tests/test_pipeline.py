"""The batch pipeline graph on the in-process FnApiRunner, checked with assert_that."""

import json

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.retry_lineage import build
from tests.conftest import CANVAS_EXAMPLES, completed, course, noise, retry, started
from transforms.tables import RetryRow

# Every test here runs a whole pipeline or a subprocess: `make test-fast` leaves them out.
pytestmark = pytest.mark.slow

R, A, B, X, Y = (course(name) for name in "RABXY")


def run_build(tmp_path, lines: list[bytes], checks, extra_args=()):
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\n".join(lines) + b"\n")
    options = PipelineOptions(
        ["--input", str(feed), "--output", str(tmp_path / "out"), "--run-id", "test", *extra_args]
    )
    with BeamTestPipeline(runner="FnApiRunner", options=options) as p:
        outputs = build(p, options)
        # The job carries retries rows as lists of plain tuples; the checks read rows.
        outputs["retries"] = outputs["retries"] | "RetryRows" >> beam.FlatMap(
            lambda rows: [RetryRow._make(row) for row in rows]
        )
        checks(outputs)


FEED = [
    completed("1", A, "2024-07-01T00:00:00Z", source_uuid=R, child_lti="lti-A"),
    # B's parent is only known by LTI id; the started event tells which course that is.
    started(
        "2", B, "2024-07-02T00:00:00+02:00", source_uuid=A, source_lti="lti-A", child_lti="lti-B"
    ),
    completed("2", B, "2024-07-02T00:00:01+02:00", source_lti="lti-A", child_lti="lti-B"),
    retry(A, B, "2024-07-03 00:00:00 -0800", assignment_link="link-1"),
    retry(A, B, "2024-07-04T00:00:00Z", assignment_link="link-1"),
    retry(A, B, "2024-07-04T00:00:00Z", assignment_link="link-1"),  # exact duplicate delivery
    retry(R, B, "2024-07-05T00:00:00Z", assignment_link="link-2"),
    retry(X, Y, "2024-07-05T00:00:00Z", assignment_link=None),
    retry(X, X, "2024-07-05T00:00:00Z", assignment_link="link-9"),
    noise(),
    noise("logged_in"),
    b"",
    b"{not json",
]


def test_retries_get_status_path_and_attempts(tmp_path):
    def checks(outputs):
        rows = outputs["retries"] | beam.Map(
            lambda row: (
                row.original_course_uuid[0],
                row.new_course_uuid[0],
                row.lineage_status,
                row.migration_id,
                "".join(course_uuid[0] for course_uuid in row.lineage_path),
                row.attempt_number,
                row.attempt_count,
            )
        )
        assert_that(
            rows,
            equal_to(
                [
                    ("A", "B", "matched", "2", "RAB", 1, 2),
                    ("A", "B", "matched", "2", "RAB", 2, 2),
                    ("R", "B", "source_mismatch", "2", "RB", 1, 1),
                    ("X", "Y", "no_migration", None, "XY", None, None),
                    ("X", "X", "same_course", None, "X", 1, 1),
                ]
            ),
            label="RetryRows",
        )

    run_build(tmp_path, FEED, checks)


def test_course_lineage_resolves_parent_through_identity_map(tmp_path):
    def checks(outputs):
        rows = outputs["course_lineage"] | beam.Map(
            lambda row: (
                row.content_migration_id,
                row.child_course_uuid[0],
                row.parent_course_uuid and row.parent_course_uuid[0],
            )
        )
        assert_that(rows, equal_to([("1", "A", "R"), ("2", "B", "A")]), label="LineageRows")

    run_build(tmp_path, FEED, checks)


def test_summary_accounts_for_every_line(tmp_path):
    def checks(outputs):
        def summary_facts(summary):
            return (
                summary["lines_read"],
                summary["blank_lines"],
                summary["dead_lettered"],
                summary["skipped"],
                summary["duplicates"],
                summary["accepted"],
                summary["retries_written"],
                summary["lineage_edges_written"],
                summary["lineage_status"],
                summary["balanced"],
                summary["outputs_complete"],
                summary["pseudonymization"],
            )

        assert_that(
            outputs["summary"] | beam.Map(summary_facts),
            equal_to(
                [
                    (
                        13,
                        1,
                        1,
                        2,
                        1,
                        {
                            "retry": 5,
                            "content_migration_completed": 2,
                            "content_migration_started": 1,
                            "assignment_state": 0,
                        },
                        5,
                        2,
                        {"same_course": 1, "matched": 2, "source_mismatch": 1, "no_migration": 1},
                        True,
                        True,
                        "disabled",
                    )
                ]
            ),
            label="Summary",
        )

    run_build(tmp_path, FEED, checks)


def test_dead_letters_keep_raw_bytes_and_offsets(tmp_path):
    bad = [noise(), b"\xff\xfe", b"[1, 2]", b'{"metadata": {"event_name": 7}}']

    def checks(outputs):
        rows = outputs["dead_letter"] | beam.FlatMap(
            lambda group: [(r.error_code, r.source_offset, r.raw) for r in group]
        )
        first = len(bad[0]) + 1
        assert_that(
            rows,
            equal_to(
                [
                    ("invalid_encoding", first, b"\xff\xfe"),
                    ("invalid_envelope", first + 3, b"[1, 2]"),
                    ("missing_event_name", first + 10, b'{"metadata": {"event_name": 7}}'),
                ]
            ),
        )

    run_build(tmp_path, bad, checks)


def test_hmac_key_from_environment_pseudonymizes_actor(tmp_path, monkeypatch):
    monkeypatch.setenv("RETRY_LINEAGE_HMAC_KEY", "secret")

    def checks(outputs):
        hmacs = outputs["retries"] | beam.Map(
            lambda row: row.actor_user_hmac is not None and len(row.actor_user_hmac) == 64
        )
        assert_that(hmacs, equal_to([True]), label="Hmac")
        assert_that(
            outputs["summary"] | beam.Map(lambda s: s["pseudonymization"]),
            equal_to(["hmac-sha256"]),
            label="Mode",
        )

    run_build(tmp_path, [retry(A, B, "2024-07-03T00:00:00Z")], checks)


def test_canvas_documentation_examples_go_through_as_the_contract_says(tmp_path):
    examples = CANVAS_EXAMPLES
    names = sorted(path.name for path in examples.glob("*.json"))
    assert names == [
        "assignment_created.json",
        "assignment_updated.json",
        "content_migration_completed.json",
        "content_migration_started.json",
        "course_created.json",
        "outcomes.retry_outcome_alignment_clone.json",
    ]
    lines = [json.dumps(json.loads((examples / name).read_text())).encode() for name in names]

    def checks(outputs):
        assert_that(
            outputs["retries"]
            | beam.Map(
                lambda row: (
                    row.original_course_uuid,
                    row.new_course_uuid,
                    row.lineage_status,
                    row.lineage_path,
                    row.original_course_id,
                    row.original_assignment_id,
                    row.new_course_id,
                    row.new_assignment_id,
                    row.status,
                    row.domain,
                )
            ),
            equal_to(
                [
                    (
                        "RuBP4jfbRXyaG6LpOFW70jkZyFmj5beZxeGO5bMB",
                        "fFFdVF27nlchmL1IZgfJRqV8FxPkNQxwdLu7dWNv",
                        "no_migration",
                        [
                            "RuBP4jfbRXyaG6LpOFW70jkZyFmj5beZxeGO5bMB",
                            "fFFdVF27nlchmL1IZgfJRqV8FxPkNQxwdLu7dWNv",
                        ],
                        "1",
                        "2",
                        "2",
                        "3",
                        "outcome_alignment_cloning",
                        "canvas.docker",
                    )
                ]
            ),
            label="Retry",
        )
        # The completed example has only the source's LTI id; the started one says which course it
        # is.
        assert_that(
            outputs["course_lineage"]
            | beam.Map(
                lambda row: (
                    row.content_migration_id,
                    row.child_course_uuid,
                    row.parent_course_uuid,
                    row.parent_lti_context_id,
                    row.child_lti_context_id,
                    row.migration_type,
                )
            ),
            equal_to(
                [
                    (
                        "21070000000000072",
                        "Uc69p8GCYLMYWQJqkyzQGqg1kNMXbmnRl8qdCJge",
                        "Wd58q9HDZMNZXRKrlzaRHrh2lONYcnoSm9rePDkh",
                        "38ab9de0f0bc8e8e0889432275420de08f0d8380",
                        "694d2e30346f6a94ad20cea11ce78d19bd849c9c",
                        "course_copy_importer",
                    )
                ]
            ),
            label="Lineage",
        )
        assert_that(
            outputs["summary"]
            | beam.Map(lambda s: (s["skipped_by_event_name"], s["accepted"], s["balanced"])),
            equal_to(
                [
                    (
                        {"course_created": 1},
                        {
                            "retry": 1,
                            "content_migration_completed": 1,
                            "content_migration_started": 1,
                            "assignment_state": 2,
                        },
                        True,
                    )
                ]
            ),
            label="Summary",
        )

    run_build(tmp_path, lines, checks)


def test_counters_are_exported_as_beam_metrics(tmp_path):
    from apache_beam.metrics.metric import MetricsFilter

    from transforms.counters import METRICS_NAMESPACE

    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"\n".join(FEED) + b"\n")
    options = PipelineOptions(
        ["--input", str(feed), "--output", str(tmp_path / "out"), "--run-id", "m"]
    )
    pipeline = beam.Pipeline(runner="FnApiRunner", options=options)
    build(pipeline, options)
    result = pipeline.run()
    result.wait_until_finish()
    counters = {
        counter.key.metric.name: counter.committed
        for counter in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))[
            "counters"
        ]
    }
    assert counters["lines_read"] == 13
    assert counters["blank_lines"] == 1
    assert counters["duplicates"] == 1
    assert counters["accepted.retry"] == 5
    assert counters["lineage_status.matched"] == 2
    assert counters["dead_letter_by_code.invalid_json"] == 1
    assert counters["retries_written"] == 5


def test_classification_reports_progress(tmp_path, caplog, monkeypatch):
    import logging

    from transforms.read_canvas_events import ClassifyFileRange

    monkeypatch.setattr(ClassifyFileRange, "PROGRESS_SECONDS", 0.0)
    caplog.set_level(logging.INFO, logger="transforms.read_canvas_events")
    run_build(tmp_path, FEED, lambda outputs: None, ["--parse-processes", "1"])
    progress = [
        record.getMessage()
        for record in caplog.records
        if record.name == "transforms.read_canvas_events"
    ]
    assert progress and progress[-1].startswith("classified 13 lines (")


def test_a_conflicting_lti_id_resolves_to_nothing_and_is_counted(tmp_path):
    conflicting = [
        completed("1", A, "2024-07-01T00:00:00Z", source_uuid=R, child_lti="lti-shared"),
        completed(
            "2", B, "2024-07-01T01:00:00Z", source_uuid=R, child_lti="lti-shared"
        ),  # same LTI id, other course
        completed("3", X, "2024-07-02T00:00:00Z", source_lti="lti-shared"),
    ]

    def checks(outputs):
        parents = outputs["course_lineage"] | beam.Map(
            lambda row: (row.content_migration_id, row.parent_course_uuid)
        )
        assert_that(parents, equal_to([("1", R), ("2", R), ("3", None)]), label="Parents")
        assert_that(
            outputs["summary"] | beam.Map(lambda s: s["identity_conflicts"]),
            equal_to([1]),
            label="Conflicts",
        )

    run_build(tmp_path, conflicting, checks)
