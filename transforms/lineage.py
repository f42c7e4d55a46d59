"""Pure lineage rules shared by the batch and streaming pipelines.

* the identity map (LTI context id -> course uuid) with conflict detection,
* which event wins when one ``content_migration_id`` arrives more than once,
* ``parent(X, t)`` and the climb from a retry's source course to the root,
* the join rule that gives each retry its ``lineage_status`` and migration,
* attempt numbering.

Times are UTC epoch microseconds (ints) throughout.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from transforms.events import MIGRATION_COMPLETED, MigrationEvent, RetryEvent
from transforms.tables import LineageRow, RetryRow

MAX_LINEAGE_DEPTH = 64

SAME_COURSE = "same_course"
MATCHED = "matched"
SOURCE_MISMATCH = "source_mismatch"
NO_MIGRATION = "no_migration"
LINEAGE_STATUSES = (SAME_COURSE, MATCHED, SOURCE_MISMATCH, NO_MIGRATION)


# --- identity map ---------------------------------------------------------

def identity_pairs(event: RetryEvent | MigrationEvent) -> list[tuple[str, str]]:
    """(lti_context_id, course_uuid) pairs that one accepted event vouches for."""
    candidates: list[tuple[str | None, str | None]]
    if isinstance(event, RetryEvent):
        candidates = [(event.new_course_resource_link_id, event.new_course_uuid)]
    else:
        candidates = [
            (event.lti_context_id, event.context_uuid),
            (event.destination_course_lti_id, event.context_uuid),
            (event.source_course_lti_id, event.source_course_uuid),
        ]
    return [(lti, uuid) for lti, uuid in candidates if lti and uuid]


def row_identity_pairs(row: LineageRow) -> list[tuple[str, str]]:
    """(lti_context_id, course_uuid) pairs that an earlier day's ``course_lineage`` row carries."""
    candidates = [(row.child_lti_context_id, row.child_course_uuid), (row.parent_lti_context_id, row.parent_course_uuid)]
    return [(lti, uuid) for lti, uuid in candidates if lti and uuid]


def resolve_identity(uuids: Iterable[str]) -> str | None:
    """The course uuid an LTI id stands for; None when the evidence conflicts."""
    distinct = set(uuids)
    return next(iter(distinct)) if len(distinct) == 1 else None


# --- course_lineage rows ----------------------------------------------------

def version_order(item: MigrationEvent | LineageRow) -> tuple[int, str]:
    """The winning version of a migration id: latest completion, ties by greatest fingerprint."""
    completed_at = item.event_time if isinstance(item, MigrationEvent) else item.completed_at
    return (completed_at, item.event_fingerprint)


def latest_migration_event(events: Iterable[MigrationEvent]) -> MigrationEvent:
    """Of distinct events sharing a migration id, the version that wins."""
    return max(events, key=version_order)


def lineage_row(event: MigrationEvent, identity: Mapping[str, str | None]) -> LineageRow:
    """The ``course_lineage`` row of a completed migration, its parent resolved."""
    assert event.event_name == MIGRATION_COMPLETED, event.event_name
    parent = event.source_course_uuid
    if parent is None and event.source_course_lti_id is not None:
        parent = identity.get(event.source_course_lti_id)
    return LineageRow(
        content_migration_id=event.content_migration_id,
        child_course_uuid=event.context_uuid,
        child_lti_context_id=event.lti_context_id or event.destination_course_lti_id,
        parent_course_uuid=parent,
        parent_lti_context_id=event.source_course_lti_id,
        migration_type=event.migration_type,
        completed_at=event.event_time,
        root_account_uuid=event.root_account_uuid,
        domain=event.domain,
        event_fingerprint=event.event_fingerprint,
    )


# --- the lineage graph ------------------------------------------------------

class Edge(NamedTuple):
    """A migration into a course, as the join and the climb need it."""

    completed_at: int
    content_migration_id: str
    parent_course_uuid: str | None
    migration_type: str | None


def migration_id_key(migration_id: str) -> tuple[int, int, str]:
    """Order of migration ids for ties: numeric for digit strings (which rank above others).

    The id itself breaks the last tie ("010" vs "10"), so the order is total and
    the winner never depends on the order a runner delivers edges in.
    """
    if migration_id.isascii() and migration_id.isdigit():
        return (1, int(migration_id), migration_id)
    return (0, 0, migration_id)


def edge_order(edge: Edge) -> tuple:
    """Sort key of edges into one course: completion time, then migration id."""
    return (edge.completed_at, migration_id_key(edge.content_migration_id))


def edge_of(row: LineageRow) -> Edge:
    """The graph edge a ``course_lineage`` row stands for."""
    return Edge(row.completed_at, row.content_migration_id, row.parent_course_uuid, row.migration_type)


def sort_edges(edges: Iterable[Edge]) -> tuple[Edge, ...]:
    """Edges into one course, oldest first: the form every lookup below expects."""
    return tuple(sorted(edges, key=edge_order))


def edges_into(rows: Iterable[LineageRow]) -> tuple[Edge, ...]:
    """Sorted edges of the lineage rows into one course, one per migration id.

    A migration id seen again (a later day's redelivery) keeps the version
    that wins within one run (:func:`version_order`).
    """
    latest: dict[str, LineageRow] = {}
    for row in rows:
        kept = latest.get(row.content_migration_id)
        if kept is None or version_order(row) > version_order(kept):
            latest[row.content_migration_id] = row
    return sort_edges(edge_of(row) for row in latest.values())


