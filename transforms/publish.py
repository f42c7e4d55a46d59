"""Publishing a run: output layouts, versions, the current-version pointer and the one-writer lock.

A run writes every file of its tables into a version folder of its own,
``OUTPUT/_versions/<version>/``, which no reader looks at. Publishing makes
that version the current one in a single step, so that readers see either the
complete previous output (every table and the summary) or the complete new one:

- On a local disk ``OUTPUT/_current`` is a symbolic link to the current
  version, replaced by one ``rename``; the paths readers use
  (``OUTPUT/retries``, ``OUTPUT/course_lineage``, ``OUTPUT/dead_letter`` and
  ``OUTPUT/_SUMMARY.json`` or ``OUTPUT/_runs``) are links through it, created
  once. A dated version holds every day: the days of the current version are
  hard-linked into it, so a rerun of day D costs no copy.
- On an object store (a path with ``://``, where a rename is a copy) the
  manifest ``OUTPUT/_CURRENT.json`` names the version of the output (undated) or
  of each day (dated); it is written last, in one object write, and readers
  read it first (:func:`current_table_dirs`).

Only one run writes an output at a time: :class:`OutputLock` (a ``flock`` on
``OUTPUT/_LOCK`` locally, which the kernel releases when the holder dies; a
lease object with a time-out on object stores). The run holding the lock
removes what killed runs left behind (unfinished versions, staging folders,
temporary links) before it starts.

Every step that changes published state calls :func:`publish_step` first, so
that tests can interrupt the publish at each step (in-process with
``FAULT_HOOK``, or a real process through the ``RETRY_LINEAGE_PUBLISH_FAULT``
environment variable).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.parquet_writer import DEFAULT_PARQUET_CODEC, STAGING_DIR, write_parquet
from transforms.tables import EVENT_DATE_TABLES, TABLES, Table

SUMMARY_FILE = "_SUMMARY.json"
SUCCESS_MARKER = "_SUCCESS"
RUNS_DIR = "_runs"
VERSIONS_DIR = "_versions"
CURRENT_LINK = "_current"
VERSION_INFO = "_VERSION.json"
MANIFEST_FILE = "_CURRENT.json"
LOCK_FILE = "_LOCK"
LEASE_FILE = "_LEASE.json"
MIGRATING_DIR = "_migrating"
STREAM_STAGING = "stream"  # OUTPUT/_staging/stream belongs to the streaming writer
DATED, UNDATED = "dated", "undated"
STREAMED = (
    "stream"  # the streaming job's layout: tables written in place, records under OUTPUT/_summaries
)
STREAM_SUMMARIES_DIR = "_summaries"
LEASE_SECONDS = 6 * 3600
FAULT_ENV = "RETRY_LINEAGE_PUBLISH_FAULT"

_RUN_ID = re.compile(r"[A-Za-z0-9._-]+")
_INGEST_DIR = re.compile(r"ingest_date=(\d{4}-\d{2}-\d{2})")
_LOG = logging.getLogger(__name__)

# Tests set this to a callable that receives each publish step's name before it runs.
FAULT_HOOK: Callable[[str], None] | None = None


class OutputBusy(Exception):
    """Another run holds the output's lock."""


class LayoutMismatch(ValueError):
    """The run's layout (dated or undated) is not the output's."""


class BadRunId(ValueError):
    """A run id that is not a plain name."""


def check_run_id(run_id: str) -> str:
    """A run id names folders, so it must be a plain name: ``[A-Za-z0-9._-]+`` without ``..``."""
    if not _RUN_ID.fullmatch(run_id or "") or ".." in run_id or run_id == ".":
        raise BadRunId(
            "--run-id must be a name of letters, digits, '.', '_' and '-' without '..', "
            f"got {run_id!r}"
        )
    return run_id


class _Steps:
    """Announces each step that changes the output; interrupts at step N when a test asks for it.

    Steps are numbered across the whole process (tidying up, migrating and
    publishing alike), which is what ``RETRY_LINEAGE_PUBLISH_FAULT=N:action``
    counts (``action``: ``raise``, ``kill`` (SIGKILL), ``term`` (SIGTERM) or
    ``int`` (SIGINT), sent by the process to itself).
    """

    total = 0

    def __call__(self, name: str) -> None:
        _Steps.total += 1
        _LOG.debug("publish step %d: %s", _Steps.total, name)
        if FAULT_HOOK is not None:
            FAULT_HOOK(name)
        spec = os.environ.get(FAULT_ENV)
        if spec:
            number, _, action = spec.partition(":")
            if int(number) == _Steps.total:
                _inject(action or "raise", name)


