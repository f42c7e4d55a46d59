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

Usage: ``python -m pipelines.synthetic_feed OUT.jsonl[.gz] --events N --seed S``.
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import heapq
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["iter_feed_lines", "write_feed"]

_START_MS = calendar.timegm((2024, 7, 28, 0, 0, 0)) * 1000
_SPAN_MS = 5 * 86_400_000
# Lines are shuffled within windows of this many positions: enough to break
# event_time order, small enough to keep the stream local and memory flat.
_WINDOW = 256

_ROUTED_SHARE = 0.015
_MALFORMED_SHARE = 0.002
_BLANK_SHARE = 0.0003
_CRLF_SHARE = 0.0003
_NOISE_DUP_SHARE = 0.001
_ROUTED_DUP_SHARE = 0.005
_OVERSIZE_MIN_EVENTS = 5_000
_OVERSIZE_SECOND_EVENTS = 200_000
_OVERSIZE_BYTES = 1_050_000

_RETRY = "outcomes.retry_outcome_alignment_clone"
_QUIZ_DUP = "quizzes_next_quiz_duplicated"
_CLONING = "outcome_alignment_cloning"
_STARTED = "content_migration_started"
_COMPLETED = "content_migration_completed"

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_MIN, _HOUR = 60_000, 3_600_000


# --------------------------------------------------------------------------- helpers


def _dumps(obj: object, *, ascii_only: bool = False) -> str:
    return json.dumps(obj, ensure_ascii=ascii_only, separators=(",", ":"))


def _fragment(pairs: dict, keep_nulls: bool) -> str:
    """Comma-joined ``"key":value`` members, ready to splice into a JSON object."""
    return _dumps({k: v for k, v in pairs.items() if keep_nulls or v is not None})[1:-1]


def _gid(shard: int, local: int) -> str:
    """Canvas global id: 4-digit shard followed by the 13-digit local id."""
    return "%d%013d" % (shard, local)


# Timestamp forms seen from different producers; the weights favour the canonical one.
_Z_MS, _COLON, _SPACE, _NANO, _COMPACT, _Z_SEC, _MICRO = range(7)
_TIME_STYLE_WEIGHTS = {_Z_MS: 60, _COLON: 12, _SPACE: 7, _NANO: 5, _COMPACT: 8, _Z_SEC: 4, _MICRO: 4}
_TIME_STYLES = [s for s, w in _TIME_STYLE_WEIGHTS.items() for _ in range(w)]


def _format_time(ms: int, style: int, offset_min: int, sub_ms: int = 0) -> str:
    """ISO 8601 text for the instant ``ms`` (epoch milliseconds) in one of the feed's forms.

    ``offset_min`` is ignored by the UTC ("Z") forms; ``sub_ms`` supplies the extra
    fraction digits of the micro/nanosecond forms.
    """
    sec, milli = divmod(ms, 1000)
    if style in (_Z_MS, _NANO, _Z_SEC, _MICRO):
        offset_min = 0
    base = "%04d-%02d-%02dT%02d:%02d:%02d" % time.gmtime(sec + offset_min * 60)[:6]
    if style == _Z_MS:
        return "%s.%03dZ" % (base, milli)
    if style == _NANO:
        return "%s.%03d%06dZ" % (base, milli, sub_ms % 1_000_000)
    if style == _MICRO:
        return "%s.%03d%03dZ" % (base, milli, sub_ms % 1000)
    if style == _Z_SEC:
        return base + "Z"
    sign = "-" if offset_min < 0 else "+"
    hours, minutes = divmod(abs(offset_min), 60)
    if style == _COLON:
        return "%s.%03d%s%02d:%02d" % (base, milli, sign, hours, minutes)
    if style == _COMPACT:
        return "%s.%03d%s%02d%02d" % (base, milli, sign, hours, minutes)
    return "%s %s%02d%02d" % (base.replace("T", " "), sign, hours, minutes)  # _SPACE


class _Quota:
    """Turns a rate into whole counts without drift, so rare features still appear in small feeds."""

    def __init__(self, rate: float, rng: random.Random) -> None:
        self._rate = rate
        self._acc = rng.random()

    def take(self, n: int = 1) -> int:
        self._acc += n * self._rate
        whole = int(self._acc)
        self._acc -= whole
        return whole


class _Deck:
    """Draws weighted items from reshuffled decks: every item appears once per deck."""

    def __init__(self, rng: random.Random, weights: dict) -> None:
        self._rng = rng
        self._cards = [item for item, weight in weights.items() for _ in range(weight)]
        self._hand: list = []

    def draw(self):
        if not self._hand:
            self._hand = self._cards[:]
            self._rng.shuffle(self._hand)
        return self._hand.pop()


# --------------------------------------------------------------------------- world

_HOSTS = (
    ("northridge.instructure.com", "northridge.edu"),
    ("lakeshore.instructure.com", "lakeshore.edu"),
    ("canvas.hartwell.edu", "hartwell.edu"),
    ("mesa-valley.instructure.com", "mesavalley.edu"),
    ("learn.brightwater.ac.uk", "brightwater.ac.uk"),
    ("canvas.kestrel.edu.au", "kestrel.edu.au"),
)
_SHARDS = (1004, 1437, 2107, 3319, 5120, 7702)
# July offsets: the feed spans a few summer days, so DST is fixed.
_TIME_ZONES = (
    ("America/Los_Angeles", -420), ("America/Denver", -360), ("America/Chicago", -300),
    ("America/New_York", -240), ("Etc/UTC", 0), ("Europe/London", 60), ("Europe/Berlin", 120),
    ("Asia/Kolkata", 330), ("Asia/Kathmandu", 345), ("Australia/Sydney", 600),
)
# (display, ascii) so logins stay ASCII while names exercise UTF-8.
_FIRST = (
    ("José", "jose"), ("Zoë", "zoe"), ("Łukasz", "lukasz"), ("Søren", "soren"), ("Ngozi", "ngozi"),
    ("Mei", "mei"), ("Aarav", "aarav"), ("Olivia", "olivia"), ("Liam", "liam"), ("Fatima", "fatima"),
    ("Hiroshi", "hiroshi"), ("Chloé", "chloe"), ("Mateo", "mateo"), ("Amara", "amara"),
    ("Ethan", "ethan"), ("Sofía", "sofia"), ("Noah", "noah"), ("Priya", "priya"), ("Jack", "jack"),
)
_LAST = (
    ("Núñez", "nunez"), ("O'Brien", "obrien"), ("Müller", "muller"), ("Okafor", "okafor"),
    ("Chen", "chen"), ("Patel", "patel"), ("Smith", "smith"), ("García", "garcia"), ("Kowalski", "kowalski"),
    ("Nakamura", "nakamura"), ("Johansson", "johansson"), ("Dubois", "dubois"), ("Brown", "brown"),
    ("Haddad", "haddad"), ("Williams", "williams"), ("Rossi", "rossi"), ("Nguyen", "nguyen"),
)
_USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.113",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 canvas/7.10.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.6533.64 Mobile Safari/537.36",
    "candroid/7.8.0 (Android 13; SM-S911U)",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36",
)
_SUBJECTS = (
    "BIO", "CHEM", "MATH", "HIST", "ENGL", "PSYC", "ECON", "PHYS", "ARTH", "NURS", "CS", "SOCI",
)
_TOPICS = (
    "Introduction to Biology", "General Chemistry", "Linear Algebra", "World History since 1500",
    "Academic Writing", "Developmental Psychology", "Principles of Microeconomics",
    "Classical Mechanics", "Renaissance Art — Florence & Rome", "Foundations of Nursing Practice",
    "Data Structures", "Sociology of Education", "Statistics for the Sciences", "Organic Chemistry II",
)
_WORDS = (
    "analysis", "students", "evidence", "reading", "module", "week", "discussion", "draft", "rubric",
    "feedback", "project", "sources", "lab", "report", "résumé", "data", "method", "results", "theory",
    "example", "practice", "question", "review", "concept", "outline", "citation", "peer", "group",
    "deadline", "submission", "café", "naïve", "model", "chapter", "quiz", "notes", "lecture", "figure",
)
_ROLES = {
    "StudentEnrollment": 80, "TeacherEnrollment": 10, "TaEnrollment": 6, "ObserverEnrollment": 3, "DesignerEnrollment": 1,
}


