"""Benchmark: the batch pipeline against a DuckDB SQL baseline of the same job.

    make bench        # 1,000,000 events, the environment `make run` installs (target ratio <= 2.0)
    make bench-gcp    # the same, the pipeline timed in a venv with the `gcp` extra (<= 2.3)
    make bench-scale  # also the same feed scaled to 10,000,000 events, timed once
    .venv/bin/python bench/benchmark.py --events 200000 --repeat 3
    .venv/bin/python bench/benchmark.py --python /work/venv-gcp/bin/python  # another environment
    .venv/bin/python bench/benchmark.py --stream      # adds the local streaming path (see below)
    .venv/bin/python bench/benchmark.py --stream-only # only the streaming figures
    .venv/bin/python bench/benchmark.py --report      # adds retry-lineage report

Generates the feed with the project's generator (cached in bench/work/), then in
the same run times, each in its own process, alternating, ``--repeat`` times
(default 3; the medians are reported):

* the pipeline: ``retry-lineage run`` with default options, the code of this
  checkout or of ``--code DIR`` (``PYTHONPATH`` is set to it), in the
  environment of ``--python`` (default: the interpreter running the benchmark);
* the baseline: DuckDB reads the JSON lines, keeps retries and completed
  migrations, joins each retry to the latest migration into its new course at
  or before the retry, and writes Parquet (always with the benchmark's own
  interpreter, which needs ``duckdb``).

Prints wall time, CPU seconds (user + sys of the process tree), events/s and
peak RSS (of the process tree) of each, the 1-minute load average, and the
ratio pipeline/DuckDB. Targets, judged on the 1,000,000-event feed with
medians of at least 3 runs: ratio <= 2.0 in the environment ``make run``
installs, <= 2.3 with the ``gcp`` extra installed (detected in the timed
environment); pipeline peak RSS <= 1,536 MB.

``--scale`` also times the pipeline once on the same feed scaled to 10x the
events (``--scale-factor``; generated once and cached like the feed, which for
10,000,000 events takes about 20 minutes and 13.5 GB): its wall at most
10.5x the median wall of the smaller feed, its peak RSS at most 1,536 MB.
Wall figures mean little on a busy machine; peak RSS does not depend on load.

``--stream`` also times ``retry-lineage stream --watch`` (each run in its own
process, files already in the folder, ``--stop-after 1``; the code of this
checkout or of ``--code``, with wall, CPU seconds of the process tree and peak RSS) on:

* the same feed with default options (300 s windows): events/s from start to
  exit and peak RSS (targets: >= 20,000 events/s, <= 1,536 MB);
* the same events re-timed to span 1 day and 120 days (event order kept):
  wall times within 30 % of each other;
* a 10,000-line feed spanning four months in six files, 60 s windows,
  ``--stop-after 5``: seconds from the stop to exit (target <= 30).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work"
TARGET_EVENTS = 1_000_000
MIN_REPEAT = 3
TARGET_RATIO = 2.0  # the environment `make run` installs
TARGET_RATIO_GCP = 2.3  # with the `gcp` extra installed (heavier imports)
SCALE_FACTOR = 10
TARGET_SCALE_WALL = 10.5  # the scaled feed's wall / the 1,000,000-event wall
TARGET_RSS_MB = 1536
TARGET_REPORT_S = 5.0
TARGET_STREAM_RATE = 20_000
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")

DUCKDB_BASELINE = """
import sys, duckdb
feed, out = sys.argv[1], sys.argv[2]
duckdb.sql(f'''
COPY (
  WITH events AS (
    SELECT json, json->>'$.metadata.event_name' AS event_name
    FROM read_ndjson_objects('{feed}', ignore_errors = true, maximum_object_size = 2000000)
  ),
  retries AS (
    SELECT json->>'$.body.original_course_uuid' AS original_course_uuid,
           json->>'$.body.new_course_uuid' AS new_course_uuid,
           json->>'$.body.new_assignment_resource_link_id' AS new_assignment_resource_link_id,
           try_cast(json->>'$.metadata.event_time' AS TIMESTAMPTZ) AS event_time
    FROM events
    WHERE event_name = 'outcomes.retry_outcome_alignment_clone'
       OR (event_name = 'quizzes_next_quiz_duplicated'
           AND json->>'$.body.status' = 'outcome_alignment_cloning')
  ),
  migrations AS (
    SELECT json->>'$.body.context_uuid' AS child_course_uuid,
           json->>'$.body.content_migration_id' AS migration_id,
           json->>'$.body.source_course_uuid' AS parent_course_uuid,
           json->>'$.body.migration_type' AS migration_type,
           try_cast(json->>'$.metadata.event_time' AS TIMESTAMPTZ) AS completed_at
    FROM events
    WHERE event_name = 'content_migration_completed'
  )
  SELECT r.*, m.migration_id, m.parent_course_uuid, m.migration_type,
         m.completed_at AS migration_completed_at
  FROM retries r ASOF LEFT JOIN migrations m
    ON r.new_course_uuid = m.child_course_uuid AND r.event_time >= m.completed_at
) TO '{out}' (FORMAT parquet)
''')
"""


def _tree_rss_bytes(root: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent = int(entry), int(fields[1])
        children.setdefault(parent, []).append(pid)
        rss[pid] = int(fields[21]) * PAGE_BYTES
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


@dataclass(frozen=True)
class Run:
    """One timed process: wall seconds, peak RSS of its tree (MB), CPU seconds of its tree."""

    wall: float
    rss_mb: float
    cpu: float


def timed_run(command: list[str], env: dict[str, str] | None = None) -> Run:
    """Times one command, which must succeed.

    Peak RSS is the peak of the sum over the process and its children (the
    pipeline's classifier pool included), sampled every 20 ms. CPU seconds are
    user + sys of the process and of the descendants it waited for.
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env)
    peak = 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _tree_rss_bytes(process.pid))
        time.sleep(0.02)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(command)}")
    return Run(wall, peak / 1e6, usage.ru_utime + usage.ru_stime)


