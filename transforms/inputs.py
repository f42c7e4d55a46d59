"""Which files a run reads: ``--input`` patterns resolved to files, by rules that keep runs honest.

- An existing file is always read as itself, even when its name holds ``*``,
  ``?`` or ``[`` (``events[1].jsonl``).
- A literal path (no glob character) that does not exist is an error, and so
  is a folder: both are typos, never "no data".
- A pattern that matches no file is an error unless empty input is allowed
  (a scheduled day with no file may be legitimate). A dated run's template
  (``in/{date}.jsonl``) is a pattern even without glob characters: its absent
  day is an empty day.
- Patterns use Beam's syntax (``*`` within a folder, ``**`` across folders,
  ``?``, ``[...]``) and match alike whether the path is relative or absolute:
  ``feed*.jsonl`` matches files of the working folder.
- Nothing under the output folder is ever input: a pattern that could match
  a file the run writes there is refused before it runs, and so is a matched
  file that lies there.

Local paths are matched here; remote ones (``gs://...``) through Beam's
FileSystems. :class:`InputError` messages are one line.
"""
from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable
from typing import NamedTuple

GLOB_CHARACTERS = "*?["
# Paths the run writes under its output folder (tables, markers, summaries, staging), as a pattern
# that could read the output would match them.
OUTPUT_PROBES = (
    "_SUMMARY.json", "_SUCCESS", "_runs/ingest_date=2024-01-01.json", "_summaries/summary-0.jsonl",
    "retries/event_date=2024-01-01/part-00000.parquet", "retries/_SUCCESS",
    "retries/ingest_date=2024-01-01/event_date=2024-01-01/part-00000.parquet",
    "course_lineage/part-00000.parquet", "course_lineage/ingest_date=2024-01-01/part-00000.parquet",
    "dead_letter/part-0123456789abcdef-00000.parquet",
    "_staging/run/retries/event_date=2024-01-01/part-00000.parquet", "_staging/run/_SUMMARY.json",
)


class InputError(ValueError):
    """An input that cannot be what the user meant; the message is one line."""


class InputFile(NamedTuple):
    """One input file a pattern matched, with its size in bytes."""

    path: str  # as the user spelled it (relative stays relative)
    size: int


def is_remote(path: str) -> bool:
    """True for a URL such as ``gs://...`` (any scheme), False for a local path."""
    return "://" in path


def has_glob(pattern: str) -> bool:
    """True when ``pattern`` holds a glob character (``*``, ``?`` or ``[``)."""
    return any(character in pattern for character in GLOB_CHARACTERS)


def pattern_regex(pattern: str) -> re.Pattern:
    """Beam's pattern syntax as a compiled regular expression."""
    from apache_beam.io.filesystem import FileSystem

    return re.compile(FileSystem.translate_pattern(pattern))


def _glob_root(pattern: str) -> str:
    """The folder to list for a local pattern: the one holding its first glob character."""
    literal = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    return os.path.dirname(literal) or "."


def match_local(pattern: str) -> list[InputFile]:
    """Files matching a local pattern, spelled as the pattern spells them, sorted."""
    regex = pattern_regex(pattern)
    root = _glob_root(pattern)
    implicit_dot = root == "." and not pattern.startswith("./")
    # Without '**' or '?' (Beam's '?' crosses '/'), matches lie exactly as deep as the pattern
    # says: no need to list the folders below (Beam lists them all).
    root_slashes = -1 if implicit_dot else root.count("/")
    deepest = None if "**" in pattern or "?" in pattern else pattern.count("/") - root_slashes - 1
    found = []
    for folder, subfolders, names in os.walk(root):
        if deepest is not None and folder.count("/") - root.count("/") >= deepest:
            subfolders.clear()
        for name in names:
            path = os.path.join(folder, name)
            if implicit_dot:
                path = path[2:]
            if regex.match(path) and os.path.isfile(path):
                found.append(InputFile(path, os.path.getsize(path)))
    return sorted(found)


def _exists(path: str) -> bool:
    if not is_remote(path):
        return os.path.exists(path)
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.exists(path)


def _size(path: str) -> int:
    if not is_remote(path):
        return os.path.getsize(path)
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.get_filesystem(path).metadata(path).size_in_bytes


def _match_remote(pattern: str) -> list[InputFile]:
    from apache_beam.io.filesystems import FileSystems

    matched = FileSystems.match([pattern])[0].metadata_list
    return sorted(InputFile(meta.path, meta.size_in_bytes) for meta in matched)


def _absolute(path: str) -> str:
    """A comparable spelling: absolute and normalised if local, no trailing '/' if remote."""
    if is_remote(path):
        scheme, rest = path.split("://", 1)
        return f"{scheme}://{posixpath.normpath(rest)}" if rest.strip("/") else path.rstrip("/")
    return os.path.normpath(os.path.join(os.getcwd(), path))


def is_under(path: str, folder: str) -> bool:
    """True when ``path`` is ``folder`` or lies inside it (paths compared absolute)."""
    path, folder = _absolute(path), _absolute(folder)
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def could_read_output(pattern: str, output: str) -> str | None:
    """A path the run writes under ``output`` that ``pattern`` would match, or None."""
    if is_remote(pattern) != is_remote(output):
        return None
    regex = pattern_regex(_absolute(pattern) if not is_remote(pattern) else pattern)
    base = _absolute(output).rstrip("/")
    for probe in OUTPUT_PROBES:
        if regex.match(f"{base}/{probe}"):
            return f"{base}/{probe}"
    return None


def resolve_pattern(pattern: str, option: str = "--input", absent_is_empty: bool = False) -> list[InputFile]:
    """The files of one pattern; raises InputError for a folder or an absent literal path.

    With ``absent_is_empty`` an absent literal path is an empty match (a dated template's day).
    """
    if _exists(pattern):
        if not is_remote(pattern) and os.path.isdir(pattern):
            example = os.path.join(pattern, "*.jsonl")
            raise InputError(f"{option} {pattern} is a folder; give a file pattern such as '{example}'")
        return [InputFile(pattern, _size(pattern))]
    if not has_glob(pattern):
        if absent_is_empty:
            return []
        raise InputError(f"{option} {pattern}: no such file")
    return _match_remote(pattern) if is_remote(pattern) else match_local(pattern)


def resolve_inputs(patterns: Iterable[str], output: str | None = None, allow_empty: bool = False,
                   option: str = "--input", absent_is_empty: bool = False) -> list[InputFile]:
    """Every file the patterns name, once, in pattern order; InputError per the module's rules."""
    patterns = list(patterns)
    if output:
        for pattern in patterns:
            written = could_read_output(pattern, output)
            if written:
                raise InputError(f"{option} {pattern} could read the output ({written}); "
                                 f"narrow the pattern or write --output elsewhere")
    seen, files = set(), []
    for pattern in patterns:
        matched = resolve_pattern(pattern, option, absent_is_empty)
        if not matched and not allow_empty:
            raise InputError(f"{option} {pattern} matches no file "
                             "(pass --allow-empty-input when an empty input is expected)")
        for file in matched:
            if output and is_under(file.path, output):
                raise InputError(f"{option} {pattern} matches {file.path}, inside --output {output}")
            if file.path not in seen:
                seen.add(file.path)
                files.append(file)
    return files

