"""Routed events: migrations growing course-copy forests, and retries along them.

The outcome-alignment retries and migrations are released in delivery order.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from pipelines.synthetic_feed.primitives import (
    CLONING,
    COMPLETED,
    HOUR_MS,
    MINUTE_MS,
    QUIZ_DUP,
    RETRY,
    SPAN_MS,
    START_MS,
    STARTED,
    TIME_STYLES,
    Deck,
    canvas_global_id,
    dumps,
    format_time,
    uuid4,
)
from pipelines.synthetic_feed.world import TIME_ZONES, Account, Course

ROUTED_SHARE = 0.015
FAILED_TO_CLONE = "failed_to_clone_outcome_alignment"


MIGRATION_JOB_TAGS = {
    "course_copy_importer": "ContentMigration#import_content",
    "master_course_import": "MasterCourses::MasterMigration#perform_imports",
}
FILE_IMPORTERS = (
    "common_cartridge_importer",
    "zip_file_importer",
    "canvas_cartridge_importer",
    "qti_converter",
    "moodle_converter",
)
SCENARIOS = {
    "copy": 8,
    "blueprint": 3,
    "file_import": 3,
    "account_import": 1,
    "missing_migration": 2,
    "other_source": 1,
    "in_course": 2,
}


@dataclass
class Migration:
    """One content migration of the forest: its ids, target and source course, and type."""

    migration_id: str
    job_id: str
    target: Course
    source: Course | None
    migration_type: str
    quizzes_next: bool
    null_source: bool  # file imports: write source keys as null instead of omitting them


class Lineage:
    """Plans routed events and releases them as JSON lines in delivery order.

    Scenarios (a migration plus its retries, or retries alone) are generated in
    event-time order, paced so routed lines make up ``ROUTED_SHARE`` of the feed;
    their lines wait in a heap keyed by delivery time, which only spans a few hours.
    """

    def __init__(self, rng: random.Random, accounts: list[Account], events: int) -> None:
        self._rng = rng
        self._accounts = accounts
        self._deck = Deck(rng, SCENARIOS)
        self._heap: list[tuple[int, int, bytes]] = []
        self._seq = 0
        self._states = 0  # assignment state events planned so far
        self._gap = SPAN_MS / max(events * ROUTED_SHARE, 1e-9)  # event-time per routed line
        self._next_start = START_MS + int(rng.random() * 3 * self._gap)
        self._recent: list[Course] = []
        self._job = rng.randint(10**15, 2 * 10**15)
        self._scenarios = {
            "copy": self._copy,
            "blueprint": self._blueprint,
            "file_import": self._file_import,
            "account_import": self._account_import,
            "missing_migration": self._missing_migration,
            "other_source": self._other_source,
            "in_course": self._in_course,
        }

    def due(self, until_ms: int) -> list[bytes]:
        """Routed lines delivered up to ``until_ms``, in delivery order."""
        while self._next_start <= until_ms:
            before, states_before = self._seq, self._states
            self._scenarios[self._deck.draw()](self._next_start)
            # Assignment state events do not count: they come on top of the routed share.
            emitted = max(self._seq - before - (self._states - states_before), 1)
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
        root = Course(account, self._rng)
        root.max_depth = self._rng.randint(3, 6)
        for _ in range(self._rng.randint(3, 8)):
            root.add_assignment(self._rng)
        account.forest.append(root)
        self._migrate(t, root, None, self._rng.choice(FILE_IMPORTERS))

    def _account_import(self, t: int) -> None:
        target = Course(self._account(), self._rng, context_type="Account")
        self._migrate(
            t, target, None, self._rng.choice(("qti_converter", "common_cartridge_importer"))
        )

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

    def _account(self) -> Account:
        return self._rng.choice(self._accounts)

    def _pick_parent(self, account: Account) -> Course:
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

    def _spawn(self, source: Course) -> Course:
        """A new course copied from ``source``, with matching assignments."""
        account = source.account
        target = Course(account, self._rng)
        target.depth = source.depth + 1
        target.max_depth = source.max_depth
        for _ in source.assignments:
            target.add_assignment(self._rng)
        account.forest.append(target)
        self._recent = (self._recent + [target])[-12:]
        return target

    def _migrate(self, t: int, target: Course, source: Course | None, migration_type: str) -> None:
        rng = self._rng
        migration = Migration(
            migration_id=canvas_global_id(target.account.shard, target.account.new_local()),
            job_id=self._next_job(),
            target=target,
            source=source,
            migration_type=migration_type,
            quizzes_next=rng.random() < 0.4,
            null_source=rng.random() < 0.5,
        )
        done = t + rng.randint(3_000, 15 * MINUTE_MS)
        events = [] if rng.random() < 0.15 else [(t, self.migration_event(STARTED, t, migration))]
        events.append((done, self.migration_event(COMPLETED, done, migration)))
        if rng.random() < 0.08:  # re-run: same migration id, later event_time
            rerun = done + rng.randint(HOUR_MS, 8 * HOUR_MS)
            migration.job_id = self._next_job()
            events.append((rerun, self.migration_event(COMPLETED, rerun, migration)))
        retries = []
        if source is not None and target.context_type == "Course":
            target.account.migrated.append(target)
            retries = self._retries(done, source, target, self._copied_pairs(source, target))
        late = None
        if retries and rng.random() < 0.12:
            # Delayed delivery: the migration lands in the file after its retries.
            late = retries[-1][0] - t + rng.randint(MINUTE_MS, 30 * MINUTE_MS)
        self._emit_all(events, late)
        self._emit_all(retries)

    def _copied_pairs(self, source: Course, target: Course) -> list[tuple]:
        rng = self._rng
        count = rng.choices((0, 1, 2, 3, 4), (25, 35, 22, 12, 6))[0]
        indexes = rng.sample(range(len(source.assignments)), min(count, len(source.assignments)))
        return [(source.assignments[i], target.assignments[i]) for i in indexes]

    def _retries(
        self, t: int, source: Course, target: Course, pairs: list[tuple]
    ) -> list[tuple[int, dict]]:
        """Retry events for assignment pairs, with the copied assignment's state events around them.

        Some assignments are retried several times. The copy fails to clone its
        outcome alignments, each retry sets it cloning, and then it fails again
        before the next retry; after the last one it succeeds, fails, is
        deleted, or nothing more is heard.
        """
        rng = self._rng
        events = []
        for source_assignment, target_assignment in pairs:
            at = t + rng.randint(MINUTE_MS, 3 * HOUR_MS)
            state = self._state_maker(source, source_assignment, target, target_assignment)
            copied = max(t - rng.randint(MINUTE_MS, 10 * MINUTE_MS), START_MS)
            failed_before = rng.randint(copied + 3_000, at - 1_000)
            events += [
                (copied, state(copied, "duplicating", "assignment_created")),
                (copied + 2_000, state(copied + 2_000, "outcome_alignment_cloning")),
                (failed_before, state(failed_before, FAILED_TO_CLONE)),
            ]
            attempts = 1 if rng.random() < 0.7 else rng.randint(2, 4)
            for attempt in range(attempts):
                form2 = rng.random() < 0.2
                events.append(
                    (
                        at,
                        self.retry_event(
                            at, source, source_assignment, target, target_assignment, form2
                        ),
                    )
                )
                events.append((at + 1_000, state(at + 1_000, "outcome_alignment_cloning")))
                gap = rng.randint(5 * MINUTE_MS, 2 * HOUR_MS)
                if attempt + 1 < attempts:  # the retry endpoint takes only a failed assignment
                    # A stuck clone is failed by a periodic job that emits no event.
                    if rng.random() < 0.7:
                        failed = at + rng.randint(MINUTE_MS, gap - MINUTE_MS)
                        events.append((failed, state(failed, FAILED_TO_CLONE)))
                    at += gap
                    continue
                ending = rng.choices(
                    ("published", "unpublished", FAILED_TO_CLONE, "deleted", None),
                    (45, 10, 20, 5, 20),
                )[0]
                if ending is not None:
                    done = at + rng.randint(5_000, 20 * MINUTE_MS)
                    events.append((done, state(done, ending)))
        events.sort(key=lambda e: e[0])
        return events

    def _state_maker(
        self, source: Course, source_assignment: tuple, target: Course, target_assignment: tuple
    ):
        """A function (ms, workflow_state, event name) -> the copied assignment's event then."""
        rng = self._rng
        account = target.account
        misspelled = (
            rng.random() < 0.2
        )  # the documentation's spelling, assignment_id_duplicated__from
        blueprint = rng.random() < 0.1
        assignment_gid = canvas_global_id(account.shard, target_assignment[0])
        source_gid = canvas_global_id(source.account.shard, source_assignment[0])
        title = "Quiz %d" % rng.randint(1, 40)

        def state(ms: int, workflow_state: str, name: str = "assignment_updated") -> dict:
            self._states += 1
            meta = {
                "context_type": "Course",
                "context_id": target.gid,
                "event_name": name,
                "event_time": self._time(ms, 0),
                "producer": "canvas",
                **account.fields,
            }
            body = {
                "assignment_id": assignment_gid,
                "context_id": target.gid,
                "context_type": "Course",
                "context_uuid": target.uuid,
                "created_on_blueprint_sync": blueprint,
                "domain": account.host,
                "lti_resource_link_id": target_assignment[1],
                "lti_resource_link_id_duplicated_from": source_assignment[1],
                "assignment_id_duplicated__from"
                if misspelled
                else "assignment_id_duplicated_from": source_gid,
                "domain_duplicated_from": source.account.host,
                "points_possible": 10,
                "submission_types": "external_tool",
                "title": title,
                "workflow_state": workflow_state,
            }
            return {"metadata": meta, "body": body}

        return state

    def _emit_all(self, events: list[tuple[int, dict]], delay: int | None = None) -> None:
        rng = self._rng
        for ms, event in events:
            if delay is not None:
                lag = delay
            elif rng.random() < 0.95:
                lag = rng.randint(0, 20_000)
            else:
                lag = rng.randint(20_000, 10 * MINUTE_MS)
            self._seq += 1
            heapq.heappush(self._heap, (ms + lag, self._seq, dumps(event).encode()))

    def _next_job(self) -> str:
        self._job += self._rng.randint(1, 5_000)
        return str(self._job)

    def _time(self, ms: int, offset: int) -> str:
        rng = self._rng
        if rng.random() < 0.5:
            offset = rng.choice(TIME_ZONES)[1]
        return format_time(ms, rng.choice(TIME_STYLES), offset, rng.randrange(1_000_000))

    # ---- event dicts (also used as the base of malformed lines)

    def migration_event(self, name: str, ms: int, m: Migration) -> dict:
        target, source, account = m.target, m.source, m.target.account
        keep_nulls = self._rng.random() < 0.75
        meta = {
            "context_id": target.gid,
            "context_type": target.context_type,
            "event_name": name,
            "event_time": self._time(ms, 0),
            "job_id": m.job_id,
            "job_tag": MIGRATION_JOB_TAGS.get(m.migration_type, "ContentMigration#import_content"),
            "producer": "canvas",
            **account.fields,
        }
        body = {
            "content_migration_id": m.migration_id,
            "context_id": target.gid,
            "context_type": target.context_type,
            "context_uuid": target.uuid,
            "import_quizzes_next": m.quizzes_next,
            "lti_context_id": target.lti,
        }
        if source is not None:
            body["source_course_lti_id"] = source.lti
            # Started events name the source uuid; some completed producers add it too.
            if name == STARTED or self._rng.random() < 0.3:
                body["source_course_uuid"] = source.uuid
        elif m.null_source:
            body["source_course_lti_id"] = None
            if name == STARTED:
                body["source_course_uuid"] = None
        body.update(
            destination_course_lti_id=target.lti,
            migration_type=m.migration_type,
            domain=account.host,
        )
        if not keep_nulls:
            body = {k: v for k, v in body.items() if v is not None}
        return {"metadata": meta, "body": body}

    def retry_event(
        self,
        ms: int,
        source: Course,
        source_assignment: tuple,
        target: Course,
        target_assignment: tuple,
        form2: bool,
    ) -> dict:
        rng = self._rng
        account = source.account
        session = rng.choice(account.teachers)
        url = (
            "https://%s/api/v1/courses/%d/assignments/%d/retry_alignment_clone?target_assignment_id=%d"
            % (account.host, source.local, source_assignment[0], target_assignment[0])
        )
        if target is not source:
            url += "&target_course_id=%d" % target.local
        fields = session.fields
        meta = {
            "context_type": "Course",
            "context_id": source.gid,
            "context_account_id": source.sub_gid,
            "context_sis_source_id": source.sis,
            **{
                k: fields[k]
                for k in (
                    "root_account_uuid",
                    "root_account_id",
                    "root_account_lti_guid",
                    "user_login",
                    "user_account_id",
                    "user_sis_id",
                    "user_id",
                    "time_zone",
                )
            },
            "context_role": "TeacherEnrollment",
            "request_id": uuid4(rng),
            **{k: fields[k] for k in ("session_id", "hostname")},
            "http_method": "POST",
            **{k: fields[k] for k in ("user_agent", "client_ip")},
            "url": url,
            "referrer": None
            if rng.random() < 0.3
            else f"https://{account.host}/courses/{target.local}/assignments",
            "producer": "canvas",
            "event_name": QUIZ_DUP if form2 else RETRY,
            "event_time": self._time(ms, session.offset),
        }
        if not session.keep_nulls:
            meta = {k: v for k, v in meta.items() if v is not None}
        body = {
            "original_course_uuid": source.uuid,
            "new_course_uuid": target.uuid,
            "new_course_resource_link_id": target.lti,
            "domain": account.host,
        }
        if not form2:
            body["original_assignment_resource_link_id"] = source_assignment[1]
            body["new_assignment_resource_link_id"] = target_assignment[1]
        body["status"] = CLONING
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
            migration = Migration(
                canvas_global_id(account.shard, account.new_local()),
                self._next_job(),
                target,
                source,
                "course_copy_importer",
                False,
                False,
            )
            return self.migration_event(STARTED if kind == "started" else COMPLETED, ms, migration)
        return self.retry_event(
            ms,
            source,
            rng.choice(source.assignments),
            target,
            rng.choice(target.assignments),
            kind == "form2",
        )
