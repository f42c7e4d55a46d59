"""Failures as one line for the terminal (tracebacks go to the debug log, shown with --verbose)."""
from __future__ import annotations

import re
from collections.abc import Iterator

from transforms.inputs import InputError
from transforms.file_ranges import UnreadableInputError

# Beam appends the failing step to a DoFn's exception message.
_STEP_SUFFIX = re.compile(r" \[while running '[^']*'\]")
# Remote runners report a worker's exception as the text of its traceback.
_OUR_ERROR_LINE = re.compile(r"^(?:\w+\.)*(?:UnreadableInputError|InputError): (.+)$", re.M)


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def one_line(error: BaseException) -> str:
    """What went wrong, in one line: our input errors as raised, others as ``Type: message``."""
    for link in _chain(error):
        if isinstance(link, (UnreadableInputError, InputError)):
            return _STEP_SUFFIX.sub("", str(link)).strip().splitlines()[0]
    text = str(error)
    ours = _OUR_ERROR_LINE.search(text)
    if ours:
        return _STEP_SUFFIX.sub("", ours.group(1)).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        # A worker's traceback as text (portable and multi-process runners): its last unindented
        # line says what.
        unindented = [line for line in lines if not line[0].isspace() and not line.startswith("Traceback")]
        return _STEP_SUFFIX.sub("", unindented[-1] if unindented else lines[-1]).strip()
    first = lines[0].strip() if lines else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