def _inject(action: str, name: str) -> None:
    signals = {"kill": signal.SIGKILL, "term": signal.SIGTERM, "int": signal.SIGINT}
    if action in signals:
        os.kill(os.getpid(), signals[action])
        return
    raise RuntimeError(f"injected fault before publish step {name!r}")


def publish_step(steps: _Steps, name: str) -> None:
    """Record that the publish reached step ``name`` (logged at DEBUG; tests inject faults here)."""
    steps(name)


def _is_remote(path: str) -> bool:
    return "://" in path


# ----------------------------------------------------------------------------------------- layouts


@dataclasses.dataclass(frozen=True)
class OutputLayout:
    """Where a run's tables and summary go, relative to a version folder.

    An undated run owns ``<table>/`` and ``_SUMMARY.json``. A run for ingest
    date D owns only ``<table>/ingest_date=D/`` and ``_runs/ingest_date=D.json``:
    the other days of the current version are carried over untouched.
    """

    output: str
    ingest_date: str | None = None

    @property
    def kind(self) -> str:
        return DATED if self.ingest_date else UNDATED

    def table_dir(self, table: Table, root: str | None = None) -> str:
        """The run's folder of ``table`` under ``root`` (default: the output's published paths)."""
        base = FileSystems.join(root or self.output, table.name)
        return (
            FileSystems.join(base, f"ingest_date={self.ingest_date}") if self.ingest_date else base
        )

    def summary_name(self) -> str:
        return (
            f"{RUNS_DIR}/ingest_date={self.ingest_date}.json" if self.ingest_date else SUMMARY_FILE
        )

    @property
    def summary_path(self) -> str:
        """The run's summary as readers find it (local: via the links; object stores: a copy)."""
        return FileSystems.join(self.output, *self.summary_name().split("/"))

    def empty_file_dir(self, table: Table) -> str:
        """Relative folder of the empty file a table with no rows gets (event_date tables: one)."""
        return (
            f"event_date={self.ingest_date}"
            if table in EVENT_DATE_TABLES and self.ingest_date
            else ""
        )

    def stable_names(self) -> list[str]:
        """The names under OUTPUT readers use, each a link through ``_current`` on local disks."""
        return [table.name for table in TABLES] + [RUNS_DIR if self.ingest_date else SUMMARY_FILE]


def version_dir(output: str, version: str) -> str:
    """The folder of one published version under ``output``."""
    return FileSystems.join(output, VERSIONS_DIR, version)


def current_version(output: str) -> str | None:
    """The published version's name, or None (nothing published yet, or the old layout)."""
    if _is_remote(output):
        manifest = read_manifest(output)
        return manifest.get("version") if manifest else None
    try:
        target = os.readlink(os.path.join(output, CURRENT_LINK))
    except OSError:
        return None
    return os.path.basename(target.rstrip("/"))


def found_layout(output: str) -> str | None:
    """``stream``, ``dated``, ``undated``, ``mixed`` (both, from an older release) or None.

    A streaming job's output (recognised by its ``_summaries`` records) wins
    over anything else found beside it: its files are written in place, never
    through a version, so no batch publish may move or replace them.
    """
    if _holds_stream_output(output):
        return STREAMED
    if _is_remote(output):
        manifest = read_manifest(output)
        if manifest:
            return manifest["layout"]
        return _legacy_layout_remote(output)
    info = os.path.join(output, CURRENT_LINK, VERSION_INFO)
    if os.path.exists(info):
        with open(info, encoding="utf-8") as handle:
            return json.load(handle)["layout"]
    return _legacy_layout_local(output)


def _holds_stream_output(output: str) -> bool:
    summaries = os.path.join(output, STREAM_SUMMARIES_DIR) if not _is_remote(output) else None
    if summaries is not None:
        return os.path.isdir(summaries)
    return bool(_match(FileSystems.join(output, STREAM_SUMMARIES_DIR, "*")))