def timed_process(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one command, which must succeed."""
    run = timed_run(command)
    return run.wall, run.rss_mb


def checkout_env(code: Path = REPO) -> dict[str, str]:
    """The environment of a timed pipeline: the checkout ``code`` first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(code), env.get("PYTHONPATH", "")) if part
    )
    return env


def check_code(folder: str) -> Path:
    """``--code``: a checkout of the project (it has ``pipelines/cli.py``)."""
    path = Path(folder).resolve()
    if not (path / "pipelines" / "cli.py").is_file():
        raise argparse.ArgumentTypeError(f"not a checkout of retry-lineage: {folder}")
    return path


def pipeline_command(feed: Path, out: Path, python: str | None = None) -> list[str]:
    """``retry-lineage run`` on ``feed``: this interpreter's entry point, or ``python``'s CLI."""
    args = ["run", "--input", str(feed), "--output", str(out)]
    if python is None:
        return [str(Path(sys.executable).parent / "retry-lineage"), *args]
    # Not `-m pipelines.cli`: the module would be imported twice, once as __main__.
    launch = "import sys; from pipelines.cli import main; sys.exit(main())"
    return [python, "-c", launch, *args]


GCP_PROBE = "import importlib.util, sys; sys.exit(importlib.util.find_spec('{}') is None)"
GCP_MODULE = "google.cloud.pubsub"  # installed by apache-beam[gcp], the `gcp` extra


def has_gcp_extra(python: str, module: str = GCP_MODULE) -> bool:
    """Whether the environment of ``python`` has the ``gcp`` extra (Beam's GCP clients)."""
    probe = subprocess.run(
        [python, "-c", GCP_PROBE.format(module)], capture_output=True, check=False
    )
    return probe.returncode == 0


def check_python(python: str) -> str:
    """``--python``: an interpreter that exists and can import this checkout's CLI."""
    path = shutil.which(python) or python
    if not os.access(path, os.X_OK) or os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"not an executable interpreter: {python}")
    return path


# Names the generator's output format: a feed cached by an earlier generator is not reused.
# v2: assignment state sequences around retries, background assignment events at about 1.5 %.
FEED_VERSION = "v2"


def feed_path(events: int, seed: int) -> Path:
    path = WORK / f"feed-{events}-seed{seed}-{FEED_VERSION}.jsonl"
    if not path.exists():
        if Path(str(path) + ".tmp").exists():
            # Another process is generating it; a second writer would corrupt both.
            raise SystemExit(
                f"{path.name} is being generated ({path.name}.tmp exists): wait for it, or "
                "delete the .tmp file if no generator is running"
            )
        from pipelines.synthetic_feed import write_feed

        WORK.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        write_feed(str(path) + ".tmp", events, seed)
        os.replace(str(path) + ".tmp", path)
        print(f"generated {events:,} events in {time.perf_counter() - started:.1f} s -> {path}")
    return path


_EVENT_TIME = re.compile(rb'"event_time"\s*:\s*"([^"]*)"')
GENERATOR_START = 1_722_124_800_000_000  # 2024-07-28T00:00:00Z, the generator's first instant
GENERATOR_SPAN_DAYS = 5


