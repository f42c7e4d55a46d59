"""Worker processes that die with their parent.

The classifier's pool workers are separate processes: if the command is
killed (SIGKILL, or SIGTERM without a handler), nothing shuts the pool down,
and the workers, and the multiprocessing resource tracker whose pipe they
keep open, would live on for minutes. A worker therefore watches its parent.

Linux's ``prctl(PR_SET_PDEATHSIG)`` is not used: it fires when the *thread*
that started the worker ends, and ProcessPoolExecutor starts workers from
whichever thread submits work (a runner's thread may end while the command
lives on). Polling the parent's pid works everywhere and costs nothing.

This module does not import Beam: the workers import it.
"""

from __future__ import annotations

import os
import threading
import time

PARENT_POLL_SECONDS = 0.25


def _watch(parent_pid: int, poll_seconds: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(poll_seconds)
    os._exit(1)  # no cleanup to wait for: the parent that wanted the results is gone


def exit_with_parent(parent_pid: int, poll_seconds: float = PARENT_POLL_SECONDS) -> None:
    """Make this process exit within ``poll_seconds`` of ``parent_pid`` no longer being its parent.

    Meant as a pool ``initializer``; returns at once (the watch is a daemon thread).
    """
    if os.getppid() != parent_pid:  # the parent died before the watch began
        os._exit(1)
    threading.Thread(
        target=_watch, args=(parent_pid, poll_seconds), name="exit-with-parent", daemon=True
    ).start()
