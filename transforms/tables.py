"""The output tables: a pydantic model and one explicit Arrow schema each.

The model is the documented contract of a row (what an analyst reads back);
the Arrow schema is what the writer enforces. ``tests/test_tables.py`` proves
they agree column by column. Rows travel through the pipeline as plain
NamedTuples derived from the models (same columns, same order), with times
as epoch microseconds, so each table's columns are listed once here.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, NamedTuple

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

# Defined without pyarrow, so that the classifier's worker processes need not load it.
from transforms.rows import AssignmentStateRow, DeadLetterRow


class Int32:
    """Marks an ``int`` field that is stored as int32."""


UTC_MICROS = pa.timestamp("us", tz="UTC")


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RetryRecord(_Row):
    """A row of ``retries``: one distinct retry joined to its course lineage."""

    event_fingerprint: str
    source_event_name: str
    event_time: dt.datetime
    root_account_uuid: str | None
    domain: str | None
    status: str | None
    original_course_uuid: str
    new_course_uuid: str
    new_course_resource_link_id: str | None
    original_assignment_resource_link_id: str | None
    new_assignment_resource_link_id: str | None
    request_id: str | None
    context_role: str | None
    actor_user_hmac: str | None
    original_course_id: str | None
    original_assignment_id: str | None
    new_course_id: str | None
    new_assignment_id: str | None
    lineage_status: str
    migration_id: str | None
    migration_type: str | None
    migration_completed_at: dt.datetime | None
    seconds_since_migration: float | None
    lineage_path: list[str]
    root_course_uuid: str
    lineage_depth: Annotated[int, Int32]
    lineage_cycle: bool
    lineage_truncated: bool
    attempt_number: Annotated[int, Int32] | None
    attempt_count: Annotated[int, Int32] | None


def _string(name: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, pa.string(), nullable=nullable)


RETRIES_SCHEMA = pa.schema(
    [
        _string("event_fingerprint", False),
        _string("source_event_name", False),
        pa.field("event_time", UTC_MICROS, nullable=False),
        _string("root_account_uuid"),
        _string("domain"),
        _string("status"),
        _string("original_course_uuid", False),
        _string("new_course_uuid", False),
        _string("new_course_resource_link_id"),
        _string("original_assignment_resource_link_id"),
        _string("new_assignment_resource_link_id"),
        _string("request_id"),
        _string("context_role"),
        _string("actor_user_hmac"),
        _string("original_course_id"),
        _string("original_assignment_id"),
        _string("new_course_id"),
        _string("new_assignment_id"),
        _string("lineage_status", False),
        _string("migration_id"),
        _string("migration_type"),
        pa.field("migration_completed_at", UTC_MICROS),
        pa.field("seconds_since_migration", pa.float64()),
        pa.field(
            "lineage_path", pa.list_(pa.field("item", pa.string(), nullable=False)), nullable=False
        ),
        _string("root_course_uuid", False),
        pa.field("lineage_depth", pa.int32(), nullable=False),
        pa.field("lineage_cycle", pa.bool_(), nullable=False),
        pa.field("lineage_truncated", pa.bool_(), nullable=False),
        pa.field("attempt_number", pa.int32()),
        pa.field("attempt_count", pa.int32()),
    ]
)


class CourseLineageRecord(_Row):
    """A row of ``course_lineage``: one course copy (the latest event per migration id)."""

    content_migration_id: str
    child_course_uuid: str
    child_lti_context_id: str | None
    parent_course_uuid: str | None
    parent_lti_context_id: str | None
    migration_type: str | None
    completed_at: dt.datetime
    root_account_uuid: str | None
    domain: str | None
    event_fingerprint: str


COURSE_LINEAGE_SCHEMA = pa.schema(
    [
        _string("content_migration_id", False),
        _string("child_course_uuid", False),
        _string("child_lti_context_id"),
        _string("parent_course_uuid"),
        _string("parent_lti_context_id"),
        _string("migration_type"),
        pa.field("completed_at", UTC_MICROS, nullable=False),
        _string("root_account_uuid"),
        _string("domain"),
        _string("event_fingerprint", False),
    ]
)


class DeadLetterRecord(_Row):
    """A row of ``dead_letter``: an unusable line, its code, its place and its bytes."""

    error_code: str
    error_detail: str
    event_name: str | None
    source_file: str | None
    source_offset: int | None
    raw: bytes


DEAD_LETTER_SCHEMA = pa.schema(
    [
        _string("error_code", False),
        _string("error_detail", False),
        _string("event_name"),
        _string("source_file"),
        pa.field("source_offset", pa.int64()),
        pa.field("raw", pa.binary(), nullable=False),
    ]
)


class AssignmentStateRecord(_Row):
    """A row of ``assignment_states``: one accepted assignment event with an LTI link."""

    event_fingerprint: str
    source_event_name: str
    event_time: dt.datetime
    root_account_uuid: str | None
    context_uuid: str
    lti_resource_link_id: str
    assignment_id: str
    workflow_state: str
    lti_resource_link_id_duplicated_from: str | None
    assignment_id_duplicated_from: str | None
    domain_duplicated_from: str | None
    created_on_blueprint_sync: bool | None


ASSIGNMENT_STATES_SCHEMA = pa.schema(
    [
        _string("event_fingerprint", False),
        _string("source_event_name", False),
        pa.field("event_time", UTC_MICROS, nullable=False),
        _string("root_account_uuid"),
        _string("context_uuid", False),
        _string("lti_resource_link_id", False),
        _string("assignment_id", False),
        _string("workflow_state", False),
        _string("lti_resource_link_id_duplicated_from"),
        _string("assignment_id_duplicated_from"),
        _string("domain_duplicated_from"),
        pa.field("created_on_blueprint_sync", pa.bool_()),
    ]
)


class RetryOutcomeRecord(_Row):
    """A row of ``retry_outcomes``: one distinct retry whose outcome is decided."""

    event_fingerprint: str
    root_account_uuid: str | None
    new_course_uuid: str
    new_assignment_resource_link_id: str | None
    event_time: dt.datetime
    attempt_number: Annotated[int, Int32] | None
    outcome: str
    outcome_workflow_state: str | None
    outcome_time: dt.datetime | None
    seconds_to_outcome: float | None
    failed_at: dt.datetime | None
    seconds_since_failure: float | None
    assignment_id: str | None
    lti_resource_link_id_duplicated_from: str | None
    created_on_blueprint_sync: bool | None


RETRY_OUTCOMES_SCHEMA = pa.schema(
    [
        _string("event_fingerprint", False),
        _string("root_account_uuid"),
        _string("new_course_uuid", False),
        _string("new_assignment_resource_link_id"),
        pa.field("event_time", UTC_MICROS, nullable=False),
        pa.field("attempt_number", pa.int32()),
        _string("outcome", False),
        _string("outcome_workflow_state"),
        pa.field("outcome_time", UTC_MICROS),
        pa.field("seconds_to_outcome", pa.float64()),
        pa.field("failed_at", UTC_MICROS),
        pa.field("seconds_since_failure", pa.float64()),
        _string("assignment_id"),
        _string("lti_resource_link_id_duplicated_from"),
        pa.field("created_on_blueprint_sync", pa.bool_()),
    ]
)


# The row types are written out so that the type checker knows their fields; tests/test_tables.py
# proves each has its model's columns in order (times as epoch microseconds).
class RetryRow(NamedTuple):
    """A ``retries`` row as the pipeline carries it (times in UTC epoch microseconds)."""

    event_fingerprint: str
    source_event_name: str
    event_time: int
    root_account_uuid: str | None
    domain: str | None
    status: str | None
    original_course_uuid: str
    new_course_uuid: str
    new_course_resource_link_id: str | None
    original_assignment_resource_link_id: str | None
    new_assignment_resource_link_id: str | None
    request_id: str | None
    context_role: str | None
    actor_user_hmac: str | None
    original_course_id: str | None
    original_assignment_id: str | None
    new_course_id: str | None
    new_assignment_id: str | None
    lineage_status: str
    migration_id: str | None
    migration_type: str | None
    migration_completed_at: int | None
    seconds_since_migration: float | None
    lineage_path: list[str]
    root_course_uuid: str
    lineage_depth: int
    lineage_cycle: bool
    lineage_truncated: bool
    attempt_number: int | None
    attempt_count: int | None


class LineageRow(NamedTuple):
    """A ``course_lineage`` row as the pipeline carries it (``completed_at`` in epoch µs)."""

    content_migration_id: str
    child_course_uuid: str
    child_lti_context_id: str | None
    parent_course_uuid: str | None
    parent_lti_context_id: str | None
    migration_type: str | None
    completed_at: int
    root_account_uuid: str | None
    domain: str | None
    event_fingerprint: str


class RetryOutcomeRow(NamedTuple):
    """A ``retry_outcomes`` row as the pipeline carries it (times in UTC epoch microseconds)."""

    event_fingerprint: str
    root_account_uuid: str | None
    new_course_uuid: str
    new_assignment_resource_link_id: str | None
    event_time: int
    attempt_number: int | None
    outcome: str
    outcome_workflow_state: str | None
    outcome_time: int | None
    seconds_to_outcome: float | None
    failed_at: int | None
    seconds_since_failure: float | None
    assignment_id: str | None
    lti_resource_link_id_duplicated_from: str | None
    created_on_blueprint_sync: bool | None


# An accepted retry carries every retries column that comes before the join's.
RETRY_EVENT_COLUMNS = tuple(RetryRecord.model_fields)[
    : tuple(RetryRecord.model_fields).index("lineage_status")
]


class Table(NamedTuple):
    """An output table: its name, Arrow schema, model and the row type the pipeline carries."""

    name: str
    schema: pa.Schema
    record: type[BaseModel]
    row: type  # the NamedTuple the pipeline carries


RETRIES = Table("retries", RETRIES_SCHEMA, RetryRecord, RetryRow)
COURSE_LINEAGE = Table("course_lineage", COURSE_LINEAGE_SCHEMA, CourseLineageRecord, LineageRow)
DEAD_LETTER = Table("dead_letter", DEAD_LETTER_SCHEMA, DeadLetterRecord, DeadLetterRow)
ASSIGNMENT_STATES = Table(
    "assignment_states", ASSIGNMENT_STATES_SCHEMA, AssignmentStateRecord, AssignmentStateRow
)
RETRY_OUTCOMES = Table("retry_outcomes", RETRY_OUTCOMES_SCHEMA, RetryOutcomeRecord, RetryOutcomeRow)
# Tables partitioned by the UTC date of their event_time column (``event_date=``).
EVENT_DATE_TABLES = (RETRIES, ASSIGNMENT_STATES, RETRY_OUTCOMES)
# Every table a batch run writes and publishes.
TABLES = (RETRIES, COURSE_LINEAGE, DEAD_LETTER, ASSIGNMENT_STATES, RETRY_OUTCOMES)


def to_arrow(table: Table, rows: list[tuple]) -> pa.Table:
    """Arrow table from row tuples in schema column order, built column by column."""
    if not rows:
        return table.schema.empty_table()
    columns = zip(*rows, strict=True)
    return pa.Table.from_arrays(
        [
            pa.array(column, type=field.type)
            for column, field in zip(columns, table.schema, strict=True)
        ],
        schema=table.schema,
    )
