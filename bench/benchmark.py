"""Benchmark: the batch pipeline against a DuckDB SQL baseline of the same job.

    make bench                                   # 1,000,000 events, as the README reports
    .venv/bin/python bench/benchmark.py --events 200000 --repeat 3
    .venv/bin/python bench/benchmark.py --stream      # adds the local streaming path (see below)
    .venv/bin/python bench/benchmark.py --stream-only # only the streaming figures
    .venv/bin/python bench/benchmark.py --report      # adds retry-lineage report

Generates the feed with the project's generator (cached in bench/work/), then in
the same run times, each in its own process:

* the pipeline: ``retry-lineage run`` with default options;
* the baseline: DuckDB reads the JSON lines, keeps retries and completed
  migrations, joins each retry to the latest migration into its new course at
  or before the retry, and writes Parquet.

Prints events/s, wall time and peak RSS of each and the ratio pipeline/DuckDB.
Targets: ratio <= 3.0, pipeline peak RSS <= 1,536 MB.

``--stream`` also times ``retry-lineage stream --watch`` (each run in its own
process, files already in the folder, ``--stop-after 1``) on:

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
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
TARGET_RATIO = 3.0
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


def timed_process(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one command, which must succeed.

    Peak RSS is the peak of the sum over the process and its children (the
    pipeline's classifier pool included), sampled every 20 ms.
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss_bytes(process.pid))
        time.sleep(0.02)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(command)}")
    return wall, peak / 1e6


# Names the generator's output format: a feed cached by an earlier generator is not reused.
# v2: assignment state sequences around retries, background assignment events at about 1.5 %.
FEED_VERSION = "v2"


def feed_path(events: int, seed: int) -> Path:
    path = WORK / f"feed-{events}-seed{seed}-{FEED_VERSION}.jsonl"
    if not path.exists():
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


def stream_benchmarks(feed: Path, events: int, out: Path) -> bool:
    """Print the streaming figures; True when every streaming target is met."""
    met = True
    before = load_average()
    wall, rss = timed_process(stream_command(watched_folder("watch", [feed]), out / "stream", 1))
    rate = events / wall
    print(
        f"{'stream':9s} wall {wall:6.2f} s   {rate:12,.0f} events/s   peak RSS {rss:7,.0f} MB"
        f"   (--watch, default options: 300 s windows; targets >= {TARGET_STREAM_RATE:,} events/s, "
        f"<= {TARGET_RSS_MB:,} MB; {before} before, {load_average()} after)"
    )
    met &= rate >= TARGET_STREAM_RATE and rss <= TARGET_RSS_MB
    walls = {}
    for span in (1, 120):
        spanned = retimed_feed(feed, span)
        before = load_average()
        walls[span], rss = timed_process(
            stream_command(watched_folder(f"watch-{span}d", [spanned]), out / f"stream-{span}d", 1)
        )
        print(
            f"{'stream':9s} wall {walls[span]:6.2f} s   {events / walls[span]:12,.0f} events/s   "
            f"peak RSS {rss:7,.0f} MB   (the same events spanning {span} day(s); {before} before, "
            f"{load_average()} after)"
        )
    spread = max(walls.values()) / min(walls.values()) - 1
    print(f"stream wall, 120 days vs 1 day: {spread:+.0%} (target within 30%)")
    met &= spread <= 0.30
    stop_after = 5
    wall, rss = timed_process(
        stream_command(
            watched_folder("watch-four-months", four_month_files()),
            out / "stream-four-months",
            stop_after,
            "--window-seconds",
            "60",
        )
    )
    print(
        "stream, 10,000 lines over 4 months in 6 files, 60 s windows: "
        f"exit {wall - stop_after:5.1f} s after --stop-after {stop_after} (target <= 30 s), "
        f"peak RSS {rss:,.0f} MB, {load_average()}"
    )
    met &= wall - stop_after <= 30
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each; the median is reported"
    )
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
    args = parser.parse_args()

    feed = feed_path(args.events, args.seed)
    size_mb = feed.stat().st_size / 1e6
    out = WORK / "out"
    pipeline_cmd = [
        str(Path(sys.executable).parent / "retry-lineage"),
        "run",
        "--input",
        str(feed),
        "--output",
        str(out / "pipeline"),
    ]
    duckdb_cmd = [sys.executable, "-c", DUCKDB_BASELINE, str(feed), str(out / "duckdb.parquet")]

    if args.stream_only:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        met = stream_benchmarks(feed, args.events, out)
        print("streaming targets met" if met else "streaming targets NOT met")
        return 0 if met else 1
    results = {"pipeline": [], "duckdb": []}
    for _ in range(args.repeat):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        results["pipeline"].append(timed_process(pipeline_cmd))
        results["duckdb"].append(timed_process(duckdb_cmd))

    print(
        f"feed: {args.events:,} events, {size_mb:,.0f} MB, {os.cpu_count()} cores, "
        f"median of {args.repeat} run(s)"
    )
    medians = {}
    for name, runs in results.items():
        wall = statistics.median(run[0] for run in runs)
        rss = max(run[1] for run in runs)
        medians[name] = (wall, rss)
        print(
            f"{name:9s} wall {wall:6.2f} s   {args.events / wall:12,.0f} events/s   "
            f"peak RSS {rss:7,.0f} MB"
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
    stream_met = stream_benchmarks(feed, args.events, out) if args.stream else True
    ratio = medians["pipeline"][0] / medians["duckdb"][0]
    rss = medians["pipeline"][1]
    print(
        f"ratio pipeline/duckdb {ratio:.2f} (target <= {TARGET_RATIO})   "
        f"pipeline peak RSS {rss:,.0f} MB (target <= {TARGET_RSS_MB:,})"
    )
    met = ratio <= TARGET_RATIO and rss <= TARGET_RSS_MB and stream_met
    print("targets met" if met else "targets NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