def retimed_lines(lines, span_days: float):
    """The feed's lines, event times stretched from the generator's 5 days to ``span_days``."""
    from transforms.timestamps import TimestampError, parse_event_time

    factor = span_days / GENERATOR_SPAN_DAYS

    def retime(match):
        try:
            micros = parse_event_time(match.group(1).decode("ascii"))
        except (TimestampError, UnicodeDecodeError, ValueError):
            return match.group(0)
        micros = GENERATOR_START + int((micros - GENERATOR_START) * factor)
        stamp = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(micros // 1_000_000))
            + f".{micros % 1_000_000:06d}Z"
        )
        return b'"event_time":"' + stamp.encode("ascii") + b'"'

    for line in lines:
        yield _EVENT_TIME.sub(retime, line, count=1)


def retimed_feed(feed: Path, span_days: float) -> Path:
    path = feed.with_name(f"{feed.stem}-span{span_days:g}d.jsonl")
    if not path.exists():
        with open(feed, "rb") as source, open(str(path) + ".tmp", "wb") as target:
            for line in retimed_lines(source, span_days):
                target.write(line)
        os.replace(str(path) + ".tmp", path)
    return path


def stream_command(folder: Path, out: Path, stop_after: float, *extra: str) -> list[str]:
    return [
        str(Path(sys.executable).parent / "retry-lineage"),
        "stream",
        "--watch",
        str(folder / "*.jsonl"),
        "--output",
        str(out),
        "--stop-after",
        str(stop_after),
        *extra,
    ]


def watched_folder(name: str, files: list[Path]) -> Path:
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for file in files:
        os.symlink(file, folder / file.name)
    return folder


