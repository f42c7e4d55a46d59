"""The command-line pieces both pipelines share: one argv check, shared options, one error line."""
from __future__ import annotations

import subprocess
import sys

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.exit_codes import UsageError
from pipelines.retry_lineage.options import RetryLineageOptions
from pipelines.retry_lineage_stream import StreamOptions, check_stream_argv
from pipelines.shared_options import SharedOptions, check_argv, option_strings, validate_shared_options


def test_an_option_of_the_other_command_is_named_as_such():
    with pytest.raises(UsageError, match=r"^--allow-empty-input is an option of `retry-lineage run`; `stream` does"):
        check_stream_argv(["--output", "o", "--allow-empty-input"])


def test_batch_rejects_a_streaming_option_even_when_the_streaming_module_is_loaded():
    assert StreamOptions  # loaded: its options are registered with Beam, yet are not options of `run`
    with pytest.raises(UsageError, match=r"^unrecognized option --watch$"):
        check_argv(["--input", "x", "--output", "o", "--watch", "d/*"], "run", [RetryLineageOptions])


def test_shared_options_belong_to_neither_pipeline_class():
    shared = option_strings(SharedOptions)
    assert {"--output", "--hmac-key-file", "--parquet-codec"} <= shared
    assert not shared & option_strings(RetryLineageOptions)
    assert not shared & option_strings(StreamOptions)


@pytest.mark.parametrize("argv, message", [
    ([], "--output is required (a directory)"),
    (["--output", "o", "--parquet-codec", "lz4"], "--parquet-codec must be one of zstd, snappy, gzip, none, got 'lz4'"),
])
def test_shared_validation_is_one_function(argv, message):
    with pytest.raises(UsageError) as raised:
        validate_shared_options(PipelineOptions(argv))
    assert str(raised.value) == message


def test_the_dispatcher_and_the_exit_codes_load_no_beam():
    code = (
        "import sys, pipelines.cli, pipelines.exit_codes, pipelines.report; "
        "print('apache_beam' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr[-2000:]


def test_a_failing_stream_reports_our_input_error_as_raised_in_one_line(tmp_path, capsys, monkeypatch):
    import apache_beam as beam

    from pipelines.cli import main
    from transforms.file_ranges import UnreadableInputError

    def fail(self, *args, **kwargs):
        raise RuntimeError("wrapped") from UnreadableInputError(f"{tmp_path}/a.jsonl.gz: compressed data ends early")

    monkeypatch.setattr(beam.Pipeline, "run", fail)
    code = main(["stream", "--watch", str(tmp_path / "*.jsonl.gz"), "--output", str(tmp_path / "out"),
                 "--stop-after", "0"])
    assert code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"retry-lineage stream: pipeline failed: {tmp_path}/a.jsonl.gz: compressed data ends early "
        "(--verbose shows the traceback)"]