def _alnum40(rng: random.Random) -> str:
    return "".join(rng.choices(_ALNUM, k=40))


def _hex40(rng: random.Random) -> str:
    return "%040x" % rng.getrandbits(160)


def _hex32(rng: random.Random) -> str:
    return "%032x" % rng.getrandbits(128)


def _uuid4(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)
    return "%s-%s-4%s-%x%s-%s" % (h[:8], h[8:12], h[13:16], 8 | int(h[16], 16) & 3, h[17:20], h[20:])


class _Account:
    """A root account (one Canvas domain) with its users, sessions and course-copy forest."""

    def __init__(self, rng: random.Random, host: str, mail_domain: str, shard: int) -> None:
        self.rng = rng
        self.host = host
        self.mail_domain = mail_domain
        self.shard = shard
        self.uuid = _alnum40(rng)
        self.gid = _gid(shard, 1)
        self.lti_guid = f"{self.uuid}:canvas-lms" if rng.random() < 0.5 else f"{self.uuid}.{host}"
        self.fields = {
            "root_account_uuid": self.uuid,
            "root_account_id": self.gid,
            "root_account_lti_guid": self.lti_guid,
        }
        self.root_fragment = _fragment(self.fields, True)
        self.context_fragment = _fragment({"context_type": "Account", "context_id": self.gid}, True)
        self._next_local = rng.randint(1_000, 20_000)
        self.sub_accounts = [_gid(shard, self.new_local()) for _ in range(rng.randint(3, 6))]
        self.users: list[_User] = []
        self.courses: list[_Course] = []  # fixed pool that noise events refer to
        self.forest: list[_Course] = []  # courses taking part in migrations, in creation order
        self.blueprints: list[tuple[_Course, list[_Course]]] = []  # (blueprint, associated courses)
        self.migrated: list[_Course] = []  # courses whose migration from a source is in the feed
        self.teachers: list[_Session] = []

    def new_local(self) -> int:
        """Next local id: sparse and increasing, like ids shared by many tables."""
        self._next_local += self.rng.randint(1, 40)
        return self._next_local


class _User:
    __slots__ = ("account", "local", "gid", "name", "login", "sis", "time_zone", "offset", "role")

    def __init__(self, account: _Account, rng: random.Random, role: str) -> None:
        first, first_ascii = rng.choice(_FIRST)
        last, last_ascii = rng.choice(_LAST)
        self.account = account
        self.local = account.new_local()
        self.gid = _gid(account.shard, self.local)
        self.name = f"{first} {last}"
        self.login = f"{first_ascii}.{last_ascii}{rng.randint(1, 999)}@{account.mail_domain}"
        sis = "%03d-%s%02d" % (rng.randint(100, 999), last_ascii[:1].upper(), rng.randint(1, 99))
        self.sis = None if rng.random() < 0.2 else sis
        self.time_zone, self.offset = rng.choice(_TIME_ZONES)
        self.role = role


