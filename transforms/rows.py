"""Row types the classifier builds, importable without pyarrow.

The classifier's worker processes build these rows and should start in a fraction of
a second; :mod:`transforms.tables` (which loads pyarrow for the schemas) exports them
with the other row types, and ``tests/test_tables.py`` proves their columns.
"""

from __future__ import annotations

from typing import NamedTuple


class DeadLetterRow(NamedTuple):
    """A ``dead_letter`` row as the pipeline carries it."""

    error_code: str
    error_detail: str
    event_name: str | None
    source_file: str | None
    source_offset: int | None
    raw: bytes


class AssignmentStateRow(NamedTuple):
    """An ``assignment_states`` row as the pipeline carries it (``event_time`` in epoch µs).

    Also the accepted assignment event, whose ``lti_resource_link_id`` may then be None
    (such an event is counted, never written).
    """

    event_fingerprint: str
    source_event_name: str
    event_time: int
    root_account_uuid: str | None
    context_uuid: str
    lti_resource_link_id: str
    assignment_id: str
    workflow_state: str
    lti_resource_link_id_duplicated_from: str | None
    assignment_id_duplicated_from: str | None
    domain_duplicated_from: str | None
    created_on_blueprint_sync: bool | None
