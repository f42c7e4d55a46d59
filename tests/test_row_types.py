"""The NamedTuples rows travel as have their table's columns, in order, with matching types."""

from __future__ import annotations

import datetime as dt
import typing

import pytest

from transforms.events import RetryEvent
from transforms.tables import RETRY_EVENT_COLUMNS, TABLES


def plain(annotation: object) -> object:
    """A model annotation as the row carries it: Annotated markers dropped, datetimes as int."""
    if typing.get_origin(annotation) is typing.Annotated:
        return plain(typing.get_args(annotation)[0])
    arguments = typing.get_args(annotation)
    if arguments and typing.get_origin(annotation) in (typing.Union, type(int | None)):
        members = [plain(argument) for argument in arguments]
        return typing.Union[tuple(members)]  # noqa: UP007 (a Union built at run time)
    return int if annotation is dt.datetime else annotation


@pytest.mark.parametrize("table", TABLES, ids=lambda table: table.name)
def test_row_fields_have_the_models_types(table):
    hints = typing.get_type_hints(table.row)
    model = table.record.model_fields
    assert list(hints) == list(model)
    for name, field in model.items():
        annotation = field.annotation
        if field.metadata:
            annotation = typing.Annotated[(annotation, *field.metadata)]
        assert plain(hints[name]) == plain(annotation), name


def test_accepted_retry_has_the_retries_columns_before_the_join():
    assert RetryEvent._fields == RETRY_EVENT_COLUMNS
    row_hints = typing.get_type_hints(TABLES[0].row)
    assert typing.get_type_hints(RetryEvent) == {name: row_hints[name] for name in RETRY_EVENT_COLUMNS}
