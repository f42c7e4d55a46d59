"""Which files a run reads, and the usage errors that keep a typo from publishing empty tables."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from tests.conftest import completed, course, noise, retry
from transforms.inputs import (
    InputError,
    InputFile,
    could_read_output,
    resolve_inputs,
    resolve_pattern,
)

ROOT = Path(__file__).resolve().parent.parent
A, B = course("A"), course("B")
FEED = [completed("1", B, "2024-07-01T00:00:00Z", source_uuid=A), retry(A, B, "2024-07-02T00:00:00Z"), noise()]


def write(path: Path, lines=FEED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def cli(*args, cwd=None):
    """The real command in a process of its own: (exit code, stderr lines)."""
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return done.returncode, done.stderr.splitlines()


def error_lines(stderr_lines):
    """Stderr without the run's INFO progress records."""
    return [line for line in stderr_lines if " INFO " not in line]


def table_bytes(out: Path) -> dict:
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


# --- resolution rules, directly


def test_an_existing_file_is_read_as_itself_whatever_its_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ["events[1].jsonl", "what?.jsonl", "star*.jsonl"]:
        write(tmp_path / name)
        assert resolve_pattern(name) == [InputFile(name, (tmp_path / name).stat().st_size)]
        assert [f.path for f in resolve_pattern(str(tmp_path / name))] == [str(tmp_path / name)]


def test_relative_and_absolute_patterns_match_the_same_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ["feed1.jsonl", "feed2.jsonl", "other.txt", "sub/feed3.jsonl", "sub/deeper/feed4.jsonl"]:
        write(tmp_path / name)
    cases = {"feed*.jsonl": ["feed1.jsonl", "feed2.jsonl"], "./feed?.jsonl": ["./feed1.jsonl", "./feed2.jsonl"],
             "*/feed*.jsonl": ["sub/feed3.jsonl"], "sub/**.jsonl": ["sub/deeper/feed4.jsonl", "sub/feed3.jsonl"],
             "feed[2].jsonl": ["feed2.jsonl"]}
    for pattern, expected in cases.items():
        assert [f.path for f in resolve_pattern(pattern)] == expected, pattern
        absolute = [f.path for f in resolve_pattern(str(tmp_path / pattern.removeprefix("./")))]
        assert absolute == [str(tmp_path / path.removeprefix("./")) for path in expected], pattern


def test_absent_literal_folder_and_empty_pattern(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        resolve_inputs([str(tmp_path / "typo.jsonl")])
    with pytest.raises(InputError, match="is a folder"):
        resolve_inputs([str(tmp_path)])
    with pytest.raises(InputError, match=r"matches no file .*--allow-empty-input"):
        resolve_inputs([str(tmp_path / "*.jsonl")])
    assert resolve_inputs([str(tmp_path / "*.jsonl")], allow_empty=True) == []
    # A dated template's day is a pattern even without glob characters.
    with pytest.raises(InputError, match="matches no file"):
        resolve_inputs([str(tmp_path / "2024-07-30.jsonl")], absent_is_empty=True)
    assert resolve_inputs([str(tmp_path / "2024-07-30.jsonl")], allow_empty=True, absent_is_empty=True) == []
    with pytest.raises(InputError, match="no such file"):  # --allow-empty-input does not excuse a typo
        resolve_inputs([str(tmp_path / "typo.jsonl")], allow_empty=True)


def test_a_file_named_by_two_patterns_is_read_once(tmp_path):
    feed = write(tmp_path / "a.jsonl")
    files = resolve_inputs([str(feed), str(tmp_path / "*.jsonl")])
    assert [f.path for f in files] == [str(feed)]


def test_nothing_under_the_output_is_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "d" / "feed.jsonl")
    write(tmp_path / "d" / "out" / "notes.jsonl", [noise()])
    assert could_read_output("d/**", "d/out") == f"{tmp_path}/d/out/_SUMMARY.json"
    assert could_read_output(str(tmp_path / "d/**"), "d/out/") is not None
    assert could_read_output("d/*.jsonl", "d/out") is None
    assert could_read_output("gs://b/in/**", "gs://b/out") is None and could_read_output("gs://b/**", "gs://b/out")
    with pytest.raises(InputError, match="could read the output"):
        resolve_inputs(["d/**"], output="d/out")
    with pytest.raises(InputError, match="inside --output"):
        resolve_inputs(["d/*/*.jsonl"], output=str(tmp_path / "d" / "out"))
    assert [f.path for f in resolve_inputs(["d/*.jsonl"], output="d/out")] == ["d/feed.jsonl"]


# --- observation 1: a missing input never publishes empty tables over good output


