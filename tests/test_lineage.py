"""Unit tests of the pure lineage rules in :mod:`transforms.lineage`.

The rules under test (README, "Output"): the identity map, which
migration event wins per id, ``parent(X, t)``, the join's ``lineage_status``,
the climb to the root (cycles, the 64-hop limit), attempts and the assembled
``retries`` row. Times are UTC epoch microseconds.
"""
from __future__ import annotations

import itertools
from collections import defaultdict

import pytest

from tests.conftest import migration_event as migration
from tests.conftest import retry_event as retry
from transforms.events import (
    LEGACY_RETRY_EVENT,
    MIGRATION_COMPLETED,
    MIGRATION_STARTED,
    RetryEvent,
)
from transforms.lineage import (
    LINEAGE_STATUSES,
    MATCHED,
    MAX_LINEAGE_DEPTH,
    NO_MIGRATION,
    SAME_COURSE,
    SOURCE_MISMATCH,
    Edge,
    LineageRow,
    RetryRow,
    attempt_key,
    climb_lineage,
    edge_of,
    identity_pairs,
    join_retry,
    latest_migration_event,
    lineage_row,
    migration_id_key,
    number_attempts,
    parent_of,
    resolve_identity,
    retry_row,
    sort_edges,
)

SEC = 1_000_000
T0 = 1_700_000_000 * SEC  # 2023-11-14T22:13:20Z
HOUR = 3600 * SEC


# --- builders -------------------------------------------------------------------

def edge(parent: str | None, at: int = T0, mid: str = "1", migration_type: str | None = None) -> Edge:
    return Edge(completed_at=at, content_migration_id=mid, parent_course_uuid=parent,
                migration_type=migration_type)


def graph(edges_by_child: dict[str, list[Edge]]) -> dict[str, tuple[Edge, ...]]:
    """Child course uuid -> its edges, sorted as every lookup expects."""
    return {child: sort_edges(edges) for child, edges in edges_by_child.items()}


def chain(courses: list[str], at: int = T0) -> dict[str, list[Edge]]:
    """Edges making ``courses`` a root-first chain: parent(courses[i]) = courses[i - 1]."""
    return {child: [edge(parent, at, mid=str(i))]
            for i, (parent, child) in enumerate(itertools.pairwise(courses), start=1)}


def identity_map(events) -> dict[str, str | None]:
    """The identity map the pipeline builds: lti id -> resolved uuid (None on conflict)."""
    uuids_by_lti: defaultdict[str, list[str]] = defaultdict(list)
    for event in events:
        for lti, uuid in identity_pairs(event):
            uuids_by_lti[lti].append(uuid)
    return {lti: resolve_identity(uuids) for lti, uuids in uuids_by_lti.items()}


# --- identity map ------------------------------------------------------------------

@pytest.mark.parametrize("link_id, expected", [
    ("lti-T", {("lti-T", "T")}),
    (None, set()),
    ("", set()),
], ids=["with-link-id", "link-id-null", "link-id-empty"])
def test_identity_pairs_of_a_retry_are_new_course_link_id_and_new_course_uuid(link_id, expected):
    event = retry("S", "T", new_course_resource_link_id=link_id,
                  original_assignment_resource_link_id="a-orig", new_assignment_resource_link_id="a-new")
    assert set(identity_pairs(event)) == expected


@pytest.mark.parametrize("fields, expected", [
    ({"lti_context_id": "lti-C", "destination_course_lti_id": "dest-C",
          "source_course_uuid": "P", "source_course_lti_id": "lti-P"},
     {("lti-C", "C"), ("dest-C", "C"), ("lti-P", "P")}),
    ({"lti_context_id": "lti-C"}, {("lti-C", "C")}),
    ({"destination_course_lti_id": "dest-C"}, {("dest-C", "C")}),
    ({"source_course_uuid": "P", "source_course_lti_id": "lti-P"}, {("lti-P", "P")}),
    # A source lti id without a source uuid (or the reverse) vouches for nothing.
    ({"source_course_lti_id": "lti-P"}, set()),
    ({"source_course_uuid": "P"}, set()),
    ({"lti_context_id": "lti-C", "source_course_lti_id": "lti-P"}, {("lti-C", "C")}),
    ({"lti_context_id": "", "destination_course_lti_id": "", "source_course_uuid": "", "source_course_lti_id": "x"},
     set()),
    ({}, set()),
], ids=["all-three", "lti-context-only", "destination-only", "source-both", "source-lti-only",
        "source-uuid-only", "child-and-half-source", "empty-strings", "none"])
