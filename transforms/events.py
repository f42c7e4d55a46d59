"""Classify one Canvas Live Event line: skipped noise, a dead letter, or an accepted event.

The firehose is ~99% events we do not join, so :class:`LineClassifier` has a fast
path: simdjson validates the whole line (full JSON grammar and UTF-8) and reads
``metadata.event_name`` without building Python objects. Only lines it cannot
settle (routed events, anything invalid, blank or odd) take the slow path,
:func:`classify_event`, which is the authoritative implementation of the contract
and also decides every dead-letter code.
"""

from __future__ import annotations

import collections
import hashlib
import json
import re
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple, cast

import orjson
import simdjson
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from transforms import nested_json
from transforms.canvas_url import parse_retry_url
from transforms.privacy import actor_user_hmac
from transforms.rows import AssignmentStateRow, DeadLetterRow
from transforms.timestamps import TimestampError, event_time_micros

MAX_LINE_BYTES = 1_000_000
# Deeper JSON is invalid_json. 1024 is simdjson's limit, so the fast path and the
# strict path agree on every line. Lines nested deeper than the caller's stack allows
# Python's json are parsed by transforms.nested_json, which does not recurse.
MAX_JSON_DEPTH = 1024
UTF8_BOM = b"\xef\xbb\xbf"

RETRY_EVENT = "outcomes.retry_outcome_alignment_clone"
LEGACY_RETRY_EVENT = "quizzes_next_quiz_duplicated"
LEGACY_RETRY_STATUS = "outcome_alignment_cloning"
MIGRATION_COMPLETED = "content_migration_completed"
MIGRATION_STARTED = "content_migration_started"
ASSIGNMENT_CREATED = "assignment_created"
ASSIGNMENT_UPDATED = "assignment_updated"
ASSIGNMENT_EVENT_NAMES = frozenset({ASSIGNMENT_CREATED, ASSIGNMENT_UPDATED})
ROUTED_EVENT_NAMES = frozenset(
    {
        RETRY_EVENT,
        LEGACY_RETRY_EVENT,
        MIGRATION_COMPLETED,
        MIGRATION_STARTED,
        *ASSIGNMENT_EVENT_NAMES,
    }
)

ROLE_RETRY = "retry"
ROLE_ASSIGNMENT_STATE = "assignment_state"
ACCEPTED_ROLES = (ROLE_RETRY, MIGRATION_COMPLETED, MIGRATION_STARTED, ROLE_ASSIGNMENT_STATE)

# Dead-letter codes in the order they are tried: a line gets the first that applies.
OVERSIZE = "oversize"
INVALID_ENCODING = "invalid_encoding"
INVALID_JSON = "invalid_json"
INVALID_ENVELOPE = "invalid_envelope"
MISSING_EVENT_NAME = "missing_event_name"
INVALID_EVENT_TIME = "invalid_event_time"
INVALID_BODY = "invalid_body"
DEAD_LETTER_CODES = (
    OVERSIZE,
    INVALID_ENCODING,
    INVALID_JSON,
    INVALID_ENVELOPE,
    MISSING_EVENT_NAME,
    INVALID_EVENT_TIME,
    INVALID_BODY,
)


class RetryEvent(NamedTuple):
    """An accepted retry: the ``retries`` columns before the join's (``RETRY_EVENT_COLUMNS``)."""

    event_fingerprint: str
    source_event_name: str
    event_time: int  # UTC epoch microseconds
    root_account_uuid: str | None
    domain: str | None
    status: str | None
    original_course_uuid: str
    new_course_uuid: str
    new_course_resource_link_id: str | None
    original_assignment_resource_link_id: str | None
    new_assignment_resource_link_id: str | None
    request_id: str | None
    context_role: str | None
    actor_user_hmac: str | None
    original_course_id: str | None
    original_assignment_id: str | None
    new_course_id: str | None
    new_assignment_id: str | None


