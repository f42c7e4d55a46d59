"""The loops in transforms.nested_json give what the C json module and repr give, at any depth."""

from __future__ import annotations

import json
import random

import pytest

from transforms import nested_json


def reject(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def first_key_wins(pairs: list) -> dict:
    return dict(reversed(pairs))


def stdlib(text: str) -> tuple[str, object]:
    try:
        return "value", json.loads(text, parse_constant=reject, object_pairs_hook=first_key_wins)
    except ValueError as error:
        return "error", str(error)


def looped(text: str) -> tuple[str, object]:
    try:
        value = nested_json.loads(text, parse_constant=reject, object_pairs_hook=first_key_wins)
    except ValueError as error:
        return "error", str(error)
    return "value", value


TEXTS = [
    "",
    " ",
    "{}",
    "[]",
    " [ ] ",
    "{ }",
    "[1,2]",
    "[1 , 2 ]",
    '{"a":1,"a":2}',
    '{"b": [1, {"c": null}]}',
    "null",
    "true",
    "false",
    "nul",
    "tru",
    "-",
    "-0",
    "01",
    "1.",
    "1.5",
    "1e",
    "1e5",
    "1E+5",
    "-1.5e-3",
    "1.5e",
    "2e-",
    "NaN",
    "Infinity",
    "-Infinity",
    "-Inf",
    "[NaN]",
    "\u0661",
    "[\u0661]",
    '"a',
    '"\\x"',
    '"\\ud800"',
    '"\\u12"',
    '"tab\there"',
    '"\U0001f600"',
    "[1,]",
    "[,1]",
    "[1 2]",
    '{"a"}',
    '{"a" 1}',
    '{"a":}',
    '{"a":1,}',
    '{"a":1 "b":2}',
    "{1:2}",
    "{'a':1}",
    "[1]x",
    "[1] ",
    "[[[]]]",
    "[[[",
    "]",
    "}",
    "{",
    "[",
    '{"a":[1,{"b":[true,false,null,"x"]}]}',
    "\ufeff[]",
    "[1" + "0" * 5000 + "]",
    '["\\u0000", "\\n\\"\\\\/"]',
    "[1e400]",
    "[-0.0, 0.1, 1e-7]",
    " \t\n\r[ \t\n\r1 \t\n\r] \t\n\r",
    "[\f1]",
    '{"a":1}{"b":2}',
    "[true]false",
]


@pytest.mark.parametrize("text", TEXTS)
def test_loop_parses_like_the_c_scanner(text):
    assert looped(text) == stdlib(text)


def random_json(rng: random.Random, depth: int) -> object:
    kind = rng.randrange(8 if depth else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randint(-(10**20), 10**20)
    if kind == 2:
        return rng.choice([0.0, -0.0, 1.5, 1e-7, 1e300, rng.random()])
    if kind in (3, 4):
        return "".join(rng.choice('ab"\\\n\x01é\U0001f600 ') for _ in range(rng.randrange(6)))
    if kind in (5, 6):
        return [random_json(rng, depth - 1) for _ in range(rng.randrange(4))]
    return {
        random_json(rng, 0).__str__(): random_json(rng, depth - 1) for _ in range(rng.randrange(4))
    }


def test_loops_match_the_c_functions_on_random_values():
    rng = random.Random(20240730)
    for _ in range(400):
        value = random_json(rng, 5)
        for indent, separators in ((None, None), (2, (",", ": ")), (None, (",", ":"))):
            text = json.dumps(
                value, indent=indent, separators=separators, ensure_ascii=rng.random() < 0.5
            )
            assert looped(text) == stdlib(text)
        assert nested_json.dumps_canonical_without_recursion(value) == json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        assert nested_json.repr_prefix_without_recursion(value, 80) == repr(value)[:80]
        assert nested_json.repr_prefix_without_recursion(value, 10_000) == repr(value)
        assert sorted(nested_json.strings(value)) == sorted(strings_recursively(value))


def strings_recursively(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in [key, *strings_recursively(item)]]
    if isinstance(value, list):
        return [text for item in value for text in strings_recursively(item)]
    return []


def test_loops_handle_values_deeper_than_the_stack():
    depth = 50_000
    text = "[" * depth + '{"k": "v"}' + "]" * depth
    value = nested_json.loads(text, parse_constant=reject, object_pairs_hook=first_key_wins)
    assert nested_json.dumps_canonical(value) == text.replace(" ", "")
    assert nested_json.repr_prefix(value, 80) == "[" * 80
    assert list(nested_json.strings(value)) == ["k", "v"]
