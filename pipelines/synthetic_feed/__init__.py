"""Deterministic synthetic Canvas Live Events feed (Canvas format, one JSON object per line).

The feed imitates the firehose the retry-lineage pipeline reads:

* ~98 % noise: 25 ordinary Canvas event types with request metadata full of PII-like
  fields (logins, IPs, user agents, session ids, URLs) or background-job metadata,
  sized like production lines (mostly 0.8-2 KB).
* ~1.5 % routed events:
  - ``content_migration_started`` / ``content_migration_completed`` growing course-copy
    forests several levels deep in 3-5 root accounts: course copies, blueprint syncs
    (``master_course_import``), file imports without a source, and account-level
    imports. Some started events are lost, most completed events carry no
    ``source_course_uuid`` (the parent must be resolved from its LTI id), and some
    migrations are delivered twice with different event times.
  - outcome-alignment retries in both forms: ``outcomes.retry_outcome_alignment_clone``
    and the older ``quizzes_next_quiz_duplicated`` with status
    ``outcome_alignment_cloning``; with repeated attempts, retries whose migration is
    missing, claims another source course, or is delivered after the retry, and
    in-course duplicates.
* delivery defects: local reordering, redelivered identical lines, null or dropped keys,
  mixed ISO 8601 forms and offsets, blank and CRLF lines, and ~0.2 % dead-letter lines
  of every kind (oversized, invalid UTF-8, invalid JSON, bad envelope, bad event_name,
  bad event_time or bad body on routed events).

Output depends only on ``(events, seed)``: all randomness comes from ``random.Random``
seeded with strings (hashed with SHA-512, so stable across processes), nothing reads the
clock, and only ordered containers are iterated. Noise lines, 98 % of the volume, are
assembled from pre-encoded JSON fragments instead of ``json.dumps`` per line; routed and
malformed lines are rare, so they are built as dicts for clarity.

Modules: ``primitives`` (time span, event names, compact JSON, ids, timestamp forms,
random draws), ``world`` (accounts, users, sessions, courses), ``noise`` (the 98 %),
``lineage`` (migrations and retries), ``malformed`` (one mutation per dead-letter
reason) and ``feed`` (assembly and writing).

Usage: ``retry-lineage generate --events N --seed S --output OUT.jsonl[.gz]``.
"""

from __future__ import annotations

from pipelines.synthetic_feed.feed import iter_feed_lines, write_feed

__all__ = ["iter_feed_lines", "write_feed"]