class MigrationEvent(NamedTuple):
    """An accepted ``content_migration_completed`` or ``content_migration_started``."""

    event_fingerprint: str
    event_name: str
    event_time: int  # UTC epoch microseconds
    content_migration_id: str
    context_uuid: str
    lti_context_id: str | None
    destination_course_lti_id: str | None
    source_course_uuid: str | None
    source_course_lti_id: str | None
    migration_type: str | None
    root_account_uuid: str | None
    domain: str | None


class Skipped(NamedTuple):
    """A line of an event this job does not join (noise)."""

    event_name: str


class DeadLetter(NamedTuple):
    """A line that cannot be used: its dead-letter code and why."""

    error_code: str
    error_detail: str
    event_name: str | None


# An accepted assignment_created / assignment_updated is its assignment_states row
# (event_time in epoch microseconds), whether or not it has an lti_resource_link_id.
AssignmentStateEvent = AssignmentStateRow


class Accepted(NamedTuple):
    """A routed event that passed every check, with its role."""

    role: str
    event: RetryEvent | MigrationEvent | AssignmentStateRow


# --- field models: every field we read is a string; producers that send ids as
# JSON integers are accepted, everything else is the wrong type.


def _as_text(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"expected a string, got {type(value).__name__}")


OptionalText = Annotated[
    str | None, BeforeValidator(_as_text), AfterValidator(lambda value: value or None)
]
RequiredText = Annotated[str, BeforeValidator(_as_text), Field(min_length=1)]


