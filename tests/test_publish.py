"""Publishing: one-step versions, faults at every step, the lock, run ids, layouts, signals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import transforms.publish as publish
from pipelines.cli import main
from tests.conftest import completed, course, noise, retry
from transforms.publish import OutputLock

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("retries", "course_lineage", "dead_letter")
A, B, C = course("A"), course("B"), course("C")
D1, D2 = "2024-07-01", "2024-07-02"
ONE_PROCESS = ["--parse-processes", "1"]

OLD_FEED = [
    completed("1", B, "2024-07-01T00:00:00Z", source_uuid=A),
    retry(A, B, "2024-07-02T00:00:00Z"),
    noise(),
    b"{broken",
]
NEW_FEED = [
    completed("1", B, "2024-07-01T00:00:00Z", source_uuid=A),
    completed("2", C, "2024-07-03T00:00:00Z", source_uuid=B),
    retry(A, B, "2024-07-02T00:00:00Z"),
    retry(B, C, "2024-07-05T00:00:00Z"),
    b"[1",
    b"{broken",
    b"nope",
]


def write_lines(path: Path, lines) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return str(path)


def snapshot(out: Path, dated: bool) -> dict:
    """What a reader sees: every table through a DuckDB hive read, and the summaries."""
    con = duckdb.connect()
    state = {}
    for table in TABLES:
        rows = con.sql(
            f"select * from read_parquet('{out}/{table}/**/*.parquet', hive_partitioning=true)"
        ).fetchall()
        state[table] = sorted(map(repr, rows))
    if dated:
        state["summaries"] = {
            p.name: json.loads(p.read_text()) for p in sorted((out / "_runs").glob("*.json"))
        }
    else:
        state["summaries"] = json.loads((out / "_SUMMARY.json").read_text())
    return state


def assert_tidy(out: Path) -> None:
    """What interrupted runs leave is gone, and the lock is free."""
    assert not (out / "_staging").exists()
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]
    versions = sorted(p.name for p in (out / "_versions").iterdir())
    assert len(versions) <= 2 and os.path.basename(os.readlink(out / "_current")) in versions, (
        versions
    )
    with OutputLock(str(out), "probe"):
        pass


class Scenario:
    """An output before a run, the arguments of the run, and the state the run must publish.

    The output holds two runs, so that a previous version exists, and the litter of a killed run.
    """

    def __init__(self, tmp_path: Path, dated: bool):
        self.dated = dated
        self.template = tmp_path / "template"
        if dated:
            days = tmp_path / "in"
            write_lines(days / f"{D1}.jsonl", OLD_FEED[:2])
            write_lines(days / f"{D2}.jsonl", OLD_FEED)
            backfill = ["--start", D1, "--end", D2, "--input-template", str(days / "{date}.jsonl")]
            assert main(["run", *backfill, "--output", str(self.template), *ONE_PROCESS]) == 0
            assert (
                main(
                    [
                        "run",
                        "--date",
                        D2,
                        "--input-template",
                        str(days / "{date}.jsonl"),
                        "--output",
                        str(self.template),
                        *ONE_PROCESS,
                    ]
                )
                == 0
            )
            write_lines(tmp_path / "in2" / f"{D2}.jsonl", NEW_FEED)
            self.args = ["--date", D2, "--input-template", str(tmp_path / "in2" / "{date}.jsonl")]
        else:
            old = write_lines(tmp_path / "old.jsonl", OLD_FEED)
            for _ in range(2):
                assert (
                    main(["run", "--input", old, "--output", str(self.template), *ONE_PROCESS]) == 0
                )
            self.args = ["--input", write_lines(tmp_path / "new.jsonl", NEW_FEED)]
        litter = self.template / "_staging" / "killed-run" / "dead_letter"
        litter.mkdir(parents=True)
        (litter / "part-00000.parquet").write_bytes(b"raw bytes with PII")
        self.old = snapshot(self.template, dated)
        self.out = tmp_path / "out"
        self.reset()
        assert main(["run", *self.args, "--output", str(self.out), *ONE_PROCESS]) == 0
        self.new = snapshot(self.out, dated)
        assert self.new != self.old
        assert_tidy(self.out)

    def reset(self) -> Path:
        shutil.rmtree(self.out, ignore_errors=True)
        shutil.copytree(self.template, self.out, symlinks=True)
        return self.out

    def argv(self, *extra: str) -> list[str]:
        return ["run", *self.args, "--output", str(self.out), *ONE_PROCESS, *extra]

    def assert_old_or_new(self) -> str:
        seen = snapshot(self.out, self.dated)
        assert seen in (self.old, self.new)
        return "old" if seen == self.old else "new"


class FaultAt:
    """A FAULT_HOOK that fails the n-th step it is told about."""

    def __init__(self, n: int):
        self.n = n
        self.steps: list[str] = []

    def __call__(self, name: str) -> None:
        self.steps.append(name)
        if len(self.steps) == self.n:
            raise RuntimeError(f"injected fault at {name}")


@pytest.mark.slow
@pytest.mark.parametrize("dated", [False, True], ids=["undated", "dated"])
def test_a_fault_at_any_publish_step_leaves_old_or_new_and_the_next_run_recovers(
    tmp_path, monkeypatch, dated
):
    scenario = Scenario(tmp_path, dated)
    outcomes = []
    n = 0
    while True:
        n += 1
        scenario.reset()
        hook = FaultAt(n)
        monkeypatch.setattr(publish, "FAULT_HOOK", hook)
        code = main(scenario.argv())
        monkeypatch.setattr(publish, "FAULT_HOOK", None)
        if len(hook.steps) < n:  # every step passed: the run is complete
            assert code == 0
            assert scenario.assert_old_or_new() == "new"
            break
        assert code == 1, hook.steps
        outcomes.append((hook.steps[-1], scenario.assert_old_or_new()))
        assert main(scenario.argv()) == 0
        assert snapshot(scenario.out, dated) == scenario.new
        assert_tidy(scenario.out)
    names = [name for name, _ in outcomes]
    assert any(name.startswith("point _current") for name in names)
    assert any(name.startswith("delete version") for name in names)
    assert any(name.startswith("delete the staging folder") for name in names)
    if dated:
        assert any(name.startswith("link retries/ingest_date=2024-07-01") for name in names)
    # Before the swap the old state, after it the new one.
    swap = names.index(next(name for name in names if name.startswith("point _current")))
    assert {state for _, state in outcomes[: swap + 1]} == {"old"}
    assert {state for _, state in outcomes[swap + 1 :]} <= {"new"}


def run_cli(argv: list[str], fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if fault:
        env[publish.FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )


@pytest.mark.slow
@pytest.mark.parametrize("dated", [False, True], ids=["undated", "dated"])
def test_sigkill_at_any_publish_step_leaves_old_or_new_and_the_next_run_recovers(tmp_path, dated):
    scenario = Scenario(tmp_path, dated)
    states = []
    n = 0
    while True:
        n += 1
        scenario.reset()
        done = run_cli(scenario.argv(), fault=f"{n}:kill")
        if done.returncode == 0:
            assert scenario.assert_old_or_new() == "new"
            break
        assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
        states.append(scenario.assert_old_or_new())
        assert main(scenario.argv()) == 0
        assert snapshot(scenario.out, dated) == scenario.new
        assert_tidy(scenario.out)
    assert n > 5 and set(states) == {
        "old"
    }  # the swap is the last step that changes what readers see


def step_names(scenario: Scenario, monkeypatch) -> list[str]:
    scenario.reset()
    names = []
    monkeypatch.setattr(publish, "FAULT_HOOK", names.append)
    assert main(scenario.argv()) == 0
    monkeypatch.setattr(publish, "FAULT_HOOK", None)
    return names


@pytest.mark.slow
@pytest.mark.parametrize("action, code, name", [("term", 143, "SIGTERM"), ("int", 130, "SIGINT")])
def test_sigterm_and_sigint_exit_cleanly_and_leave_the_previous_output(
    tmp_path, monkeypatch, action, code, name
):
    scenario = Scenario(tmp_path, dated=True)
    names = step_names(scenario, monkeypatch)
    swap = 1 + names.index(next(step for step in names if step.startswith("point _current")))
    for step in (swap - 2, swap):  # while linking the other days, and just before the swap
        scenario.reset()
        current = os.readlink(scenario.out / "_current")
        done = run_cli(scenario.argv(), fault=f"{step}:{action}")
        assert done.returncode == code, done.stderr[-2000:]
        lines = [line for line in done.stderr.splitlines() if "interrupted" in line]
        assert lines == [
            f"retry-lineage: interrupted by {name}: {scenario.out}: "
            "the previous output is unchanged"
        ]
        assert "Traceback" not in done.stderr
        assert snapshot(scenario.out, True) == scenario.old
        assert os.readlink(scenario.out / "_current") == current
        assert sorted(p.name for p in (scenario.out / "_versions").iterdir()) == [
            os.path.basename(current)
        ]
        assert not (scenario.out / "_staging").exists()  # the killed run's litter went too
        with OutputLock(str(scenario.out), "probe"):
            pass
        assert (scenario.out / "_LOCK").read_text() == ""


@pytest.mark.parametrize("run_id", ["../../victim", "..", ".", "a/b", "x..y", "", "ok id"])
def test_a_run_id_that_is_not_a_name_is_a_usage_error(tmp_path, capsys, run_id):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("not ours")
    out = tmp_path / "out"
    feed = write_lines(tmp_path / "feed.jsonl", OLD_FEED)
    assert main(["run", "--input", feed, "--output", str(out), *ONE_PROCESS]) == 0
    (out / "unrelated.txt").write_text("not ours either")
    before = snapshot(out, False)
    capsys.readouterr()
    assert main(["run", "--input", feed, "--output", str(out), "--run-id", run_id]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--run-id" in err
    assert (victim / "keep.txt").read_text() == "not ours"
    assert (out / "unrelated.txt").read_text() == "not ours either"
    assert snapshot(out, False) == before


def test_a_second_run_fails_at_once_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "out"
    feed = write_lines(tmp_path / "feed.jsonl", OLD_FEED)
    assert main(["run", "--input", feed, "--output", str(out), *ONE_PROCESS]) == 0
    before = snapshot(out, False)
    capsys.readouterr()
    with OutputLock(str(out), "the-holder"):
        holder = json.loads((out / "_LOCK").read_text())
        assert holder["run_id"] == "the-holder" and holder["pid"] == os.getpid()
        new = write_lines(tmp_path / "new.jsonl", NEW_FEED)
        assert main(["run", "--input", new, "--output", str(out), *ONE_PROCESS]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert (
            "in use by run the-holder" in err
            and f"pid {os.getpid()}" in err
            and holder["host"] in err
        )
        assert snapshot(out, False) == before
    assert main(["run", "--input", feed, "--output", str(out), *ONE_PROCESS]) == 0


def test_the_lock_of_a_killed_run_is_free(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from transforms.publish import OutputLock; "
            f"OutputLock({str(out)!r}, 'doomed').acquire(); print('held', flush=True); "
            "time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(publish.OutputBusy, match="doomed"):
        OutputLock(str(out), "second").acquire()
    holder.kill()
    holder.wait()
    with OutputLock(str(out), "third"):
        assert json.loads((out / "_LOCK").read_text())["run_id"] == "third"


def test_layout_mismatch_is_a_usage_error_naming_the_layout_found(tmp_path, capsys):
    feed = write_lines(tmp_path / "in" / f"{D1}.jsonl", OLD_FEED)
    undated, dated = tmp_path / "undated", tmp_path / "dated"
    assert main(["run", "--input", feed, "--output", str(undated), *ONE_PROCESS]) == 0
    assert (
        main(
            [
                "run",
                "--date",
                D1,
                "--input-template",
                str(tmp_path / "in" / "{date}.jsonl"),
                "--output",
                str(dated),
                *ONE_PROCESS,
            ]
        )
        == 0
    )
    before = snapshot(undated, False), snapshot(dated, True)
    capsys.readouterr()
    assert main(["run", "--input", feed, "--output", str(dated)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds a dated layout" in err
    assert (
        main(
            [
                "run",
                "--date",
                D1,
                "--input-template",
                str(tmp_path / "in" / "{date}.jsonl"),
                "--output",
                str(undated),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds an undated layout" in err
    assert (snapshot(undated, False), snapshot(dated, True)) == before


class ObjectStore:
    """An output on the test object store (tests/fakestore.py), read as the README says."""

    def __init__(self, tmp_path: Path, monkeypatch):
        from tests.fakestore import FakeObjectStore

        self.root = tmp_path / "bucket"
        self.root.mkdir()
        monkeypatch.setattr(FakeObjectStore, "ROOT", str(self.root))
        self.out = "fakestore://out"

    def local(self, path: str) -> Path:
        return self.root / path[len("fakestore://") :]

    def snapshot(self) -> dict:
        manifest = publish.read_manifest(self.out)
        con = duckdb.connect()
        state = {}
        for table in publish.TABLES:
            patterns = [
                f"{self.local(folder)}/**/*.parquet"
                for folder in publish.current_table_dirs(self.out, table)
            ]
            rows = con.sql(
                f"select * from read_parquet({patterns!r}, hive_partitioning=true)"
            ).fetchall()
            state[table.name] = sorted(map(repr, rows))
        if manifest["layout"] == "dated":
            state["summaries"] = {
                day: json.loads(
                    (
                        self.local(publish.version_dir(self.out, entry["version"]))
                        / "_runs"
                        / f"ingest_date={day}.json"
                    ).read_text()
                )
                for day, entry in manifest["days"].items()
            }
        else:
            state["summaries"] = json.loads(
                (
                    self.local(publish.version_dir(self.out, manifest["version"])) / "_SUMMARY.json"
                ).read_text()
            )
        return state


@pytest.mark.slow
def test_object_store_readers_follow_the_manifest_written_last(tmp_path, monkeypatch):
    store = ObjectStore(tmp_path, monkeypatch)
    old, new = (
        write_lines(tmp_path / "old.jsonl", OLD_FEED),
        write_lines(tmp_path / "new.jsonl", NEW_FEED),
    )
    assert (
        main(["run", "--input", old, "--output", store.out, *ONE_PROCESS, "--run-id", "first"]) == 0
    )
    before = store.snapshot()
    assert len(before["retries"]) == 1 and before["summaries"]["lines_read"] == 4
    assert (
        main(["run", "--input", new, "--output", store.out, *ONE_PROCESS, "--run-id", "second"])
        == 0
    )
    manifest = publish.read_manifest(store.out)
    assert manifest["version"] == "second" and manifest["previous_versions"] == ["first"]
    after = store.snapshot()
    assert len(after["retries"]) == 2 and after["summaries"]["lines_read"] == len(NEW_FEED)
    # The summary copy for sensors is written after the manifest, and equals the version's.
    assert json.loads(store.local(f"{store.out}/_SUMMARY.json").read_text()) == after["summaries"]
    assert not store.local(f"{store.out}/_LEASE.json").exists()

    # Faults at every step of a third run (back to the old feed): readers see the second or the
    # third state.
    template = tmp_path / "bucket-template"
    shutil.copytree(store.root, template)
    outcomes = []
    n = 0
    while True:
        n += 1
        shutil.rmtree(store.root)
        shutil.copytree(template, store.root)
        hook = FaultAt(n)
        monkeypatch.setattr(publish, "FAULT_HOOK", hook)
        code = main(["run", "--input", old, "--output", store.out, *ONE_PROCESS])
        monkeypatch.setattr(publish, "FAULT_HOOK", None)
        if len(hook.steps) < n:
            assert code == 0 and store.snapshot() == before
            break
        assert code == 1, hook.steps
        seen = store.snapshot()
        assert seen in (after, before), hook.steps[-1]
        outcomes.append((hook.steps[-1], "old" if seen == after else "new"))
        assert not store.local(f"{store.out}/_LEASE.json").exists()
        assert main(["run", "--input", old, "--output", store.out, *ONE_PROCESS]) == 0
        assert store.snapshot() == before
    names = [name for name, _ in outcomes]
    assert "write _CURRENT.json" in names and any(
        name.startswith("delete version") for name in names
    )
    manifest_step = names.index("write _CURRENT.json")
    assert {state for _, state in outcomes[: manifest_step + 1]} == {"old"}
    assert {state for _, state in outcomes[manifest_step + 1 :]} == {"new"}
    versions = store.local(f"{store.out}/_versions")
    assert (
        len({path.relative_to(versions).parts[0] for path in versions.rglob("*") if path.is_file()})
        == 2
    )


def test_object_store_lease_held_by_another_run_stops_a_second_run(tmp_path, monkeypatch, capsys):
    import time

    store = ObjectStore(tmp_path, monkeypatch)
    feed = write_lines(tmp_path / "feed.jsonl", OLD_FEED)
    lease = store.local(f"{store.out}/_LEASE.json")
    lease.parent.mkdir(parents=True)
    lease.write_text(
        json.dumps(
            {
                "run_id": "elsewhere",
                "pid": 1,
                "host": "worker-7",
                "started": "then",
                "expires": "later",
                "expires_epoch": time.time() + 3600,
            }
        )
    )
    assert main(["run", "--input", feed, "--output", store.out, *ONE_PROCESS]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "in use by run elsewhere" in err and "worker-7" in err
    assert publish.read_manifest(store.out) is None
    lease.write_text(
        json.dumps({"run_id": "elsewhere", "expires_epoch": time.time() - 1})
    )  # expired
    assert main(["run", "--input", feed, "--output", store.out, *ONE_PROCESS]) == 0
    assert not lease.exists()


@pytest.mark.slow
def test_object_store_dated_days_and_their_history_come_from_the_manifest(tmp_path, monkeypatch):
    store = ObjectStore(tmp_path, monkeypatch)
    days = tmp_path / "in"
    write_lines(days / f"{D1}.jsonl", [completed("1", B, f"{D1}T00:00:00Z", source_uuid=A)])
    write_lines(
        days / f"{D2}.jsonl", [retry(A, B, f"{D2}T00:00:00Z"), retry(A, C, f"{D2}T01:00:00Z")]
    )
    template = ["--input-template", str(days / "{date}.jsonl"), "--output", store.out, *ONE_PROCESS]
    assert main(["run", "--start", D1, "--end", D2, *template, "--run-id", "fill"]) == 0
    assert main(["run", "--date", D2, *template, "--run-id", "again"]) == 0
    manifest = publish.read_manifest(store.out)
    assert manifest["layout"] == "dated"
    assert {day: entry["version"] for day, entry in manifest["days"].items()} == {
        D1: f"fill-{D1}",
        D2: f"again-{D2}",
    }
    state = store.snapshot()
    statuses = sorted(row.split(",")[0] for row in state["retries"])
    assert len(state["retries"]) == 2 and len(state["course_lineage"]) == 1
    # Day 2's retry A -> B found day 1's migration through the manifest.
    con = duckdb.connect()
    folders = publish.current_table_dirs(
        store.out, next(t for t in publish.TABLES if t.name == "retries")
    )
    matched = con.sql(
        "select lineage_status, count(*) from read_parquet("
        f"{[str(store.local(f)) + '/**/*.parquet' for f in folders]!r}) group by 1"
    ).fetchall()
    assert dict(matched) == {"matched": 1, "no_migration": 1}, statuses
    assert set(state["summaries"]) == {D1, D2}
    assert (
        main(["run", "--input", str(days / f"{D1}.jsonl"), "--output", store.out]) == 2
    )  # layout mismatch


def make_legacy(out: Path) -> None:
    """Turn a versioned output into the previous release's layout: real folders, no versions."""
    for name in ("retries", "course_lineage", "dead_letter", "_runs", "_SUMMARY.json"):
        path = out / name
        if not path.is_symlink():
            continue
        real = Path(os.path.realpath(path))
        path.unlink()
        if real.is_dir():
            shutil.copytree(real, path)
        else:
            shutil.copy2(real, path)
    for name in ("_current", "_versions", "_LOCK"):
        shutil.rmtree(out / name) if (out / name).is_dir() and not (out / name).is_symlink() else (
            out / name
        ).unlink()