@pytest.mark.parametrize("event_name", [MIGRATION_COMPLETED, MIGRATION_STARTED])
def test_identity_pairs_of_a_migration_only_where_both_sides_are_present(fields, expected, event_name):
    event = migration("7", "C", event_name=event_name, **fields)
    assert set(identity_pairs(event)) == expected


def test_identity_pairs_are_lti_id_first_then_uuid():
    pairs = identity_pairs(migration("7", "course-uuid", lti_context_id="lti-id"))
    assert pairs == [("lti-id", "course-uuid")]


@pytest.mark.parametrize("uuids, expected", [
    (["U"], "U"),
    (["U", "U", "U"], "U"),
    (["U", "V"], None),
    (["U", "U", "V"], None),
    ([], None),
], ids=["single", "repeated-same", "conflict", "conflict-with-repeats", "no-evidence"])
def test_resolve_identity(uuids, expected):
    assert resolve_identity(uuids) == expected
    # Beam hands a grouped iterable, not a list: a one-shot iterator must work too.
    assert resolve_identity(iter(uuids)) == expected


# --- which event wins per migration id ------------------------------------------------

def test_latest_migration_event_latest_event_time_wins_whatever_the_fingerprints():
    early = migration("1", t=T0, fp="ffff")
    late = migration("1", t=T0 + 1, fp="0000")
    for events in itertools.permutations([early, late]):
        assert latest_migration_event(events) is late


def test_latest_migration_event_ties_on_event_time_go_to_greatest_fingerprint():
    events = [migration("1", t=T0, fp=fp, context_uuid=f"C-{fp}") for fp in ("0a", "ff", "9b")]
    events.append(migration("1", t=T0 - 1, fp="fffff"))  # greater fingerprint, but older
    for ordering in itertools.permutations(events):
        winner = latest_migration_event(iter(ordering))
        assert winner.event_fingerprint == "ff"


def test_latest_migration_event_of_one_event_is_that_event():
    only = migration("1")
    assert latest_migration_event([only]) is only


# --- course_lineage rows ---------------------------------------------------------------

def test_lineage_row_copies_every_column_from_the_event():
    event = migration(
        "12345", "child-uuid", T0 + 17, fp="abc123",
        lti_context_id="child-lti", destination_course_lti_id="dest-lti",
        source_course_uuid="parent-uuid", source_course_lti_id="parent-lti",
        migration_type="course_copy_importer", root_account_uuid="root-acct", domain="school.instructure.com",
    )
    row = lineage_row(event, {})
    assert row == LineageRow(
        content_migration_id="12345",
        child_course_uuid="child-uuid",
        child_lti_context_id="child-lti",
        parent_course_uuid="parent-uuid",
        parent_lti_context_id="parent-lti",
        migration_type="course_copy_importer",
        completed_at=T0 + 17,
        root_account_uuid="root-acct",
        domain="school.instructure.com",
        event_fingerprint="abc123",
    )


def test_lineage_row_columns_are_the_contract_columns_in_order():
    assert LineageRow._fields == (
        "content_migration_id", "child_course_uuid", "child_lti_context_id", "parent_course_uuid",
        "parent_lti_context_id", "migration_type", "completed_at", "root_account_uuid", "domain",
        "event_fingerprint",
    )


@pytest.mark.parametrize("source_uuid, source_lti, identity, expected_parent", [
    # source_course_uuid is preferred, even over an lti id resolving elsewhere
    ("P", "lti-P", {"lti-P": "OTHER"}, "P"),
    ("P", None, {}, "P"),
    # else the source lti id through the identity map
    (None, "lti-P", {"lti-P": "P-resolved"}, "P-resolved"),
    # unresolved or conflicting lti id: no parent
    (None, "lti-P", {}, None),
    (None, "lti-P", {"lti-other": "X"}, None),
    (None, "lti-P", {"lti-P": None}, None),
    # nothing to go on
    (None, None, {"lti-P": "P"}, None),
], ids=["uuid-over-lti", "uuid-only", "lti-resolved", "lti-unknown", "lti-unknown-other-ids",
        "lti-conflict", "no-source"])
def test_lineage_row_parent_resolution(source_uuid, source_lti, identity, expected_parent):
    row = lineage_row(migration("1", "C", source_course_uuid=source_uuid, source_course_lti_id=source_lti),
                      identity)
    assert row.parent_course_uuid == expected_parent
    assert row.parent_lti_context_id == source_lti


@pytest.mark.parametrize("lti_context_id, destination_lti, expected", [
    ("lti-C", "dest-C", "lti-C"),
    ("lti-C", None, "lti-C"),
    (None, "dest-C", "dest-C"),
    (None, None, None),
], ids=["both", "lti-only", "destination-fallback", "neither"])
def test_lineage_row_child_lti_context_id_falls_back_to_destination_course_lti_id(
        lti_context_id, destination_lti, expected):
    row = lineage_row(migration("1", "C", lti_context_id=lti_context_id,
                                destination_course_lti_id=destination_lti), {})
    assert row.child_lti_context_id == expected