class _Fields(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class RetryMetadata(_Fields):
    """The metadata fields a retry row reads."""

    root_account_uuid: OptionalText = None
    user_id: OptionalText = None
    request_id: OptionalText = None
    context_role: OptionalText = None
    url: OptionalText = None


class MigrationMetadata(_Fields):
    """The metadata fields a migration row reads."""

    root_account_uuid: OptionalText = None


class RetryBody(_Fields):
    """The body fields of a retry; both course uuids are required."""

    original_course_uuid: RequiredText
    new_course_uuid: RequiredText
    new_course_resource_link_id: OptionalText = None
    domain: OptionalText = None
    original_assignment_resource_link_id: OptionalText = None
    new_assignment_resource_link_id: OptionalText = None
    status: OptionalText = None


class MigrationBody(_Fields):
    """The body fields of a migration; its id and course uuid are required."""

    content_migration_id: RequiredText
    context_uuid: RequiredText
    lti_context_id: OptionalText = None
    destination_course_lti_id: OptionalText = None
    source_course_uuid: OptionalText = None
    source_course_lti_id: OptionalText = None
    migration_type: OptionalText = None
    domain: OptionalText = None


class AssignmentBody(_Fields):
    """The body of an ``assignment_created`` / ``assignment_updated`` event."""

    assignment_id: RequiredText
    context_uuid: RequiredText
    workflow_state: RequiredText
    lti_resource_link_id: OptionalText = None
    lti_resource_link_id_duplicated_from: OptionalText = None
    assignment_id_duplicated_from: OptionalText = None
    # The Canvas documentation also spells the key with a double underscore.
    assignment_id_duplicated_misspelled: OptionalText = Field(
        default=None, alias="assignment_id_duplicated__from"
    )
    domain_duplicated_from: OptionalText = None
    created_on_blueprint_sync: bool | None = None


def _first_error(prefix: str, error: ValidationError) -> str:
    detail = error.errors(include_url=False)[0]
    path = ".".join(str(part) for part in (prefix, *detail["loc"]))
    message = "missing or null" if detail["type"] == "missing" else detail["msg"]
    return f"{path}: {message}"


def _validate(model: type[_Fields], data: dict[str, Any], prefix: str) -> _Fields | str:
    # Null and absent mean the same: drop nulls so that required fields report "missing".
    try:
        return model.model_validate(
            {key: value for key, value in data.items() if value is not None}
        )
    except ValidationError as error:
        return _first_error(prefix, error)


def event_fingerprint(event: Any) -> str:
    """Lowercase hex SHA-256 of the canonical JSON of a parsed event."""
    canonical = nested_json.dumps_canonical(event)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assignment_fingerprint(event: Any) -> str:
    """Lowercase hex SHA-256 of a parsed assignment event's canonical JSON (keys sorted, compact).

    Assignment events are many, so their canonical text is made by orjson (about
    ten times faster than ``json``); Python's ``json`` only where orjson cannot
    (integers beyond 64 bits). Both paths of the classifier use this function,
    so copies of an event always share their fingerprint.
    """
    try:
        canonical = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return event_fingerprint(event)
    return _sha256_hex(canonical)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _first_key_wins(pairs: list[tuple[str, Any]]) -> dict:
    # RFC 8259 leaves duplicate names undefined; simdjson (the fast path) reads
    # the first, so the strict path does too and both classify a line alike.
    return dict(reversed(pairs))


_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def json_depth(text: str) -> int:
    """Deepest nesting of arrays and objects in JSON text (strings ignored)."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING_LITERAL.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _strings_have_lone_surrogate(value: Any) -> bool:
    return any(_has_lone_surrogate(text) for text in nested_json.strings(value))


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_first_key_wins)
    except RecursionError:
        # Nested deeper than this thread's stack has room for: the same parse, without recursion.
        return nested_json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_first_key_wins
        )


def parse_strict_json(line: bytes) -> Any | DeadLetter:
    """RFC 8259 parse of one line: bad UTF-8, NaN/Infinity and lone surrogates are errors."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        return DeadLetter(INVALID_ENCODING, f"invalid UTF-8 at byte {error.start}", None)
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_depth(text) > MAX_JSON_DEPTH:
        return DeadLetter(INVALID_JSON, f"nested deeper than {MAX_JSON_DEPTH} levels", None)
    try:
        value = _loads(text)
    except ValueError as error:
        return DeadLetter(INVALID_JSON, str(error)[:200], None)
    if _SURROGATE_ESCAPE.search(text) and _strings_have_lone_surrogate(value):
        return DeadLetter(INVALID_JSON, "escaped lone surrogate in a string", None)
    return value


def event_role(event_name: str, body: Any) -> str | None:
    """The role of a routed event, or None when it is noise to skip."""
    if event_name == RETRY_EVENT:
        return ROLE_RETRY
    if event_name == LEGACY_RETRY_EVENT:
        is_retry = isinstance(body, dict) and body.get("status") == LEGACY_RETRY_STATUS
        return ROLE_RETRY if is_retry else None
    if (
        event_name in (MIGRATION_COMPLETED, MIGRATION_STARTED)
        or event_name in ASSIGNMENT_EVENT_NAMES
    ):
        # Only course copies make lineage and only course assignments can be retried;
        # account or group imports and assignments are noise.
        context_type = body.get("context_type") if isinstance(body, dict) else None
        if context_type is not None and context_type != "Course":
            return None
        return ROLE_ASSIGNMENT_STATE if event_name in ASSIGNMENT_EVENT_NAMES else event_name
    return None


def classify_event(
    line: bytes, hmac_key: bytes | None = None
) -> Skipped | DeadLetter | Accepted | None:
    """Authoritative classification of one line (without terminator); None for a blank line."""
    if len(line) > MAX_LINE_BYTES:
        return DeadLetter(OVERSIZE, f"{len(line)} bytes > {MAX_LINE_BYTES}", None)
    if not line.strip(b" \t\r"):
        return None
    return _classify_parsed(line, hmac_key)


def _classify_parsed(line: bytes, hmac_key: bytes | None) -> Skipped | DeadLetter | Accepted:
    value = parse_strict_json(line)
    if isinstance(value, DeadLetter):
        return value
    return _classify_value(value, hmac_key, None)


def _has_float(value: Any) -> bool:
    """Whether parsed JSON holds a float anywhere (a loop with its own stack: any depth).

    About twice as fast as a regular expression over the canonical text.
    """
    todo = [value]
    while todo:
        item = todo.pop()
        kind = item.__class__
        if kind is dict:
            todo.extend(item.values())
        elif kind is list:
            todo.extend(item)
        elif kind is float:
            return True
    return False


def orjson_parse_as_strict(line: bytes) -> tuple[Any, bytes] | None:
    """The strict path's value of a line and its canonical text, by orjson; None when in doubt.

    orjson is strict RFC 8259 like :func:`parse_strict_json` (bad UTF-8, lone
    surrogates, NaN are errors) and some four times faster, but it keeps a repeated
    member name's last value where the strict path keeps the first, and reads an
    integer beyond 64 bits as a float. So a line is returned only when it is an
    object with no repeated name and no float anywhere: then the value equals the
    strict parse, and ``canonical`` (orjson's sorted, compact dump) is exactly the UTF-8 of
    :func:`nested_json.dumps_canonical` of it, floats being the only values the two
    encoders write differently. Anything else returns None and the strict parse decides.
    """
    try:
        value = orjson.loads(line)
        canonical = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError):
        return None
    if (
        value.__class__ is not dict
        or _may_have_duplicate_keys(line, canonical)
        or _has_float(value)
    ):
        return None
    return value, canonical


