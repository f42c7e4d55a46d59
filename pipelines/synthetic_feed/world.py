"""The simulated Canvas instances: root accounts with their users, login sessions and courses."""

from __future__ import annotations

import random

from pipelines.synthetic_feed.primitives import alnum40, canvas_global_id, fragment, hex32, hex40

HOSTS = (
    ("northridge.instructure.com", "northridge.edu"),
    ("lakeshore.instructure.com", "lakeshore.edu"),
    ("canvas.hartwell.edu", "hartwell.edu"),
    ("mesa-valley.instructure.com", "mesavalley.edu"),
    ("learn.brightwater.ac.uk", "brightwater.ac.uk"),
    ("canvas.kestrel.edu.au", "kestrel.edu.au"),
)
SHARDS = (1004, 1437, 2107, 3319, 5120, 7702)
# July offsets: the feed spans a few summer days, so DST is fixed.
TIME_ZONES = (
    ("America/Los_Angeles", -420), ("America/Denver", -360), ("America/Chicago", -300),
    ("America/New_York", -240), ("Etc/UTC", 0), ("Europe/London", 60), ("Europe/Berlin", 120),
    ("Asia/Kolkata", 330), ("Asia/Kathmandu", 345), ("Australia/Sydney", 600),
)
# (display, ascii) so logins stay ASCII while names exercise UTF-8.
FIRST_NAMES = (
    ("José", "jose"), ("Zoë", "zoe"), ("Łukasz", "lukasz"), ("Søren", "soren"), ("Ngozi", "ngozi"),
    ("Mei", "mei"), ("Aarav", "aarav"), ("Olivia", "olivia"), ("Liam", "liam"), ("Fatima", "fatima"),
    ("Hiroshi", "hiroshi"), ("Chloé", "chloe"), ("Mateo", "mateo"), ("Amara", "amara"),
    ("Ethan", "ethan"), ("Sofía", "sofia"), ("Noah", "noah"), ("Priya", "priya"), ("Jack", "jack"),
)
LAST_NAMES = (
    ("Núñez", "nunez"), ("O'Brien", "obrien"), ("Müller", "muller"), ("Okafor", "okafor"),
    ("Chen", "chen"), ("Patel", "patel"), ("Smith", "smith"), ("García", "garcia"), ("Kowalski", "kowalski"),
    ("Nakamura", "nakamura"), ("Johansson", "johansson"), ("Dubois", "dubois"), ("Brown", "brown"),
    ("Haddad", "haddad"), ("Williams", "williams"), ("Rossi", "rossi"), ("Nguyen", "nguyen"),
)
USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.113",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) "
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) "
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 canvas/7.10.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.6533.64 Mobile Safari/537.36",
    "candroid/7.8.0 (Android 13; SM-S911U)",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36",
)
SUBJECTS = (
    "BIO", "CHEM", "MATH", "HIST", "ENGL", "PSYC", "ECON", "PHYS", "ARTH", "NURS", "CS", "SOCI",
)
TOPICS = (
    "Introduction to Biology", "General Chemistry", "Linear Algebra", "World History since 1500",
    "Academic Writing", "Developmental Psychology", "Principles of Microeconomics",
    "Classical Mechanics", "Renaissance Art — Florence & Rome", "Foundations of Nursing Practice",
    "Data Structures", "Sociology of Education", "Statistics for the Sciences", "Organic Chemistry II",
)
WORDS = (
    "analysis", "students", "evidence", "reading", "module", "week", "discussion", "draft", "rubric",
    "feedback", "project", "sources", "lab", "report", "résumé", "data", "method", "results", "theory",
    "example", "practice", "question", "review", "concept", "outline", "citation", "peer", "group",
    "deadline", "submission", "café", "naïve", "model", "chapter", "quiz", "notes", "lecture", "figure",
)
ROLES = {
    "StudentEnrollment": 80, "TeacherEnrollment": 10, "TaEnrollment": 6, "ObserverEnrollment": 3, "DesignerEnrollment": 1,
}


class Account:
    """A root account (one Canvas domain) with its users, sessions and course-copy forest."""

    def __init__(self, rng: random.Random, host: str, mail_domain: str, shard: int) -> None:
        self.rng = rng
        self.host = host
        self.mail_domain = mail_domain
        self.shard = shard
        self.uuid = alnum40(rng)
        self.gid = canvas_global_id(shard, 1)
        self.lti_guid = f"{self.uuid}:canvas-lms" if rng.random() < 0.5 else f"{self.uuid}.{host}"
        self.fields = {
            "root_account_uuid": self.uuid,
            "root_account_id": self.gid,
            "root_account_lti_guid": self.lti_guid,
        }
        self.root_fragment = fragment(self.fields, True)
        self.context_fragment = fragment({"context_type": "Account", "context_id": self.gid}, True)
        self._next_local = rng.randint(1_000, 20_000)
        self.sub_accounts = [canvas_global_id(shard, self.new_local()) for _ in range(rng.randint(3, 6))]
        self.users: list[User] = []
        self.courses: list[Course] = []  # fixed pool that noise events refer to
        self.forest: list[Course] = []  # courses taking part in migrations, in creation order
        self.blueprints: list[tuple[Course, list[Course]]] = []  # (blueprint, associated courses)
        self.migrated: list[Course] = []  # courses whose migration from a source is in the feed
        self.teachers: list[Session] = []

    def new_local(self) -> int:
        """Next local id: sparse and increasing, like ids shared by many tables."""
        self._next_local += self.rng.randint(1, 40)
        return self._next_local