def test_lineage_row_resolves_parent_from_identity_built_from_other_events():
    events = [
        # a retry vouches that lti-P is course P
        retry("X", "P", new_course_resource_link_id="lti-P"),
        # a started migration vouches that lti-Q is course Q
        migration("2", "Q", event_name=MIGRATION_STARTED, lti_context_id="lti-Q"),
    ]
    identity = identity_map(events)
    from_retry = lineage_row(migration("10", "C1", source_course_lti_id="lti-P"), identity)
    from_started = lineage_row(migration("11", "C2", source_course_lti_id="lti-Q"), identity)
    assert from_retry.parent_course_uuid == "P"
    assert from_started.parent_course_uuid == "Q"


def test_lineage_row_parent_is_null_when_the_lti_id_is_an_identity_conflict():
    events = [
        retry("X", "P1", new_course_resource_link_id="lti-P"),
        migration("2", "P2", destination_course_lti_id="lti-P"),  # same lti id, another course
        migration("3", "Q", lti_context_id="lti-Q"),
        migration("4", "Q", destination_course_lti_id="lti-Q"),  # same course again: no conflict
    ]
    identity = identity_map(events)
    assert identity == {"lti-P": None, "lti-Q": "Q"}
    assert lineage_row(migration("10", "C", source_course_lti_id="lti-P"), identity).parent_course_uuid is None
    assert lineage_row(migration("11", "C", source_course_lti_id="lti-Q"), identity).parent_course_uuid == "Q"


def test_edge_of_takes_what_the_join_and_climb_need_from_a_lineage_row():
    row = lineage_row(migration("42", "C", T0 + 5, source_course_uuid="P", migration_type="course_copy_importer"),
                      {})
    assert edge_of(row) == Edge(completed_at=T0 + 5, content_migration_id="42",
                                parent_course_uuid="P", migration_type="course_copy_importer")


# --- tie order of migration ids -------------------------------------------------------------

@pytest.mark.parametrize("greater, smaller", [
    ("10", "9"),
    ("100", "99"),
    ("2", "1"),
    ("123456789012345678901234567890", "99999999999999999999999999999"),
    ("b", "a"),
    ("abc9", "abc10"),  # not digit strings: plain string order
], ids=["10>9", "100>99", "2>1", "huge", "b>a", "strings-lexicographic"])
def test_migration_id_key_orders_digit_strings_numerically(greater, smaller):
    assert migration_id_key(greater) > migration_id_key(smaller)


@pytest.mark.parametrize("ids", [["9", "10"], ["10", "9"], ["2", "10", "9"], ["99", "100", "1"]])
def test_sort_edges_equal_completed_at_puts_numerically_greatest_id_last(ids):
    edges = [edge("P", T0, mid) for mid in ids]
    assert [e.content_migration_id for e in sort_edges(edges)] == sorted(ids, key=int)


def test_sort_edges_orders_by_completed_at_before_migration_id():
    late_small_id = edge("P", T0 + 1, "1")
    early_big_id = edge("P", T0, "99")
    assert sort_edges([late_small_id, early_big_id]) == (early_big_id, late_small_id)


# --- parent(X, t) -----------------------------------------------------------------------------

def test_parent_of_a_course_without_edges_is_none():
    assert parent_of({}, "X", T0) is None
    assert parent_of(graph({"Y": [edge("P")]}), "X", T0) is None


@pytest.mark.parametrize("t, expected", [
    (T0 - 1, None),        # the only edge completes after t
    (T0, "P1"),            # completed_at == t counts
    (T0 + HOUR - 1, "P1"),
    (T0 + HOUR, "P2"),     # the later edge, at exactly t
    (T0 + 10 * HOUR, "P2"),
])
def test_parent_of_only_edges_completed_at_or_before_t_latest_wins(t, expected):
    g = graph({"X": [edge("P2", T0 + HOUR, "2"), edge("P1", T0, "1")]})
    assert parent_of(g, "X", t) == expected


def test_parent_of_skips_edges_without_a_parent():
    # A later file import (no source) does not hide the course copy before it.
    g = graph({"X": [edge("P", T0, "1"), edge(None, T0 + HOUR, "2")]})
    assert parent_of(g, "X", T0 + 2 * HOUR) == "P"
    # Only a parentless edge by t: no parent.
    g = graph({"X": [edge(None, T0, "1"), edge("P", T0 + HOUR, "2")]})
    assert parent_of(g, "X", T0 + HOUR - 1) is None
    assert parent_of(g, "X", T0 + HOUR) == "P"


