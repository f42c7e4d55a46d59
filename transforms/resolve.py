"""Composites that turn accepted events into ``course_lineage`` and ``retries`` rows.

Each wraps the pure rules of :mod:`transforms.lineage`; only compact tuples of
the rare routed events are shuffled.
"""
from __future__ import annotations

import apache_beam as beam

from transforms import lineage
from transforms.counters import count_pairs
from transforms.events import MIGRATION_COMPLETED, MigrationEvent, RetryEvent, ROLE_RETRY

COUNTS = "counts"


class _KeepOneCountCopies(beam.CombineFn):
    """(one event, number of copies) of events that share a fingerprint."""

    def create_accumulator(self):
        return (None, 0)

    def add_input(self, accumulator, event):
        kept, copies = accumulator
        return (kept if kept is not None else event, copies + 1)

    def merge_accumulators(self, accumulators):
        kept, copies = None, 0
        for event, count in accumulators:
            kept = kept if kept is not None else event
            copies += count
        return (kept, copies)

    def extract_output(self, accumulator):
        return accumulator


def _role(event: RetryEvent | MigrationEvent) -> str:
    return ROLE_RETRY if isinstance(event, RetryEvent) else event.event_name


def _emit_distinct(keyed):
    _, (event, copies) = keyed
    yield from (beam.pvalue.TaggedOutput(COUNTS, pair)
                for pair in count_pairs({"duplicates": copies - 1, "accepted." + _role(event): 1}))
    yield event


class DeduplicateEvents(beam.PTransform):
    """Events that parse to equal JSON are one: keep one per fingerprint, count the rest.

    Returns a DoOutputsTuple: main output the distinct events, ``counts`` the
    ``duplicates`` and ``accepted.<role>`` counters.
    """

    def expand(self, events):
        return (
            events
            | "KeyByFingerprint" >> beam.Map(lambda event: (event.event_fingerprint, event))
            | "KeepOneCountCopies" >> beam.CombinePerKey(_KeepOneCountCopies())
            | "EmitDistinct" >> beam.FlatMap(_emit_distinct).with_outputs(COUNTS, main="distinct")
        )


def _resolve_identity(keyed):
    lti_context_id, uuids = keyed
    uuid = lineage.resolve_identity(uuids)
    if uuid is None:
        yield from (beam.pvalue.TaggedOutput(COUNTS, pair) for pair in count_pairs({"identity_conflicts": 1}))
    yield (lti_context_id, uuid)


class BuildIdentityMap(beam.PTransform):
    """Distinct events -> (lti_context_id, course uuid or None when conflicting); ``counts`` output."""

    def expand(self, events):
        return (
            events
            | "IdentityPairs" >> beam.FlatMap(lineage.identity_pairs)
            | "DistinctPairs" >> beam.Distinct()
            | "GroupByLtiId" >> beam.GroupByKey()
            | "ResolveIdentity" >> beam.FlatMap(_resolve_identity).with_outputs(COUNTS, main="identity")
        )


def _resolve_parent(_, events, identity=None):
    return lineage.lineage_row(lineage.latest_migration_event(events), identity)


class BuildCourseLineage(beam.PTransform):
    """Distinct migrations -> one ``LineageRow`` per completed migration id, parent resolved."""

    def __init__(self, identity):
        super().__init__()
        self._identity = identity

    def expand(self, migrations):
        return (
            migrations
            | "KeepCompleted" >> beam.Filter(lambda event: event.event_name == MIGRATION_COMPLETED)
            | "KeyByMigrationId" >> beam.Map(lambda event: (event.content_migration_id, event))
            | "GroupByMigrationId" >> beam.GroupByKey()
            | "ResolveParent" >> beam.MapTuple(_resolve_parent, identity=beam.pvalue.AsDict(self._identity))
        )


class BuildLineageGraph(beam.PTransform):
    """Lineage rows -> (child course uuid, edges into it, oldest first)."""

    def expand(self, lineage_rows):
        return (
            lineage_rows
            | "KeyByChildCourse" >> beam.Map(lambda row: (row.child_course_uuid, lineage.edge_of(row)))
            | "GroupByChildCourse" >> beam.GroupByKey()
            | "SortEdges" >> beam.MapTuple(lambda child, edges: (child, lineage.sort_edges(edges)))
        )


def _numbered_attempts(keyed):
    _, retries = keyed
    return lineage.number_attempts(retries)


class NumberAttempts(beam.PTransform):
    """Distinct retries -> (retry, attempt_number, attempt_count); None for unknown assignments."""

    def expand(self, retries):
        known, unknown = retries | "SplitByAssignmentKnown" >> beam.Partition(
            lambda retry, _: 0 if lineage.attempt_key(retry) is not None else 1, 2)
        numbered = (
            known
            | "KeyByAssignment" >> beam.Map(lambda retry: (lineage.attempt_key(retry), retry))
            | "GroupByAssignment" >> beam.GroupByKey()
            | "RankAttempts" >> beam.FlatMap(_numbered_attempts)
        )
        unnumbered = unknown | "NoAttempt" >> beam.Map(lambda retry: (retry, None, None))
        return (numbered, unnumbered) | "AllRetries" >> beam.Flatten()


def _count_status(row):
    yield from (beam.pvalue.TaggedOutput(COUNTS, pair) for pair in count_pairs({"lineage_status." + row.lineage_status: 1}))
    yield row


def _join_retry(retry, attempt_number, attempt_count, graph=None):
    return lineage.retry_row(retry, graph, attempt_number, attempt_count)


class JoinRetriesToLineage(beam.PTransform):
    """Numbered retries + lineage graph side input -> ``RetryRow``; ``counts`` of lineage_status."""

    def __init__(self, graph):
        super().__init__()
        self._graph = graph

    def expand(self, numbered_retries):
        return (
            numbered_retries
            | "JoinRetry" >> beam.MapTuple(_join_retry, graph=beam.pvalue.AsDict(self._graph))
            | "CountStatus" >> beam.FlatMap(_count_status).with_outputs(COUNTS, main="rows")
        )
