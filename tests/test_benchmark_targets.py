"""The benchmark's command line, commands and target report (nothing is timed here)."""

import sys
from pathlib import Path

import pytest

from bench import benchmark
from bench.benchmark import Figures, target_report


def figures(**changes) -> Figures:
    values = {
        "events": 1_000_000,
        "runs": 3,
        "gcp": False,
        "pipeline_wall": 8.0,
        "pipeline_rss_mb": 600.0,
        "duckdb_wall": 4.0,
    }
    values.update(changes)
    return Figures(**values)


def test_ratio_at_the_limit_without_gcp_meets_the_target():
    lines, met = target_report(figures(pipeline_wall=8.0, duckdb_wall=4.0))
    assert met
    assert lines[0].startswith("ratio pipeline/duckdb 2.00 (target <= 2.0")
    assert lines[-1] == "targets met"


def test_ratio_above_two_without_gcp_is_not_met():
    lines, met = target_report(figures(pipeline_wall=8.4, duckdb_wall=4.0))
    assert not met
    assert "ratio pipeline/duckdb 2.10 (target <= 2.0" in lines[0] and "NOT met" in lines[0]
    assert lines[-1] == "targets NOT met"


def test_the_gcp_environment_has_the_looser_target():
    lines, met = target_report(figures(gcp=True, pipeline_wall=9.2, duckdb_wall=4.0))
    assert met
    assert "(target <= 2.3, the `gcp` extra installed): met" in lines[0]
    _, met = target_report(figures(gcp=True, pipeline_wall=9.3, duckdb_wall=4.0))
    assert not met


def test_rss_above_the_limit_is_not_met():
    lines, met = target_report(figures(pipeline_rss_mb=1537.0))
    assert not met
    assert "peak RSS 1,537 MB (target <= 1,536 MB): NOT met" in lines[1]


def test_scale_figures_report_both_sizes_the_wall_growth_and_rss():
    lines, met = target_report(
        figures(scale_events=10_000_000, scale_wall=84.0, scale_rss_mb=1200.0)
    )
    assert met
    text = "\n".join(lines)
    assert "1,000,000 events 8.00 s (median), 10,000,000 events 84.00 s (one run)" in text
    assert "10.50x (target <= 10.5x): met" in text
    assert "peak RSS 1,200 MB at 10,000,000 events (target <= 1,536 MB): met" in text


@pytest.mark.parametrize(
    "scale_wall, scale_rss_mb", [(84.1, 1200.0), (80.0, 1600.0)], ids=["wall", "rss"]
)
def test_scale_beyond_either_limit_is_not_met(scale_wall, scale_rss_mb):
    lines, met = target_report(
        figures(scale_events=10_000_000, scale_wall=scale_wall, scale_rss_mb=scale_rss_mb)
    )
    assert not met
    assert sum("NOT met" in line for line in lines if line.startswith("scale:")) == 1


@pytest.mark.parametrize(
    "changes", [{"runs": 2}, {"events": 200_000}], ids=["two runs", "smaller feed"]
)
def test_figures_that_are_not_a_target_measurement_never_meet_the_targets(changes):
    lines, met = target_report(figures(**changes))
    assert not met
    assert any(line.startswith("not a target measurement") for line in lines)


def test_defaults_are_three_runs_on_the_million_event_feed():
    args = benchmark.parse_args([])
    assert (args.events, args.repeat, args.python, args.scale) == (1_000_000, 3, None, False)
    assert args.scale_factor == 10


def test_python_must_be_an_executable(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        benchmark.parse_args(["--python", str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    assert "not an executable interpreter" in capsys.readouterr().err
    assert benchmark.parse_args(["--python", sys.executable]).python == sys.executable


@pytest.mark.parametrize(
    "argv", [["--repeat", "0"], ["--events", "0"], ["--stream-only", "--scale"]]
)
def test_bad_arguments_are_usage_errors(argv):
    with pytest.raises(SystemExit) as exit_info:
        benchmark.parse_args(argv)
    assert exit_info.value.code == 2


def test_another_environment_runs_this_checkouts_cli(tmp_path):
    command = benchmark.pipeline_command(tmp_path / "feed.jsonl", tmp_path / "out", "/venv/python")
    assert command[:2] == ["/venv/python", "-c"]
    assert "from pipelines.cli import main" in command[2]
    feed, out = str(tmp_path / "feed.jsonl"), str(tmp_path / "out")
    assert command[3:] == ["run", "--input", feed, "--output", out]
    default = benchmark.pipeline_command(tmp_path / "feed.jsonl", tmp_path / "out")
    assert default[0] == str(Path(sys.executable).parent / "retry-lineage")
    assert default[1:] == command[3:]


def test_the_timed_pipeline_imports_this_checkout_first(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = benchmark.checkout_env()
    assert env["PYTHONPATH"].split(":") == [str(benchmark.REPO), "/elsewhere"]
    assert benchmark.parse_args([]).code == benchmark.REPO


def test_code_must_be_a_checkout(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        benchmark.parse_args(["--code", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "not a checkout of retry-lineage" in capsys.readouterr().err
    assert benchmark.checkout_env(tmp_path)["PYTHONPATH"].split(":")[0] == str(tmp_path)


def test_the_gcp_probe_tells_environments_apart():
    # The suite's own environment has the gcp extra (the `test` extra includes it).
    assert benchmark.has_gcp_extra(sys.executable)
    assert not benchmark.has_gcp_extra(sys.executable, "no_such_module_xyz")


def test_a_feed_being_generated_is_never_generated_twice(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmark, "WORK", tmp_path)
    (tmp_path / f"feed-10-seed1-{benchmark.FEED_VERSION}.jsonl.tmp").write_bytes(b"partial")
    with pytest.raises(SystemExit, match="is being generated"):
        benchmark.feed_path(10, 1)
    assert (tmp_path / f"feed-10-seed1-{benchmark.FEED_VERSION}.jsonl.tmp").read_bytes() == (
        b"partial"
    )