@pytest.mark.parametrize("ids, expected_parent", [
    (("9", "10"), "P10"),
    (("10", "9"), "P10"),
    (("1", "2", "100", "99"), "P100"),
])
def test_parent_of_ties_on_completed_at_go_to_greatest_migration_id(ids, expected_parent):
    g = graph({"X": [edge(f"P{mid}", T0, mid) for mid in ids]})
    assert parent_of(g, "X", T0) == expected_parent


def test_parent_of_tie_skips_the_greatest_id_when_it_has_no_parent():
    g = graph({"X": [edge("P9", T0, "9"), edge(None, T0, "10")]})
    assert parent_of(g, "X", T0) == "P9"


def test_parent_of_does_not_depend_on_input_order_of_edges():
    edges = [edge("A", T0, "5"), edge("B", T0 + 1, "3"), edge("C", T0 + 1, "4"),
             edge(None, T0 + 2, "6"), edge("D", T0 + 3, "7")]
    for ordering in itertools.permutations(edges):
        g = graph({"X": list(ordering)})
        assert parent_of(g, "X", T0 + 2) == "C"
        assert parent_of(g, "X", T0) == "A"
        assert parent_of(g, "X", T0 + 3) == "D"


# --- the join ----------------------------------------------------------------------------------

def test_lineage_statuses_are_the_four_of_the_contract():
    assert set(LINEAGE_STATUSES) == {"same_course", "matched", "source_mismatch", "no_migration"}


JOIN_CASES = [
    # id, S, T, t, edges into T, expected status, expected migration id
    ("same-course-no-edges", "S", "S", T0, [], SAME_COURSE, None),
    ("same-course-despite-edges", "S", "S", T0,
     [edge("S", T0 - HOUR, "1"), edge("X", T0 - 1, "2")], SAME_COURSE, None),
    ("matched-single", "S", "T", T0, [edge("S", T0 - HOUR, "1")], MATCHED, "1"),
    ("matched-at-exactly-t", "S", "T", T0, [edge("S", T0, "1")], MATCHED, "1"),
    ("matched-over-later-other-source", "S", "T", T0,
     [edge("S", T0 - 2 * HOUR, "1"), edge("X", T0 - HOUR, "2")], MATCHED, "1"),
    ("matched-over-later-parentless", "S", "T", T0,
     [edge("S", T0 - 2 * HOUR, "1"), edge(None, T0 - HOUR, "2")], MATCHED, "1"),
    ("matched-latest-of-several-from-S", "S", "T", T0,
     [edge("S", T0 - 3 * HOUR, "1"), edge("S", T0 - HOUR, "2"), edge("X", T0 - 2 * HOUR, "3")], MATCHED, "2"),
    ("matched-ignores-S-edge-after-t", "S", "T", T0,
     [edge("S", T0 - 2 * HOUR, "1"), edge("S", T0 + 1, "2")], MATCHED, "1"),
    ("matched-tie-greatest-id", "S", "T", T0,
     [edge("S", T0 - HOUR, "9"), edge("S", T0 - HOUR, "10"), edge("S", T0 - 2 * HOUR, "11")], MATCHED, "10"),
    ("mismatch-S-edge-only-after-t", "S", "T", T0,
     [edge("X", T0 - HOUR, "1"), edge("S", T0 + 1, "2")], SOURCE_MISMATCH, "1"),
    ("mismatch-latest-other-source", "S", "T", T0,
     [edge("X", T0 - 2 * HOUR, "1"), edge("Y", T0 - HOUR, "2"), edge("Z", T0 + 1, "3")], SOURCE_MISMATCH, "2"),
    ("mismatch-latest-is-parentless", "S", "T", T0,
     [edge("X", T0 - 2 * HOUR, "1"), edge(None, T0 - HOUR, "2")], SOURCE_MISMATCH, "2"),
    ("mismatch-only-parentless", "S", "T", T0, [edge(None, T0, "1")], SOURCE_MISMATCH, "1"),
    ("mismatch-tie-greatest-id", "S", "T", T0,
     [edge("X", T0 - HOUR, "9"), edge(None, T0 - HOUR, "10"), edge("Y", T0 - HOUR, "2")], SOURCE_MISMATCH, "10"),
    ("no-migration-no-edges", "S", "T", T0, [], NO_MIGRATION, None),
    ("no-migration-only-later-edges", "S", "T", T0,
     [edge("S", T0 + 1, "1"), edge("X", T0 + HOUR, "2")], NO_MIGRATION, None),
]


@pytest.mark.parametrize("source, target, t, edges, status, migration_id",
                         [case[1:] for case in JOIN_CASES], ids=[case[0] for case in JOIN_CASES])
