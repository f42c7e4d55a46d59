"""Unit tests of transforms/canvas_url.py: local ids from the retry route's URL."""
from __future__ import annotations

import pytest

from transforms.canvas_url import NO_URL_IDS, RetryUrlIds, parse_retry_url

HOST = "http://canvas.docker"
ROUTE = "/api/v1/courses/1/assignments/2/retry_alignment_clone"

PARSED = [
    (
        f"{HOST}{ROUTE}?target_assignment_id=3&target_course_id=2",
        RetryUrlIds("1", "2", "2", "3"),
        "documented-example",
    ),
    (
        f"{HOST}{ROUTE}?target_course_id=2&target_assignment_id=3",
        RetryUrlIds("1", "2", "2", "3"),
        "query-order-irrelevant",
    ),
    (
        f"{HOST}{ROUTE}?target_assignment_id=3",
        RetryUrlIds("1", "2", "1", "3"),
        "no-target-course-means-same-course",
    ),
    (
        f"{HOST}{ROUTE}",
        RetryUrlIds("1", "2", "1", None),
        "no-query",
    ),
    (
        f"{HOST}{ROUTE}?target_course_id=2",
        RetryUrlIds("1", "2", "2", None),
        "no-target-assignment",
    ),
    (
        f"{HOST}{ROUTE}?target_assignment_id=abc&target_course_id=7",
        RetryUrlIds("1", "2", "7", None),
        "non-digit-target-assignment",
    ),
    (
        f"{HOST}{ROUTE}?target_assignment_id=&target_course_id=7",
        RetryUrlIds("1", "2", "7", None),
        "empty-target-assignment",
    ),
    (
        f"{HOST}{ROUTE}?target_assignment_id=-3&target_course_id=7",
        RetryUrlIds("1", "2", "7", None),
        "negative-target-assignment",
    ),
    (
        f"{HOST}{ROUTE}/?target_assignment_id=3&target_course_id=2",
        RetryUrlIds("1", "2", "2", "3"),
        "trailing-slash",
    ),
    (
        "https://school.instructure.com/api/v1/courses/21070000000000565/assignments/21070000000000371"
        "/retry_alignment_clone?target_assignment_id=21070000000000999&target_course_id=21070000000000777",
        RetryUrlIds("21070000000000565", "21070000000000371", "21070000000000777", "21070000000000999"),
        "long-ids",
    ),
    (
        f"{ROUTE}?target_assignment_id=3&target_course_id=2",
        RetryUrlIds("1", "2", "2", "3"),
        "path-only",
    ),
    (
        f"{HOST}/courses/1/assignments/2/retry_alignment_clone?target_assignment_id=3&target_course_id=2",
        RetryUrlIds("1", "2", "2", "3"),
        "no-api-prefix",
    ),
    (
        f"{HOST}{ROUTE}?foo=bar&target_assignment_id=3&x=1&target_course_id=2#frag",
        RetryUrlIds("1", "2", "2", "3"),
        "extra-params-and-fragment",
    ),
    (
        f"{HOST}:8080{ROUTE}?target_assignment_id=3&target_course_id=2",
        RetryUrlIds("1", "2", "2", "3"),
        "host-with-port",
    ),
]


@pytest.mark.parametrize("url, expected", [(u, e) for u, e, _ in PARSED], ids=[i for *_, i in PARSED])
def test_retry_route_ids(url, expected):
    assert parse_retry_url(url) == expected


def test_ids_are_strings():
    ids = parse_retry_url(f"{HOST}{ROUTE}?target_assignment_id=3&target_course_id=2")
    assert all(type(value) is str for value in ids)


NOT_THE_ROUTE = [
    (None, "none"),
    ("", "empty"),
    (f"{HOST}/api/v1/courses/1/assignments/2", "assignment-show"),
    (f"{HOST}/api/v1/courses/1/assignments", "assignment-list"),
    (f"{HOST}/api/v1/courses/1/assignments/2/duplicate", "duplicate-route"),
    (f"{HOST}/api/v1/accounts/438/courses", "accounts-route"),
    (f"{HOST}/api/v1/courses/1/quizzes/2/retry_alignment_clone", "quizzes-not-assignments"),
    (f"{HOST}{ROUTE}/extra?target_assignment_id=3", "route-followed-by-more-path"),
    (f"{HOST}{ROUTE}_v2?target_assignment_id=3", "longer-last-segment"),
    (f"{HOST}/api/v1/courses/abc/assignments/2/retry_alignment_clone", "non-digit-course"),
    (f"{HOST}/api/v1/courses/1/assignments/xyz/retry_alignment_clone", "non-digit-assignment"),
    (f"{HOST}/api/v1/courses/sis_course_id:1/assignments/2/retry_alignment_clone", "sis-course-id"),
    (f"{HOST}/api/v1/courses//assignments/2/retry_alignment_clone", "empty-course-id"),
    (f"{HOST}/api/v1/courses/\u0661/assignments/2/retry_alignment_clone", "non-ascii-digit"),
    (f"{HOST}/api/v1/xcourses/1/assignments/2/retry_alignment_clone", "not-a-courses-segment"),
    (f"{HOST}/somewhere?next={ROUTE}", "route-only-in-query"),
    ("http://[::1/api/v1/courses/1/assignments/2/retry_alignment_clone", "unparseable-url"),
    ("not a url", "garbage"),
]


@pytest.mark.parametrize("url", [u for u, _ in NOT_THE_ROUTE], ids=[i for _, i in NOT_THE_ROUTE])
def test_other_urls_give_no_ids(url):
    assert parse_retry_url(url) == NO_URL_IDS


def test_no_url_ids_is_all_none():
    assert RetryUrlIds(None, None, None, None) == NO_URL_IDS
    assert RetryUrlIds._fields == (
        "original_course_id", "original_assignment_id", "new_course_id", "new_assignment_id",
    )