class _Session:
    """One login session; its constant metadata is pre-encoded once for the noise fast path."""

    __slots__ = ("account", "user", "fields", "keep_nulls", "head", "tail", "role_fragment", "offset")

    def __init__(self, user: _User, rng: random.Random) -> None:
        account = user.account
        self.account = account
        self.user = user
        self.offset = user.offset
        # Some producers drop null-valued keys instead of writing null.
        self.keep_nulls = rng.random() < 0.75
        head = dict(account.fields)
        head.update(
            user_login=user.login, user_account_id=account.gid, user_sis_id=user.sis,
            user_id=user.gid, time_zone=user.time_zone,
        )
        ip = "%d.%d.%d.%d" % (
            rng.choice((24, 67, 73, 98, 104, 131, 172, 203)), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
        if rng.random() < 0.1:
            ip = "2001:db8:%x:%x::%x" % (rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(16))
        tail = {
            "session_id": _hex32(rng), "hostname": account.host, "user_agent": rng.choice(_USER_AGENTS), "client_ip": ip,
        }
        self.fields = {**head, **tail}
        self.head = _fragment(head, self.keep_nulls)
        self.tail = _fragment(tail, self.keep_nulls)
        self.role_fragment = ',"context_role":"%s"' % user.role


class _Course:
    """A course (or, for account-level imports, an account context) with its ids."""

    __slots__ = (
        "account", "context_type", "local", "gid", "uuid", "lti", "sub_gid", "sis", "name",
        "assignments", "depth", "max_depth", "context",
    )

    def __init__(self, account: _Account, rng: random.Random, context_type: str = "Course") -> None:
        self.account = account
        self.context_type = context_type
        self.local = account.new_local()
        self.gid = _gid(account.shard, self.local)
        self.uuid = _alnum40(rng)
        self.lti = _hex40(rng)
        self.sub_gid = rng.choice(account.sub_accounts)
        number = rng.randint(100, 499)
        subject = rng.choice(_SUBJECTS)
        self.name = f"{subject} {number} — {rng.choice(_TOPICS)} (Fall 2024)"
        self.sis = None if rng.random() < 0.3 else f"2024.FA.{subject}.{number}-{rng.randint(1, 9):02d}"
        self.assignments: list[tuple[int, str]] = []  # (local id, lti resource link id)
        self.depth = 1
        self.max_depth = 1
        ctx = {
            "context_type": context_type, "context_id": self.gid,
            "context_account_id": self.sub_gid, "context_sis_source_id": self.sis,
        }
        self.context = (_fragment(ctx, False), _fragment(ctx, True))  # indexed by keep_nulls

    def add_assignment(self, rng: random.Random) -> tuple[int, str]:
        assignment = (self.account.new_local(), _hex40(rng))
        self.assignments.append(assignment)
        return assignment


def _build_world(rng: random.Random) -> list[_Account]:
    picks = rng.sample(range(len(_HOSTS)), rng.randint(3, 5))
    accounts = []
    for i in picks:
        host, mail = _HOSTS[i]
        account = _Account(rng, host, mail, _SHARDS[i])
        roles = list(_ROLES)
        weights = list(_ROLES.values())
        account.users = [_User(account, rng, rng.choices(roles, weights)[0]) for _ in range(500)]
        account.courses = [_Course(account, rng) for _ in range(150)]
        # Forest roots are existing courses; each tree gets its own depth limit.
        for root in rng.sample(account.courses, rng.randint(2, 4)):
            root.max_depth = rng.randint(3, 6)
            for _ in range(rng.randint(3, 10)):
                root.add_assignment(rng)
            account.forest.append(root)
        account.blueprints.append((rng.choice(account.forest), []))
        accounts.append(account)
    return accounts


# --------------------------------------------------------------------------- noise

class _Ref(str):
    """Names a value generator inside a tuple of literal choices."""


@dataclass(frozen=True)
class _NoiseSpec:
    """One noise event type.

    ``context`` is "course", "account" or "user"; ``path`` is the request URL path
    (``{c}`` course, ``{n}`` object, ``{u}`` user local id); ``fields`` are body
    ``(key, kind)`` pairs where kind names a value generator or is a tuple of literal
    choices (``_Ref`` items name generators); a ``job_share`` of the events come from
    background job ``job_tag`` instead of a web request.
    """

    name: str
    weight: int
    context: str
    method: str
    path: str
    fields: tuple
    job_tag: str | None = None
    job_share: float = 0.0


_SUBMISSION_FIELDS = (
    ("submission_id", "id"), ("assignment_id", "id"), ("user_id", "user_id"), ("submitted_at", "ts"),
    ("graded_at", (None,)), ("updated_at", "ts"), ("score", (None, 7.5, 10, 88.5)), ("grade", (None, "B+", "10")),
    ("submission_type", ("online_text_entry", "online_upload", "online_url", "online_quiz", "external_tool")),
    ("body", "note"), ("url", (None,)), ("attempt", (1, 1, 2, 3)), ("lti_assignment_id", "uuid"),
    ("lti_user_id", "lti"), ("group_id", (None,)), ("late", "bool"), ("missing", (False,)),
    ("workflow_state", ("submitted", "pending_review")),
)
_ENROLLMENT_FIELDS = (
    ("enrollment_id", "id"), ("course_id", "course_id"), ("user_id", "peer_id"), ("user_name", "peer_name"),
    ("type", tuple(_ROLES)), ("created_at", "ts"), ("updated_at", "ts"),
    ("limit_privileges_to_course_section", "bool"), ("course_section_id", "id"),
    ("associated_user_id", (None,)), ("workflow_state", ("active", "invited", "completed", "inactive")),
)
_ASSIGNMENT_FIELDS = (
    ("assignment_id", "id"), ("assignment_group_id", "id"), ("context_id", "course_id"), ("context_type", ("Course",)),
    ("context_uuid", "course_uuid"), ("created_on_blueprint_sync", (False, False, True)), ("description", "note"),
    ("due_at", "ts_future"), ("lock_at", (None,)), ("unlock_at", "ts"), ("lti_assignment_id", "uuid"),
    ("lti_resource_link_id", "lti"), ("domain", "domain"), ("points_possible", (10, 20, 25, 50, 100)),
    ("submission_types", ("online_upload", "online_text_entry,online_upload", "external_tool", "online_quiz")),
    ("title", "title"), ("updated_at", "ts"), ("workflow_state", ("published", "unpublished", "duplicating")),
)
_WIKI_FIELDS = (("wiki_page_id", "id"), ("title", "title"), ("body", "text"), ("old_title", "title"))

_NOISE_SPECS = (
    _NoiseSpec("asset_accessed", 340, "course", "GET", "/courses/{c}/assignments/{n}", (
        ("asset_id", "id"), ("asset_name", "title"),
        ("asset_type", ("assignment", "wiki_page", "discussion_topic", "attachment", "quiz", "course")),
        ("asset_subtype", (None, "assignments", "modules", "grades", "syllabus", "announcements")),
        ("category", ("assignments", "wiki", "files", "topics", "home", "grades", "modules", "quizzes")),
        ("role", ("StudentEnrollment", "TeacherEnrollment", "TaEnrollment")), ("level", ("participate", "view", None)),
        ("filename", (None, "lab-report-template.docx", "syllabus_fall2024.pdf")), ("domain", "domain"),
        ("enrollment_id", "id"), ("section_id", "id"))),
    _NoiseSpec("logged_in", 60, "account", "POST", "/login/canvas", (("redirect_url", "url"),)),
    _NoiseSpec("logged_out", 25, "account", "DELETE", "/logout", ()),
    _NoiseSpec("submission_created", 55, "course", "POST", "/api/v1/courses/{c}/assignments/{n}/submissions",
               _SUBMISSION_FIELDS),
    _NoiseSpec("submission_updated", 55, "course", "PUT", "/api/v1/courses/{c}/assignments/{n}/submissions/self",
               _SUBMISSION_FIELDS, "Submission#grade_change_job", 0.1),
    _NoiseSpec("grade_change", 45, "course", "PUT", "/api/v1/courses/{c}/assignments/{n}/submissions/update_grades", (
        ("submission_id", "id"), ("assignment_id", "id"), ("assignment_name", "title"),
        ("grade", ("A", "B+", "C", "9", "complete")),
        ("old_grade", (None, "B", "7")), ("score", (9, 17.5, 88, 100)), ("old_score", (None, 12, 75.5)),
        ("points_possible", (10, 20, 100)), ("old_points_possible", (10, 20, 100)), ("grader_id", "user_id"),
        ("student_id", "peer_id"), ("student_sis_id", "peer_sis"), ("user_id", "peer_id"),
        ("grading_complete", (True,)), ("muted", "bool")), "GradebookImporter#process", 0.15),
    _NoiseSpec("assignment_created", 20, "course", "POST", "/api/v1/courses/{c}/assignments", _ASSIGNMENT_FIELDS),
    _NoiseSpec("assignment_updated", 35, "course", "PUT", "/api/v1/courses/{c}/assignments/{n}", _ASSIGNMENT_FIELDS),
    _NoiseSpec("discussion_entry_created", 35, "course", "POST", "/api/v1/courses/{c}/discussion_topics/{n}/entries", (
        ("discussion_entry_id", "id"), ("parent_discussion_entry_id", (None, None, _Ref("id"))),
        ("parent_discussion_entry_author_id", (None,)), ("discussion_topic_id", "id"), ("text", "text"),
        ("user_id", "user_id"), ("created_at", "ts"))),
    _NoiseSpec("discussion_topic_created", 10, "course", "POST", "/api/v1/courses/{c}/discussion_topics", (
        ("discussion_topic_id", "id"), ("is_announcement", "bool"), ("title", "title"), ("body", "text"),
        ("assignment_id", (None,)), ("context_id", "course_id"), ("context_type", ("Course",)),
        ("workflow_state", ("active", "unpublished")), ("lock_at", (None,)))),
    _NoiseSpec("enrollment_created", 20, "course", "POST", "/api/v1/courses/{c}/enrollments",
               _ENROLLMENT_FIELDS, "SisBatch#process", 0.3),
    _NoiseSpec("enrollment_updated", 30, "course", "PUT", "/courses/{c}/enrollments/{n}",
               _ENROLLMENT_FIELDS, "SisBatch#process", 0.3),
    _NoiseSpec("course_updated", 10, "course", "PUT", "/api/v1/courses/{c}", (
        ("course_id", "course_id"), ("account_id", "sub_account"), ("uuid", "course_uuid"), ("name", "course_name"),
        ("created_at", "ts"), ("updated_at", "ts"), ("workflow_state", ("available", "claimed", "completed")))),
    _NoiseSpec("course_created", 3, "account", "POST", "/api/v1/accounts/{u}/courses", (
        ("account_id", "sub_account"), ("course_id", "id"), ("created_at", "ts"), ("name", "course_name"),
        ("updated_at", "ts"), ("uuid", "alnum"), ("workflow_state", ("created", "claimed")))),
    _NoiseSpec("wiki_page_updated", 20, "course", "PUT", "/api/v1/courses/{c}/pages/{n}", _WIKI_FIELDS),
    _NoiseSpec("wiki_page_created", 5, "course", "POST", "/api/v1/courses/{c}/pages", _WIKI_FIELDS),
    _NoiseSpec("quiz_submitted", 20, "course", "POST", "/courses/{c}/quizzes/{n}/submissions", (
        ("submission_id", "id"), ("quiz_id", "id"))),
    _NoiseSpec("attachment_created", 20, "course", "POST", "/api/v1/courses/{c}/files", (
        ("attachment_id", "id"), ("user_id", "user_id"), ("display_name", "filename"), ("filename", "filename"),
        ("folder_id", "id"),
        ("content_type", ("application/pdf", "image/png",
                          "application/vnd.openxmlformats-officedocument.wordprocessingml.document")),
        ("context_type", ("Course",)), ("context_id", "course_id"), ("unlocked", "bool"), ("updated_at", "ts"),
        ("created_at", "ts"))),
    _NoiseSpec("conversation_message_created", 20, "user", "POST", "/api/v1/conversations/{n}/add_message", (
        ("author_id", "user_id"), ("conversation_id", "id"), ("message_id", "id"), ("created_at", "ts"))),
    _NoiseSpec("user_account_association_created", 8, "user", "POST", "/api/v1/accounts/{u}/users", (
        ("user_id", "peer_id"), ("account_id", "sub_account"), ("account_uuid", "alnum"), ("created_at", "ts"),
        ("updated_at", "ts"), ("is_admin", (False,))), "SisBatch#process", 0.5),
    _NoiseSpec("module_item_updated", 20, "course", "PUT", "/api/v1/courses/{c}/modules/{n}/items/{n}", (
        ("module_item_id", "id"), ("module_id", "id"), ("context_id", "course_id"), ("context_type", ("Course",)),
        ("position", (1, 2, 3, 5, 8)), ("workflow_state", ("active", "unpublished")))),
    _NoiseSpec("course_section_created", 5, "course", "POST", "/api/v1/courses/{c}/sections", (
        ("course_section_id", "id"), ("sis_source_id", "sis"), ("sis_batch_id", (None, _Ref("id"))),
        ("course_id", "course_id"),
        ("root_account_id", "root_account"), ("enrollment_term_id", "id"), ("name", "course_name"),
        ("default_section", "bool"), ("accepting_enrollments", (True,)), ("can_manually_enroll", "bool"),
        ("start_at", "ts"), ("end_at", "ts_future"), ("workflow_state", ("active",)),
        ("restrict_enrollments_to_section_dates", "bool"), ("nonxlist_course_id", (None,)),
        ("integration_id", (None,))),
        "SisBatch#process", 0.6),
    # Same event name as the older retry form, but a real quiz duplication: must stay noise.
    _NoiseSpec(_QUIZ_DUP, 8, "course", "POST", "/api/v1/courses/{c}/assignments/{n}/duplicate", (
        ("original_course_uuid", "course_uuid"), ("new_course_uuid", "other_course_uuid"),
        ("new_course_resource_link_id", "lti"), ("domain", "domain"), ("original_resource_link_id", "lti"),
        ("new_resource_link_id", "lti"), ("status", ("duplicating", "completed", "failed_to_duplicate")))),
    _NoiseSpec("submission_comment_created", 15, "course", "PUT",
               "/api/v1/courses/{c}/assignments/{n}/submissions/{n}", (
        ("submission_comment_id", "id"), ("submission_id", "id"), ("user_id", "user_id"), ("created_at", "ts"),
        ("attachment_ids", ((),)), ("body", "note"))),
    _NoiseSpec("learning_outcome_result_created", 15, "course", "POST", "/api/lti/courses/{c}/outcome_results", (
        ("learning_outcome_id", "id"), ("mastery", "bool"), ("score", (1, 2, 3, 4)), ("created_at", "ts"),
        ("attempt", (1, 2)), ("possible", (4, 5)), ("original_score", (None, 3)), ("original_possible", (None, 5)),
        ("original_mastery", (None, False)), ("assessed_at", "ts"), ("title", "title"), ("percent", (0.5, 0.75, 1.0))),
        "OutcomeResultsImporter#run", 0.3),
)


class _NoiseMaker:
    """Renders noise lines from pre-encoded fragments; the hot path of the generator."""

    def __init__(self, rng: random.Random, accounts: list[_Account]) -> None:
        self._rng = rng
        self._r = rng.random
        self._sessions = [_Session(user, rng) for account in accounts for user in account.users for _ in range(2)]
        for session in self._sessions:
            if session.user.role == "TeacherEnrollment":
                session.account.teachers.append(session)
        self._words = [" ".join(rng.choices(_WORDS, k=rng.randint(2, 6))).capitalize() for _ in range(400)]
        self._texts = [
            _dumps("<p>" + " ".join(rng.choices(_WORDS, k=rng.randint(20, 90))) + ".</p>") for _ in range(400)]
        self._notes = [_dumps(" ".join(rng.choices(_WORDS, k=rng.randint(4, 24)))) for _ in range(400)]
        generators = self._generators()
        # Weighted table of (spec, body renderer): one index per line picks the event type.
        self._entries = [(spec, self._compile(spec, generators)) for spec in _NOISE_SPECS]
        self._table = [entry for entry in self._entries for _ in range(entry[0].weight)]

    # Value generators take (course, session, event ms) and return JSON text.
    def _generators(self) -> dict[str, Callable[[_Course, _Session, int], str]]:
        r = self._r
        words, texts, notes = self._words, self._texts, self._notes
        rng = self._rng

        def pick(seq):
            return seq[int(r() * len(seq))]

        def ts(ms, spread):
            # Body timestamps use their own form and offset, unlike event_time.
            style, offset = pick(_TIME_STYLES), pick(_TIME_ZONES)[1]
            return '"%s"' % _format_time(ms - int(r() * spread), style, offset, int(r() * 1e6))

        return {
            "id": lambda c, s, ms: '"%d%013d"' % (c.account.shard, 100_000 + int(r() * 9_000_000)),
            "course_id": lambda c, s, ms: '"%s"' % c.gid,
            "course_uuid": lambda c, s, ms: '"%s"' % c.uuid,
            "other_course_uuid": lambda c, s, ms: '"%s"' % pick(c.account.courses).uuid,
            "course_name": lambda c, s, ms: _dumps(c.name),
            "sub_account": lambda c, s, ms: '"%s"' % c.sub_gid,
            "root_account": lambda c, s, ms: '"%s"' % c.account.gid,
            "user_id": lambda c, s, ms: '"%s"' % s.user.gid,
            "peer_id": lambda c, s, ms: '"%s"' % pick(c.account.users).gid,
            "peer_name": lambda c, s, ms: _dumps(pick(c.account.users).name),
            "peer_sis": lambda c, s, ms: _dumps(pick(c.account.users).sis),
            "ts": lambda c, s, ms: ts(ms, 86_400_000),
            "ts_future": lambda c, s, ms: ts(ms + 14 * 86_400_000, 10 * 86_400_000),
            "title": lambda c, s, ms: '"%s"' % pick(words),
            "text": lambda c, s, ms: pick(texts),
            "note": lambda c, s, ms: pick(notes),
            "bool": lambda c, s, ms: "true" if r() < 0.5 else "false",
            "uuid": lambda c, s, ms: '"%s"' % _uuid4(rng),
            "lti": lambda c, s, ms: '"%040x"' % rng.getrandbits(160),
            "alnum": lambda c, s, ms: '"%s"' % _alnum40(rng),
            "domain": lambda c, s, ms: '"%s"' % c.account.host,
            "url": lambda c, s, ms: '"https://%s/courses/%d"' % (c.account.host, c.local),
            "filename": lambda c, s, ms: '"%s.%s"' % (
                pick(words).lower().replace(" ", "_"), pick(("pdf", "docx", "png", "pptx"))),
            "sis": lambda c, s, ms: _dumps(c.sis),
        }

    def _compile(self, spec: _NoiseSpec, generators: dict) -> Callable[[_Course, _Session, int, bool], str]:
        pick = self._r
        members = []
        for key, kind in spec.fields:
            if isinstance(kind, str):
                members.append(('"%s":' % key, generators[kind]))
            else:
                choices = [generators[v] if isinstance(v, _Ref) else _dumps(v) for v in kind]
                members.append(('"%s":' % key, self._chooser(choices, pick)))

        def render(course: _Course, session: _Session, ms: int, keep_nulls: bool) -> str:
            parts = []
            for key, make in members:
                value = make(course, session, ms)
                if keep_nulls or value != "null":
                    parts.append(key + value)
            return "{" + ",".join(parts) + "}"

        return render

    @staticmethod
    def _chooser(choices: list, r: Callable[[], float]) -> Callable[[_Course, _Session, int], str]:
        if len(choices) == 1 and isinstance(choices[0], str):
            constant = choices[0]
            return lambda c, s, ms: constant
        n = len(choices)

        def choose(c, s, ms):
            value = choices[int(r() * n)]
            return value if isinstance(value, str) else value(c, s, ms)

        return choose

    def entry(self, name: str) -> tuple:
        return next(entry for entry in self._entries if entry[0].name == name)

    def line(self, ms: int, entry: tuple | None = None) -> str:
        """One noise event whose event_time is ``ms`` (of a random type unless ``entry`` is given)."""
        r = self._r
        spec, render = entry or self._table[int(r() * len(self._table))]
        session = self._sessions[int(r() * len(self._sessions))]
        account = session.account
        course = account.courses[int(r() * len(account.courses))]
        keep = session.keep_nulls
        body = render(course, session, ms, keep)
        event_time = _format_time(ms, _TIME_STYLES[int(r() * len(_TIME_STYLES))], session.offset, int(r() * 1e6))
        if spec.context == "course":
            context = course.context[keep]
        elif spec.context == "account":
            context = account.context_fragment
        else:
            context = '"context_type":"User","context_id":"%s"' % session.user.gid
        if spec.job_share and r() < spec.job_share:
            meta = '%s,%s,"job_id":"10200%011d","job_tag":"%s"' % (
                account.root_fragment, context, int(r() * 1e11), spec.job_tag)
        else:
            n = 100 + int(r() * 90_000)
            path = spec.path.format(c=course.local, n=n, u=session.user.local)
            if r() < 0.3:
                referrer = "null" if keep else None
            else:
                referrer = '"https://%s/courses/%d"' % (account.host, course.local)
            meta = '%s,%s%s,"request_id":"%s","http_method":"%s",%s,"url":"https://%s%s"%s' % (
                session.head, context, session.role_fragment if spec.context == "course" else "",
                _uuid4(self._rng), spec.method, session.tail, account.host, path,
                "" if referrer is None else ',"referrer":' + referrer)
        return '{"metadata":{%s,"producer":"canvas","event_name":"%s","event_time":"%s"},"body":%s}' % (
            meta, spec.name, event_time, body)


# --------------------------------------------------------------------------- routed events

_MIGRATION_JOB_TAGS = {
    "course_copy_importer": "ContentMigration#import_content",
    "master_course_import": "MasterCourses::MasterMigration#perform_imports",
}
_FILE_IMPORTERS = (
    "common_cartridge_importer", "zip_file_importer", "canvas_cartridge_importer", "qti_converter", "moodle_converter",
)
_SCENARIOS = {
    "copy": 8, "blueprint": 3, "file_import": 3, "account_import": 1,
    "missing_migration": 2, "other_source": 1, "in_course": 2,
}


@dataclass
class _Migration:
    migration_id: str
    job_id: str
    target: _Course
    source: _Course | None
    migration_type: str
    quizzes_next: bool
    null_source: bool  # file imports: write source keys as null instead of omitting them


class _Lineage:
    """Plans routed events and releases them as JSON lines in delivery order.

    Scenarios (a migration plus its retries, or retries alone) are generated in
    event-time order, paced so routed lines make up ``_ROUTED_SHARE`` of the feed;
    their lines wait in a heap keyed by delivery time, which only spans a few hours.
    """

    def __init__(self, rng: random.Random, accounts: list[_Account], events: int) -> None:
        self._rng = rng
        self._accounts = accounts
        self._deck = _Deck(rng, _SCENARIOS)
        self._heap: list[tuple[int, int, bytes]] = []
        self._seq = 0
        self._gap = _SPAN_MS / max(events * _ROUTED_SHARE, 1e-9)  # event-time per routed line
        self._next_start = _START_MS + int(rng.random() * 3 * self._gap)
        self._recent: list[_Course] = []
        self._job = rng.randint(10**15, 2 * 10**15)
        self._scenarios = {
            "copy": self._copy, "blueprint": self._blueprint, "file_import": self._file_import,
            "account_import": self._account_import, "missing_migration": self._missing_migration,
            "other_source": self._other_source, "in_course": self._in_course,
        }

    def due(self, until_ms: int) -> list[bytes]:
        """Routed lines delivered up to ``until_ms``, in delivery order."""
        while self._next_start <= until_ms:
            before = self._seq
            self._scenarios[self._deck.draw()](self._next_start)
            emitted = max(self._seq - before, 1)
            self._next_start += int(emitted * self._gap * self._rng.uniform(0.5, 1.5))
        out = []
        while self._heap and self._heap[0][0] <= until_ms:
            out.append(heapq.heappop(self._heap)[2])
        return out

    # ---- scenario kinds

    def _copy(self, t: int) -> None:
        source = self._pick_parent(self._account())
        self._migrate(t, self._spawn(source), source, "course_copy_importer")

    def _blueprint(self, t: int) -> None:
        account = self._account()
        blueprint, associated = self._rng.choice(account.blueprints)
        if associated and self._rng.random() < 0.5:
            target = self._rng.choice(associated)  # a later sync: same parent, new migration id
            while len(target.assignments) < len(blueprint.assignments):
                target.add_assignment(self._rng)
        else:
            target = self._spawn(blueprint)
            associated.append(target)
        self._migrate(t, target, blueprint, "master_course_import")

    def _file_import(self, t: int) -> None:
        account = self._account()
        root = _Course(account, self._rng)
        root.max_depth = self._rng.randint(3, 6)
        for _ in range(self._rng.randint(3, 8)):
            root.add_assignment(self._rng)
        account.forest.append(root)
        self._migrate(t, root, None, self._rng.choice(_FILE_IMPORTERS))

    def _account_import(self, t: int) -> None:
        target = _Course(self._account(), self._rng, context_type="Account")
        self._migrate(t, target, None, self._rng.choice(("qti_converter", "common_cartridge_importer")))

    def _missing_migration(self, t: int) -> None:
        """The copy happened before the feed began: only its retries are seen."""
        source = self._pick_parent(self._account())
        target = self._spawn(source)
        self._emit_all(self._retries(t, source, target, self._copied_pairs(source, target)))

    def _other_source(self, t: int) -> None:
        """A retry naming a source course other than the one the target was copied from."""
        account = self._account()
        target = self._rng.choice(account.migrated) if account.migrated else None
        claimed = self._rng.choice(account.forest)
        if target is None or claimed is target:
            self._copy(t)  # nothing suitable yet
        else:
            pairs = [(self._rng.choice(claimed.assignments), self._rng.choice(target.assignments))]
            self._emit_all(self._retries(t, claimed, target, pairs))

    def _in_course(self, t: int) -> None:
        """An assignment duplicated inside its own course."""
        course = self._rng.choice(self._account().forest)
        pairs = [(self._rng.choice(course.assignments), course.add_assignment(self._rng))]
        self._emit_all(self._retries(t, course, course, pairs))

    # ---- building blocks

    def _account(self) -> _Account:
        return self._rng.choice(self._accounts)

    def _pick_parent(self, account: _Account) -> _Course:
        """Prefer recent copies so chains grow deep, within each tree's depth limit."""
        rng = self._rng
        recent = [c for c in self._recent if c.account is account and c.depth < c.max_depth]
        if recent and rng.random() < 0.6:
            return rng.choice(recent)
        for _ in range(10):
            course = rng.choice(account.forest)
            if course.depth < course.max_depth:
                return course
        return account.forest[0]

    def _spawn(self, source: _Course) -> _Course:
        """A new course copied from ``source``, with matching assignments."""
        account = source.account
        target = _Course(account, self._rng)
        target.depth = source.depth + 1
        target.max_depth = source.max_depth
        for _ in source.assignments:
            target.add_assignment(self._rng)
        account.forest.append(target)
        self._recent = (self._recent + [target])[-12:]
        return target

    def _migrate(self, t: int, target: _Course, source: _Course | None, migration_type: str) -> None:
        rng = self._rng
        migration = _Migration(
            migration_id=_gid(target.account.shard, target.account.new_local()), job_id=self._next_job(),
            target=target, source=source, migration_type=migration_type,
            quizzes_next=rng.random() < 0.4, null_source=rng.random() < 0.5,
        )
        done = t + rng.randint(3_000, 15 * _MIN)
        events = [] if rng.random() < 0.15 else [(t, self.migration_event(_STARTED, t, migration))]
        events.append((done, self.migration_event(_COMPLETED, done, migration)))
        if rng.random() < 0.08:  # re-run: same migration id, later event_time
            rerun = done + rng.randint(_HOUR, 8 * _HOUR)
            migration.job_id = self._next_job()
            events.append((rerun, self.migration_event(_COMPLETED, rerun, migration)))
        retries = []
        if source is not None and target.context_type == "Course":
            target.account.migrated.append(target)
            retries = self._retries(done, source, target, self._copied_pairs(source, target))
        late = None
        if retries and rng.random() < 0.12:
            # Delayed delivery: the migration lands in the file after its retries.
            late = retries[-1][0] - t + rng.randint(_MIN, 30 * _MIN)
        self._emit_all(events, late)
        self._emit_all(retries)

    def _copied_pairs(self, source: _Course, target: _Course) -> list[tuple]:
        rng = self._rng
        count = rng.choices((0, 1, 2, 3, 4), (25, 35, 22, 12, 6))[0]
        indexes = rng.sample(range(len(source.assignments)), min(count, len(source.assignments)))
        return [(source.assignments[i], target.assignments[i]) for i in indexes]

    def _retries(self, t: int, source: _Course, target: _Course, pairs: list[tuple]) -> list[tuple[int, dict]]:
        """Retry events for assignment pairs; some assignments are retried several times."""
        rng = self._rng
        events = []
        for source_assignment, target_assignment in pairs:
            at = t + rng.randint(_MIN, 3 * _HOUR)
            for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 4)):
                form2 = rng.random() < 0.2
                events.append((at, self.retry_event(at, source, source_assignment, target, target_assignment, form2)))
                at += rng.randint(5 * _MIN, 2 * _HOUR)
        events.sort(key=lambda e: e[0])
        return events

    def _emit_all(self, events: list[tuple[int, dict]], delay: int | None = None) -> None:
        rng = self._rng
        for ms, event in events:
            if delay is not None:
                lag = delay
            elif rng.random() < 0.95:
                lag = rng.randint(0, 20_000)
            else:
                lag = rng.randint(20_000, 10 * _MIN)
            self._seq += 1
            heapq.heappush(self._heap, (ms + lag, self._seq, _dumps(event).encode()))

    def _next_job(self) -> str:
        self._job += self._rng.randint(1, 5_000)
        return str(self._job)

    def _time(self, ms: int, offset: int) -> str:
        rng = self._rng
        if rng.random() < 0.5:
            offset = rng.choice(_TIME_ZONES)[1]
        return _format_time(ms, rng.choice(_TIME_STYLES), offset, rng.randrange(1_000_000))

    # ---- event dicts (also used as the base of malformed lines)

    def migration_event(self, name: str, ms: int, m: _Migration) -> dict:
        target, source, account = m.target, m.source, m.target.account
        keep_nulls = self._rng.random() < 0.75
        meta = {
            "context_id": target.gid, "context_type": target.context_type, "event_name": name,
            "event_time": self._time(ms, 0), "job_id": m.job_id,
            "job_tag": _MIGRATION_JOB_TAGS.get(m.migration_type, "ContentMigration#import_content"),
            "producer": "canvas", **account.fields,
        }
        body = {
            "content_migration_id": m.migration_id, "context_id": target.gid, "context_type": target.context_type,
            "context_uuid": target.uuid, "import_quizzes_next": m.quizzes_next, "lti_context_id": target.lti,
        }
        if source is not None:
            body["source_course_lti_id"] = source.lti
            # Started events name the source uuid; some completed producers add it too.
            if name == _STARTED or self._rng.random() < 0.3:
                body["source_course_uuid"] = source.uuid
        elif m.null_source:
            body["source_course_lti_id"] = None
            if name == _STARTED:
                body["source_course_uuid"] = None
        body.update(destination_course_lti_id=target.lti, migration_type=m.migration_type, domain=account.host)
        if not keep_nulls:
            body = {k: v for k, v in body.items() if v is not None}
        return {"metadata": meta, "body": body}

    def retry_event(self, ms: int, source: _Course, source_assignment: tuple, target: _Course,
                    target_assignment: tuple, form2: bool) -> dict:
        rng = self._rng
        account = source.account
        session = rng.choice(account.teachers)
        url = "https://%s/api/v1/courses/%d/assignments/%d/retry_alignment_clone?target_assignment_id=%d" % (
            account.host, source.local, source_assignment[0], target_assignment[0])
        if target is not source:
            url += "&target_course_id=%d" % target.local
        fields = session.fields
        meta = {
            "context_type": "Course", "context_id": source.gid, "context_account_id": source.sub_gid,
            "context_sis_source_id": source.sis,
            **{k: fields[k] for k in ("root_account_uuid", "root_account_id", "root_account_lti_guid", "user_login",
                                      "user_account_id", "user_sis_id", "user_id", "time_zone")},
            "context_role": "TeacherEnrollment", "request_id": _uuid4(rng),
            **{k: fields[k] for k in ("session_id", "hostname")}, "http_method": "POST",
            **{k: fields[k] for k in ("user_agent", "client_ip")}, "url": url,
            "referrer": None if rng.random() < 0.3 else f"https://{account.host}/courses/{target.local}/assignments",
            "producer": "canvas", "event_name": _QUIZ_DUP if form2 else _RETRY,
            "event_time": self._time(ms, session.offset),
        }
        if not session.keep_nulls:
            meta = {k: v for k, v in meta.items() if v is not None}
        body = {
            "original_course_uuid": source.uuid, "new_course_uuid": target.uuid,
            "new_course_resource_link_id": target.lti, "domain": account.host,
        }
        if not form2:
            body["original_assignment_resource_link_id"] = source_assignment[1]
            body["new_assignment_resource_link_id"] = target_assignment[1]
        body["status"] = _CLONING
        return {"metadata": meta, "body": body}

    def sample_event(self, ms: int, body_may_lose_status: bool) -> dict:
        """A plausible routed event that belongs to no scenario (base for malformed lines)."""
        rng = self._rng
        account = self._account()
        target = rng.choice(account.forest)
        source = rng.choice(account.forest)
        kind = rng.choice(("retry", "retry", "form2", "started", "completed"))
        if kind == "form2" and body_may_lose_status:
            kind = "retry"  # without its body a form-2 retry is indistinguishable from noise
        if kind in ("started", "completed"):
            migration = _Migration(_gid(account.shard, account.new_local()), self._next_job(), target, source,
                                   "course_copy_importer", False, False)
            return self.migration_event(_STARTED if kind == "started" else _COMPLETED, ms, migration)
        return self.retry_event(ms, source, rng.choice(source.assignments), target,
                                rng.choice(target.assignments), kind == "form2")