def test_join_retry(source, target, t, edges, status, migration_id):
    result = join_retry(source, target, t, sort_edges(edges))
    assert result.lineage_status == status
    if migration_id is None:
        assert result.migration is None
    else:
        (expected,) = [e for e in edges if e.content_migration_id == migration_id]
        assert result.migration == expected


def test_join_retry_does_not_depend_on_edge_input_order():
    edges = [edge("S", T0 - 3 * HOUR, "1"), edge("X", T0 - HOUR, "2"), edge("S", T0 - 2 * HOUR, "3"),
             edge("S", T0 + HOUR, "4"), edge(None, T0 - 2 * HOUR, "5")]
    for ordering in itertools.permutations(edges):
        assert join_retry("S", "T", T0, sort_edges(ordering)).migration.content_migration_id == "3"
        assert join_retry("Q", "T", T0, sort_edges(ordering)).migration.content_migration_id == "2"


# --- the climb -----------------------------------------------------------------------------------

def climb(edges_by_child, source="S", target="T", t=T0, **kwargs):
    return climb_lineage(graph(edges_by_child), source, target, t, **kwargs)


def test_climb_without_parents_is_source_then_target():
    result = climb({"T": [edge("S")]})
    assert result.path == ["S", "T"]
    assert (result.cycle, result.truncated) == (False, False)


def test_climb_same_course_does_not_repeat_the_target():
    assert climb({}, "S", "S").path == ["S"]
    result = climb(chain(["R", "P", "S"]), "S", "S")
    assert result.path == ["R", "P", "S"]
    assert (result.cycle, result.truncated) == (False, False)


def test_climb_multi_hop_is_root_first():
    edges = chain(["R", "A", "B", "S"])
    edges["T"] = [edge("S", T0, "99")]
    result = climb(edges)
    assert result.path == ["R", "A", "B", "S", "T"]
    assert (result.cycle, result.truncated) == (False, False)


def test_climb_follows_the_source_not_the_edges_into_the_target():
    # T was copied from X, but the retry came from S: the path is S's ancestry.
    edges = {"T": [edge("X", T0 - HOUR, "1")], "X": [edge("XR", T0 - 2 * HOUR, "2")],
             "S": [edge("P", T0 - 2 * HOUR, "3")]}
    assert climb(edges).path == ["P", "S", "T"]


def test_climb_filters_every_hop_by_the_retry_time():
    t = T0
    edges = {
        # S: copied from A before t; re-copied from B after t (ignored)
        "S": [edge("A", t - 3 * HOUR, "1"), edge("B", t + HOUR, "2")],
        # A: from R1 before t, from R2 after t (ignored at the second hop too)
        "A": [edge("R1", t - 4 * HOUR, "3"), edge("R2", t + 1, "4")],
        # R1's only parent arrives after t: R1 is the root at t
        "R1": [edge("R0", t + HOUR, "5")],
        "B": [edge("BR", t - 5 * HOUR, "6")],
    }
    assert climb(edges, t=t).path == ["R1", "A", "S", "T"]
    # Later, every edge counts.
    # An hour later S's latest parent is B (whose parent BR is before t too).
    assert climb(edges, t=t + HOUR).path == ["BR", "B", "S", "T"]
    # Just after t, A's later parent R2 counts but S's re-copy does not yet.
    assert climb(edges, t=t + 1).path == ["R2", "A", "S", "T"]


def test_climb_time_filter_uses_equality_at_each_hop():
    edges = {"S": [edge("A", T0, "1")], "A": [edge("R", T0, "2")], "R": [edge("Z", T0 + 1, "3")]}
    assert climb(edges, t=T0).path == ["R", "A", "S", "T"]
    assert climb(edges, t=T0 - 1).path == ["S", "T"]


def test_climb_skips_parentless_edges_at_each_hop():
    edges = {"S": [edge("A", T0 - 2, "1"), edge(None, T0 - 1, "2")],
             "A": [edge("R", T0 - 3, "3"), edge(None, T0, "4")]}
    assert climb(edges).path == ["R", "A", "S", "T"]


def test_climb_two_course_cycle_stops_and_flags():
    result = climb({"A": [edge("B", mid="1")], "B": [edge("A", mid="2")]}, "A", "T")
    assert result.path == ["B", "A", "T"]
    assert result.cycle is True
    assert result.truncated is False


def test_climb_parent_of_source_being_the_target_is_a_cycle():
    result = climb({"S": [edge("T", mid="1")], "T": [edge("S", mid="2")]})
    assert result.path == ["S", "T"]
    assert result.cycle is True
    assert result.truncated is False


