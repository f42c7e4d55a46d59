"""The classifier's pool workers (and the multiprocessing resource tracker) die with the command."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import noise
from transforms.parent_watch import exit_with_parent

ROOT = Path(__file__).resolve().parent.parent


def parents() -> dict[int, int]:
    """Pid -> parent pid of every process, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def descendants(pid: int) -> set[int]:
    by_parent = parents()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in by_parent.items() if parent in frontier} - found
        found |= frontier
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for init to reap it: it runs no more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(predicate, timeout: float, poll: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    return predicate()


@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_pool_workers_and_resource_tracker_exit_when_the_command_is_killed(tmp_path, signal_number):
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes((noise() + b"\n") * 200_000)  # ~60 MB: the pool is busy for a while
    command = [sys.executable, "-m", "pipelines.cli", "run", "--input", str(feed), "--output", str(tmp_path / "out"),
               "--parse-processes", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        command_process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env, cwd=tmp_path)
    try:
        def pool_workers():
            return {pid for pid in descendants(command_process.pid) if "multiprocessing" in command_line(pid)}

        workers = wait_for(lambda: len(pool_workers()) >= 2 and pool_workers(), timeout=120)
        assert workers, (tmp_path / "stderr.txt").read_text()[-3000:]
        children = descendants(command_process.pid)  # the workers and the resource tracker
        os.kill(command_process.pid, signal_number)
        command_process.wait(timeout=120)
        left = wait_for(lambda: not {pid for pid in children if running(pid)}, timeout=5) or \
            {pid: command_line(pid) for pid in children if running(pid)}
        assert left is True, f"still running 5 s after the command died: {left}"
    finally:
        if command_process.poll() is None:
            command_process.kill()
            command_process.wait()


def test_a_watched_worker_exits_when_its_parent_dies(tmp_path):
    """exit_with_parent in a grandchild: its parent (a shell) is killed; it exits within a poll."""
    code = ("import os, sys, time; from transforms.parent_watch import exit_with_parent; "
            "exit_with_parent(os.getppid(), 0.05); print(os.getpid(), flush=True); time.sleep(60)")
    shell = subprocess.Popen(["sh", "-c", f'{sys.executable} -c "{code}"; sleep 60'], stdout=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)
    try:
        grandchild = int(shell.stdout.readline())
        assert running(grandchild)
        shell.kill()
        shell.wait()
        assert wait_for(lambda: not running(grandchild), timeout=5)
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait()


def test_a_worker_whose_parent_is_already_gone_exits_at_once():
    code = (
        "from transforms.parent_watch import exit_with_parent; "
        "exit_with_parent(-1); print('still here')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1 and "still here" not in done.stdout
    assert exit_with_parent  # the function the pool uses as its initializer