def without_summary_field(state: dict, field: str) -> dict:
    """A snapshot with ``field`` left out of every summary."""
    summaries = {
        name: {key: value for key, value in summary.items() if key != field}
        for name, summary in state["summaries"].items()
    }
    return {**state, "summaries": summaries}


@pytest.mark.slow
def test_an_output_of_the_previous_layout_is_moved_into_a_version_without_losing_a_row(
    tmp_path, monkeypatch
):
    scenario = Scenario(tmp_path, dated=True)
    make_legacy(scenario.template)
    # What the previous release's publish left when killed: day 1 moved aside with nothing in its
    # place, and a stale copy of day 2 beside the live one (a hive read returned its rows twice).
    retries = scenario.template / "retries"
    (retries / f"ingest_date={D1}").rename(retries / f"ingest_date={D1}.old")
    shutil.copytree(retries / f"ingest_date={D2}", retries / f"ingest_date={D2}.old")
    assert not (scenario.template / "_current").exists()
    # The previous layout kept no outcome tables, so day 1's retry counts as one from before
    # outcomes were recorded; apart from that count, the rows are those of the versioned output.
    scenario.reset()
    assert main(scenario.argv()) == 0
    expected = snapshot(scenario.out, True)
    assert without_summary_field(expected, "retries_before_outcomes") == without_summary_field(
        scenario.new, "retries_before_outcomes"
    )
    assert sum(
        summary.get("retries_before_outcomes", 0) for summary in expected["summaries"].values()
    ) > sum(
        summary.get("retries_before_outcomes", 0) for summary in scenario.new["summaries"].values()
    )
    scenario.new = expected
    n = 0
    while True:
        n += 1
        scenario.reset()
        hook = FaultAt(n)
        monkeypatch.setattr(publish, "FAULT_HOOK", hook)
        code = main(scenario.argv())
        monkeypatch.setattr(publish, "FAULT_HOOK", None)
        if len(hook.steps) < n:
            assert code == 0
            break
        assert code == 1
        if "_current" in os.listdir(scenario.out):  # the move into a version has begun
            scenario.assert_old_or_new()
        assert main(scenario.argv()) == 0
        assert snapshot(scenario.out, True) == scenario.new
        assert_tidy(scenario.out)
    assert snapshot(scenario.out, True) == scenario.new
    assert (scenario.out / "retries").is_symlink() and (scenario.out / "_runs").is_symlink()
    assert not list((scenario.out / "retries").glob("*.old"))
    assert any(name.startswith("replace the folder retries") for name in hook.steps)


def test_litter_of_killed_runs_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    feed = write_lines(tmp_path / "feed.jsonl", OLD_FEED)
    assert main(["run", "--input", feed, "--output", str(out), *ONE_PROCESS]) == 0
    staged = out / "_staging" / "20240101T000000Z-dead" / "dead_letter" / "part-00000.parquet"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"raw dead-letter bytes, PII included")
    unfinished = out / "_versions" / "20240101T000000Z-dead" / "retries" / "part-00000.parquet"
    unfinished.parent.mkdir(parents=True)
    unfinished.write_bytes(b"half a run")
    (out / "_current.tmp-0badc0de").symlink_to("_versions/20240101T000000Z-dead")
    stream_file = (
        out / "_staging" / "stream" / "retries-part.parquet"
    )  # the streaming writer's, not ours
    stream_file.parent.mkdir(parents=True)
    stream_file.write_bytes(b"in flight")
    assert main(["run", "--input", feed, "--output", str(out), *ONE_PROCESS]) == 0
    assert not staged.exists() and not unfinished.parent.parent.exists()
    assert not (out / "_current.tmp-0badc0de").is_symlink()
    assert stream_file.read_bytes() == b"in flight"