def classify_parsed_line(
    line: bytes, hmac_key: bytes | None = None
) -> Skipped | DeadLetter | Accepted | None:
    """:func:`classify_event`'s outcome, parsed by orjson where that gives the same value.

    The contract's checks are the strict path's own (the same code after the
    parse); only the parse and the fingerprint's canonical text are made faster,
    by :func:`orjson_parse_as_strict`, when they provably equal the strict ones.
    Lines it does not vouch for, and oversize or blank lines, go to
    :func:`classify_event`.
    """
    parsed = orjson_parse_as_strict(line) if len(line) <= MAX_LINE_BYTES else None
    if parsed is None:
        return classify_event(line, hmac_key)
    return _classify_value(parsed[0], hmac_key, parsed[1])


def _classify_value(
    value: Any, hmac_key: bytes | None, canonical: bytes | None
) -> Skipped | DeadLetter | Accepted:
    """Classify a strictly parsed line; ``canonical``: its canonical JSON as UTF-8, if known."""
    if not isinstance(value, dict):
        return DeadLetter(
            INVALID_ENVELOPE, f"event is a JSON {type(value).__name__}, not an object", None
        )
    metadata = value.get("metadata")
    if not isinstance(metadata, dict):
        reason = (
            "missing or null"
            if metadata is None
            else f"a JSON {type(metadata).__name__}, not an object"
        )
        return DeadLetter(INVALID_ENVELOPE, f"metadata: {reason}", None)
    event_name = metadata.get("event_name")
    if not isinstance(event_name, str) or not event_name:
        return DeadLetter(
            MISSING_EVENT_NAME,
            f"metadata.event_name: {nested_json.repr_prefix(event_name, 80)}",
            None,
        )
    body = value.get("body")
    role = event_role(event_name, body)
    if role is None:
        return Skipped(event_name)
    return _accept_routed(value, metadata, body, event_name, role, hmac_key, canonical)


