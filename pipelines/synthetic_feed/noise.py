"""Noise, 98 % of the feed: 25 ordinary Canvas event types.

They are rendered from pre-encoded JSON fragments (the generator's hot path).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from pipelines.synthetic_feed.primitives import (
    QUIZ_DUP,
    TIME_STYLES,
    alnum40,
    dumps,
    format_time,
    uuid4,
)
from pipelines.synthetic_feed.world import ROLES, TIME_ZONES, WORDS, Account, Course, Session


class Ref(str):
    """Names a value generator inside a tuple of literal choices."""


@dataclass(frozen=True)
class NoiseSpec:
    """One noise event type.

    ``context`` is "course", "account" or "user"; ``path`` is the request URL path
    (``{c}`` course, ``{n}`` object, ``{u}`` user local id); ``fields`` are body
    ``(key, kind)`` pairs where kind names a value generator or is a tuple of literal
    choices (``Ref`` items name generators); a ``job_share`` of the events come from
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


SUBMISSION_FIELDS = (
    ("submission_id", "id"),
    ("assignment_id", "id"),
    ("user_id", "user_id"),
    ("submitted_at", "ts"),
    ("graded_at", (None,)),
    ("updated_at", "ts"),
    ("score", (None, 7.5, 10, 88.5)),
    ("grade", (None, "B+", "10")),
    (
        "submission_type",
        ("online_text_entry", "online_upload", "online_url", "online_quiz", "external_tool"),
    ),
    ("body", "note"),
    ("url", (None,)),
    ("attempt", (1, 1, 2, 3)),
    ("lti_assignment_id", "uuid"),
    ("lti_user_id", "lti"),
    ("group_id", (None,)),
    ("late", "bool"),
    ("missing", (False,)),
    ("workflow_state", ("submitted", "pending_review")),
)
ENROLLMENT_FIELDS = (
    ("enrollment_id", "id"),
    ("course_id", "course_id"),
    ("user_id", "peer_id"),
    ("user_name", "peer_name"),
    ("type", tuple(ROLES)),
    ("created_at", "ts"),
    ("updated_at", "ts"),
    ("limit_privileges_to_course_section", "bool"),
    ("course_section_id", "id"),
    ("associated_user_id", (None,)),
    ("workflow_state", ("active", "invited", "completed", "inactive")),
)
ASSIGNMENT_FIELDS = (
    ("assignment_id", "id"),
    ("assignment_group_id", "id"),
    ("context_id", "course_id"),
    ("context_type", ("Course",)),
    ("context_uuid", "course_uuid"),
    ("created_on_blueprint_sync", (False, False, True)),
    ("description", "note"),
    ("due_at", "ts_future"),
    ("lock_at", (None,)),
    ("unlock_at", "ts"),
    ("lti_assignment_id", "uuid"),
    ("lti_resource_link_id", "lti"),
    ("domain", "domain"),
    ("points_possible", (10, 20, 25, 50, 100)),
    (
        "submission_types",
        ("online_upload", "online_text_entry,online_upload", "external_tool", "online_quiz"),
    ),
    ("title", "title"),
    ("updated_at", "ts"),
    ("workflow_state", ("published", "unpublished", "duplicating")),
)
WIKI_FIELDS = (("wiki_page_id", "id"), ("title", "title"), ("body", "text"), ("old_title", "title"))