def _edges_completed_by(edges: Sequence[Edge], t: int) -> Sequence[Edge]:
    return edges[: bisect.bisect_right(edges, t, key=lambda edge: edge.completed_at)]


def latest_edge(edges: Sequence[Edge], t: int, parent: str | None = None,
                with_parent: bool = False) -> Edge | None:
    """Latest edge completed at or before ``t`` (optionally from ``parent``, or with any parent)."""
    for edge in reversed(_edges_completed_by(edges, t)):
        if parent is not None and edge.parent_course_uuid != parent:
            continue
        if with_parent and edge.parent_course_uuid is None:
            continue
        return edge
    return None


def parent_of(graph: Mapping[str, Sequence[Edge]], course_uuid: str, t: int) -> str | None:
    """``parent(X, t)``: the parent of the latest migration with a parent into X by t."""
    edge = latest_edge(graph.get(course_uuid, ()), t, with_parent=True)
    return edge.parent_course_uuid if edge else None


class LineagePath(NamedTuple):
    """A retry's course chain and whether the climb met a cycle or the depth limit."""

    path: list[str]  # root first, ending with the new course
    cycle: bool
    truncated: bool


def climb_lineage(graph: Mapping[str, Sequence[Edge]], source: str, target: str, t: int,
                  max_depth: int = MAX_LINEAGE_DEPTH) -> LineagePath:
    """[..., parent(parent(S)), parent(S), S, T], stopping at a root, a cycle or max_depth hops."""
    reversed_path = [target, source] if source != target else [source]
    seen = set(reversed_path)
    cycle = truncated = False
    course = source
    while (parent := parent_of(graph, course, t)) is not None:
        if parent in seen:
            cycle = True
            break
        if len(reversed_path) - 1 >= max_depth:
            truncated = True
            break
        reversed_path.append(parent)
        seen.add(parent)
        course = parent
    reversed_path.reverse()
    return LineagePath(reversed_path, cycle, truncated)


# --- the join rule ------------------------------------------------------------

class JoinResult(NamedTuple):
    """A retry's lineage status and the migration that decided it, if any."""

    lineage_status: str
    migration: Edge | None


def join_retry(source: str, target: str, t: int, edges_into_target: Sequence[Edge]) -> JoinResult:
    """The lineage status of a retry from course ``source`` into ``target`` at time ``t``."""
    if source == target:
        return JoinResult(SAME_COURSE, None)
    edge = latest_edge(edges_into_target, t, parent=source)
    if edge is not None:
        return JoinResult(MATCHED, edge)
    edge = latest_edge(edges_into_target, t)
    if edge is not None:
        return JoinResult(SOURCE_MISMATCH, edge)
    return JoinResult(NO_MIGRATION, None)


# --- attempts -----------------------------------------------------------------

def attempt_key(retry: RetryEvent) -> tuple[str, str] | None:
    """Retries of one assignment share this key; None when the assignment is unknown."""
    if retry.new_assignment_resource_link_id is None:
        return None
    return (retry.new_course_uuid, retry.new_assignment_resource_link_id)


def number_attempts(retries: Iterable[RetryEvent]) -> list[tuple[RetryEvent, int, int]]:
    """(retry, attempt_number, attempt_count) for distinct retries of one attempt key."""
    ordered = sorted(retries, key=lambda retry: (retry.event_time, retry.event_fingerprint))
    return [(retry, rank, len(ordered)) for rank, retry in enumerate(ordered, start=1)]


# --- the retries row ------------------------------------------------------------

def retry_row(retry: RetryEvent, graph: Mapping[str, Sequence[Edge]],
              attempt_number: int | None, attempt_count: int | None) -> RetryRow:
    """Join one distinct retry to the lineage graph (child course uuid -> sorted edges)."""
    source, target, t = retry.original_course_uuid, retry.new_course_uuid, retry.event_time
    status, migration = join_retry(source, target, t, graph.get(target, ()))
    lineage = climb_lineage(graph, source, target, t)
    return RetryRow(
        *retry,
        lineage_status=status,
        migration_id=migration.content_migration_id if migration else None,
        migration_type=migration.migration_type if migration else None,
        migration_completed_at=migration.completed_at if migration else None,
        seconds_since_migration=(t - migration.completed_at) / 1e6 if migration else None,
        lineage_path=lineage.path,
        root_course_uuid=lineage.path[0],
        lineage_depth=len(lineage.path) - 1,
        lineage_cycle=lineage.cycle,
        lineage_truncated=lineage.truncated,
        attempt_number=attempt_number,
        attempt_count=attempt_count,
    )


# --- duplicates -------------------------------------------------------------------

def distinct_events(events: Iterable) -> tuple[list, int]:
    """(one event per fingerprint, number of copies dropped) of events sharing a key.

    Copies of one event always share every key derived from its content, so
    deduplicating inside any such group is deduplicating globally.
    """
    seen: dict[str, object] = {}
    total = 0
    for event in events:
        total += 1
        seen.setdefault(event.event_fingerprint, event)
    return list(seen.values()), total - len(seen)
