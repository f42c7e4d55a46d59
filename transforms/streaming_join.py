"""The streaming join: retries held until their lineage arrives, answered by the batch rules.

Keyed by root account. Lineage (and so ``lineage_path``) is followed within the
root account of the events: that is where Canvas copies courses, it bounds the
state of a key to one institution, and it spreads a multi-tenant feed over
many keys. Per key, state holds compact facts learnt from the account's events
(an append-only bag: edges, identity pairs, attempts) and the retries still
waiting. Answers come from :class:`AccountLineage`, an in-memory index of the
facts that a worker keeps between bundles and rebuilds whenever the bag's
version differs from its own (the key moved to another worker and back).

A retry is emitted as soon as a migration into its new course from its
original course, completed at or before it, is known (``matched``), at once
when both courses are the same, and otherwise when the watermark passes its
event time plus ``--lineage-wait-seconds``; then with the lineage known at that
moment. A migration arriving later does not rewrite an emitted row.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

import apache_beam as beam
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec, CombiningValueStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer,
)
from apache_beam.utils.timestamp import Timestamp

from transforms import lineage
from transforms.counters import COUNTS, count_pairs
from transforms.events import MIGRATION_COMPLETED, MigrationEvent, RetryEvent

LINEAGE_ROWS = "lineage_rows"


class _Identity(Mapping):
    """lti_context_id -> course uuid, or None when the evidence conflicts (the batch rule)."""

    def __init__(self, uuids_by_lti: dict[str, set[str]]):
        self._uuids = uuids_by_lti

    def __getitem__(self, lti):
        return lineage.resolve_identity(self._uuids[lti])

    def __iter__(self):
        return iter(self._uuids)

    def __len__(self):
        return len(self._uuids)


IDENTITY, EDGE = "i", "e"


class AccountLineage:
    """What one root account's events say: identity map, lineage graph, attempt counts.

    It is built from compact *facts*, which are all the state keeps: an identity
    pair ``(i, lti, uuid)`` (each once) and an edge ``(e, child, completed_at,
    migration_id, parent, migration_type)``. Replaying the facts in order
    rebuilds exactly the same index.
    """

    def __init__(self, facts: Iterable[tuple] = ()):
        self.version = 0
        self._uuids_by_lti: dict[str, set[str]] = {}
        self.identity = _Identity(self._uuids_by_lti)
        self.graph: dict[str, list[lineage.Edge]] = {}
        for fact in facts:
            self.apply(fact)

    def apply(self, fact: tuple) -> None:
        self.version += 1
        if fact[0] == IDENTITY:
            self._uuids_by_lti.setdefault(fact[1], set()).add(fact[2])
        else:
            _, child, completed_at, migration_id, parent, migration_type = fact
            edges = self.graph.setdefault(child, [])
            bisect.insort(edges, lineage.Edge(completed_at, migration_id, parent, migration_type), key=lineage.edge_order)

    def add(self, event: RetryEvent | MigrationEvent) -> tuple[lineage.LineageRow | None, list[tuple]]:
        """Learn from one distinct event: its ``course_lineage`` row (completed migrations) and new facts."""
        facts = []
        for lti, uuid in lineage.identity_pairs(event):
            if uuid not in self._uuids_by_lti.get(lti, ()):
                fact = (IDENTITY, lti, uuid)
                self.apply(fact)  # the migration's own pairs count for its parent
                facts.append(fact)
        if not isinstance(event, MigrationEvent) or event.event_name != MIGRATION_COMPLETED:
            return None, facts
        row = lineage.lineage_row(event, self.identity)
        edge = (EDGE, row.child_course_uuid, row.completed_at, row.content_migration_id,
                row.parent_course_uuid, row.migration_type)
        self.apply(edge)
        return row, [*facts, edge]

    def is_settled(self, retry: RetryEvent) -> bool:
        """Whether waiting longer cannot change the retry's status: same course, or already matched."""
        status, _ = lineage.join_retry(retry.original_course_uuid, retry.new_course_uuid, retry.event_time,
                                       self.graph.get(retry.new_course_uuid, ()))
        return status in (lineage.SAME_COURSE, lineage.MATCHED)

    def row(self, retry: RetryEvent, attempt_number: int | None) -> lineage.RetryRow:
        # attempt_count needs every retry of the run; a stream has no end, so it stays null.
        return lineage.retry_row(retry, self.graph, attempt_number, None)