@pytest.mark.slow
def test_a_missing_input_is_exit_2_and_leaves_the_output_as_it_was(tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--input", str(write(tmp_path / "feed.jsonl")), "--output", str(out)]) == 0
    before = table_bytes(out)
    code, stderr = cli("run", "--input", str(tmp_path / "typo.jsonl"), "--output", str(out))
    assert code == 2 and stderr == [f"retry-lineage: error: --input {tmp_path / 'typo.jsonl'}: no such file"]
    code, stderr = cli("run", "--input", str(tmp_path / "*.jsonl.gz"), "--output", str(out))
    assert code == 2 and len(stderr) == 1 and "matches no file" in stderr[0]
    assert table_bytes(out) == before


def test_an_absent_day_is_exit_2_unless_empty_input_is_allowed(tmp_path):
    template = str(tmp_path / "in" / "{date}.jsonl")
    write(tmp_path / "in" / "2024-07-01.jsonl")
    out = tmp_path / "out"
    assert main(["run", "--date", "2024-07-01", "--input-template", template, "--output", str(out)]) == 0
    before = table_bytes(out)
    # A backfill with an absent day fails before any day runs.
    assert main(["run", "--start", "2024-07-01", "--end", "2024-07-02", "--input-template", template,
                 "--output", str(out)]) == 2
    assert main(["run", "--date", "2024-07-02", "--input-template", template, "--output", str(out)]) == 2
    assert table_bytes(out) == before
    assert main(["run", "--date", "2024-07-02", "--input-template", template, "--output", str(out),
                 "--allow-empty-input"]) == 0
    summary = json.loads((out / "_runs" / "ingest_date=2024-07-02.json").read_text())
    assert summary["lines_read"] == 0 and summary["balanced"]
    assert pq.read_table(out / "course_lineage" / "ingest_date=2024-07-01").num_rows == 1  # day 1 kept


def test_a_wildcard_in_the_working_folder_and_bracketed_names_are_read(tmp_path):
    write(tmp_path / "feed-a.jsonl")
    write(tmp_path / "feed-b.jsonl", [noise(), noise("x")])
    write(tmp_path / "events[1]?.jsonl", [noise()] * 5)
    code, stderr = cli("run", "--input", "feed*.jsonl", "events[1]?.jsonl", "--output", "out", cwd=tmp_path)
    assert code == 0, stderr[-20:]
    assert json.loads((tmp_path / "out" / "_SUMMARY.json").read_text())["lines_read"] == 3 + 2 + 5


# --- observation 8: the output is never read as input


@pytest.mark.slow
def test_a_pattern_that_could_read_the_output_is_refused(tmp_path):
    write(tmp_path / "d" / "feed.jsonl")
    out = tmp_path / "d" / "out"
    assert main(["run", "--input", str(tmp_path / "d" / "*.jsonl"), "--output", str(out)]) == 0
    before = table_bytes(out)
    for pattern in [str(tmp_path / "d" / "**"), str(out / "_SUMMARY.json")]:
        code, stderr = cli("run", "--input", pattern, "--output", str(out))
        assert code == 2 and len(stderr) == 1 and "output" in stderr[0], stderr
    assert table_bytes(out) == before
    # Not even on the first run, before the output exists.
    assert main(["run", "--input", str(tmp_path / "d" / "**"), "--output", str(tmp_path / "d" / "new")]) == 2
    assert not (tmp_path / "d" / "new").exists()


# --- observation 11: usage errors are one line, before anything runs


@pytest.mark.slow
def test_a_folder_as_input_a_file_as_output_and_an_unwritable_output_are_one_line(tmp_path):
    feed = str(write(tmp_path / "feed.jsonl"))
    cases = {
        ("--input", str(tmp_path), "--output", str(tmp_path / "out")): "is a folder",
        ("--input", feed, "--output", feed): "is a file, not a folder",
        ("--input", feed, "--output", f"{feed}/out"): "is a file, not a folder",
        ("--input", feed, "--output", "/proc/retry-lineage-out"): "cannot write in /proc",
    }
    for args, message in cases.items():
        code, stderr = cli("run", *args)
        assert code == 2, (args, stderr)
        assert len(stderr) == 1 and message in stderr[0] and stderr[0].startswith("retry-lineage: error:"), stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, allowed", [([], False), (["--allow-empty-input"], True),
                                           (["--allow_empty_input=true"], True), (["--allow-empty-input=false"], False)])
def test_allow_empty_input_takes_an_optional_value_for_flex_templates(args, allowed):
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.retry_lineage.options import RetryLineageOptions
    from pipelines.shared_options import check_argv

    check_argv(["--input", "x", *args], "run", [RetryLineageOptions])
    assert PipelineOptions(["--input", "x", *args]).view_as(RetryLineageOptions).allow_empty_input is allowed
