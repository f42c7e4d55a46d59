"""A digest of each table of an output folder: its rows, canonical and sorted, whatever the files.

Used by ``tests/test_same_rows.py`` to prove that a refactoring writes the
same rows as the code before it. Run it on an output folder to print the
digests that test compares with::

    python -m tests.output_digest OUT

A row is its columns as canonical JSON (keys sorted, times in ISO 8601,
bytes in hex) plus the hive partition folders it was written under; the
dead-letter ``source_file`` is reduced to its file name, since the input's
folder differs from machine to machine. File names and the number of files
are not part of the digest (a writer may split or merge files), the rows are.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sys

import pyarrow.parquet as pq

TABLES = ("retries", "course_lineage", "dead_letter", "assignment_states", "retry_outcomes")


def _canonical(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def table_rows(output: str, table: str) -> list[str]:
    """Every row of ``OUTPUT/<table>`` (links followed), as sorted canonical JSON lines."""
    root = os.path.join(output, table)
    lines = []
    for folder, _, files in os.walk(root, followlinks=True):
        partition = os.path.relpath(folder, root)
        for name in files:
            if not name.endswith(".parquet"):
                continue
            for row in pq.read_table(os.path.join(folder, name)).to_pylist():
                if table == "dead_letter" and row.get("source_file"):
                    row["source_file"] = os.path.basename(row["source_file"])
                row = {key: _canonical(value) for key, value in row.items()}
                row["_partition"] = "" if partition == "." else partition
                lines.append(json.dumps(row, sort_keys=True, ensure_ascii=True))
    return sorted(lines)


def table_digests(output: str) -> dict[str, dict]:
    """Per table: the number of rows and the SHA-256 of its sorted canonical rows."""
    digests = {}
    for table in TABLES:
        rows = table_rows(output, table)
        digests[table] = {
            "rows": len(rows),
            "sha256": hashlib.sha256("\n".join(rows).encode()).hexdigest(),
        }
    return digests


if __name__ == "__main__":
    print(json.dumps(table_digests(sys.argv[1]), indent=2, sort_keys=True))
