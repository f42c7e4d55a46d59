"""The batch job on other runners: Dataflow (graph built offline), two local workers, portable."""

import json
import subprocess
import sys

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner

from pipelines.cli import main
from pipelines.retry_lineage import build
from tests.conftest import DATAFLOW_ARGS, no_network

# Every test here runs a whole pipeline or a subprocess: `make test-fast` leaves them out.
pytestmark = pytest.mark.slow

EXPECTED_STEPS = [
    "ReadCanvasEvents",
    "NumberRetryAttempts",
    "GroupMigrations",
    "BuildIdentityMap",
    "ResolveParents",
    "BuildLineageGraph",
    "JoinRetriesToLineage",
    "WriteRetries",
    "WriteCourseLineage",
    "WriteDeadLetter",
    "SummarizeRun",
    "PublishRun",
]


def dataflow_step_names(*job_args: str) -> set[str]:
    """Unique names of every transform in the Dataflow job graph, built offline."""
    options = PipelineOptions(
        [*DATAFLOW_ARGS, "--output", "gs://example-bucket/out", "--run-id", "graph", *job_args]
    )
    runner = DataflowRunner()
    pipeline = beam.Pipeline(runner=runner, options=options)
    build(pipeline, options)
    pipeline.run()
    return {
        transform.unique_name for transform in runner.proto_pipeline.components.transforms.values()
    }


def test_dataflow_job_graph_builds_offline_with_every_step():
    names = dataflow_step_names("--input", "gs://example-bucket/in/*.jsonl")
    for step in EXPECTED_STEPS:
        assert step in names, step
    assert "ReadLineageHistory" not in names


def test_dated_dataflow_job_reads_lineage_history():
    names = dataflow_step_names(
        "--date", "2024-07-30", "--input-template", "gs://example-bucket/in/{date}/*.jsonl"
    )
    assert "ReadLineageHistory" in names and "PublishRun" in names


def test_cli_dry_run_needs_no_network():
    command = no_network(
        [
            sys.executable,
            "-m",
            "pipelines.retry_lineage",
            "run",
            *DATAFLOW_ARGS,
            "--input",
            "gs://example-bucket/in/*.jsonl",
            "--output",
            "gs://example-bucket/out",
        ]
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "dry run" in done.stderr


def table_contents(out):
    summary = json.loads((out / "_SUMMARY.json").read_text())
    retries = sorted(
        json.dumps(row, default=str, sort_keys=True)
        for row in pq.read_table(out / "retries").drop(["event_date"]).to_pylist()
    )
    lineage = sorted(
        json.dumps(row, default=str, sort_keys=True)
        for row in pq.read_table(out / "course_lineage").to_pylist()
    )
    dead = sorted(
        (row["source_offset"], row["error_code"], row["raw"])
        for row in pq.read_table(out / "dead_letter").to_pylist()
    )
    return summary, retries, lineage, dead


@pytest.fixture(scope="module")
def feed_and_reference(tmp_path_factory):
    from pipelines.synthetic_feed import write_feed

    folder = tmp_path_factory.mktemp("runners")
    feed = folder / "feed.jsonl"
    write_feed(str(feed), 6_000, 21)
    reference = folder / "reference"
    assert main(["run", "--input", str(feed), "--output", str(reference)]) == 0
    return feed, table_contents(reference)


@pytest.mark.parametrize(
    "runner_args",
    [
        ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
        ["--direct_running_mode=multi_threading", "--direct_num_workers=2"],
        ["--runner", "PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"],
    ],
    ids=["multi_processing", "multi_threading", "portable_loopback"],
)
def test_other_local_runners_give_the_in_memory_output(tmp_path, feed_and_reference, runner_args):
    feed, reference = feed_and_reference
    out = tmp_path / "out"
    assert main(["run", "--input", str(feed), "--output", str(out), *runner_args]) == 0
    contents = table_contents(out)
    assert contents[0]["balanced"] and contents[0]["outputs_complete"]
    assert contents == reference
