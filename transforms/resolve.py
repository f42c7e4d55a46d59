"""Composites that turn accepted events into ``course_lineage`` and ``retries`` rows.

Each wraps the pure rules of :mod:`transforms.lineage`. Only compact tuples of
the rare routed events are shuffled, and each event crosses as few shuffles as
the rules allow: duplicates are dropped inside groupings the rules need anyway
(copies of an event share every key derived from its content). Retries travel
as lists of plain tuples, one per shard of their attempt key
(:mod:`transforms.shards`), the same shards the outcome step groups by.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

import apache_beam as beam

from transforms import lineage
from transforms.counters import CountingDoFn, accepted_counter
from transforms.events import MIGRATION_COMPLETED, ROLE_RETRY, MigrationEvent, RetryEvent
from transforms.shards import pack_rows, packed_shard_lists, rows_as, unpack_rows
from transforms.tables import LineageRow
from transforms.tags import COUNTS

IDENTITY_PAIRS = "identity_pairs"


def _identity_pair_outputs(event):
    for pair in lineage.identity_pairs(event):
        yield beam.pvalue.TaggedOutput(IDENTITY_PAIRS, pair)


_as_retry = rows_as(RetryEvent)
_as_migration = rows_as(MigrationEvent)
_as_lineage_row = rows_as(LineageRow)


def shard_retries(retries: list) -> Iterator[tuple[int, bytes]]:
    """A list of accepted retries -> (shard of their attempt key, those retries packed).

    Packed as plain tuples (:func:`transforms.shards.pack_rows`): they wait for the grouping
    as bytes.
    """
    return packed_shard_lists(retries, lineage.attempt_key)


class _NumberDistinctAttempts(CountingDoFn):
    def process(self, sharded):
        shard, lists = sharded
        by_key: dict[tuple, list] = collections.defaultdict(list)
        for packed in lists:
            for values in unpack_rows(packed):
                retry = _as_retry(values)
                by_key[lineage.attempt_key(retry)].append(retry)
        numbered: list[tuple] = []
        for (_, assignment_link), retries in by_key.items():
            distinct, copies = lineage.distinct_events(retries)
            self.count("duplicates", copies)
            self.count(accepted_counter(ROLE_RETRY), len(distinct))
            for retry in distinct:
                yield from _identity_pair_outputs(retry)
            if assignment_link is None:
                numbered.extend((tuple(retry), None, None) for retry in distinct)
            else:
                numbered.extend(
                    (tuple(retry), number, count)
                    for retry, number, count in lineage.number_attempts(distinct)
                )
        if numbered:
            yield (shard, pack_rows(numbered))


class NumberRetryAttempts(beam.PTransform):
    """Lists of accepted retries -> distinct retries, numbered, one list per shard.

    Main output ``numbered``: (shard, [(retry as a plain tuple, attempt_number,
    attempt_count)] packed by :func:`transforms.shards.pack_rows`). Tagged outputs:
    ``identity_pairs`` of the distinct retries and ``counts``.

    Numbered per (new course, new assignment link): the attempt key, or all
    retries into a course without a link, whose attempts stay null.
    """

    def expand(self, retries):
        return (
            retries
            | "ShardByAssignment" >> beam.FlatMap(shard_retries)
            | "GroupByAssignment" >> beam.GroupByKey()
            | "NumberDistinctAttempts"
            >> beam.ParDo(_NumberDistinctAttempts()).with_outputs(
                IDENTITY_PAIRS, COUNTS, main="numbered"
            )
        )


class _LatestCompletedMigration(CountingDoFn):
    def process(self, keyed):
        _, values = keyed
        distinct, copies = lineage.distinct_events(map(_as_migration, values))
        self.count("duplicates", copies)
        completed = []
        for event in distinct:
            self.count(accepted_counter(event.event_name))
            yield from _identity_pair_outputs(event)
            if event.event_name == MIGRATION_COMPLETED:
                completed.append(event)
        if completed:
            yield tuple(lineage.latest_migration_event(completed))


class GroupMigrations(beam.PTransform):
    """Accepted migrations -> the latest distinct completed event per migration id.

    The main output ``latest`` carries each as a plain tuple (``MigrationEvent``
    columns), as the events cross the grouping. Tagged outputs: ``identity_pairs``
    of every distinct migration event (started ones included) and ``counts``.
    """

    def expand(self, migrations):
        return (
            migrations
            | "KeyByMigrationId"
            >> beam.Map(lambda event: (event.content_migration_id, tuple(event)))
            | "GroupByMigrationId" >> beam.GroupByKey()
            | "LatestCompletedMigration"
            >> beam.ParDo(_LatestCompletedMigration()).with_outputs(
                IDENTITY_PAIRS, COUNTS, main="latest"
            )
        )


class _DistinctUuids(beam.CombineFn):
    """The set of course uuids one LTI id was seen with."""

    def create_accumulator(self):
        return set()

    def add_input(self, uuids, uuid):
        uuids.add(uuid)
        return uuids

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        merged = next(accumulators)
        for uuids in accumulators:
            merged |= uuids
        return merged

    def extract_output(self, uuids):
        return uuids


class _ResolveIdentity(CountingDoFn):
    def process(self, keyed):
        lti_context_id, uuids = keyed
        uuid = lineage.resolve_identity(uuids)
        if uuid is None:
            self.count("identity_conflicts")
        yield (lti_context_id, uuid)


class BuildIdentityMap(beam.PTransform):
    """(lti_context_id, course uuid) pairs -> (lti_context_id, uuid or None); ``counts``.

    The uuid is None when an LTI context id names more than one course.
    """

    def expand(self, pairs):
        return (
            pairs
            | "DistinctUuids" >> beam.CombinePerKey(_DistinctUuids())
            | "ResolveIdentity"
            >> beam.ParDo(_ResolveIdentity()).with_outputs(COUNTS, main="identity")
        )


def _resolve_parent(values, identity=None):
    return lineage.lineage_row(_as_migration(values), identity)


class ResolveParents(beam.PTransform):
    """Latest completed migrations (plain tuples) + identity side input -> ``LineageRow``."""

    def __init__(self, identity):
        super().__init__()
        self._identity = identity

    def expand(self, completed):
        return completed | "ResolveParent" >> beam.Map(
            _resolve_parent, identity=beam.pvalue.AsDict(self._identity)
        )


class BuildLineageGraph(beam.PTransform):
    """Lineage rows (this run's and earlier) -> (child course uuid, edges into it, oldest first)."""

    def expand(self, lineage_rows):
        return (
            lineage_rows
            | "KeyByChildCourse" >> beam.Map(lambda row: (row.child_course_uuid, tuple(row)))
            | "GroupByChildCourse" >> beam.GroupByKey()
            | "EdgesInto"
            >> beam.MapTuple(
                lambda child, rows: (child, lineage.edges_into(map(_as_lineage_row, rows)))
            )
        )


class _JoinRetry(CountingDoFn):
    def process(self, sharded, graph):
        _, numbered = sharded
        rows = []
        for values, attempt_number, attempt_count in unpack_rows(numbered):
            row = lineage.retry_row(_as_retry(values), graph, attempt_number, attempt_count)
            self.count("lineage_status." + row.lineage_status)
            rows.append(tuple(row))
        yield rows


class JoinRetriesToLineage(beam.PTransform):
    """Numbered retries + lineage graph side input -> ``retries`` rows; counts of lineage_status.

    Takes the ``numbered`` lists of :class:`NumberRetryAttempts`; the main output
    ``rows`` is lists of ``retries`` rows as plain tuples (``RetryRow`` columns).
    """

    def __init__(self, graph):
        super().__init__()
        self._graph = graph

    def expand(self, numbered_retries):
        return numbered_retries | "JoinRetry" >> beam.ParDo(
            _JoinRetry(), graph=beam.pvalue.AsDict(self._graph)
        ).with_outputs(COUNTS, main="rows")