class NumberAttemptsInStream(beam.DoFn):
    """((new course, link), retry) -> (retry, attempt_number): the retries of that assignment seen so far.

    A counter per assignment that was ever retried (a few bytes each); a retry
    without an assignment link keeps a null attempt_number.
    """

    SEEN = CombiningValueStateSpec("seen", sum)

    def process(self, keyed, seen=beam.DoFn.StateParam(SEEN)):
        (_, link), retry = keyed
        if link is None:
            yield (retry, None)
            return
        seen.add(1)
        yield (retry, seen.read())


class JoinRetriesInStream(beam.DoFn):
    """(root account, (distinct routed event, attempt_number)) -> ``RetryRow``; tagged ``lineage_rows``, ``counts``."""

    FACTS = BagStateSpec("facts", beam.coders.PickleCoder())
    VERSION = ReadModifyWriteStateSpec("version", beam.coders.VarIntCoder())
    PENDING = BagStateSpec("pending", beam.coders.PickleCoder())
    WAKE = TimerSpec("wake", TimeDomain.WATERMARK)

    def __init__(self, lineage_wait_seconds: int):
        self._wait_micros = lineage_wait_seconds * 1_000_000
        self._accounts: dict[str, AccountLineage] = {}

    def _account(self, key: str, facts_state, version_state) -> AccountLineage:
        account = self._accounts.get(key)
        if account is None or account.version != (version_state.read() or 0):
            account = self._accounts[key] = AccountLineage(facts_state.read())
        return account

    def process(self, keyed, facts_state=beam.DoFn.StateParam(FACTS), version_state=beam.DoFn.StateParam(VERSION),
                pending_state=beam.DoFn.StateParam(PENDING), wake=beam.DoFn.TimerParam(WAKE)):
        key, (event, attempt_number) = keyed
        account = self._account(key, facts_state, version_state)
        row, facts = account.add(event)
        for fact in facts:
            facts_state.add(fact)
        version_state.write(account.version)
        if row is not None:
            yield beam.pvalue.TaggedOutput(COUNTS, dict(count_pairs({"course_lineage_rows": 1})))
            yield beam.pvalue.TaggedOutput(LINEAGE_ROWS, beam.window.TimestampedValue(
                row, Timestamp(micros=row.completed_at)))
        waiting = list(pending_state.read())
        if isinstance(event, RetryEvent):
            waiting.append((event, attempt_number))
        settled = [(retry, number) for retry, number in waiting if account.is_settled(retry)]
        if settled:
            yield from self._emit(account, settled)
            waiting = [item for item in waiting if item not in settled]
            pending_state.clear()
            for item in waiting:
                pending_state.add(item)
        elif isinstance(event, RetryEvent):
            pending_state.add(waiting[-1])
        if waiting:
            wake.set(Timestamp(micros=min(retry.event_time for retry, _ in waiting) + self._wait_micros))

    @on_timer(WAKE)
    def wake_up(self, key=beam.DoFn.KeyParam, fired=beam.DoFn.TimestampParam,
                facts_state=beam.DoFn.StateParam(FACTS), version_state=beam.DoFn.StateParam(VERSION),
                pending_state=beam.DoFn.StateParam(PENDING), wake=beam.DoFn.TimerParam(WAKE)):
        account = self._account(key, facts_state, version_state)
        waiting = list(pending_state.read())
        due = [(retry, number) for retry, number in waiting if retry.event_time + self._wait_micros <= fired.micros]
        rest = [item for item in waiting if item not in due]
        yield from self._emit(account, due)
        pending_state.clear()
        for item in rest:
            pending_state.add(item)
        if rest:
            wake.set(Timestamp(micros=min(retry.event_time for retry, _ in rest) + self._wait_micros))

    def _emit(self, account: AccountLineage, retries):
        for retry, attempt_number in retries:
            row = account.row(retry, attempt_number)
            yield beam.pvalue.TaggedOutput(COUNTS, dict(count_pairs({"lineage_status." + row.lineage_status: 1})))
            yield beam.window.TimestampedValue(row, Timestamp(micros=retry.event_time))


def assignment_key(retry: RetryEvent) -> tuple[tuple[str, str | None], RetryEvent]:
    return ((retry.new_course_uuid, retry.new_assignment_resource_link_id), retry)


def account_key(numbered: tuple) -> tuple[str, tuple]:
    """(event, attempt_number) -> keyed by the event's root account."""
    return (numbered[0].root_account_uuid or "", numbered)