# --------------------------------------------------------------------------- malformed lines

_REQUIRED_BODY_KEY = {
    _RETRY: "new_course_uuid", _QUIZ_DUP: "new_course_uuid", _STARTED: "context_uuid", _COMPLETED: "context_uuid",
}


def _insert_in_string(line: bytes, junk: bytes) -> bytes:
    marker = b'"root_account_lti_guid":"'
    at = line.index(marker) + len(marker)
    return line[:at] + junk + line[at:]


def _truncate(event: dict, rng: random.Random) -> bytes:
    text = _dumps(event)  # cut the str, not the bytes, so the prefix is still valid UTF-8
    return text[: rng.randrange(len(text) // 3, len(text) - 1)].encode()


def _set(section: str, key: str, value) -> Callable[[dict, random.Random], bytes]:
    def mutate(event: dict, rng: random.Random) -> bytes:
        event[section][key] = value(event, rng) if callable(value) else value
        return _dumps(event).encode()
    return mutate


def _drop(section: str | None, key: str | None = None) -> Callable[[dict, random.Random], bytes]:
    def mutate(event: dict, rng: random.Random) -> bytes:
        if section is None:
            del event[key]
        else:
            event[section].pop(key or _REQUIRED_BODY_KEY[event["metadata"]["event_name"]], None)
        return _dumps(event).encode()
    return mutate


def _required(value) -> Callable[[dict, random.Random], bytes]:
    def mutate(event: dict, rng: random.Random) -> bytes:
        key = _REQUIRED_BODY_KEY[event["metadata"]["event_name"]]
        event["body"][key] = value(event["body"][key]) if callable(value) else value
        return _dumps(event).encode()
    return mutate


def _no_offset(event: dict, rng: random.Random) -> str:
    return "%04d-%02d-%02dT%02d:%02d:%02d" % time.gmtime(_START_MS // 1000 + rng.randrange(_SPAN_MS // 1000))[:6]


# kind -> (base: "any" | "routed", mutation). Every kind is a distinct dead-letter reason.
_MALFORMED: dict[str, tuple[str, Callable[[dict, random.Random], bytes]]] = {
    "utf8_bad_bytes": ("any", lambda e, rng: _insert_in_string(_dumps(e).encode(), b"\xff\xfe")),
    "utf8_latin1": ("any", lambda e, rng: _insert_in_string(_dumps(e).encode(), b"Caf\xe9 ")),
    "utf8_cut_sequence": ("any", lambda e, rng: _insert_in_string(_dumps(e).encode(), b"\xe2\x82")),
    "json_truncated": ("any", _truncate),
    "json_nan": ("any", _set("body", "points_possible", float("nan"))),
    "json_lone_surrogate": ("any", lambda e, rng: _dumps(
        {**e, "body": {**e["body"], "domain": "caf\ud800"}}, ascii_only=True).encode()),
    "envelope_array": ("any", lambda e, rng: ("[" + _dumps(e) + "]").encode()),
    "envelope_scalar": ("any", lambda e, rng: _dumps(e["metadata"]["event_name"]).encode()),
    "metadata_missing": ("any", _drop(None, "metadata")),
    "metadata_not_object": ("any", lambda e, rng: _dumps(
        {**e, "metadata": rng.choice((None, _dumps(e["metadata"]), list(e["metadata"].values())))}).encode()),
    "event_name_missing": ("any", _drop("metadata", "event_name")),
    "event_name_null": ("any", _set("metadata", "event_name", None)),
    "event_name_empty": ("any", _set("metadata", "event_name", "")),
    "event_name_int": ("any", _set("metadata", "event_name", 42)),
    "event_time_missing": ("routed", _drop("metadata", "event_time")),
    "event_time_garbage": ("routed", _set("metadata", "event_time", lambda e, rng: rng.choice(
        ("not a time", "", "2024-07-32T25:61:00Z", 1722366275872)))),
    "event_time_no_offset": ("routed", _set("metadata", "event_time", _no_offset)),
    "body_missing": ("routed", _drop(None, "body")),
    "body_required_missing": ("routed", _drop("body")),
    "body_required_empty": ("routed", _required("")),
    "body_wrong_type": ("routed", _required(lambda v: [v])),
}


# --------------------------------------------------------------------------- assembly


class _Feed:
    """Merges noise, routed, redelivered and malformed lines window by window."""

    def __init__(self, events: int, seed: int) -> None:
        self._events = events
        world_rng = random.Random(f"synthetic-feed:{seed}:world")
        accounts = _build_world(world_rng)
        self._noise = _NoiseMaker(random.Random(f"synthetic-feed:{seed}:noise"), accounts)
        self._lineage = _Lineage(random.Random(f"synthetic-feed:{seed}:lineage"), accounts, events)
        rng = self._rng = random.Random(f"synthetic-feed:{seed}:delivery")
        self._malformed = _Quota(_MALFORMED_SHARE, rng)
        self._blank = _Quota(_BLANK_SHARE, rng)
        self._crlf = _Quota(_CRLF_SHARE, rng)
        self._noise_dups = _Quota(_NOISE_DUP_SHARE, rng)
        self._routed_dups = _Quota(_ROUTED_DUP_SHARE, rng)
        self._kinds = _Deck(rng, {kind: 1 for kind in _MALFORMED})
        self._redeliveries: dict[int, list[bytes]] = {}
        windows = self._last_window = -(-events // _WINDOW)
        self._last_window -= 1
        oversize = 2 if events >= _OVERSIZE_SECOND_EVENTS else 1 if events >= _OVERSIZE_MIN_EVENTS else 0
        self._oversize_windows = sorted(rng.sample(range(windows), oversize)) if oversize else []

    def _time_at(self, position: int) -> int:
        return _START_MS + position * _SPAN_MS // self._events

    def lines(self) -> Iterator[bytes]:
        rng = self._rng
        noise_line = self._noise.line
        r = rng.random
        carry: list[bytes] = []
        position = window = 0
        while position < self._events:
            size = min(_WINDOW, self._events - position)
            start_ms = self._time_at(position)
            routed = self._lineage.due(self._time_at(position + size))
            for line in routed:
                if self._routed_dups.take():
                    self._redeliver(window, line)
            batch = carry + self._redeliveries.pop(window, []) + routed + self._specials(window, size, start_ms)
            carry = batch[size:]  # only overflows in tiny feeds or bursts
            batch = batch[:size]
            step = self._time_at(position + 1) - start_ms
            noise = []
            for k in range(size - len(batch)):
                # Producers lag: event_time is a little (sometimes minutes) before delivery.
                lag = int(r() * 5_000) if r() < 0.9 else int(r() * 600_000)
                noise.append(noise_line(start_ms + k * step - lag).encode())
            for _ in range(self._noise_dups.take(len(noise))):
                self._redeliver(window, rng.choice(noise))
            batch += noise
            rng.shuffle(batch)
            for _ in range(self._crlf.take(size)):
                i = rng.randrange(size)
                if batch[i].strip():
                    batch[i] += b"\r"
            yield from batch
            position += size
            window += 1

    def _redeliver(self, window: int, line: bytes) -> None:
        # Clamped so that small feeds still contain their redeliveries.
        later = min(window + self._rng.randint(1, 8), self._last_window)
        if later > window:
            self._redeliveries.setdefault(later, []).append(line)

    def _specials(self, window: int, size: int, ms: int) -> list[bytes]:
        rng = self._rng
        out = [self._malformed_line(self._kinds.draw(), ms) for _ in range(self._malformed.take(size))]
        out += [rng.choice((b"", b" ", b"\t", b"   ", b" \t ")) for _ in range(self._blank.take(size))]
        if self._oversize_windows and self._oversize_windows[0] == window:
            self._oversize_windows.pop(0)
            out.append(self._oversize_line(ms))
        return out

    def _malformed_line(self, kind: str, ms: int) -> bytes:
        base, mutate = _MALFORMED[kind]
        if base == "any" and self._rng.random() < 0.5:
            event = json.loads(self._noise.line(ms))
        else:
            event = self._lineage.sample_event(ms, body_may_lose_status=kind == "body_missing")
        return mutate(event, self._rng)

    def _oversize_line(self, ms: int) -> bytes:
        """A valid wiki page event whose HTML body pushes the line past 1,000,000 bytes."""
        event = json.loads(self._noise.line(ms, self._noise.entry("wiki_page_updated")))
        paragraph = "<p>" + " ".join(self._rng.choices(_WORDS, k=200)) + "</p>"
        event["body"]["body"] = paragraph * (_OVERSIZE_BYTES // len(paragraph) + 1)
        return _dumps(event).encode()


def iter_feed_lines(events: int, seed: int) -> Iterator[bytes]:
    """Yield exactly `events` lines (bytes, WITHOUT line terminator) deterministically for (events, seed)."""
    if events < 0:
        raise ValueError(f"events must be >= 0, got {events}")
    if events:
        yield from _Feed(events, seed).lines()


def write_feed(path: str, events: int, seed: int) -> int:
    """Write the feed to `path` (gzip if path ends with .gz, using gzip with mtime=0 so the bytes are
    deterministic), lines terminated by b"\\n". Returns the number of lines written."""
    written = 0
    with open(path, "wb") as raw:
        # No file name or timestamp in the gzip header, so the bytes depend only on the feed;
        # level 1 because the benchmark feed is ~1.5 GB and compresses well anyway.
        gz = path.endswith(".gz")
        out = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1) if gz else raw
        try:
            batch: list[bytes] = []
            for line in iter_feed_lines(events, seed):
                batch.append(line)
                if len(batch) == 4096:
                    out.write(b"\n".join(batch) + b"\n")
                    written += len(batch)
                    batch = []
            if batch:
                out.write(b"\n".join(batch) + b"\n")
                written += len(batch)
        finally:
            if out is not raw:
                out.close()
    return written


def _main() -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic Canvas Live Events feed.")
    parser.add_argument("path", help="output file; gzip-compressed if it ends with .gz")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(write_feed(args.path, args.events, args.seed))


if __name__ == "__main__":
    _main()