def test_climb_cycle_further_up_keeps_the_path_so_far():
    edges = chain(["Q", "P", "S"])
    edges["Q"] = [edge("P", mid="9")]  # P -> Q -> P
    result = climb(edges)
    assert result.path == ["Q", "P", "S", "T"]
    assert result.cycle is True


def test_climb_self_loop_on_same_course_is_a_cycle():
    result = climb({"S": [edge("S")]}, "S", "S")
    assert result.path == ["S"]
    assert result.cycle is True


def test_climb_cycle_closed_only_after_t_is_not_a_cycle():
    edges = {"A": [edge("B", T0 - HOUR, "1")], "B": [edge("A", T0 + HOUR, "2")]}
    result = climb(edges, "A", "T", T0)
    assert result.path == ["B", "A", "T"]
    assert result.cycle is False
    assert climb(edges, "A", "T", T0 + HOUR).cycle is True


def courses(n: int) -> list[str]:
    return [f"c{i:03d}" for i in range(n)]


def test_climb_a_100_hop_chain_stops_at_64_hops_and_is_truncated():
    names = courses(100) + ["S"]  # S has 100 ancestors: 101 hops from the root to T
    result = climb(chain(names))
    assert len(result.path) == 65
    assert len(result.path) - 1 == MAX_LINEAGE_DEPTH == 64
    assert result.path[-2:] == ["S", "T"]
    assert result.path == names[-64:] + ["T"]  # the nearest 63 ancestors, S, T
    assert result.path[0] == "c037"
    assert result.truncated is True
    assert result.cycle is False


def test_climb_a_chain_of_exactly_64_hops_is_not_truncated():
    names = courses(63) + ["S"]  # root c000 ... c062, S, T: 64 hops
    result = climb(chain(names))
    assert result.path == names + ["T"]
    assert len(result.path) - 1 == 64
    assert result.path[0] == "c000"
    assert (result.cycle, result.truncated) == (False, False)


def test_climb_a_chain_of_65_hops_is_truncated_by_one():
    names = courses(64) + ["S"]
    result = climb(chain(names))
    assert result.path == names[1:] + ["T"]
    assert result.truncated is True


def test_climb_same_course_limit_counts_hops_from_the_source():
    exactly = climb(chain(courses(64) + ["S"]), "S", "S")
    assert len(exactly.path) == 65 and exactly.path[0] == "c000"
    assert exactly.truncated is False
    beyond = climb(chain(courses(65) + ["S"]), "S", "S")
    assert len(beyond.path) == 65 and beyond.path[0] == "c001"
    assert beyond.truncated is True


def test_climb_at_the_limit_a_parent_only_after_t_is_not_truncation():
    names = courses(63) + ["S"]
    edges = chain(names)
    edges["c000"] = [edge("older-root", T0 + 1, "999")]
    result = climb(edges)
    assert len(result.path) == 65
    assert (result.cycle, result.truncated) == (False, False)


def test_climb_at_the_limit_a_parent_already_in_the_path_is_a_cycle_not_truncation():
    names = courses(63) + ["S"]
    edges = chain(names)
    edges["c000"] = [edge("c030", T0, "999")]
    result = climb(edges)
    assert result.path == names + ["T"]
    assert result.cycle is True
    assert result.truncated is False


def test_climb_honours_a_smaller_max_depth():
    names = ["R", "A", "B", "S"]
    result = climb(chain(names), max_depth=2)
    assert result.path == ["B", "S", "T"]
    assert result.truncated is True
    result = climb(chain(names), max_depth=4)
    assert result.path == ["R", "A", "B", "S", "T"]
    assert result.truncated is False


# --- attempts -------------------------------------------------------------------------------------

def test_attempt_key_is_new_course_and_new_assignment_link():
    assert attempt_key(retry("S", "T", new_assignment_resource_link_id="a1")) == ("T", "a1")
    assert attempt_key(retry("S", "T2", new_assignment_resource_link_id="a1")) == ("T2", "a1")
    assert attempt_key(retry("S", "T", new_assignment_resource_link_id=None,
                             original_assignment_resource_link_id="orig")) is None


def test_attempt_key_ignores_the_source_course():
    a = retry("S1", "T", new_assignment_resource_link_id="a1")
    b = retry("S2", "T", new_assignment_resource_link_id="a1")
    assert attempt_key(a) == attempt_key(b)


def test_number_attempts_ranks_by_event_time_then_fingerprint():
    first = retry(t=T0, fp="ff")
    second = retry(t=T0 + 1, fp="00")
    third = retry(t=T0 + 1, fp="aa")
    fourth = retry(t=T0 + HOUR, fp="11")
    expected = [(first, 1, 4), (second, 2, 4), (third, 3, 4), (fourth, 4, 4)]
    for ordering in itertools.permutations([first, second, third, fourth]):
        assert number_attempts(ordering) == expected
    assert number_attempts(iter([fourth, third, first, second])) == expected


