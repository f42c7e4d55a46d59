"""A batch run and a streaming job never share an --output: each refuses the other's (exit 2)."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main
from tests.conftest import completed, course, noise, retry
from transforms import publish

pytestmark = pytest.mark.slow  # runs the batch CLI

A, B = course("A"), course("B")
DAY = "2024-07-01"
FEED = [completed("1", B, f"{DAY}T00:00:00Z", source_uuid=A), retry(A, B, f"{DAY}T01:00:00Z"), noise()]
ONE_PROCESS = ["--parse-processes", "1"]


def write_feed(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(item + b"\n" for item in FEED))
    return str(path)


def files_under(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*")) if path.is_file() and not path.is_symlink() and path.name != "_LOCK"}


def fake_stream_output(out: Path) -> None:
    """What `retry-lineage stream` leaves: table files written in place, `_summaries/` records."""
    (out / "_summaries").mkdir(parents=True)
    (out / "_summaries" / "summary-20240701T000000Z-0-abc.jsonl").write_text('{"lines_read": 3}\n')
    partition = out / "retries" / f"event_date={DAY}"
    partition.mkdir(parents=True)
    (partition / "part-1-1-abc.parquet").write_bytes(b"PAR1 stand-in")


def test_a_streaming_output_is_recognised_before_any_batch_layout(tmp_path):
    out = tmp_path / "out"
    assert publish.found_layout(str(out)) is None
    fake_stream_output(out)
    assert publish.found_layout(str(out)) == publish.STREAMED
    publish.check_stream_output(str(out))  # a stream may go on writing into its own output


@pytest.mark.parametrize("dated", [False, True], ids=["undated", "dated"])
def test_a_batch_run_refuses_a_streaming_output_and_leaves_it_untouched(tmp_path, capsys, dated):
    out = tmp_path / "out"
    fake_stream_output(out)
    before = files_under(out)
    feed = write_feed(tmp_path / "in" / f"{DAY}.jsonl")
    where = (["--date", DAY, "--input-template", str(tmp_path / "in" / "{date}.jsonl")] if dated
             else ["--input", feed])
    assert main(["run", *where, "--output", str(out), *ONE_PROCESS]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "streaming job's output" in err, err
    assert files_under(out) == before
    assert not (out / "_versions").exists() and not (out / "_current").exists()


def test_a_streaming_job_refuses_a_batch_output_and_leaves_it_untouched(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--input", write_feed(tmp_path / "in.jsonl"), "--output", str(out), *ONE_PROCESS]) == 0
    before = files_under(out)
    capsys.readouterr()
    (tmp_path / "watched").mkdir()
    code = main(["stream", "--watch", str(tmp_path / "watched" / "*.jsonl"), "--output", str(out),
                 "--stop-after", "0"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds a batch run's output (undated layout)" in err, err
    assert files_under(out) == before
    assert not (out / "_summaries").exists()
