"""Each output table's pydantic model, Arrow schema and pipeline row agree."""

import datetime as dt
import types
import typing

import pyarrow as pa
import pytest

from transforms.tables import TABLES, UTC_MICROS, Int32, to_arrow

SCALARS = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    bytes: pa.binary(),
    dt.datetime: UTC_MICROS,
}


def arrow_type_of(annotation) -> tuple[pa.DataType, bool]:
    """(arrow type, nullable) that a model annotation stands for."""
    nullable = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        assert len(members) == 1, annotation
        annotation, nullable = members[0], True
    if typing.get_origin(annotation) is typing.Annotated:
        base, *markers = typing.get_args(annotation)
        assert base is int and Int32 in markers, annotation
        return pa.int32(), nullable
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        return pa.list_(pa.field("item", SCALARS[item], nullable=False)), nullable
    return SCALARS[annotation], nullable


@pytest.mark.parametrize("table", TABLES, ids=lambda table: table.name)
def test_model_schema_and_row_have_the_same_columns_in_order(table):
    assert list(table.record.model_fields) == table.schema.names == list(table.row._fields)


@pytest.mark.parametrize("table", TABLES, ids=lambda table: table.name)
def test_model_types_match_schema_types_and_nullability(table):
    for name, field in table.record.model_fields.items():
        arrow_type, nullable = arrow_type_of(
            field.annotation
            if not field.metadata
            else typing.Annotated[(field.annotation, *field.metadata)]
        )
        schema_field = table.schema.field(name)
        assert schema_field.type == arrow_type, name
        assert schema_field.nullable == nullable, name


@pytest.mark.parametrize("table", TABLES, ids=lambda table: table.name)
def test_empty_table_has_the_schema(table):
    assert to_arrow(table, []).schema == table.schema