def four_month_files(lines: int = 10_000, seed: int = 3, files: int = 6) -> list[Path]:
    """A ``lines``-line generated feed over 120 days, split into ``files`` files in time order."""
    from pipelines.synthetic_feed import iter_feed_lines

    folder = WORK / f"four-months-{lines}"
    paths = [folder / f"part-{index}.jsonl" for index in range(files)]
    if not all(path.exists() for path in paths):
        folder.mkdir(parents=True, exist_ok=True)
        retimed = [line + b"\n" for line in retimed_lines(iter_feed_lines(lines, seed), 120)]
        size = -(-len(retimed) // files)
        for index, path in enumerate(paths):
            path.write_bytes(b"".join(retimed[index * size : (index + 1) * size]))
    return paths


def load_average() -> str:
    """The 1-minute load average: wall figures on a shared machine mean little without it."""
    return f"load {os.getloadavg()[0]:.1f}"


def stream_benchmarks(
    feed: Path, events: int, out: Path, env: dict[str, str] | None = None
) -> bool:
    """Print the streaming figures; True when every streaming target is met.

    ``env`` is the environment of the timed command (``--code``: another
    checkout's code first on the path). CPU seconds are the process tree's
    (the watcher's worker processes included): the figure to compare on a busy machine.
    """
    met = True
    before = load_average()
    run = timed_run(stream_command(watched_folder("watch", [feed]), out / "stream", 1), env)
    rate = events / run.wall
    print(
        f"{'stream':9s} wall {run.wall:6.2f} s   cpu {run.cpu:6.1f} s   {rate:12,.0f} events/s   "
        f"peak RSS {run.rss_mb:7,.0f} MB   (--watch, default options: 300 s windows; targets >= "
        f"{TARGET_STREAM_RATE:,} events/s, <= {TARGET_RSS_MB:,} MB; {before} before, "
        f"{load_average()} after)"
    )
    met &= rate >= TARGET_STREAM_RATE and run.rss_mb <= TARGET_RSS_MB
    walls = {}
    for span in (1, 120):
        spanned = retimed_feed(feed, span)
        before = load_average()
        run = timed_run(
            stream_command(watched_folder(f"watch-{span}d", [spanned]), out / f"stream-{span}d", 1),
            env,
        )
        walls[span] = run.wall
        print(
            f"{'stream':9s} wall {run.wall:6.2f} s   cpu {run.cpu:6.1f} s   "
            f"{events / run.wall:12,.0f} events/s   peak RSS {run.rss_mb:7,.0f} MB   "
            f"(the same events spanning {span} day(s); {before} before, {load_average()} after)"
        )
    spread = max(walls.values()) / min(walls.values()) - 1
    print(f"stream wall, 120 days vs 1 day: {spread:+.0%} (target within 30%)")
    met &= spread <= 0.30
    stop_after = 5
    run = timed_run(
        stream_command(
            watched_folder("watch-four-months", four_month_files()),
            out / "stream-four-months",
            stop_after,
            "--window-seconds",
            "60",
        ),
        env,
    )
    print(
        "stream, 10,000 lines over 4 months in 6 files, 60 s windows: "
        f"exit {run.wall - stop_after:5.1f} s after --stop-after {stop_after} (target <= 30 s), "
        f"cpu {run.cpu:.1f} s, peak RSS {run.rss_mb:,.0f} MB, {load_average()}"
    )
    met &= run.wall - stop_after <= 30
    return met


@dataclass(frozen=True)
class Figures:
    """What the batch benchmark measured: medians over ``runs`` alternating runs of each.

    ``scale_*`` are the one run on the scaled feed (``--scale``), else None.
    """

    events: int
    runs: int
    gcp: bool
    pipeline_wall: float
    pipeline_rss_mb: float
    duckdb_wall: float
    scale_events: int | None = None
    scale_wall: float | None = None
    scale_rss_mb: float | None = None


def target_ratio(gcp: bool) -> float:
    """The ratio target of the timed environment."""
    return TARGET_RATIO_GCP if gcp else TARGET_RATIO


def target_report(figures: Figures) -> tuple[list[str], bool]:
    """Lines comparing ``figures`` with the targets, and whether every target is met.

    Targets are judged on the 1,000,000-event feed with medians of at least 3
    runs; other figures are reported, never met.
    """
    lines = []
    limit = target_ratio(figures.gcp)
    environment = "the `gcp` extra installed" if figures.gcp else "no `gcp` extra (`make run`)"
    ratio = figures.pipeline_wall / figures.duckdb_wall
    ratio_met = ratio <= limit
    rss_met = figures.pipeline_rss_mb <= TARGET_RSS_MB
    lines.append(
        f"ratio pipeline/duckdb {ratio:.2f} (target <= {limit}, {environment}): "
        f"{'met' if ratio_met else 'NOT met'}"
    )
    lines.append(
        f"pipeline peak RSS {figures.pipeline_rss_mb:,.0f} MB (target <= {TARGET_RSS_MB:,} MB): "
        f"{'met' if rss_met else 'NOT met'}"
    )
    met = ratio_met and rss_met
    if figures.scale_events is not None:
        assert figures.scale_wall is not None and figures.scale_rss_mb is not None
        growth = figures.scale_wall / figures.pipeline_wall
        wall_met = growth <= TARGET_SCALE_WALL
        scale_rss_met = figures.scale_rss_mb <= TARGET_RSS_MB
        lines.append(
            f"scale: {figures.events:,} events {figures.pipeline_wall:.2f} s (median), "
            f"{figures.scale_events:,} events {figures.scale_wall:.2f} s (one run): "
            f"{growth:.2f}x (target <= {TARGET_SCALE_WALL}x): {'met' if wall_met else 'NOT met'}"
        )
        lines.append(
            f"scale: peak RSS {figures.scale_rss_mb:,.0f} MB at {figures.scale_events:,} events "
            f"(target <= {TARGET_RSS_MB:,} MB): {'met' if scale_rss_met else 'NOT met'}"
        )
        met = met and wall_met and scale_rss_met
    if figures.events != TARGET_EVENTS or figures.runs < MIN_REPEAT:
        lines.append(
            f"not a target measurement: the targets are for medians of >= {MIN_REPEAT} runs on "
            f"the {TARGET_EVENTS:,}-event feed ({figures.runs} run(s) of {figures.events:,} here)"
        )
        met = False
    lines.append("targets met" if met else "targets NOT met")
    return lines, met


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's command line; usage errors exit 2."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=TARGET_EVENTS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--repeat",
        type=int,
        default=MIN_REPEAT,
        help=f"alternating runs of each; the medians are reported (targets: >= {MIN_REPEAT})",
    )
    parser.add_argument(
        "--python",
        type=check_python,
        help="time the pipeline with this interpreter's environment (e.g. a venv with the "
        "`gcp` extra); the code is this checkout's; DuckDB runs with the benchmark's interpreter",
    )
    parser.add_argument(
        "--code",
        type=check_code,
        default=REPO,
        help="the checkout whose code is timed (default: the one holding this script), "
        "e.g. to compare a branch with main in the same conditions",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help=f"also time the pipeline once on the feed scaled to {SCALE_FACTOR}x the events "
        f"(targets: wall <= {TARGET_SCALE_WALL}x, peak RSS <= {TARGET_RSS_MB:,} MB)",
    )
    parser.add_argument("--scale-factor", type=int, default=SCALE_FACTOR, help=argparse.SUPPRESS)
    parser.add_argument(
        "--stream",
        action="store_true",
        help="also time the local streaming path (retry-lineage stream --watch), once each",
    )
    parser.add_argument("--stream-only", action="store_true", help="only the streaming figures")
    parser.add_argument(
        "--report",
        action="store_true",
        help="also time retry-lineage report on the pipeline's output "
        f"(target <= {TARGET_REPORT_S} s)",
    )
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.scale_factor < 2:
        parser.error("--scale-factor must be at least 2")
    if args.stream_only and (args.scale or args.python):
        parser.error("--stream-only times only the streaming path: no --scale or --python")
    return args