def test_number_attempts_of_one_retry():
    only = retry()
    assert number_attempts([only]) == [(only, 1, 1)]


def test_number_attempts_by_group_as_the_pipeline_does():
    retries = [
        retry("S", "T", T0 + 2, fp="1", new_assignment_resource_link_id="a"),
        retry("S", "T", T0 + 1, fp="2", new_assignment_resource_link_id="a"),
        retry("S", "T", T0 + 3, fp="3", new_assignment_resource_link_id="b"),
        retry("S", "U", T0 + 0, fp="4", new_assignment_resource_link_id="a"),
    ]
    groups = defaultdict(list)
    for r in retries:
        groups[attempt_key(r)].append(r)
    numbered = {r.event_fingerprint: (n, c) for group in groups.values() for r, n, c in number_attempts(group)}
    assert numbered == {"2": (1, 2), "1": (2, 2), "3": (1, 1), "4": (1, 1)}


# --- the retries row ------------------------------------------------------------------------------

RETRY_COLUMNS = (
    "event_fingerprint", "source_event_name", "event_time", "root_account_uuid", "domain", "status",
    "original_course_uuid", "new_course_uuid", "new_course_resource_link_id",
    "original_assignment_resource_link_id", "new_assignment_resource_link_id", "request_id", "context_role",
    "actor_user_hmac", "original_course_id", "original_assignment_id", "new_course_id", "new_assignment_id",
)
LINEAGE_COLUMNS = (
    "lineage_status", "migration_id", "migration_type", "migration_completed_at", "seconds_since_migration",
    "lineage_path", "root_course_uuid", "lineage_depth", "lineage_cycle", "lineage_truncated",
    "attempt_number", "attempt_count",
)


def full_retry(source="S", target="T", t=T0) -> RetryEvent:
    return RetryEvent(
        event_fingerprint="fp-full", source_event_name=LEGACY_RETRY_EVENT, event_time=t,
        root_account_uuid="root-acct", domain="school.instructure.com", status="outcome_alignment_cloning",
        original_course_uuid=source, new_course_uuid=target, new_course_resource_link_id="lti-T",
        original_assignment_resource_link_id="orig-link", new_assignment_resource_link_id="new-link",
        request_id="req-1", context_role="TeacherEnrollment", actor_user_hmac="hmac-hex",
        original_course_id="101", original_assignment_id="202", new_course_id="303", new_assignment_id="404",
    )


def test_retry_row_has_every_contract_column():
    assert set(RetryRow._fields) == set(RETRY_COLUMNS) | set(LINEAGE_COLUMNS)
    assert len(RetryRow._fields) == len(RETRY_COLUMNS) + len(LINEAGE_COLUMNS)


def test_retry_row_matched_assembles_every_column():
    event = full_retry("S", "T", T0)
    g = graph({
        "T": [edge("S", T0 - 90 * SEC - 500_000, "77", "course_copy_importer"), edge(None, T0 + 1, "78")],
        "S": [edge("R", T0 - HOUR, "5")],
    })
    row = retry_row(event, g, 2, 3)
    expected = {name: getattr(event, name) for name in RETRY_COLUMNS} | {
        "lineage_status": MATCHED,
        "migration_id": "77",
        "migration_type": "course_copy_importer",
        "migration_completed_at": T0 - 90_500_000,
        "seconds_since_migration": 90.5,
        "lineage_path": ["R", "S", "T"],
        "root_course_uuid": "R",
        "lineage_depth": 2,
        "lineage_cycle": False,
        "lineage_truncated": False,
        "attempt_number": 2,
        "attempt_count": 3,
    }
    assert row._asdict() == expected
    assert type(row.seconds_since_migration) is float
    # the retry's own columns come through untouched, not shifted
    assert row.original_course_id == "101" and row.new_assignment_id == "404"
    assert row.source_event_name == LEGACY_RETRY_EVENT and row.event_time == T0


@pytest.mark.parametrize("completed_at, seconds", [
    (T0, 0.0),
    (T0 - 1, 0.000001),
    (T0 - 1_234_567, 1.234567),
    (T0 - 3 * 86400 * SEC, 259200.0),
])
def test_retry_row_seconds_since_migration_is_a_float_of_seconds(completed_at, seconds):
    row = retry_row(retry("S", "T", T0), graph({"T": [edge("S", completed_at, "1")]}), None, None)
    assert row.lineage_status == MATCHED
    assert row.migration_completed_at == completed_at
    assert type(row.seconds_since_migration) is float
    assert row.seconds_since_migration == pytest.approx(seconds, abs=1e-9)