def check_stream_output(output: str) -> None:
    """Raise LayoutMismatch when a streaming job's ``--output`` holds a batch run's output.

    The stream writes its files into the table folders in place; in a batch
    output those folders are links into the published version, which the
    stream would change under its readers (and the next batch run replace).
    """
    found = found_layout(output)
    if found in (None, STREAMED):
        return
    raise LayoutMismatch(
        f"--output {output} holds a batch run's output ({found} layout); "
        "a streaming job needs its own --output"
    )


def _legacy_layout_local(output: str) -> str | None:
    dated = os.path.isdir(os.path.join(output, RUNS_DIR))
    undated = os.path.isfile(os.path.join(output, SUMMARY_FILE))
    for table in TABLES:
        folder = os.path.join(output, table.name)
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if name == SUCCESS_MARKER or name.endswith(".old"):
                continue
            if name.startswith("ingest_date="):
                dated = True
            else:
                undated = True
    return "mixed" if dated and undated else DATED if dated else UNDATED if undated else None


def _legacy_layout_remote(output: str) -> str | None:
    dated = bool(
        _match(FileSystems.join(output, "*", "ingest_date=*"))
        or _match(FileSystems.join(output, RUNS_DIR, "*.json"))
    )
    undated = FileSystems.exists(FileSystems.join(output, SUMMARY_FILE))
    return "mixed" if dated and undated else DATED if dated else UNDATED if undated else None


def check_layout(layout: OutputLayout) -> None:
    """Raise LayoutMismatch when the output holds the other layout (or both)."""
    found = found_layout(layout.output)
    if found is None or found == layout.kind:
        return
    if found == STREAMED:
        raise LayoutMismatch(
            f"--output {layout.output} holds a streaming job's output (_summaries/ records); "
            "a batch run would move or replace its files: use another --output"
        )
    if found == "mixed":
        raise LayoutMismatch(
            f"--output {layout.output} holds both a dated and an undated layout; "
            "move one of them elsewhere before running into it"
        )
    if found == DATED:
        raise LayoutMismatch(
            f"--output {layout.output} holds a dated layout (ingest_date= partitions); "
            "an undated run would replace every day: pass --date, or use another --output"
        )
    raise LayoutMismatch(
        f"--output {layout.output} holds an undated layout (one _SUMMARY.json for all its rows); "
        "a dated run needs a dated output: use another --output"
    )


# ---------------------------------------------------------------------------------------- the lock


def _holder_text(raw: str) -> str:
    try:
        holder = json.loads(raw)
        return (
            f"run {holder['run_id']} (pid {holder['pid']} on {holder['host']}, "
            f"since {holder['started']}"
            + (f", lease until {holder['expires']}" if "expires" in holder else "")
            + ")"
        )
    except (ValueError, KeyError, TypeError):
        return "another run (which has not written its name yet)"


