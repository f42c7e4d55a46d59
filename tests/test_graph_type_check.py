"""A run skips Beam's type inference of the graph; the graph itself stays type-checked here."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, TypeOptions

from pipelines.retry_lineage import build
from pipelines.retry_lineage.options import parse_options


def test_a_run_turns_beams_type_inference_off(tmp_path):
    options = parse_options(["--input", str(tmp_path / "x.jsonl"), "--output", str(tmp_path)])
    assert options.view_as(TypeOptions).pipeline_type_check is False


def test_the_batch_graph_builds_with_type_checking_on(tmp_path):
    options = PipelineOptions(
        ["--input", str(tmp_path / "x.jsonl"), "--output", str(tmp_path / "out"), "--run-id", "t"]
    )
    assert options.view_as(TypeOptions).pipeline_type_check is True
    pipeline = beam.Pipeline(runner="FnApiRunner", options=options)
    outputs = build(pipeline, options)
    assert "retries" in outputs
    # Every step's output type was inferred (the checks ran), none left unset.
    assert all(
        pcoll.element_type is not None
        for transform in pipeline.transforms_stack[0].parts
        for pcoll in transform.outputs.values()
    )
