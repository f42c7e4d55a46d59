"""Lists of rows wait for groupings packed into bytes; the writer builds Arrow a list at a time."""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.test_outcomes import S, T, retry, state
from transforms.parquet_writer import (
    WriteParquetFiles,
    arrow_of_packed,
    packed_by_event_date,
    split_by_event_date,
)
from transforms.resolve import NumberRetryAttempts, shard_retries
from transforms.shards import pack_rows, unpack_rows
from transforms.tables import ASSIGNMENT_STATES, RETRIES, to_arrow

DAY = 86_400 * S


def _state_rows(count: int, start: int = T, step: int = 3_600 * S) -> list[tuple]:
    return [
        tuple(
            state(
                start + i * step,
                "published" if i % 3 else "deleted",
                fp=f"s{i}",
                link=f"link-{i % 7}",
                assignment_id=f"a{i}",
                created_on_blueprint_sync=[None, True, False][i % 3],
                domain_duplicated_from="caf\u00e9.example" if i % 2 else None,
            )
        )
        for i in range(count)
    ]


def test_packed_rows_come_back_as_the_same_plain_tuples_in_order():
    rows = [
        ("a", None, 1_700_000_000_000_000, True, False, 0.5, ["x", "y"], "caf\u00e9", "l\ud800"),
        ("b", "", -1, None, None, float("inf"), [], "", ""),
        *_state_rows(50),
    ]
    packed = pack_rows(rows)
    assert type(packed) is bytes
    back = unpack_rows(packed)
    assert back == rows
    assert all(type(row) is tuple for row in back)
    assert [type(value) for value in back[0]] == [type(value) for value in rows[0]]
    assert unpack_rows(pack_rows([])) == []


def test_packed_rows_are_compressed_and_unpacking_something_else_than_a_list_fails():
    import pickle
    import struct

    rows = _state_rows(500)
    assert len(pack_rows(rows)) * 2 < len(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))
    pickled = pickle.dumps(("not", "a", "list"))
    packed = struct.pack("<Q", len(pickled)) + pa.compress(pickled, codec="zstd", asbytes=True)
    with pytest.raises(TypeError, match="must hold a list"):
        unpack_rows(packed)


def test_packed_by_event_date_packs_the_rows_of_each_date_as_plain_tuples():
    index = ASSIGNMENT_STATES.schema.get_field_index("event_time")
    rows = [state(19_900 * DAY + i * DAY // 3, "published", fp=f"s{i}") for i in range(7)]
    packed = dict(packed_by_event_date(rows, index))
    assert all(type(value) is bytes for value in packed.values())
    unpacked = {folder: unpack_rows(value) for folder, value in packed.items()}
    expected = {
        folder: [tuple(row) for row in part] for folder, part in split_by_event_date(rows, index)
    }
    assert unpacked == expected
    assert all(type(row) is tuple for part in unpacked.values() for row in part)


def test_arrow_of_packed_lists_is_the_table_of_all_their_rows_in_order():
    rows = _state_rows(100)
    batches = [pack_rows(rows[:10]), pack_rows(rows[10:11]), pack_rows([]), pack_rows(rows[11:])]
    built = arrow_of_packed(ASSIGNMENT_STATES, batches)
    assert built.schema == ASSIGNMENT_STATES.schema
    assert built.equals(to_arrow(ASSIGNMENT_STATES, rows))
    assert arrow_of_packed(ASSIGNMENT_STATES, []).equals(ASSIGNMENT_STATES.schema.empty_table())


def test_writing_an_arrow_table_in_parts_writes_what_one_write_of_its_rows_does(tmp_path):
    rows = _state_rows(25)
    data = arrow_of_packed(ASSIGNMENT_STATES, [pack_rows(rows[:12]), pack_rows(rows[12:])])
    chunked = WriteParquetFiles(ASSIGNMENT_STATES, str(tmp_path / "chunked"), "zstd", 10)
    whole = WriteParquetFiles(ASSIGNMENT_STATES, str(tmp_path / "whole"), "zstd")
    records = list(chunked.process(("d", "part", data))) + list(
        whole.process(("d", "part", list(rows)))
    )
    assert records == [{"assignment_states_written": 25}] * 2
    files = sorted((tmp_path / "chunked" / "d").glob("*.parquet"))
    assert [path.name for path in files] == [f"part-{i:05d}.parquet" for i in range(3)]
    assert [pq.read_metadata(path).num_rows for path in files] == [10, 10, 5]
    in_parts = pa.concat_tables([pq.read_table(path) for path in files])
    assert in_parts.equals(pq.read_table(tmp_path / "whole" / "d" / "part-00000.parquet"))
    assert in_parts.equals(to_arrow(ASSIGNMENT_STATES, rows))


def test_numbered_retries_cross_their_groupings_packed_and_keep_every_retry():
    first = [retry(T + i * S, link=f"link-{i % 3}", fp=f"r{i}") for i in range(12)]
    second = [first[0], retry(T, link=None, fp="r-none")]  # a copy and a retry without a link
    assert all(type(packed) is bytes for _, packed in shard_retries(first))
    with BeamTestPipeline(runner="FnApiRunner") as p:
        numbered = (p | beam.Create([first, second]) | NumberRetryAttempts()).numbered
        assert_that(
            numbered
            | beam.Map(lambda sharded: (type(sharded[1]).__name__, len(unpack_rows(sharded[1]))))
            | beam.CombinePerKey(sum),
            equal_to([("bytes", 13)]),
        )


def test_a_retries_table_of_packed_lists_keeps_its_list_column():
    row = (
        "fp",
        "content_migration_retry",
        T,
        *[None] * 3,
        "c0",
        "c1",
        *[None] * 10,
        "matched",
        None,
        None,
        None,
        None,
        ["c1", "c0"],
        "c0",
        1,
        False,
        False,
        1,
        1,
    )
    built = arrow_of_packed(RETRIES, [pack_rows([row]), pack_rows([row])])
    assert built.column("lineage_path").to_pylist() == [["c1", "c0"], ["c1", "c0"]]
    assert built.equals(to_arrow(RETRIES, [row, row]))