NOISE_SPECS = (
    NoiseSpec(
        "asset_accessed",
        340,
        "course",
        "GET",
        "/courses/{c}/assignments/{n}",
        (
            ("asset_id", "id"),
            ("asset_name", "title"),
            (
                "asset_type",
                ("assignment", "wiki_page", "discussion_topic", "attachment", "quiz", "course"),
            ),
            (
                "asset_subtype",
                (None, "assignments", "modules", "grades", "syllabus", "announcements"),
            ),
            (
                "category",
                ("assignments", "wiki", "files", "topics", "home", "grades", "modules", "quizzes"),
            ),
            ("role", ("StudentEnrollment", "TeacherEnrollment", "TaEnrollment")),
            ("level", ("participate", "view", None)),
            ("filename", (None, "lab-report-template.docx", "syllabus_fall2024.pdf")),
            ("domain", "domain"),
            ("enrollment_id", "id"),
            ("section_id", "id"),
        ),
    ),
    NoiseSpec("logged_in", 60, "account", "POST", "/login/canvas", (("redirect_url", "url"),)),
    NoiseSpec("logged_out", 25, "account", "DELETE", "/logout", ()),
    NoiseSpec(
        "submission_created",
        55,
        "course",
        "POST",
        "/api/v1/courses/{c}/assignments/{n}/submissions",
        SUBMISSION_FIELDS,
    ),
    NoiseSpec(
        "submission_updated",
        55,
        "course",
        "PUT",
        "/api/v1/courses/{c}/assignments/{n}/submissions/self",
        SUBMISSION_FIELDS,
        "Submission#grade_change_job",
        0.1,
    ),
    NoiseSpec(
        "grade_change",
        45,
        "course",
        "PUT",
        "/api/v1/courses/{c}/assignments/{n}/submissions/update_grades",
        (
            ("submission_id", "id"),
            ("assignment_id", "id"),
            ("assignment_name", "title"),
            ("grade", ("A", "B+", "C", "9", "complete")),
            ("old_grade", (None, "B", "7")),
            ("score", (9, 17.5, 88, 100)),
            ("old_score", (None, 12, 75.5)),
            ("points_possible", (10, 20, 100)),
            ("old_points_possible", (10, 20, 100)),
            ("grader_id", "user_id"),
            ("student_id", "peer_id"),
            ("student_sis_id", "peer_sis"),
            ("user_id", "peer_id"),
            ("grading_complete", (True,)),
            ("muted", "bool"),
        ),
        "GradebookImporter#process",
        0.15,
    ),
    NoiseSpec(
        "assignment_created",
        5,
        "course",
        "POST",
        "/api/v1/courses/{c}/assignments",
        ASSIGNMENT_FIELDS,
    ),
    NoiseSpec(
        "assignment_updated",
        9,
        "course",
        "PUT",
        "/api/v1/courses/{c}/assignments/{n}",
        ASSIGNMENT_FIELDS,
    ),
    NoiseSpec(
        "discussion_entry_created",
        35,
        "course",
        "POST",
        "/api/v1/courses/{c}/discussion_topics/{n}/entries",
        (
            ("discussion_entry_id", "id"),
            ("parent_discussion_entry_id", (None, None, Ref("id"))),
            ("parent_discussion_entry_author_id", (None,)),
            ("discussion_topic_id", "id"),
            ("text", "text"),
            ("user_id", "user_id"),
            ("created_at", "ts"),
        ),
    ),
    NoiseSpec(
        "discussion_topic_created",
        10,
        "course",
        "POST",
        "/api/v1/courses/{c}/discussion_topics",
        (
            ("discussion_topic_id", "id"),
            ("is_announcement", "bool"),
            ("title", "title"),
            ("body", "text"),
            ("assignment_id", (None,)),
            ("context_id", "course_id"),
            ("context_type", ("Course",)),
            ("workflow_state", ("active", "unpublished")),
            ("lock_at", (None,)),
        ),
    ),
    NoiseSpec(
        "enrollment_created",
        20,
        "course",
        "POST",
        "/api/v1/courses/{c}/enrollments",
        ENROLLMENT_FIELDS,
        "SisBatch#process",
        0.3,
    ),
    NoiseSpec(
        "enrollment_updated",
        30,
        "course",
        "PUT",
        "/courses/{c}/enrollments/{n}",
        ENROLLMENT_FIELDS,
        "SisBatch#process",
        0.3,
    ),
    NoiseSpec(
        "course_updated",
        10,
        "course",
        "PUT",
        "/api/v1/courses/{c}",
        (
            ("course_id", "course_id"),
            ("account_id", "sub_account"),
            ("uuid", "course_uuid"),
            ("name", "course_name"),
            ("created_at", "ts"),
            ("updated_at", "ts"),
            ("workflow_state", ("available", "claimed", "completed")),
        ),
    ),
    NoiseSpec(
        "course_created",
        3,
        "account",
        "POST",
        "/api/v1/accounts/{u}/courses",
        (
            ("account_id", "sub_account"),
            ("course_id", "id"),
            ("created_at", "ts"),
            ("name", "course_name"),
            ("updated_at", "ts"),
            ("uuid", "alnum"),
            ("workflow_state", ("created", "claimed")),
        ),
    ),
    NoiseSpec(
        "wiki_page_updated", 20, "course", "PUT", "/api/v1/courses/{c}/pages/{n}", WIKI_FIELDS
    ),
    NoiseSpec("wiki_page_created", 5, "course", "POST", "/api/v1/courses/{c}/pages", WIKI_FIELDS),
    NoiseSpec(
        "quiz_submitted",
        20,
        "course",
        "POST",
        "/courses/{c}/quizzes/{n}/submissions",
        (("submission_id", "id"), ("quiz_id", "id")),
    ),
    NoiseSpec(
        "attachment_created",
        20,
        "course",
        "POST",
        "/api/v1/courses/{c}/files",
        (
            ("attachment_id", "id"),
            ("user_id", "user_id"),
            ("display_name", "filename"),
            ("filename", "filename"),
            ("folder_id", "id"),
            (
                "content_type",
                (
                    "application/pdf",
                    "image/png",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                ),
            ),
            ("context_type", ("Course",)),
            ("context_id", "course_id"),
            ("unlocked", "bool"),
            ("updated_at", "ts"),
            ("created_at", "ts"),
        ),
    ),
    NoiseSpec(
        "conversation_message_created",
        20,
        "user",
        "POST",
        "/api/v1/conversations/{n}/add_message",
        (
            ("author_id", "user_id"),
            ("conversation_id", "id"),
            ("message_id", "id"),
            ("created_at", "ts"),
        ),
    ),
    NoiseSpec(
        "user_account_association_created",
        8,
        "user",
        "POST",
        "/api/v1/accounts/{u}/users",
        (
            ("user_id", "peer_id"),
            ("account_id", "sub_account"),
            ("account_uuid", "alnum"),
            ("created_at", "ts"),
            ("updated_at", "ts"),
            ("is_admin", (False,)),
        ),
        "SisBatch#process",
        0.5,
    ),
    NoiseSpec(
        "module_item_updated",
        20,
        "course",
        "PUT",
        "/api/v1/courses/{c}/modules/{n}/items/{n}",
        (
            ("module_item_id", "id"),
            ("module_id", "id"),
            ("context_id", "course_id"),
            ("context_type", ("Course",)),
            ("position", (1, 2, 3, 5, 8)),
            ("workflow_state", ("active", "unpublished")),
        ),
    ),
    NoiseSpec(
        "course_section_created",
        5,
        "course",
        "POST",
        "/api/v1/courses/{c}/sections",
        (
            ("course_section_id", "id"),
            ("sis_source_id", "sis"),
            ("sis_batch_id", (None, Ref("id"))),
            ("course_id", "course_id"),
            ("root_account_id", "root_account"),
            ("enrollment_term_id", "id"),
            ("name", "course_name"),
            ("default_section", "bool"),
            ("accepting_enrollments", (True,)),
            ("can_manually_enroll", "bool"),
            ("start_at", "ts"),
            ("end_at", "ts_future"),
            ("workflow_state", ("active",)),
            ("restrict_enrollments_to_section_dates", "bool"),
            ("nonxlist_course_id", (None,)),
            ("integration_id", (None,)),
        ),
        "SisBatch#process",
        0.6,
    ),
    # Same event name as the older retry form, but a real quiz duplication: must stay noise.
    NoiseSpec(
        QUIZ_DUP,
        8,
        "course",
        "POST",
        "/api/v1/courses/{c}/assignments/{n}/duplicate",
        (
            ("original_course_uuid", "course_uuid"),
            ("new_course_uuid", "other_course_uuid"),
            ("new_course_resource_link_id", "lti"),
            ("domain", "domain"),
            ("original_resource_link_id", "lti"),
            ("new_resource_link_id", "lti"),
            ("status", ("duplicating", "completed", "failed_to_duplicate")),
        ),
    ),
    NoiseSpec(
        "submission_comment_created",
        15,
        "course",
        "PUT",
        "/api/v1/courses/{c}/assignments/{n}/submissions/{n}",
        (
            ("submission_comment_id", "id"),
            ("submission_id", "id"),
            ("user_id", "user_id"),
            ("created_at", "ts"),
            ("attachment_ids", ((),)),
            ("body", "note"),
        ),
    ),
    NoiseSpec(
        "learning_outcome_result_created",
        15,
        "course",
        "POST",
        "/api/lti/courses/{c}/outcome_results",
        (
            ("learning_outcome_id", "id"),
            ("mastery", "bool"),
            ("score", (1, 2, 3, 4)),
            ("created_at", "ts"),
            ("attempt", (1, 2)),
            ("possible", (4, 5)),
            ("original_score", (None, 3)),
            ("original_possible", (None, 5)),
            ("original_mastery", (None, False)),
            ("assessed_at", "ts"),
            ("title", "title"),
            ("percent", (0.5, 0.75, 1.0)),
        ),
        "OutcomeResultsImporter#run",
        0.3,
    ),
)


