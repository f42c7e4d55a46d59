"""SummarizeRun: counter records from every step -> the run summary dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import apache_beam as beam

from transforms.counters import accepted_counter
from transforms.events import ACCEPTED_ROLES, DEAD_LETTER_CODES
from transforms.lineage import LINEAGE_STATUSES
from transforms.outcomes import OUTCOMES, PENDING


def _prefixed(totals: Mapping[str, int], prefix: str) -> dict[str, int]:
    return {
        name[len(prefix) :]: count
        for name, count in sorted(totals.items())
        if name.startswith(prefix)
    }


def build_summary(
    totals: Mapping[str, int], pseudonymization: str, with_outcomes: bool = False
) -> dict:
    """The run summary from merged counters; ``balanced`` accounts for every input line.

    ``with_outcomes`` (batch runs) adds ``assignment_states_written``, ``outcomes_written``,
    ``outcomes`` (every value and ``pending``, zeros included) and the check ``outcomes_complete``.
    """
    # Every batch code, zeros included, and any other code the run met (the stream's late_event).
    dead_letter_by_code = {
        code: totals.get("dead_letter_by_code." + code, 0) for code in DEAD_LETTER_CODES
    }
    dead_letter_by_code.update(_prefixed(totals, "dead_letter_by_code."))
    skipped_by_event_name = _prefixed(totals, "skipped_by_event_name.")
    accepted = {role: totals.get(accepted_counter(role), 0) for role in ACCEPTED_ROLES}
    lineage_status = {
        status: totals.get("lineage_status." + status, 0) for status in LINEAGE_STATUSES
    }
    summary: dict[str, Any] = {
        "lines_read": totals.get("lines_read", 0),
        "blank_lines": totals.get("blank_lines", 0),
        "dead_lettered": sum(dead_letter_by_code.values()),
        "dead_letter_by_code": dead_letter_by_code,
        "skipped": sum(skipped_by_event_name.values()),
        "skipped_by_event_name": skipped_by_event_name,
        "duplicates": totals.get("duplicates", 0),
        "accepted": accepted,
        "retries_written": totals.get("retries_written", 0),
        "lineage_edges_written": totals.get("course_lineage_written", 0),
        "dead_letters_written": totals.get("dead_letter_written", 0),
        "lineage_status": lineage_status,
        "identity_conflicts": totals.get("identity_conflicts", 0),
        "pseudonymization": pseudonymization,
    }
    summary["balanced"] = summary["lines_read"] == (
        summary["blank_lines"]
        + summary["dead_lettered"]
        + summary["skipped"]
        + summary["duplicates"]
        + sum(accepted.values())
    )
    # Every stage's output accounted for downstream: catches rows lost between steps.
    summary["outputs_complete"] = (
        summary["retries_written"] == accepted["retry"] == sum(lineage_status.values())
        and summary["dead_letters_written"] == summary["dead_lettered"]
        and sum(accepted.values()) + summary["duplicates"]
        == sum(totals.get("accepted_before_dedup." + role, 0) for role in ACCEPTED_ROLES)
    )
    if with_outcomes:
        _add_outcomes(summary, totals)
    return summary


def _add_outcomes(summary: dict, totals: Mapping[str, int]) -> None:
    decided = {value: totals.get("outcome." + value, 0) for value in OUTCOMES}
    pending = totals.get("outcome." + PENDING, 0)
    summary["assignment_states_written"] = totals.get("assignment_states_written", 0)
    summary["outcomes_written"] = totals.get("retry_outcomes_written", 0)
    summary["outcomes"] = {**decided, PENDING: pending}
    # Every retry of the run (and every retry still pending after earlier days) is written or
    # pending, once.
    candidates = summary["accepted"]["retry"] + totals.get("outcome_retries_from_history", 0)
    summary["outcomes_complete"] = (
        summary["outcomes_written"] == sum(decided.values())
        and summary["outcomes_written"] + pending == candidates
    )
    # Earlier days' retries of days that ran before outcomes were recorded: never decided.
    summary["retries_before_outcomes"] = totals.get("retries_before_outcomes", 0)


class SumCounters(beam.CombineFn):
    """Counter records ({name: count}) -> {name: total}: one combiner for batch and stream."""

    def create_accumulator(self):
        return {}

    def add_input(self, totals, record):
        for name, count in record.items():
            totals[name] = totals.get(name, 0) + count
        return totals

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        merged = next(accumulators)
        for totals in accumulators:
            for name, count in totals.items():
                merged[name] = merged.get(name, 0) + count
        return merged

    def extract_output(self, totals):
        return totals


class SummarizeRun(beam.PTransform):
    """Flattened counter records -> a single summary dict."""

    def __init__(self, pseudonymization: str, with_outcomes: bool = False):
        super().__init__()
        self._pseudonymization = pseudonymization
        self._with_outcomes = with_outcomes

    def expand(self, counts):
        pseudonymization, with_outcomes = self._pseudonymization, self._with_outcomes
        return (
            counts
            | "SumCounters" >> beam.CombineGlobally(SumCounters())
            | "BuildSummary"
            >> beam.Map(lambda totals: build_summary(totals, pseudonymization, with_outcomes))
        )