class OutputLock:
    """One writer per output: ``flock`` on ``OUTPUT/_LOCK`` locally, a lease object remotely.

    The lock file holds the holder's run id, pid, host and start time while it
    is held, and is emptied on release. The kernel releases a ``flock`` when
    its process dies, however it dies. An object store has no such lock: the
    lease ``OUTPUT/_LEASE.json`` (run id, expiry) is written, read back, and
    honoured until it expires; two runs starting in the same instant can both
    believe they hold it (best effort).
    """

    def __init__(self, output: str, run_id: str, lease_seconds: int = LEASE_SECONDS):
        self.output = output
        self.run_id = run_id
        self._lease_seconds = lease_seconds
        self._fd: int | None = None
        self._lease = False

    def _holder(self) -> dict:
        return {
            "run_id": self.run_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }

    def acquire(self) -> OutputLock:
        if _is_remote(self.output):
            self._acquire_lease()
            return self
        os.makedirs(self.output, exist_ok=True)
        fd = os.open(os.path.join(self.output, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            raw = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            os.close(fd)
            raise OutputBusy(f"--output {self.output} is in use by {_holder_text(raw)}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(self._holder()).encode("utf-8") + b"\n", 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def _acquire_lease(self) -> None:
        path = FileSystems.join(self.output, LEASE_FILE)
        now = time.time()
        existing = _read_json(path)
        if (
            existing
            and existing.get("run_id") != self.run_id
            and existing.get("expires_epoch", 0) > now
        ):
            raise OutputBusy(
                f"--output {self.output} is in use by {_holder_text(json.dumps(existing))}"
            )
        lease = {
            **self._holder(),
            "expires_epoch": now + self._lease_seconds,
            "expires": dt.datetime.fromtimestamp(now + self._lease_seconds, dt.UTC).isoformat(
                timespec="seconds"
            ),
        }
        _write_json(path, lease)
        if (_read_json(path) or {}).get("run_id") != self.run_id:
            raise OutputBusy(
                f"--output {self.output} is in use by {_holder_text(json.dumps(_read_json(path)))}"
            )
        self._lease = True

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None
        if self._lease:
            release_lease(self.output, self.run_id)
            self._lease = False

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()


def release_lease(output: str, run_id: str) -> None:
    """Delete the object-store lease when ``run_id`` holds it."""
    path = FileSystems.join(output, LEASE_FILE)
    if (_read_json(path) or {}).get("run_id") == run_id:
        FileSystems.delete([path])


# --------------------------------------------------------------------------------- preparing a run


def prepare_output(layout: OutputLayout, run_id: str) -> str:
    """Under the lock, before the pipeline: check the layout, tidy up, and name the new version.

    Removes what interrupted runs left (unfinished versions, staging folders,
    temporary links), finishes or performs the one-time move of an output of
    the old layout (real table folders) into a version, and returns a version
    name no existing version uses.
    """
    check_layout(layout)
    if _is_remote(layout.output):
        _tidy_remote(layout.output)
    else:
        _tidy_local(layout)
    return new_version_name(layout.output, run_id)


def new_version_name(output: str, run_id: str) -> str:
    """A version name for this run: ``run_id``, with a suffix when that name is taken."""
    current = current_version(output)
    name, attempt = run_id, 1
    taken = _manifest_versions(read_manifest(output)) if _is_remote(output) else set()
    while (
        name == current
        or name in taken
        or (not _is_remote(output) and os.path.lexists(version_dir(output, name)))
    ):
        attempt += 1
        name = f"{run_id}.{attempt}"
    return name


def _tidy_local(layout: OutputLayout) -> None:
    output = layout.output
    steps = _Steps()
    for name in os.listdir(output) if os.path.isdir(output) else []:
        if name.startswith(f"{CURRENT_LINK}.tmp") or name.startswith(".tmp-link-"):
            publish_step(steps, f"delete the temporary link {name}")
            os.unlink(os.path.join(output, name))
    staging = os.path.join(output, STAGING_DIR)
    if os.path.isdir(staging):
        for name in os.listdir(staging):
            if name != STREAM_STAGING:
                publish_step(steps, f"delete the staging folder {name}")
                _rmtree(os.path.join(staging, name))
        _rmdir_if_empty(staging)
    if current_version(output) is None:
        _migrate_legacy_local(layout, steps)
    else:
        _finish_migration(layout, steps)  # when a run was killed in the middle of it
    current = current_version(output)
    versions = os.path.join(output, VERSIONS_DIR)
    for name in sorted(os.listdir(versions)) if os.path.isdir(versions) else []:
        if name != current:
            publish_step(steps, f"delete version {name}")
            _rmtree(os.path.join(versions, name))


def _rmtree(path: str) -> None:
    if os.path.islink(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _rmdir_if_empty(path: str) -> None:
    with contextlib.suppress(OSError):  # not empty, or already gone
        os.rmdir(path)


def _repair_old_code_leftovers(output: str) -> None:
    """Undo what the previous release's publish left when killed (``X.old`` folders)."""
    folders = [os.path.join(output, table.name) for table in TABLES]
    partitions = [
        os.path.join(folder, name)
        for folder in folders
        if os.path.isdir(folder)
        for name in os.listdir(folder)
        if name.startswith("ingest_date=") and name.endswith(".old")
    ]
    for old in [folder + ".old" for folder in folders] + partitions:
        live = old[: -len(".old")]
        if not os.path.isdir(old):
            continue
        if os.path.exists(live):
            shutil.rmtree(old)  # the swap had finished; the old copy was about to be deleted
        else:
            os.rename(old, live)  # the old data was moved aside and nothing replaced it


def _migrate_legacy_local(layout: OutputLayout, steps: _Steps) -> None:
    """Move an output of the old layout (real folders) into a first version, without losing a file.

    The version is built from hard links, made current, and then each real
    folder is swapped for its link. The swap of one name is two renames, so
    for an instant that name is missing (a reader then finds no files, never a
    mix); a run killed meanwhile leaves the folder under ``_migrating/``, and
    the next run finishes the move.
    """
    output = layout.output
    _repair_old_code_leftovers(output)
    kind = _legacy_layout_local(output)
    names = [
        name
        for name in layout.stable_names()
        if os.path.lexists(os.path.join(output, name))
        and not os.path.islink(os.path.join(output, name))
    ]
    if not names:
        return
    kind = (
        kind if kind in (DATED, UNDATED) else layout.kind
    )  # folders with nothing recognisable in them
    version = "migrated-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = os.path.join(output, VERSIONS_DIR, version)
    _rmtree(target)
    os.makedirs(target)
    for name in names:
        source = os.path.join(output, name)
        if os.path.isdir(source):
            shutil.copytree(source, os.path.join(target, name), copy_function=os.link)
        else:
            os.link(source, os.path.join(target, name))
    _write_local_json(
        os.path.join(target, VERSION_INFO),
        {"version": version, "run_id": None, "layout": kind, "migrated_from": "real folders"},
    )
    _fsync_tree(target)
    _swap_current(output, version, steps)
    _finish_migration(layout, steps)
    _LOG.info(
        "moved the existing output of %s into %s/%s (one-time change of layout)",
        output,
        VERSIONS_DIR,
        version,
    )


def _finish_migration(layout: OutputLayout, steps: _Steps) -> None:
    """Swap each real folder (or summary) of the old layout for its link into the new version."""
    output = layout.output
    moved = os.path.join(output, MIGRATING_DIR)
    for name in layout.stable_names():
        path = os.path.join(output, name)
        if not os.path.lexists(path) or os.path.islink(path):
            continue
        if not os.path.lexists(os.path.join(output, CURRENT_LINK, name)):
            _LOG.warning(
                "%s is a real folder the current version does not hold; left as it is", path
            )
            continue
        publish_step(steps, f"replace the folder {name} by its link")
        os.makedirs(moved, exist_ok=True)
        link = os.path.join(output, f".tmp-link-{name}")
        _rmtree(link)
        os.symlink(f"{CURRENT_LINK}/{name}", link)
        _rmtree(os.path.join(moved, name))
        os.rename(path, os.path.join(moved, name))
        os.replace(link, path)
    _fsync_dir(output)
    _ensure_links(output, layout, steps)
    if os.path.lexists(moved):
        publish_step(steps, f"delete {MIGRATING_DIR}")
        _rmtree(moved)


def _tidy_remote(output: str) -> None:
    steps = _Steps()
    stale = _match(FileSystems.join(output, STAGING_DIR, "**"))
    stale = [path for path in stale if f"/{STAGING_DIR}/{STREAM_STAGING}/" not in path]
    if stale:
        publish_step(steps, "delete staging folders")
        FileSystems.delete(stale)
    keep = _manifest_versions(read_manifest(output))
    for name in sorted(_version_names_remote(output) - keep):
        publish_step(steps, f"delete version {name}")
        _delete_remote_version(output, name)


# -------------------------------------------------------------------------------------- publishing


def publish(
    layout: OutputLayout,
    version: str,
    run_id: str,
    summary: dict | None,
    codec: str = DEFAULT_PARQUET_CODEC,
    release_lease_of: str | None = None,
) -> None:
    """Make ``version`` (whose table files the pipeline wrote) the current, complete output.

    Adds an empty file to a table with no rows (readers get 0 rows, not "no
    files"), a ``_SUCCESS`` marker holding the run id to each table's folder,
    and the summary; then publishes in one step. Publishing a version that is
    already current does nothing more than tidy up, so a retried step is
    harmless.
    """
    steps = _Steps()
    root = version_dir(layout.output, version)
    if current_version(layout.output) != version:
        _complete_version(layout, root, run_id, summary, codec, steps)
        if _is_remote(layout.output):
            _publish_remote(layout, version, root, run_id, steps)
        else:
            _publish_local(layout, version, root, run_id, steps)
    if _is_remote(layout.output):
        _collect_remote(layout.output, steps)
        if release_lease_of:
            release_lease(layout.output, release_lease_of)
    else:
        _collect_local(layout.output, steps)


def _complete_version(layout, root, run_id, summary, codec, steps) -> None:
    for table in TABLES:
        folder = layout.table_dir(table, root)
        if not [path for path in _files_under(folder) if path.endswith(".parquet")]:
            publish_step(steps, f"write an empty {table.name} file")
            relative = layout.empty_file_dir(table)
            empty_dir = FileSystems.join(folder, relative) if relative else folder
            _make_local_dirs(empty_dir)
            write_parquet(FileSystems.join(empty_dir, "part-empty-00000.parquet"), table, [], codec)
        publish_step(steps, f"write the {table.name} {SUCCESS_MARKER} marker")
        with FileSystems.create(FileSystems.join(folder, SUCCESS_MARKER)) as handle:
            handle.write(run_id.encode("utf-8"))
    if summary is not None:
        publish_step(steps, "write the summary")
        path = FileSystems.join(root, *layout.summary_name().split("/"))
        _make_local_dirs(os.path.dirname(path) if not _is_remote(path) else "")
        with FileSystems.create(path, mime_type="application/json") as handle:
            handle.write(json.dumps(summary, indent=2, sort_keys=False).encode("utf-8"))


def _publish_local(
    layout: OutputLayout, version: str, root: str, run_id: str, steps: _Steps
) -> None:
    output = layout.output
    previous = os.path.join(output, CURRENT_LINK)
    new_files = set(_local_files(root))
    if layout.ingest_date and os.path.isdir(previous):
        _link_other_days(layout, os.path.realpath(previous), root, steps)
    publish_step(steps, "write the version description")
    _write_local_json(
        os.path.join(root, VERSION_INFO),
        {
            "version": version,
            "run_id": run_id,
            "layout": layout.kind,
            "ingest_date": layout.ingest_date,
            "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    )
    new_files.add(os.path.join(root, VERSION_INFO))
    _fsync_tree(root, new_files)
    _ensure_links(output, layout, steps)
    _swap_current(output, version, steps)


def _link_other_days(layout: OutputLayout, current_root: str, root: str, steps: _Steps) -> None:
    """Hard-link every file of the current version but day D's into the new one."""
    own = {f"{table.name}/ingest_date={layout.ingest_date}" for table in TABLES}
    own_summary = layout.summary_name()
    for source in _local_files(current_root):
        relative = os.path.relpath(source, current_root)
        parts = relative.split(os.sep)
        if relative in (VERSION_INFO, own_summary) or "/".join(parts[:2]) in own:
            continue
        target = os.path.join(root, relative)
        if os.path.exists(target):
            continue
        publish_step(steps, f"link {relative}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.link(source, target)


def _ensure_links(output: str, layout: OutputLayout, steps: _Steps) -> None:
    """The stable names readers use, each a link through ``_current`` (made once, by one rename)."""
    for name in layout.stable_names():
        path = os.path.join(output, name)
        if os.path.islink(path) or os.path.exists(path):
            continue
        publish_step(steps, f"link {name} through {CURRENT_LINK}")
        temporary = os.path.join(output, f".tmp-link-{name}")
        _rmtree(temporary)
        os.symlink(f"{CURRENT_LINK}/{name}", temporary)
        os.replace(temporary, path)
        _fsync_dir(output)


def _swap_current(output: str, version: str, steps: _Steps) -> None:
    publish_step(steps, f"point {CURRENT_LINK} at {version}")
    temporary = os.path.join(output, f"{CURRENT_LINK}.tmp-{uuid.uuid4().hex[:8]}")
    os.symlink(f"{VERSIONS_DIR}/{version}", temporary)
    os.replace(temporary, os.path.join(output, CURRENT_LINK))
    _fsync_dir(output)


def _collect_local(output: str, steps: _Steps) -> None:
    """Delete all versions but the current one and the one it replaced (readers may be in it)."""
    versions = os.path.join(output, VERSIONS_DIR)
    current = current_version(output)
    if not os.path.isdir(versions) or current is None:
        return
    names = sorted(
        os.listdir(versions), key=lambda name: os.lstat(os.path.join(versions, name)).st_mtime
    )
    older = [name for name in names if name != current]
    for name in older[:-1]:
        publish_step(steps, f"delete version {name}")
        shutil.rmtree(os.path.join(versions, name), ignore_errors=True)


def discard_version(output: str, version: str) -> None:
    """Remove a version a failed or interrupted run was building (never the current one)."""
    if current_version(output) == version:
        return
    if _is_remote(output):
        if version not in _manifest_versions(read_manifest(output)):
            _delete_remote_version(output, version)
        return
    _rmtree(version_dir(output, version))
    _rmdir_if_empty(os.path.join(output, VERSIONS_DIR))


# ----------------------------------------------------------------------------------- object stores


def read_manifest(output: str) -> dict | None:
    """The output's manifest, or None when it has none."""
    return _read_json(FileSystems.join(output, MANIFEST_FILE))


def _direct_versions(manifest: dict | None) -> set[str]:
    """The versions a manifest's readers read."""
    if not manifest:
        return set()
    if manifest["layout"] == DATED:
        return {day["version"] for day in manifest["days"].values()}
    return {manifest["version"]}


def _manifest_versions(manifest: dict | None) -> set[str]:
    """The versions a manifest keeps: those it points at and those its predecessor pointed at."""
    return _direct_versions(manifest) | set((manifest or {}).get("previous_versions", []))


def _publish_remote(
    layout: OutputLayout, version: str, root: str, run_id: str, steps: _Steps
) -> None:
    """Write the manifest (the single step that publishes), then the summary copy for sensors."""
    output = layout.output
    old = read_manifest(output)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    manifest: dict[str, Any] = {
        "layout": layout.kind,
        "version": version,
        "run_id": run_id,
        "published_at": now,
    }
    if layout.ingest_date:
        days = dict((old or {}).get("days") or _legacy_days_remote(output))
        days[layout.ingest_date] = {"version": version, "run_id": run_id}
        manifest["days"] = dict(sorted(days.items()))
    manifest["previous_versions"] = sorted(_direct_versions(old) - _direct_versions(manifest))
    publish_step(steps, f"write {MANIFEST_FILE}")
    _write_json(FileSystems.join(output, MANIFEST_FILE), manifest)
    staged_summary = FileSystems.join(root, *layout.summary_name().split("/"))
    if FileSystems.exists(staged_summary):
        publish_step(steps, "copy the summary for sensors")
        if FileSystems.exists(layout.summary_path):
            FileSystems.delete([layout.summary_path])
        FileSystems.copy([staged_summary], [layout.summary_path])


def _legacy_days_remote(output: str) -> dict:
    """Days an old-layout output holds, read in place (version ``""``: ``OUTPUT/<table>/``)."""
    days = set()
    for path in _match(FileSystems.join(output, "*", "ingest_date=*", "**")):
        match = _INGEST_DIR.search(path)
        if match:
            days.add(match.group(1))
    return {day: {"version": "", "run_id": None} for day in sorted(days)}


def _version_names_remote(output: str) -> set[str]:
    prefix = FileSystems.join(output, VERSIONS_DIR) + "/"
    return {
        path[len(prefix) :].split("/", 1)[0]
        for path in _match(prefix + "**")
        if path.startswith(prefix)
    }


def _delete_remote_version(output: str, version: str) -> None:
    if version:
        files = _match(FileSystems.join(version_dir(output, version), "**"))
    else:
        files = [
            path for table in TABLES for path in _match(FileSystems.join(output, table.name, "**"))
        ]
    if files:
        FileSystems.delete(files)


def _collect_remote(output: str, steps: _Steps) -> None:
    """Delete versions the manifest and its predecessor do not use; replaced old-layout tables."""
    manifest = read_manifest(output)
    keep = _manifest_versions(manifest)
    for name in sorted(_version_names_remote(output) - keep):
        publish_step(steps, f"delete version {name}")
        _delete_remote_version(output, name)
    if manifest and manifest["layout"] == DATED:
        legacy_days = {day for day, entry in manifest["days"].items() if entry["version"] == ""}
        ours = (FileSystems.join(output, VERSIONS_DIR), FileSystems.join(output, RUNS_DIR))
        for path in _match(FileSystems.join(output, "*", "ingest_date=*", "**")):
            match = _INGEST_DIR.search(path)
            if match and match.group(1) not in legacy_days and not path.startswith(ours):
                publish_step(steps, f"delete replaced {path}")
                FileSystems.delete([path])
    elif manifest:
        legacy = [
            path for table in TABLES for path in _match(FileSystems.join(output, table.name, "**"))
        ]
        if legacy:
            publish_step(steps, "delete the tables of the old layout")
            FileSystems.delete(legacy)


def current_table_dirs(output: str, table: Table) -> list[str]:
    """The folders that hold the published rows of ``table``: what a reader reads.

    Locally that is ``OUTPUT/<table>`` (a link through ``_current``). On an
    object store, the manifest decides: one version folder (undated), or one
    ``ingest_date=D`` folder per day, each in the version that published it.
    Without a manifest (nothing published by this release) it is the old
    layout's ``OUTPUT/<table>``.
    """
    if not _is_remote(output):
        return [os.path.join(output, table.name)]
    manifest = read_manifest(output)
    if not manifest:
        return [FileSystems.join(output, table.name)]
    if manifest["layout"] == UNDATED:
        return [FileSystems.join(version_dir(output, manifest["version"]), table.name)]
    return [
        FileSystems.join(
            version_dir(output, entry["version"]) if entry["version"] else output,
            table.name,
            f"ingest_date={day}",
        )
        for day, entry in manifest["days"].items()
    ]


def published_summary_path(layout: OutputLayout, version: str) -> str:
    """Where a published version keeps its run summary."""
    return FileSystems.join(version_dir(layout.output, version), *layout.summary_name().split("/"))


def read_summary(layout: OutputLayout, version: str | None = None) -> dict:
    """The run summary of ``version``, or the one published at the layout's summary path."""
    path = published_summary_path(layout, version) if version else layout.summary_path
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return json.loads(handle.read())


class PublishRun(beam.PTransform):
    """The summary dict -> the run's version completed and published (the pipeline's last step).

    Being a pipeline step, publishing needs no launcher process to outlive the
    job (a Flex Template launcher exits after submitting).
    """

    def __init__(
        self,
        layout: OutputLayout,
        version: str,
        run_id: str,
        codec: str,
        release_lease_of: str | None = None,
    ):
        super().__init__()
        self._args = (layout, version, run_id, codec, release_lease_of)

    def expand(self, summary):
        layout, version, run_id, codec, release_lease_of = self._args

        def publish_with(summary_dict):
            publish(layout, version, run_id, summary_dict, codec, release_lease_of)
            return published_summary_path(layout, version)

        return summary | "WriteSummaryAndPublish" >> beam.Map(publish_with)


# ------------------------------------------------------------------------------------ file helpers


def _match(pattern: str) -> list[str]:
    try:
        return [
            meta.path for result in FileSystems.match([pattern]) for meta in result.metadata_list
        ]
    except Exception:  # a Beam filesystem reports "nothing there" as an error on some stores
        _LOG.debug("nothing matches %s", pattern, exc_info=True)
        return []


def _files_under(directory: str) -> list[str]:
    if not _is_remote(directory):
        return _local_files(directory)
    return _match(FileSystems.join(directory, "**"))


def _local_files(directory: str) -> list[str]:
    return sorted(
        os.path.join(root, name) for root, _, names in os.walk(directory) for name in names
    )


def _make_local_dirs(directory: str) -> None:
    if directory and not _is_remote(directory):
        os.makedirs(directory, exist_ok=True)


def _read_json(path: str) -> dict | None:
    try:
        if not FileSystems.exists(path):
            return None
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            return json.loads(handle.read())
    except (OSError, ValueError):
        _LOG.debug("cannot read %s", path, exc_info=True)
        return None


def _write_json(path: str, value: dict) -> None:
    with FileSystems.create(
        path, mime_type="application/json", compression_type=CompressionTypes.UNCOMPRESSED
    ) as handle:
        handle.write(json.dumps(value, indent=2).encode("utf-8"))


def _write_local_json(path: str, value: dict) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: str, files: set[str] | None = None) -> None:
    """Flush the files this run wrote and every folder of the version, before it is published."""
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if files is None or path in files:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        _fsync_dir(folder)
