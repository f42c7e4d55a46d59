"""Deployment files: Flex Template metadata and launcher, schedules, pinned versions, SQL."""

import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.retry_lineage.checks import validate_options
from pipelines.retry_lineage.options import RetryLineageOptions
from pipelines.retry_lineage_stream import check_stream_argv
from pipelines.shared_options import check_argv
from tests.conftest import DATAFLOW_ARGS, course, no_network, retry

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def test_template_parameters_are_options_of_the_job_with_working_regexes():
    metadata = json.loads((DEPLOY / "metadata.json").read_text())
    examples = {
        "input": "gs://bucket/canvas/2024-07-30/*.jsonl.gz",
        "input_template": "gs://bucket/canvas/{date}/*.jsonl.gz",
        "date": "2024-07-30",
        "output": "gs://bucket/retry-lineage",
        "lineage_history": "gs://bucket/retry-lineage/course_lineage/ingest_date=*/*.parquet",
        "hmac_key_file": "gs://bucket/secrets/hmac.key",
        "max_dead_letter_ratio": "0.01",
        "parquet_codec": "zstd",
        "allow_empty_input": "true",
        "outcome_wait_seconds": "86400",
    }
    assert {p["name"] for p in metadata["parameters"]} == set(examples)
    for parameter in metadata["parameters"]:
        assert parameter["helpText"] and parameter["label"]
        for regex in parameter["regexes"]:
            assert re.fullmatch(regex, examples[parameter["name"]]), parameter["name"]
        # the launcher passes --name=value
        check_argv(
            [f"--{parameter['name']}={examples[parameter['name']]}"], "run", [RetryLineageOptions]
        )
    assert not any(
        re.fullmatch(r, "2024-7-30")
        for p in metadata["parameters"]
        if p["name"] == "date"
        for r in p["regexes"]
    )
    assert [p["name"] for p in metadata["parameters"] if not p.get("isOptional")] == ["output"]


@pytest.mark.slow
def test_flex_template_launcher_submits_offline_in_dry_run():
    command = no_network(
        [
            sys.executable,
            str(DEPLOY / "flex_template_main.py"),
            *DATAFLOW_ARGS,
            "--date=2024-07-30",
            "--input_template=gs://example-bucket/in/{date}/*.jsonl",
            "--output=gs://example-bucket/out",
            "--max_dead_letter_ratio=0.01",
        ]
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ingest_date=2024-07-30: dry run" in done.stderr


def test_airflow_dag_configuration_reads_without_airflow():
    spec = importlib.util.spec_from_file_location("airflow_dag", DEPLOY / "airflow_dag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.CONFIG
    metadata = json.loads((DEPLOY / "metadata.json").read_text())
    assert set(config["parameters"]) <= {p["name"] for p in metadata["parameters"]}
    assert (
        config["parameters"]["date"] == "{{ ds }}"
        and "{date}" in config["parameters"]["input_template"]
    )
    assert "ingest_date={{ ds }}.json" in config["summary_object"]
    # With every Airflow template rendered, the parameters are a valid dated run.
    rendered = {
        k: v.replace("{{ ds }}", "2024-07-30").replace("{{ var.value.retry_lineage_bucket }}", "b")
        for k, v in config["parameters"].items()
    }
    argv = [f"--{name}={value}" for name, value in rendered.items()]
    check_argv(argv, "run", [RetryLineageOptions])
    from apache_beam.options.pipeline_options import PipelineOptions

    validate_options(PipelineOptions(argv).view_as(RetryLineageOptions))


def test_crontab_example_is_a_valid_dated_run():
    lines = (DEPLOY / "crontab.example").read_text().splitlines()
    line = next(text for text in lines if "retry-lineage run" in text)
    command = line.split("retry-lineage run", 1)[1].split(">>", 1)[0]
    command = command.replace('"$(date -u -d yesterday +\\%F)"', "2024-07-30")
    argv = shlex.split(command)
    check_argv(argv, "run", [RetryLineageOptions])
    from apache_beam.options.pipeline_options import PipelineOptions

    validate_options(PipelineOptions(argv).view_as(RetryLineageOptions))


def test_one_beam_version_everywhere():
    pinned = re.search(
        r"^apache-beam==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M
    ).group(1)
    assert f"apache/beam_python3.11_sdk:{pinned}" in (ROOT / "Dockerfile").read_text()
    import apache_beam

    assert apache_beam.__version__ == pinned
    assert re.search(r"^pyarrow==", (ROOT / "requirements.txt").read_text(), re.M)


@pytest.mark.slow
def test_attempts_sql_numbers_attempts_over_all_days(tmp_path):
    a, b = course("A"), course("B")
    folder = tmp_path / "in"
    folder.mkdir()
    days = {
        "2024-07-01": ["2024-07-01T10:00:00Z", "2024-07-01T11:00:00Z"],
        "2024-07-02": ["2024-07-02T09:00:00Z"],
    }
    for day, times in days.items():
        (folder / f"{day}.jsonl").write_bytes(
            b"".join(retry(a, b, t, assignment_link="L") + b"\n" for t in times)
        )
    # A copy of day 1's first retry redelivered on day 2 counts once.
    with open(folder / "2024-07-02.jsonl", "ab") as handle:
        handle.write(retry(a, b, "2024-07-01T10:00:00Z", assignment_link="L") + b"\n")
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "--start",
                "2024-07-01",
                "--end",
                "2024-07-02",
                "--input-template",
                str(folder / "{date}.jsonl"),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    con = duckdb.connect()
    con.execute(f"SET VARIABLE retries = '{out}/retries/**/*.parquet'")
    rows = con.execute((DEPLOY / "attempts_over_all_days.sql").read_text()).fetchall()
    columns = [d[0] for d in con.description]
    got = [
        (
            str(r[columns.index("event_time")])[:16],
            r[columns.index("attempt_number_all_days")],
            r[columns.index("attempt_count_all_days")],
            r[columns.index("attempt_number")],
        )
        for r in rows
    ]
    assert got == [
        ("2024-07-01 10:00", 1, 3, 1),
        ("2024-07-01 11:00", 2, 3, 2),
        ("2024-07-02 09:00", 3, 3, 2),
    ]


def test_stream_template_parameters_are_stream_options():
    metadata = json.loads((DEPLOY / "metadata_stream.json").read_text())
    examples = {
        "input_subscription": "projects/example-project/subscriptions/canvas-events",
        "output": "gs://bucket/retry-lineage",
        "hmac_key_file": "gs://bucket/secrets/hmac.key",
        "window_seconds": "300",
        "allowed_lateness_seconds": "3600",
        "dedup_horizon_seconds": "86400",
        "lineage_wait_seconds": "600",
        "parquet_codec": "zstd",
        "state_shards": "64",
        "lineage_retention_days": "400",
    }
    assert {p["name"] for p in metadata["parameters"]} == set(examples)
    for parameter in metadata["parameters"]:
        for regex in parameter["regexes"]:
            assert re.fullmatch(regex, examples[parameter["name"]]), parameter["name"]
        check_stream_argv([f"--{parameter['name']}={examples[parameter['name']]}"])


@pytest.mark.slow
def test_stream_flex_template_launcher_submits_offline_in_dry_run():
    command = no_network(
        [
            sys.executable,
            str(DEPLOY / "flex_template_stream_main.py"),
            *DATAFLOW_ARGS,
            "--input_subscription=projects/example-project/subscriptions/canvas-events",
            "--output=gs://example-bucket/out",
            "--window_seconds=300",
        ]
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "dry run" in done.stderr
