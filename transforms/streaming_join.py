"""The stream's rules per shard, one state machine: late gate, dedup, attempts, lineage join.

:class:`ShardState` is pure Python (unit-tested directly); the stateful DoFn in
``transforms.streaming`` feeds it events (``admit``) and watermark firings
(``advance``) and logs both (``transforms.stream_state``). A shard holds the
root accounts that hash to it; lineage, identity and ``lineage_path`` are
followed within one root account (where Canvas copies courses).

Time is what makes the stream agree with batch. A firing at ``T`` proves the
watermark has reached ``T``, so every event with an event time before ``T``
that the source had delivered has reached the shard. Only then are decisions
taken that depend on earlier events:

* a completed migration's ``course_lineage`` row (its parent resolved through
  the identity map) once ``T`` is past its completion time;
* attempt numbers, in (event time, fingerprint) order, once ``T`` is past the
  retry's event time;
* the retry's row once ``T`` is past its event time and it is settled (same
  course, or a migration into its new course from its original course), or
  once ``T`` is past its event time plus the lineage wait.

So on a feed delivered in event-time order the rows are batch's, whatever the
span of a file or the order of elements in a bundle, and a firing decides
everything due by ``T`` at once.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Mapping
from typing import NamedTuple

from transforms import lineage
from transforms.events import MIGRATION_COMPLETED, MigrationEvent, RetryEvent
from transforms.stream_state import LoggedMachine, ceil_to, coarse_deadline, forget_expired

LINEAGE_ROWS = "lineage_rows"
DAY_MICROS = 86_400 * 1_000_000

ACCEPTED, LATE, DUPLICATE = "accepted", "late", "duplicate"


class StreamRules(NamedTuple):
    """The stream's time settings, in epoch microseconds."""

    window: int
    lateness: int
    horizon: int
    wait: int
    retention: int

    @classmethod
    def of_seconds(
        cls, window: int, lateness: int, horizon: int, wait: int, retention_days: int
    ) -> StreamRules:
        return cls(
            window * 1_000_000,
            lateness * 1_000_000,
            horizon * 1_000_000,
            wait * 1_000_000,
            retention_days * DAY_MICROS,
        )

    def max_timer_step(self) -> int:
        """How far a distant deadline is rounded up: a day (or the lateness), which drains cover."""
        return max(self.lateness, DAY_MICROS)

    def expiry_step(self) -> int:
        """Dedup entries expire in coarse steps: at most 16 pending deadlines per horizon."""
        return max(self.window, ceil_to(max(self.horizon, 1) // 16, self.window))


class _Identity(Mapping):
    """lti_context_id -> course uuid, or None when the evidence conflicts (the batch rule)."""

    def __init__(self, uuids_by_lti: dict[str, dict[str, int]]):
        self._uuids = uuids_by_lti

    def __getitem__(self, lti):
        return lineage.resolve_identity(self._uuids[lti])

    def __iter__(self):
        return iter(self._uuids)

    def __len__(self):
        return len(self._uuids)


class AccountLineage:
    """What one root account's events say: identity map and lineage graph (child -> sorted edges).

    A migration id completed more than once keeps the version that wins in
    batch (:func:`transforms.lineage.version_order`). Facts older than the
    retention (identity pairs not seen again, edges completed before it) are pruned.
    """

    def __init__(self):
        self.uuids_by_lti: dict[str, dict[str, int]] = {}  # lti -> {uuid: last seen}
        self.identity = _Identity(self.uuids_by_lti)
        self.graph: dict[str, list[lineage.Edge]] = {}
        self.versions: dict[
            str, tuple[tuple[int, str], str, lineage.Edge]
        ] = {}  # migration id -> (order, child, edge)

    def learn(self, event: RetryEvent | MigrationEvent) -> None:
        for lti, uuid in lineage.identity_pairs(event):
            seen = self.uuids_by_lti.setdefault(lti, {})
            seen[uuid] = max(seen.get(uuid, event.event_time), event.event_time)

    def resolve(self, event: MigrationEvent) -> lineage.LineageRow:
        """The ``course_lineage`` row of a completed migration; its edge joins the graph."""
        row = lineage.lineage_row(event, self.identity)
        order = lineage.version_order(event)
        kept = self.versions.get(row.content_migration_id)
        if kept is None or order > kept[0]:
            if kept is not None:
                self.graph[kept[1]].remove(kept[2])
            edge = lineage.edge_of(row)
            self.versions[row.content_migration_id] = (order, row.child_course_uuid, edge)
            bisect.insort(
                self.graph.setdefault(row.child_course_uuid, []), edge, key=lineage.edge_order
            )
        return row

    def settled(self, retry: RetryEvent) -> bool:
        """True when waiting cannot change the retry's status: same course, or already matched."""
        status, _ = lineage.join_retry(
            retry.original_course_uuid,
            retry.new_course_uuid,
            retry.event_time,
            self.graph.get(retry.new_course_uuid, ()),
        )
        return status in (lineage.SAME_COURSE, lineage.MATCHED)

    def row(self, retry: RetryEvent, attempt_number: int | None) -> lineage.RetryRow:
        # attempt_count needs every retry of the run; a stream has no end, so it stays null.
        return lineage.retry_row(retry, self.graph, attempt_number, None)

    def prune(self, cutoff: int) -> None:
        for lti in [lti for lti, seen in self.uuids_by_lti.items() if max(seen.values()) < cutoff]:
            del self.uuids_by_lti[lti]
        for migration_id, (_, child, edge) in list(self.versions.items()):
            if edge.completed_at < cutoff:
                del self.versions[migration_id]
                edges = self.graph[child]
                edges.remove(edge)
                if not edges:
                    del self.graph[child]

    def size(self) -> int:
        return len(self.uuids_by_lti) + len(self.versions)


class ShardState(LoggedMachine):
    """One shard's state: the late gate's clock, dedup fingerprints, attempts, accounts, what waits.

    ``admit(event)`` -> (outcome, deadlines): ``accepted`` (the caller sets
    timers at the deadlines), ``late`` or ``duplicate``. ``advance(T)`` -> the
    ``course_lineage`` rows and (retry, row) pairs decided by ``T``.
    """

    def __init__(self, rules: StreamRules):
        self.rules = rules
        self.clock: int | None = None  # the latest firing: the watermark has passed it
        self.seen: dict[str, int] = {}  # fingerprint -> expiry
        self._expiries: list[tuple[int, str]] = []
        self.attempts: dict[
            tuple[str, str | None], list[int]
        ] = {}  # (course, link) -> [count, last event time]
        self.accounts: dict[str, AccountLineage] = {}
        self._migrations: list[tuple[int, str, MigrationEvent]] = []  # completed, not yet resolved
        self._arrived: list[tuple[int, str, RetryEvent]] = []  # retries not yet numbered
        self.waiting: dict[
            str, tuple[RetryEvent, int | None]
        ] = {}  # numbered retries waiting for lineage
        self._deadlines: list[tuple[int, str]] = []  # (lineage wait deadline, fingerprint)
        self._pruned_at: int | None = None
        self._first_seen: int | None = (
            None  # the shard's reference for timers before its first firing
        )

    # --- inputs ---------------------------------------------------------------------

    def admit(self, event: RetryEvent | MigrationEvent) -> tuple[str, list[int]]:
        rules = self.rules
        start = event.event_time - event.event_time % rules.window
        closes_at = start + rules.window + rules.lateness
        if self.clock is not None and closes_at <= self.clock:
            return LATE, []
        fingerprint = event.event_fingerprint
        if fingerprint in self.seen:
            return DUPLICATE, []
        expiry = ceil_to(event.event_time + rules.horizon, rules.expiry_step())
        self.seen[fingerprint] = expiry
        heapq.heappush(self._expiries, (expiry, fingerprint))
        account = self.accounts.get(event.root_account_uuid or "")
        if account is None:
            account = self.accounts[event.root_account_uuid or ""] = AccountLineage()
        account.learn(event)
        # Deadlines are rounded up to window boundaries (a handful of distinct timers per window of
        # event time); a window's close is exact, so that the late gate closes it on time.
        deadlines = [ceil_to(event.event_time + 1, rules.window), expiry, closes_at]
        if isinstance(event, RetryEvent):
            heapq.heappush(self._arrived, (event.event_time, fingerprint, event))
            deadlines.append(ceil_to(event.event_time + rules.wait + 1, rules.window))
        elif event.event_name == MIGRATION_COMPLETED:
            heapq.heappush(self._migrations, (event.event_time, fingerprint, event))
        if self.clock is not None:  # a deadline the shard has passed is due at the next firing
            deadlines = [max(deadline, self.clock + 1) for deadline in deadlines]
        if self._first_seen is None:
            self._first_seen = event.event_time
        reference = self.clock if self.clock is not None else self._first_seen
        return ACCEPTED, sorted(
            {
                coarse_deadline(deadline, reference, rules.window, rules.max_timer_step())
                for deadline in deadlines
            }
        )

    def advance(
        self, until: int
    ) -> tuple[list[lineage.LineageRow], list[tuple[RetryEvent, lineage.RetryRow]]]:
        """The watermark has reached ``until``: decide everything due by then."""
        if self.clock is not None and until <= self.clock:
            return [], []
        self.clock = until
        lineage_rows, decided = [], []
        while self._migrations and self._migrations[0][0] < until:
            _, _, event = heapq.heappop(self._migrations)
            lineage_rows.append(self._account(event).resolve(event))
        numbered = []
        while self._arrived and self._arrived[0][0] < until:
            _, fingerprint, retry = heapq.heappop(self._arrived)
            number = None
            if retry.new_assignment_resource_link_id is not None:
                counter = self.attempts.setdefault(
                    lineage.attempt_key(retry), [0, retry.event_time]
                )
                counter[0] += 1
                counter[1] = retry.event_time
                number = counter[0]
            self.waiting[fingerprint] = (retry, number)
            heapq.heappush(self._deadlines, (retry.event_time + self.rules.wait, fingerprint))
            numbered.append(fingerprint)
        # A new edge may settle any waiting retry; otherwise only the newly numbered ones need a
        # look.
        candidates = list(self.waiting) if lineage_rows else numbered
        for fingerprint in candidates:
            retry, number = self.waiting[fingerprint]
            if self._account(retry).settled(retry):
                decided.append(self._decide(fingerprint))
        while self._deadlines and self._deadlines[0][0] < until:
            _, fingerprint = heapq.heappop(self._deadlines)
            if fingerprint in self.waiting:
                decided.append(self._decide(fingerprint))
        forget_expired(self._expiries, self.seen, until)
        if self._pruned_at is None or until - self._pruned_at >= DAY_MICROS:
            self._prune(until - self.rules.retention)
            self._pruned_at = until
        return lineage_rows, decided

    def replay(self, entry) -> None:
        kind, value = entry
        if kind == "admit":
            self.admit(value)
        else:
            self.advance(value)

    # --- helpers ----------------------------------------------------------------------

    def _account(self, event) -> AccountLineage:
        return self.accounts[event.root_account_uuid or ""]

    def _decide(self, fingerprint: str) -> tuple[RetryEvent, lineage.RetryRow]:
        retry, number = self.waiting.pop(fingerprint)
        return retry, self._account(retry).row(retry, number)

    def _prune(self, cutoff: int) -> None:
        for account in self.accounts.values():
            account.prune(cutoff)
        for key in [key for key, (_, last) in self.attempts.items() if last < cutoff]:
            del self.attempts[key]

    def live_size(self) -> int:
        return (
            len(self.seen)
            + len(self.attempts)
            + len(self.waiting)
            + len(self._arrived)
            + len(self._migrations)
            + sum(account.size() for account in self.accounts.values())
        )