class User:
    """A user of an account: ids, name, login, time zone and role."""

    __slots__ = ("account", "local", "gid", "name", "login", "sis", "time_zone", "offset", "role")

    def __init__(self, account: Account, rng: random.Random, role: str) -> None:
        first, first_ascii = rng.choice(FIRST_NAMES)
        last, last_ascii = rng.choice(LAST_NAMES)
        self.account = account
        self.local = account.new_local()
        self.gid = canvas_global_id(account.shard, self.local)
        self.name = f"{first} {last}"
        self.login = f"{first_ascii}.{last_ascii}{rng.randint(1, 999)}@{account.mail_domain}"
        sis = "%03d-%s%02d" % (rng.randint(100, 999), last_ascii[:1].upper(), rng.randint(1, 99))
        self.sis = None if rng.random() < 0.2 else sis
        self.time_zone, self.offset = rng.choice(TIME_ZONES)
        self.role = role


class Session:
    """One login session; its constant metadata is pre-encoded once for the noise fast path."""

    __slots__ = ("account", "user", "fields", "keep_nulls", "head", "tail", "role_fragment", "offset")

    def __init__(self, user: User, rng: random.Random) -> None:
        account = user.account
        self.account = account
        self.user = user
        self.offset = user.offset
        # Some producers drop null-valued keys instead of writing null.
        self.keep_nulls = rng.random() < 0.75
        head: dict[str, str | None] = dict(account.fields)
        head.update(
            user_login=user.login, user_account_id=account.gid, user_sis_id=user.sis,
            user_id=user.gid, time_zone=user.time_zone,
        )
        ip = "%d.%d.%d.%d" % (
            rng.choice((24, 67, 73, 98, 104, 131, 172, 203)), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
        if rng.random() < 0.1:
            ip = "2001:db8:%x:%x::%x" % (rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(16))
        tail = {
            "session_id": hex32(rng), "hostname": account.host, "user_agent": rng.choice(USER_AGENTS), "client_ip": ip,
        }
        self.fields = {**head, **tail}
        self.head = fragment(head, self.keep_nulls)
        self.tail = fragment(tail, self.keep_nulls)
        self.role_fragment = ',"context_role":"%s"' % user.role


class Course:
    """A course (or, for account-level imports, an account context) with its ids."""

    __slots__ = (
        "account", "context_type", "local", "gid", "uuid", "lti", "sub_gid", "sis", "name",
        "assignments", "depth", "max_depth", "context",
    )

    def __init__(self, account: Account, rng: random.Random, context_type: str = "Course") -> None:
        self.account = account
        self.context_type = context_type
        self.local = account.new_local()
        self.gid = canvas_global_id(account.shard, self.local)
        self.uuid = alnum40(rng)
        self.lti = hex40(rng)
        self.sub_gid = rng.choice(account.sub_accounts)
        number = rng.randint(100, 499)
        subject = rng.choice(SUBJECTS)
        self.name = f"{subject} {number} — {rng.choice(TOPICS)} (Fall 2024)"
        self.sis = None if rng.random() < 0.3 else f"2024.FA.{subject}.{number}-{rng.randint(1, 9):02d}"
        self.assignments: list[tuple[int, str]] = []  # (local id, lti resource link id)
        self.depth = 1
        self.max_depth = 1
        ctx = {
            "context_type": context_type, "context_id": self.gid,
            "context_account_id": self.sub_gid, "context_sis_source_id": self.sis,
        }
        self.context = (fragment(ctx, False), fragment(ctx, True))  # indexed by keep_nulls

    def add_assignment(self, rng: random.Random) -> tuple[int, str]:
        assignment = (self.account.new_local(), hex40(rng))
        self.assignments.append(assignment)
        return assignment


def build_world(rng: random.Random) -> list[Account]:
    """Three to five accounts with their users and courses."""
    picks = rng.sample(range(len(HOSTS)), rng.randint(3, 5))
    accounts = []
    for i in picks:
        host, mail = HOSTS[i]
        account = Account(rng, host, mail, SHARDS[i])
        roles = list(ROLES)
        weights = list(ROLES.values())
        account.users = [User(account, rng, rng.choices(roles, weights)[0]) for _ in range(500)]
        account.courses = [Course(account, rng) for _ in range(150)]
        # Forest roots are existing courses; each tree gets its own depth limit.
        for root in rng.sample(account.courses, rng.randint(2, 4)):
            root.max_depth = rng.randint(3, 6)
            for _ in range(rng.randint(3, 10)):
                root.add_assignment(rng)
            account.forest.append(root)
        account.blueprints.append((rng.choice(account.forest), []))
        accounts.append(account)
    return accounts