def _accept_routed(
    value: dict,
    metadata: dict,
    body: Any,
    event_name: str,
    role: str,
    hmac_key: bytes | None,
    canonical: bytes | None,
) -> DeadLetter | Accepted:
    is_retry = role == ROLE_RETRY
    meta = _validate(RetryMetadata if is_retry else MigrationMetadata, metadata, "metadata")
    if isinstance(meta, str):
        return DeadLetter(INVALID_ENVELOPE, meta, event_name)
    raw_time = metadata.get("event_time")
    if not isinstance(raw_time, str):
        return DeadLetter(
            INVALID_EVENT_TIME,
            f"metadata.event_time: {nested_json.repr_prefix(raw_time, 80)}",
            event_name,
        )
    try:
        event_time = event_time_micros(raw_time)
    except TimestampError as error:
        return DeadLetter(INVALID_EVENT_TIME, f"metadata.event_time: {error}", event_name)
    if not isinstance(body, dict):
        reason = (
            "missing or null" if body is None else f"a JSON {type(body).__name__}, not an object"
        )
        return DeadLetter(INVALID_BODY, f"body: {reason}", event_name)
    body_model = (
        RetryBody
        if is_retry
        else AssignmentBody
        if role == ROLE_ASSIGNMENT_STATE
        else MigrationBody
    )
    fields = _validate(body_model, body, "body")
    if isinstance(fields, str):
        return DeadLetter(INVALID_BODY, fields, event_name)
    fingerprint = (
        _sha256_hex(canonical)
        if canonical is not None
        else assignment_fingerprint(value)
        if role == ROLE_ASSIGNMENT_STATE
        else event_fingerprint(value)
    )
    event: RetryEvent | MigrationEvent | AssignmentStateRow
    if role == ROLE_ASSIGNMENT_STATE:
        assert isinstance(meta, MigrationMetadata) and isinstance(fields, AssignmentBody)
        event = AssignmentStateRow(
            fingerprint,
            event_name,
            event_time,
            meta.root_account_uuid,
            fields.context_uuid,
            # None for a link-less event, which is counted, never written (the row type is the
            # written row's).
            cast(str, fields.lti_resource_link_id),
            fields.assignment_id,
            fields.workflow_state,
            fields.lti_resource_link_id_duplicated_from,
            # The correct spelling wins when both keys carry a value.
            fields.assignment_id_duplicated_from or fields.assignment_id_duplicated_misspelled,
            fields.domain_duplicated_from,
            fields.created_on_blueprint_sync,
        )
    elif is_retry:
        assert isinstance(meta, RetryMetadata) and isinstance(fields, RetryBody)
        url_ids = parse_retry_url(meta.url)
        event = RetryEvent(
            fingerprint,
            event_name,
            event_time,
            meta.root_account_uuid,
            fields.domain,
            fields.status,
            fields.original_course_uuid,
            fields.new_course_uuid,
            fields.new_course_resource_link_id,
            fields.original_assignment_resource_link_id,
            fields.new_assignment_resource_link_id,
            meta.request_id,
            meta.context_role,
            actor_user_hmac(hmac_key, meta.root_account_uuid, meta.user_id),
            *url_ids,
        )
    else:
        assert isinstance(meta, MigrationMetadata) and isinstance(fields, MigrationBody)
        event = MigrationEvent(
            fingerprint,
            event_name,
            event_time,
            fields.content_migration_id,
            fields.context_uuid,
            fields.lti_context_id,
            fields.destination_course_lti_id,
            fields.source_course_uuid,
            fields.source_course_lti_id,
            fields.migration_type,
            meta.root_account_uuid,
            fields.domain,
        )
    return Accepted(role, event)


def _text_or_none(value: Any) -> str | bool | None:
    """An optional string field as the contract reads it; False when it has another type."""
    if value is None or value.__class__ is str:
        return value or None
    if value.__class__ is int:
        return str(value)
    return False


def _may_have_duplicate_keys(line: bytes, canonical: bytes) -> bool:
    r"""False only when the line has no object with a repeated member name (at any depth).

    ``canonical`` is orjson's dump of the line's parsed value, which keeps one member
    per name. Outside strings every member has exactly one ``:``, and inside strings
    a colon is written literally unless spelled ``\u003a``; so, without that escape,
    the line has as many colons as its canonical text exactly when no member was dropped.
    """
    return line.count(b":") != canonical.count(b":") or b"\\u003a" in line or b"\\u003A" in line


