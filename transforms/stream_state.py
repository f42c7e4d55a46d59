"""Keyed state that costs what the events cost: a log in state, an index in worker memory.

A stateful step of the stream keeps, per shard key, a pure state machine (plain
Python maps and heaps) whose inputs are logged in append-only ``BagState``. The
worker keeps the machine itself in memory between bundles, keyed by the step
and the shard and checked against a version number in state; only when the
versions differ (the key moved to this worker, or the worker restarted) is the
machine rebuilt by replaying the log. So an element costs one small bag append
and one integer write, never a re-encoding of the whole state: on the
BundleBasedDirectRunner a ``ReadModifyWriteState`` is pickled on every write,
and the DoFn itself is unpickled for every bundle, so neither can hold a large map.

When the log has grown well past what the machine holds, it is replaced by one
snapshot of the machine, which keeps replay linear in the live state.
Worker-memory copies are bounded (least recently used out).
"""

from __future__ import annotations

import collections
import heapq
import pickle
import threading
import typing
import zlib
from collections.abc import Callable
from typing import Any

import apache_beam as beam
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec

SNAPSHOT = "snapshot"
MAX_CACHED_MACHINES = 512
_MIN_ENTRIES_BEFORE_COMPACTION = 256

_cache: collections.OrderedDict = collections.OrderedDict()
_cache_lock = threading.Lock()


def stable_shard(text: str, shards: int) -> int:
    """A key in ``range(shards)`` that is the same in every process (unlike ``hash``)."""
    return zlib.crc32(text.encode("utf-8")) % shards


def ceil_to(micros: int, step: int) -> int:
    """The first multiple of ``step`` at or after ``micros``."""
    return -(-micros // step) * step


def coarse_deadline(
    deadline: int, reference: int | None, step: int, max_step: int, levels: int = 16
) -> int:
    """``deadline``, rounded up more the further it lies beyond ``reference`` (the shard's clock).

    Within ``levels`` steps it is kept; beyond, it is rounded up to a
    power-of-two multiple of ``step`` near a ``levels``-th of the distance. So a
    shard holds some ``2 * levels`` distinct timers per doubling of the
    distance (up to ``max_step``) rather than one per window of the span, and a
    deadline near the watermark stays exact. Rounding up only delays a
    decision, never advances it, and by less than ``max_step`` (a day, or the
    allowed lateness), which a bounded run's drain covers.
    """
    if reference is None or deadline - reference < levels * step:
        return deadline
    scale = (deadline - reference) // (levels * step)
    coarse = step << (scale.bit_length() - 1)
    while coarse > max(step, max_step):
        coarse //= 2
    return ceil_to(deadline, coarse)


def forget_expired(expiries: list[tuple[int, str]], seen: dict[str, int], until: int) -> None:
    """Drop from ``seen`` every fingerprint whose dedup horizon has ended by ``until``.

    ``expiries`` is a heap of (expiry, fingerprint); an entry whose fingerprint was
    seen again later (a newer expiry in ``seen``) is stale and leaves ``seen`` alone.
    """
    while expiries and expiries[0][0] <= until:
        expiry, fingerprint = heapq.heappop(expiries)
        if seen.get(fingerprint) == expiry:
            del seen[fingerprint]


def log_state_specs(prefix: str) -> tuple[BagStateSpec, ReadModifyWriteStateSpec]:
    """The state a machine lives in: its log and its version."""
    return (
        BagStateSpec(f"{prefix}_log", beam.coders.PickleCoder()),
        ReadModifyWriteStateSpec(f"{prefix}_version", beam.coders.VarIntCoder()),
    )


class LoggedMachine:
    """Base of the state machines: ``replay(entry)`` redoes a live call's work, without output."""

    version = 0
    entries_since_snapshot = 0

    def replay(self, entry) -> None:
        raise NotImplementedError

    def live_size(self) -> int:
        """A measure of what the machine holds (entries a snapshot is worth)."""
        raise NotImplementedError


Machine = typing.TypeVar("Machine", bound=LoggedMachine)


def load_machine(
    owner: str, key: Any, log_state: Any, version_state: Any, factory: Callable[[], Machine]
) -> Machine:
    """The shard's machine: the worker's copy when it is current, else rebuilt from the log."""
    version = version_state.read() or 0
    with _cache_lock:
        machine = _cache.get((owner, key))
        if machine is not None:
            _cache.move_to_end((owner, key))
    if machine is not None and machine.version == version:
        # One owner names one step, and all of a step's machines come from its factory.
        return typing.cast(Machine, machine)
    machine = factory()
    for entry in log_state.read():
        if entry[0] == SNAPSHOT:
            machine = pickle.loads(entry[1])
            machine.entries_since_snapshot = 0
        else:
            machine.replay(entry)
            machine.entries_since_snapshot += 1
    machine.version = version
    remember_machine(owner, key, machine)
    return machine


def remember_machine(owner: str, key, machine: LoggedMachine) -> None:
    """Keep ``machine`` in this worker's cache as the current one for ``(owner, key)``."""
    with _cache_lock:
        _cache[(owner, key)] = machine
        _cache.move_to_end((owner, key))
        while len(_cache) > MAX_CACHED_MACHINES:
            _cache.popitem(last=False)


def record(machine: LoggedMachine, entry, log_state, version_state) -> None:
    """Log one input the machine has applied; compact the log once it outgrows the machine."""
    machine.version += 1
    machine.entries_since_snapshot += 1
    if machine.entries_since_snapshot > max(
        _MIN_ENTRIES_BEFORE_COMPACTION, 2 * machine.live_size()
    ):
        log_state.clear()
        machine.entries_since_snapshot = 0
        log_state.add((SNAPSHOT, pickle.dumps(machine, pickle.HIGHEST_PROTOCOL)))  # as it is now
    else:
        log_state.add(entry)
    version_state.write(machine.version)


def forget_cached_machines() -> None:
    """Drop every worker-memory copy (tests: forces a rebuild from the logs)."""
    with _cache_lock:
        _cache.clear()
