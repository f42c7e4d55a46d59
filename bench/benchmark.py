"""Benchmark: the batch pipeline against a DuckDB SQL baseline of the same job.

    make bench                                   # 1,000,000 events, as the README reports
    .venv/bin/python bench/benchmark.py --events 200000 --repeat 3
    .venv/bin/python bench/benchmark.py --stream      # adds the local streaming path (minutes for 1M events)
    .venv/bin/python bench/benchmark.py --report      # adds retry-lineage report on the pipeline's output

Generates the feed with the project's generator (cached in bench/work/), then in
the same run times, each in its own process:

* the pipeline: ``retry-lineage run`` with default options;
* the baseline: DuckDB reads the JSON lines, keeps retries and completed
  migrations, joins each retry to the latest migration into its new course at
  or before the retry, and writes Parquet.

Prints events/s, wall time and peak RSS of each and the ratio pipeline/DuckDB.
Targets (issue "Batch pipeline end to end"): ratio <= 3.0, pipeline peak RSS <= 1,536 MB.
"""
from __future__ import annotations

import argparse
import os
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
       OR (event_name = 'quizzes_next_quiz_duplicated' AND json->>'$.body.status' = 'outcome_alignment_cloning')
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
  SELECT r.*, m.migration_id, m.parent_course_uuid, m.migration_type, m.completed_at AS migration_completed_at
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


def feed_path(events: int, seed: int) -> Path:
    path = WORK / f"feed-{events}-seed{seed}.jsonl"
    if not path.exists():
        from pipelines.synthetic_feed import write_feed

        WORK.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        write_feed(str(path) + ".tmp", events, seed)
        os.replace(str(path) + ".tmp", path)
        print(f"generated {events:,} events in {time.perf_counter() - started:.1f} s -> {path}")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the median is reported")
    parser.add_argument("--stream", action="store_true",
                        help="also time the local streaming path (retry-lineage stream --watch) on the same feed, once")
    parser.add_argument("--stream-window-seconds", type=int, default=3600,
                        help="window of the streaming run (the local runner pays per timer firing; see README)")
    parser.add_argument("--report", action="store_true",
                        help=f"also time retry-lineage report on the pipeline's output (target <= {TARGET_REPORT_S} s)")
    args = parser.parse_args()

    feed = feed_path(args.events, args.seed)
    size_mb = feed.stat().st_size / 1e6
    out = WORK / "out"
    pipeline_cmd = [str(Path(sys.executable).parent / "retry-lineage"), "run", "--input", str(feed), "--output", str(out / "pipeline")]
    duckdb_cmd = [sys.executable, "-c", DUCKDB_BASELINE, str(feed), str(out / "duckdb.parquet")]

    results = {"pipeline": [], "duckdb": []}
    for _ in range(args.repeat):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        results["pipeline"].append(timed_process(pipeline_cmd))
        results["duckdb"].append(timed_process(duckdb_cmd))

    print(f"feed: {args.events:,} events, {size_mb:,.0f} MB, {os.cpu_count()} cores, median of {args.repeat} run(s)")
    medians = {}
    for name, runs in results.items():
        wall = statistics.median(run[0] for run in runs)
        rss = max(run[1] for run in runs)
        medians[name] = (wall, rss)
        print(f"{name:9s} wall {wall:6.2f} s   {args.events / wall:12,.0f} events/s   peak RSS {rss:7,.0f} MB")
    if args.report:
        report_cmd = [str(Path(sys.executable).parent / "retry-lineage"), "report", str(out / "pipeline"),
                      "--html", str(out / "report.html")]
        runs = [timed_process(report_cmd) for _ in range(args.repeat)]
        wall, rss = statistics.median(run[0] for run in runs), max(run[1] for run in runs)
        print(f"{'report':9s} wall {wall:6.2f} s   (target <= {TARGET_REPORT_S} s)   peak RSS {rss:7,.0f} MB   "
              f"page {(out / 'report.html').stat().st_size / 1e6:.1f} MB")
    if args.stream:
        watched = WORK / "watch"
        shutil.rmtree(watched, ignore_errors=True)
        watched.mkdir(parents=True)
        os.symlink(feed, watched / feed.name)
        stream_cmd = [str(Path(sys.executable).parent / "retry-lineage"), "stream", "--watch", str(watched / "*.jsonl"),
                      "--output", str(out / "stream"), "--stop-after", "1",
                      "--window-seconds", str(args.stream_window_seconds)]
        wall, rss = timed_process(stream_cmd)
        print(f"{'stream':9s} wall {wall:6.2f} s   {args.events / wall:12,.0f} events/s   peak RSS {rss:7,.0f} MB"
              f"   (local --watch path, {args.stream_window_seconds} s windows)")
    ratio = medians["pipeline"][0] / medians["duckdb"][0]
    rss = medians["pipeline"][1]
    print(f"ratio pipeline/duckdb {ratio:.2f} (target <= {TARGET_RATIO})   "
          f"pipeline peak RSS {rss:,.0f} MB (target <= {TARGET_RSS_MB:,})")
    met = ratio <= TARGET_RATIO and rss <= TARGET_RSS_MB
    print("targets met" if met else "targets NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
