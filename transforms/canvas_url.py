"""Canvas local ids from the URL of a retry request.

Canvas Data 2 is keyed by local ids, while the event body only has uuids and LTI
ids, so the route ``/courses/{course}/assignments/{assignment}/retry_alignment_clone
?target_assignment_id=..&target_course_id=..`` is the analysts' only join key.
"""
from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

_RETRY_ROUTE = re.compile(
    r"/courses/(\d+)/assignments/(\d+)/retry_alignment_clone/?", re.ASCII
)
_DIGITS = re.compile(r"\d+", re.ASCII)


class RetryUrlIds(NamedTuple):
    """The Canvas ids a retry's URL carries; None where the URL does not give one."""

    original_course_id: str | None
    original_assignment_id: str | None
    new_course_id: str | None
    new_assignment_id: str | None


NO_URL_IDS = RetryUrlIds(None, None, None, None)


def _query_id(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if values and _DIGITS.fullmatch(values[0]):
        return values[0]
    return None


def parse_retry_url(url: str | None) -> RetryUrlIds:
    """Local ids of a retry request; all None when the URL is not that route.

    >>> parse_retry_url(
    ...     "http://h/api/v1/courses/1/assignments/2/retry_alignment_clone"
    ...     "?target_assignment_id=3&target_course_id=2"
    ... )  # doctest: +NORMALIZE_WHITESPACE
    RetryUrlIds(original_course_id='1', original_assignment_id='2',
                new_course_id='2', new_assignment_id='3')
    """
    if not url:
        return NO_URL_IDS
    try:
        parts = urlsplit(url)
    except ValueError:
        return NO_URL_IDS
    route = _RETRY_ROUTE.search(parts.path)
    if route is None or not parts.path.endswith(route.group(0)):
        return NO_URL_IDS
    query = parse_qs(parts.query)
    course_id, assignment_id = route.group(1), route.group(2)
    # Without target_course_id Canvas clones within the same course; a malformed
    # one names no course we can trust.
    new_course_id = _query_id(query, "target_course_id") if "target_course_id" in query else course_id
    return RetryUrlIds(course_id, assignment_id, new_course_id, _query_id(query, "target_assignment_id"))