def print_run(name: str, events: int, run: Run, note: str = "") -> None:
    print(
        f"{name:9s} wall {run.wall:6.2f} s   cpu {run.cpu:6.1f} s   "
        f"{events / run.wall:12,.0f} events/s   peak RSS {run.rss_mb:7,.0f} MB{note}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    feed = feed_path(args.events, args.seed)
    size_mb = feed.stat().st_size / 1e6
    out = WORK / "out"
    pipeline_python = args.python or sys.executable
    pipeline_cmd = pipeline_command(feed, out / "pipeline", args.python)
    env = checkout_env(args.code)
    duckdb_cmd = [sys.executable, "-c", DUCKDB_BASELINE, str(feed), str(out / "duckdb.parquet")]

    if args.stream_only:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        met = stream_benchmarks(feed, args.events, out, env)
        print("streaming targets met" if met else "streaming targets NOT met")
        return 0 if met else 1
    # Resolve (or refuse) the scaled feed before spending minutes on the small one.
    scaled = feed_path(args.events * args.scale_factor, args.seed) if args.scale else None
    gcp = has_gcp_extra(pipeline_python)
    print(
        f"pipeline environment: {pipeline_python} "
        f"({'gcp extra installed' if gcp else 'no gcp extra'}), code: {args.code}"
    )
    results: dict[str, list[Run]] = {"pipeline": [], "duckdb": []}
    loads = [os.getloadavg()[0]]
    for _ in range(args.repeat):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        results["pipeline"].append(timed_run(pipeline_cmd, env))
        results["duckdb"].append(timed_run(duckdb_cmd))
        loads.append(os.getloadavg()[0])

    print(
        f"feed: {args.events:,} events, {size_mb:,.0f} MB, {os.cpu_count()} cores, "
        f"median of {args.repeat} run(s), load {min(loads):.1f} to {max(loads):.1f}"
    )
    medians = {}
    for name, runs in results.items():
        median = Run(
            statistics.median(run.wall for run in runs),
            max(run.rss_mb for run in runs),
            statistics.median(run.cpu for run in runs),
        )
        medians[name] = median
        print_run(name, args.events, median)
    print(
        f"cpu ratio pipeline/duckdb {medians['pipeline'].cpu / medians['duckdb'].cpu:.2f} "
        "(for comparisons under load; the target is on wall time)"
    )
    scale_run = None
    if scaled is not None:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        before = load_average()
        scale_command = pipeline_command(scaled, out / "pipeline", args.python)
        scale_run = timed_run(scale_command, env)
        print_run(
            "scaled",
            args.events * args.scale_factor,
            scale_run,
            f"   ({scaled.stat().st_size / 1e9:.1f} GB; {before} before, {load_average()} after)",
        )
    if args.report:
        report_cmd = [
            str(Path(sys.executable).parent / "retry-lineage"),
            "report",
            str(out / "pipeline"),
            "--html",
            str(out / "report.html"),
        ]
        runs = [timed_process(report_cmd) for _ in range(args.repeat)]
        wall, rss = statistics.median(run[0] for run in runs), max(run[1] for run in runs)
        print(
            f"{'report':9s} wall {wall:6.2f} s   (target <= {TARGET_REPORT_S} s)   "
            f"peak RSS {rss:7,.0f} MB   "
            f"page {(out / 'report.html').stat().st_size / 1e6:.1f} MB"
        )
    stream_met = stream_benchmarks(feed, args.events, out, env) if args.stream else True
    figures = Figures(
        events=args.events,
        runs=args.repeat,
        gcp=gcp,
        pipeline_wall=medians["pipeline"].wall,
        pipeline_rss_mb=medians["pipeline"].rss_mb,
        duckdb_wall=medians["duckdb"].wall,
        scale_events=args.events * args.scale_factor if scale_run else None,
        scale_wall=scale_run.wall if scale_run else None,
        scale_rss_mb=scale_run.rss_mb if scale_run else None,
    )
    lines, met = target_report(figures)
    print("\n".join(lines))
    if not stream_met:
        print("streaming targets NOT met")
    return 0 if met and stream_met else 1


if __name__ == "__main__":
    sys.exit(main())