def test_retry_row_source_mismatch_describes_the_latest_migration_taken():
    g = graph({"T": [edge("X", T0 - HOUR, "1", "course_copy_importer"),
                     edge(None, T0 - 60 * SEC, "2", "common_cartridge_importer")]})
    row = retry_row(retry("S", "T", T0), g, None, None)
    assert row.lineage_status == SOURCE_MISMATCH
    assert (row.migration_id, row.migration_type, row.migration_completed_at, row.seconds_since_migration) == \
        ("2", "common_cartridge_importer", T0 - 60 * SEC, 60.0)
    # The path is the source's, not the target's migration source.
    assert row.lineage_path == ["S", "T"]
    assert row.root_course_uuid == "S"
    assert row.lineage_depth == 1


@pytest.mark.parametrize("source, target, edges, status", [
    ("S", "S", {"S": [edge("P", T0 - HOUR, "1")]}, SAME_COURSE),
    ("S", "T", {}, NO_MIGRATION),
    ("S", "T", {"T": [edge("S", T0 + 1, "1")]}, NO_MIGRATION),
], ids=["same-course", "no-edges", "only-later-edge"])
def test_retry_row_migration_columns_are_null_without_a_migration_taken(source, target, edges, status):
    row = retry_row(retry(source, target, T0), graph(edges), None, None)
    assert row.lineage_status == status
    assert (row.migration_id, row.migration_type, row.migration_completed_at, row.seconds_since_migration) == \
        (None, None, None, None)


def test_retry_row_same_course_path_and_depth():
    row = retry_row(retry("S", "S", T0), graph(chain(["R", "P", "S"])), 1, 1)
    assert row.lineage_status == SAME_COURSE
    assert row.lineage_path == ["R", "P", "S"]
    assert row.root_course_uuid == "R"
    assert row.lineage_depth == 2


def test_retry_row_same_course_without_parents_is_its_own_root():
    row = retry_row(retry("S", "S", T0), {}, None, None)
    assert row.lineage_path == ["S"]
    assert row.root_course_uuid == "S"
    assert row.lineage_depth == 0


def test_retry_row_carries_cycle_and_truncation_flags():
    cyc = retry_row(retry("A", "T"), graph({"A": [edge("B")], "B": [edge("A", mid="2")]}), None, None)
    assert (cyc.lineage_cycle, cyc.lineage_truncated) == (True, False)
    assert cyc.lineage_path == ["B", "A", "T"] and cyc.root_course_uuid == "B" and cyc.lineage_depth == 2

    names = courses(100) + ["S"]
    deep = retry_row(retry("S", "T"), graph(chain(names)), None, None)
    assert (deep.lineage_cycle, deep.lineage_truncated) == (False, True)
    assert deep.lineage_depth == 64
    assert deep.root_course_uuid == deep.lineage_path[0] == "c037"


def test_retry_row_passes_attempts_through_including_null():
    row = retry_row(retry(), {}, None, None)
    assert (row.attempt_number, row.attempt_count) == (None, None)
    row = retry_row(retry(), {}, 1, 1)
    assert (row.attempt_number, row.attempt_count) == (1, 1)


def test_retry_row_path_is_filtered_by_the_retry_time():
    # S is re-copied from B one microsecond after the first retry.
    g = graph({"T": [edge("S", T0 - HOUR, "1")],
               "S": [edge("A", T0 - 2 * HOUR, "2"), edge("B", T0 + 1, "3")],
               "B": [edge("BR", T0 + 1, "4")]})
    early = retry_row(retry("S", "T", T0), g, None, None)
    late = retry_row(retry("S", "T", T0 + 1), g, None, None)
    assert early.lineage_path == ["A", "S", "T"]
    assert early.root_course_uuid == "A" and early.lineage_depth == 2
    assert late.lineage_path == ["BR", "B", "S", "T"]
    assert late.root_course_uuid == "BR" and late.lineage_depth == 3
    assert early.seconds_since_migration == 3600.0
    assert late.seconds_since_migration == pytest.approx(3600.000001, abs=1e-9)


def test_edges_into_keeps_the_winning_version_of_a_redelivered_migration():
    from transforms.lineage import LineageRow, edges_into

    def row(parent, completed_at, fingerprint):
        return LineageRow("7", "c" * 40, None, parent, None, None, completed_at, None, None, fingerprint)

    assert [e.parent_course_uuid for e in edges_into([row("old", 1, "f9"), row("new", 2, "f0")])] == ["new"]
    assert [e.parent_course_uuid for e in edges_into([row("low", 5, "f1"), row("high", 5, "f2")])] == ["high"]
    assert [e.parent_course_uuid for e in edges_into([row("high", 5, "f2"), row("low", 5, "f1")])] == ["high"]
