"""JSON parse, canonical dump and repr that do not recurse, for arbitrarily nested values.

Python's C ``json`` module and ``repr`` recurse once per nesting level and raise
``RecursionError`` when a value is nested deeper than the frames left on the
caller's stack (the default limit is 1,000 frames; a line may nest 1,024
levels). Raising the interpreter's recursion limit would change it for every
thread of the process, so the classifier calls the C functions first and falls
back on these loops when they run out of stack. Each loop gives exactly the
result of its C counterpart (same values, same bytes, same error messages), so
the answer never depends on how deep the caller's stack is.
"""

from __future__ import annotations

import json
import re
from _json import scanstring  # json.decoder.scanstring: the C string scanner json.loads uses
from collections.abc import Callable, Iterator
from json.decoder import JSONDecodeError
from json.encoder import encode_basestring
from typing import Any

_WHITESPACE = re.compile(r"[ \t\n\r]*")
# ASCII digits only, as the C scanner reads them (json.scanner.NUMBER_RE's \d also matches
# other scripts' digits).
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_CONSTANTS = (("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"))


def _skip(text: str, index: int) -> int:
    """The index of the first character at or after ``index`` that is not JSON whitespace."""
    match = _WHITESPACE.match(text, index)
    return match.end() if match else index


class _Container:
    """An array or object still open on the parse stack."""

    __slots__ = ("is_object", "items", "key")

    def __init__(self, is_object: bool) -> None:
        self.is_object = is_object
        self.items: list[Any] = []
        self.key = ""


def _scalar(text: str, index: int, parse_constant: Callable[[str], Any]) -> tuple[Any, int] | None:
    """The string, number or literal at ``index`` and the index after it; None if there is none."""
    char = text[index : index + 1]
    if char == '"':
        return scanstring(text, index + 1, True)
    if char == "n" and text.startswith("null", index):
        return None, index + 4
    if char == "t" and text.startswith("true", index):
        return True, index + 4
    if char == "f" and text.startswith("false", index):
        return False, index + 5
    for name, constant in _CONSTANTS:
        if text.startswith(name, index):
            return parse_constant(constant), index + len(name)
    number = _NUMBER.match(text, index)
    if number is None:
        return None
    integer, fraction, exponent = number.groups()
    if fraction or exponent:
        return float(integer + (fraction or "") + (exponent or "")), number.end()
    return int(integer), number.end()


def loads(
    text: str,
    *,
    parse_constant: Callable[[str], Any],
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any],
) -> Any:
    """``json.loads(text, parse_constant=..., object_pairs_hook=...)`` without recursion.

    Same values and the same ``JSONDecodeError`` messages and positions as the C
    scanner, at any nesting depth.
    """
    if text.startswith("\ufeff"):
        raise JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    stack: list[_Container] = []
    index = _skip(text, 0)
    while True:
        # A value starts at `index`.
        opening = text[index : index + 1]
        if opening in ("[", "{"):
            is_object = opening == "{"
            index = _skip(text, index + 1)
            closing = text[index : index + 1]
            if closing == ("}" if is_object else "]"):
                value: Any = object_pairs_hook([]) if is_object else []
                index += 1
            else:
                container = _Container(is_object)
                if is_object:
                    container.key, index = _member_name(text, index)
                stack.append(container)
                continue
        else:
            scalar = _scalar(text, index, parse_constant)
            if scalar is None:
                raise JSONDecodeError("Expecting value", text, index)
            value, index = scalar
        # `value` is complete: add it to the open containers, closing those that end here.
        while True:
            if not stack:
                end = _skip(text, index)
                if end != len(text):
                    raise JSONDecodeError("Extra data", text, end)
                return value
            container = stack[-1]
            if container.is_object:
                container.items.append((container.key, value))
            else:
                container.items.append(value)
            index = _skip(text, index)
            delimiter = text[index : index + 1]
            if delimiter == ("}" if container.is_object else "]"):
                stack.pop()
                items = container.items
                value = object_pairs_hook(items) if container.is_object else items
                index += 1
                continue
            if delimiter != ",":
                raise JSONDecodeError("Expecting ',' delimiter", text, index)
            index = _skip(text, index + 1)
            if container.is_object:
                container.key, index = _member_name(text, index)
            break


def _member_name(text: str, index: int) -> tuple[str, int]:
    """An object member's name at ``index`` and the index of its value (past the colon)."""
    if text[index : index + 1] != '"':
        raise JSONDecodeError("Expecting property name enclosed in double quotes", text, index)
    name, index = scanstring(text, index + 1, True)
    index = _skip(text, index)
    if text[index : index + 1] != ":":
        raise JSONDecodeError("Expecting ':' delimiter", text, index)
    return name, _skip(text, index + 1)


class _Text(str):
    """Output text queued between values (brackets, separators, an encoded key)."""


def _scalar_json(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return encode_basestring(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps_canonical(value: Any) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.

    For parsed JSON (dicts with string keys, lists, strings, numbers, booleans,
    None) at any nesting depth, without recursion; same text as the C encoder.
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:
        return dumps_canonical_without_recursion(value)


def dumps_canonical_without_recursion(value: Any) -> str:
    """What :func:`dumps_canonical` returns, built by a loop with its own stack."""
    out: list[str] = []
    todo: list[Any] = [value]
    while todo:
        item = todo.pop()
        if item.__class__ is _Text:
            out.append(item)
        elif isinstance(item, list) and item:
            out.append("[")
            todo.append(_Text("]"))
            for position in range(len(item) - 1, -1, -1):
                todo.append(item[position])
                if position:
                    todo.append(_Text(","))
        elif isinstance(item, dict) and item:
            out.append("{")
            todo.append(_Text("}"))
            members = sorted(item.items(), key=lambda member: member[0])
            for position in range(len(members) - 1, -1, -1):
                name, member = members[position]
                todo.append(member)
                todo.append(_Text(encode_basestring(name) + ":"))
                if position:
                    todo.append(_Text(","))
        elif isinstance(item, list):
            out.append("[]")
        elif isinstance(item, dict):
            out.append("{}")
        else:
            out.append(_scalar_json(item))
    return "".join(out)


def _repr_pieces(value: Any) -> Iterator[str]:
    todo: list[Any] = [value]
    while todo:
        item = todo.pop()
        if item.__class__ is _Text:
            yield item
        elif isinstance(item, list) and item:
            yield "["
            todo.append(_Text("]"))
            for position in range(len(item) - 1, -1, -1):
                todo.append(item[position])
                if position:
                    todo.append(_Text(", "))
        elif isinstance(item, dict) and item:
            yield "{"
            todo.append(_Text("}"))
            members = list(item.items())
            for position in range(len(members) - 1, -1, -1):
                name, member = members[position]
                todo.append(member)
                todo.append(_Text(repr(name) + ": "))
                if position:
                    todo.append(_Text(", "))
        else:
            yield repr(item)


def repr_prefix(value: Any, width: int) -> str:
    """``repr(value)[:width]`` for parsed JSON at any depth, built only as far as ``width``."""
    try:
        return repr(value)[:width]
    except RecursionError:
        return repr_prefix_without_recursion(value, width)


def repr_prefix_without_recursion(value: Any, width: int) -> str:
    """What :func:`repr_prefix` returns, built by a loop with its own stack."""
    out: list[str] = []
    length = 0
    for piece in _repr_pieces(value):
        out.append(piece)
        length += len(piece)
        if length >= width:
            break
    return "".join(out)[:width]


def strings(value: Any) -> Iterator[str]:
    """Every string in parsed JSON, member names included, at any depth."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from item.keys()
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