def accept_valid_assignment(line: bytes, event_name: str) -> Accepted | Skipped | None:
    """A valid assignment event's classification without the strict path, or None when in any doubt.

    For a line simdjson has parsed (so its integers fit in 64 bits, which orjson would
    otherwise read as floats). One orjson parse (strict RFC 8259 like the strict
    path) and one canonical dump, which is both the fingerprint's text and the proof
    that no member name repeats: orjson keeps a repeated name's last value and the
    strict path its first, so such a line returns None. Fields are checked by the
    contract's rules. Anything unusual (a wrong type, a bad time, a repeated name)
    returns None, and :func:`classify_event` decides, dead-letter code included.
    """
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if value.__class__ is not dict:
        return None
    metadata, body = value.get("metadata"), value.get("body")
    if metadata.__class__ is not dict or body.__class__ is not dict:
        return None
    try:
        canonical = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):  # nested deeper than orjson writes
        return None
    if _may_have_duplicate_keys(line, canonical) or metadata.get("event_name") != event_name:
        return None
    context_type = body.get("context_type")
    if context_type is not None and context_type != "Course":
        return Skipped(event_name)
    root_account_uuid = _text_or_none(metadata.get("root_account_uuid"))
    raw_time = metadata.get("event_time")
    if root_account_uuid is False or raw_time.__class__ is not str:
        return None
    try:
        event_time = event_time_micros(raw_time)
    except TimestampError:
        return None
    get = body.get
    assignment_id = _text_or_none(get("assignment_id"))
    context_uuid = _text_or_none(get("context_uuid"))
    workflow_state = _text_or_none(get("workflow_state"))
    link = _text_or_none(get("lti_resource_link_id"))
    link_from = _text_or_none(get("lti_resource_link_id_duplicated_from"))
    id_from = _text_or_none(get("assignment_id_duplicated_from"))
    id_from_misspelled = _text_or_none(get("assignment_id_duplicated__from"))
    domain_from = _text_or_none(get("domain_duplicated_from"))
    blueprint = get("created_on_blueprint_sync")
    if (
        not (assignment_id and context_uuid and workflow_state)
        or link is False
        or link_from is False
        or id_from is False
        or id_from_misspelled is False
        or domain_from is False
        or (blueprint is not None and blueprint.__class__ is not bool)
    ):
        return None
    return Accepted(
        ROLE_ASSIGNMENT_STATE,
        AssignmentStateRow(
            _sha256_hex(canonical),
            event_name,
            event_time,
            cast("str | None", root_account_uuid),
            cast(str, context_uuid),
            cast(str, link),
            cast(str, assignment_id),
            cast(str, workflow_state),
            cast("str | None", link_from),
            cast("str | None", id_from or id_from_misspelled),
            cast("str | None", domain_from),
            blueprint,
        ),
    )


class BlockResult(NamedTuple):
    """What one block of lines produced. Counts are keyed by summary counter name."""

    counts: collections.Counter
    accepted: list[Accepted]
    dead_letters: list[DeadLetterRow]