class NoiseMaker:
    """Renders noise lines from pre-encoded fragments; the hot path of the generator."""

    def __init__(self, rng: random.Random, accounts: list[Account]) -> None:
        self._rng = rng
        self._r = rng.random
        self._sessions = [
            Session(user, rng) for account in accounts for user in account.users for _ in range(2)
        ]
        for session in self._sessions:
            if session.user.role == "TeacherEnrollment":
                session.account.teachers.append(session)
        self._words = [
            " ".join(rng.choices(WORDS, k=rng.randint(2, 6))).capitalize() for _ in range(400)
        ]
        self._texts = [
            dumps("<p>" + " ".join(rng.choices(WORDS, k=rng.randint(20, 90))) + ".</p>")
            for _ in range(400)
        ]
        self._notes = [
            dumps(" ".join(rng.choices(WORDS, k=rng.randint(4, 24)))) for _ in range(400)
        ]
        generators = self._generators()
        # Weighted table of (spec, body renderer): one index per line picks the event type.
        self._entries = [(spec, self._compile(spec, generators)) for spec in NOISE_SPECS]
        self._table = [entry for entry in self._entries for _ in range(entry[0].weight)]

    # Value generators take (course, session, event ms) and return JSON text.
    def _generators(self) -> dict[str, Callable[[Course, Session, int], str]]:
        r = self._r
        words, texts, notes = self._words, self._texts, self._notes
        rng = self._rng

        def pick(seq):
            return seq[int(r() * len(seq))]

        def ts(ms, spread):
            # Body timestamps use their own form and offset, unlike event_time.
            style, offset = pick(TIME_STYLES), pick(TIME_ZONES)[1]
            return '"%s"' % format_time(ms - int(r() * spread), style, offset, int(r() * 1e6))

        return {
            "id": lambda c, s, ms: '"%d%013d"' % (c.account.shard, 100_000 + int(r() * 9_000_000)),
            "course_id": lambda c, s, ms: '"%s"' % c.gid,
            "course_uuid": lambda c, s, ms: '"%s"' % c.uuid,
            "other_course_uuid": lambda c, s, ms: '"%s"' % pick(c.account.courses).uuid,
            "course_name": lambda c, s, ms: dumps(c.name),
            "sub_account": lambda c, s, ms: '"%s"' % c.sub_gid,
            "root_account": lambda c, s, ms: '"%s"' % c.account.gid,
            "user_id": lambda c, s, ms: '"%s"' % s.user.gid,
            "peer_id": lambda c, s, ms: '"%s"' % pick(c.account.users).gid,
            "peer_name": lambda c, s, ms: dumps(pick(c.account.users).name),
            "peer_sis": lambda c, s, ms: dumps(pick(c.account.users).sis),
            "ts": lambda c, s, ms: ts(ms, 86_400_000),
            "ts_future": lambda c, s, ms: ts(ms + 14 * 86_400_000, 10 * 86_400_000),
            "title": lambda c, s, ms: '"%s"' % pick(words),
            "text": lambda c, s, ms: pick(texts),
            "note": lambda c, s, ms: pick(notes),
            "bool": lambda c, s, ms: "true" if r() < 0.5 else "false",
            "uuid": lambda c, s, ms: '"%s"' % uuid4(rng),
            "lti": lambda c, s, ms: '"%040x"' % rng.getrandbits(160),
            "alnum": lambda c, s, ms: '"%s"' % alnum40(rng),
            "domain": lambda c, s, ms: '"%s"' % c.account.host,
            "url": lambda c, s, ms: '"https://%s/courses/%d"' % (c.account.host, c.local),
            "filename": lambda c, s, ms: (
                '"%s.%s"'
                % (pick(words).lower().replace(" ", "_"), pick(("pdf", "docx", "png", "pptx")))
            ),
            "sis": lambda c, s, ms: dumps(c.sis),
        }

    def _compile(
        self, spec: NoiseSpec, generators: dict
    ) -> Callable[[Course, Session, int, bool], str]:
        pick = self._r
        members = []
        for key, kind in spec.fields:
            if isinstance(kind, str):
                members.append(('"%s":' % key, generators[kind]))
            else:
                choices = [generators[v] if isinstance(v, Ref) else dumps(v) for v in kind]
                members.append(('"%s":' % key, self._chooser(choices, pick)))

        def render(course: Course, session: Session, ms: int, keep_nulls: bool) -> str:
            parts = []
            for key, make in members:
                value = make(course, session, ms)
                if keep_nulls or value != "null":
                    parts.append(key + value)
            return "{" + ",".join(parts) + "}"

        return render

    @staticmethod
    def _chooser(choices: list, r: Callable[[], float]) -> Callable[[Course, Session, int], str]:
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
        """One noise event at time ``ms`` (of a random type unless ``entry`` is given)."""
        r = self._r
        spec, render = entry or self._table[int(r() * len(self._table))]
        session = self._sessions[int(r() * len(self._sessions))]
        account = session.account
        course = account.courses[int(r() * len(account.courses))]
        keep = session.keep_nulls
        body = render(course, session, ms, keep)
        event_time = format_time(
            ms, TIME_STYLES[int(r() * len(TIME_STYLES))], session.offset, int(r() * 1e6)
        )
        if spec.context == "course":
            context = course.context[keep]
        elif spec.context == "account":
            context = account.context_fragment
        else:
            context = '"context_type":"User","context_id":"%s"' % session.user.gid
        if spec.job_share and r() < spec.job_share:
            meta = '%s,%s,"job_id":"10200%011d","job_tag":"%s"' % (
                account.root_fragment,
                context,
                int(r() * 1e11),
                spec.job_tag,
            )
        else:
            n = 100 + int(r() * 90_000)
            path = spec.path.format(c=course.local, n=n, u=session.user.local)
            if r() < 0.3:
                referrer = "null" if keep else None
            else:
                referrer = '"https://%s/courses/%d"' % (account.host, course.local)
            meta = '%s,%s%s,"request_id":"%s","http_method":"%s",%s,"url":"https://%s%s"%s' % (
                session.head,
                context,
                session.role_fragment if spec.context == "course" else "",
                uuid4(self._rng),
                spec.method,
                session.tail,
                account.host,
                path,
                "" if referrer is None else ',"referrer":' + referrer,
            )
        return (
            '{"metadata":{%s,"producer":"canvas","event_name":"%s","event_time":"%s"},"body":%s}'
            % (meta, spec.name, event_time, body)
        )
