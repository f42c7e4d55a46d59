"""Names of the tagged outputs the batch and streaming composites share, each defined once.

Tags name collections of elements in flight; the tables they end up in are
:data:`transforms.tables.TABLES` (``retries``, ``course_lineage``, ``dead_letter``,
``assignment_states``, ``retry_outcomes``), whose names are not tags.
"""

from __future__ import annotations

# accepted retries, before deduplication (batch: one list per classified range)
RETRY_EVENTS = "retry_events"
MIGRATION_EVENTS = "migration_events"  # accepted content migrations, before deduplication
DEAD_LETTERS = "dead_letters"  # dead_letter rows (batch: one list per classified range)
COUNTS = "counts"  # counter records ({counter name: count}) for the run summary
# accepted assignment events, before deduplication (batch: one list per classified range)
ASSIGNMENT_STATE_EVENTS = "assignment_state_events"
LATEST_EVENT_TIME = "latest_event_time"  # batch: the latest accepted event time of a range