class LineClassifier:
    """Classifies blocks of lines; keeps one simdjson parser (its buffer is reused)."""

    def __init__(self, hmac_key: bytes | None = None):
        """A classifier whose accepted retries carry ``actor_user_hmac`` under ``hmac_key``."""
        self._hmac_key = hmac_key
        self._parser = simdjson.Parser()

    def _may_be_legacy_retry(self, line: bytes) -> bool:
        """False when simdjson shows a quizzes_next_quiz_duplicated is not a retry.

        Most of these events are quiz copies, not retries: settling them here
        spares them the strict path, which only routed events need.
        """
        try:
            document: Any = self._parser.parse(
                line
            )  # indexed blindly: a misfit raises, caught below
            return document["body"]["status"] == LEGACY_RETRY_STATUS
        except Exception:
            return True  # not sure: the strict path decides

    def classify_lines(
        self, lines: list[bytes], first_offset: int | None, source_file: str | None = None
    ) -> BlockResult:
        r"""Classify ``lines`` (terminators removed, ``\r`` of CRLF included or not).

        ``first_offset`` is the byte offset of the first line in its decompressed
        file; each later line is assumed to follow after one ``\n``.
        """
        skipped: collections.defaultdict[str, int] = collections.defaultdict(int)
        counts: collections.Counter = collections.Counter()
        accepted: list[Accepted] = []
        dead_letters: list[DeadLetterRow] = []
        # simdjson's proxies are indexed blindly here; whatever does not fit is caught below.
        parse: Callable[[bytes], Any] = self._parser.parse
        routed = ROUTED_EVENT_NAMES
        assignment_names = ASSIGNMENT_EVENT_NAMES
        settled_accepted: list[
            tuple[int, Accepted]
        ] = []  # (line index, accepted) settled in the hot loop
        unsettled = []
        valid_json: set[int] = set()  # unsettled lines simdjson parsed, with a routed event_name
        # The hot loop: nothing per noise line but the simdjson parse, two lookups
        # and a list append (counted in C afterwards). simdjson also takes a
        # trailing '\r' as whitespace, so only unsettled lines need it removed. It
        # also accepts a leading BOM, which is the only way a valid line can start
        # with byte 0xEF.
        noise: list[str] = []  # the event name of each line settled as noise here
        settle_noise = noise.append
        for index, line in enumerate(lines):
            try:
                event_name = parse(line)["metadata"]["event_name"]
            except Exception:  # anything simdjson cannot settle goes to the strict path
                unsettled.append(index)
                continue
            if (
                event_name.__class__ is str
                and event_name
                and line[0] != 0xEF
                and len(line) <= MAX_LINE_BYTES
            ):
                if event_name not in routed:
                    settle_noise(event_name)
                    continue
                if event_name in assignment_names:
                    # A few percent of the firehose: valid ones settled here, not on the
                    # strict path.
                    fast_outcome = accept_valid_assignment(line, event_name)
                    if fast_outcome.__class__ is Accepted:
                        settled_accepted.append((index, fast_outcome))
                        continue
                    if fast_outcome.__class__ is Skipped:
                        settle_noise(event_name)
                        continue
                elif event_name == LEGACY_RETRY_EVENT and not self._may_be_legacy_retry(line):
                    settle_noise(event_name)
                    continue
                valid_json.add(index)
            # An object or array event_name is a live simdjson proxy, and the
            # parser refuses to parse again while one exists.
            event_name = None
            unsettled.append(index)
        if settled_accepted:
            counts["accepted_before_dedup." + ROLE_ASSIGNMENT_STATE] += len(settled_accepted)
        for event_name, count in collections.Counter(noise).items():
            skipped[event_name] += count
        offset, offset_index = first_offset, 0
        for index in unsettled:
            line = lines[index]
            if line[-1:] == b"\r":
                line = line[:-1]
            outcome = (
                classify_parsed_line(line, self._hmac_key)
                if index in valid_json
                else classify_event(line, self._hmac_key)
            )
            if outcome is None:
                counts["blank_lines"] += 1
            elif isinstance(outcome, Skipped):
                skipped[outcome.event_name] += 1
            elif isinstance(outcome, Accepted):
                counts["accepted_before_dedup." + outcome.role] += 1
                if settled_accepted:
                    settled_accepted.append((index, outcome))
                else:
                    accepted.append(outcome)
            else:
                counts["dead_letter_by_code." + outcome.error_code] += 1
                if offset is not None:
                    offset += sum(map(len, lines[offset_index:index])) + (index - offset_index)
                    offset_index = index
                dead_letters.append(
                    DeadLetterRow(
                        outcome.error_code,
                        outcome.error_detail,
                        outcome.event_name,
                        source_file,
                        offset,
                        line,
                    )
                )
        if settled_accepted:  # in line order, whichever path settled each
            settled_accepted.sort(key=lambda pair: pair[0])
            accepted = [outcome for _, outcome in settled_accepted]
        counts["lines_read"] += len(lines)
        for event_name, count in skipped.items():
            counts["skipped_by_event_name." + event_name] += count
        return BlockResult(counts, accepted, dead_letters)
