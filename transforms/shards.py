"""Shards of the (course, assignment link) key space, and rows carried as plain tuples.

The runner encodes every element that crosses a stage boundary. A NamedTuple is
pickled (its class included) and rebuilt by a Python call; a list of plain tuples
of strings and numbers is encoded by Beam's compiled primitives coder. So the
many accepted events travel as one list per classified range, cut into one list
per shard of the key they are grouped by, as plain tuples; a consumer rebuilds
the row type with :func:`rows_as`. The shard of a key is the same in every
process (not Python's randomised ``hash``); on Dataflow the shards are the
parallelism of the step that groups by them.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

ASSIGNMENT_SHARDS = 16


def shard_of(key: tuple[str, str | None], shards: int = ASSIGNMENT_SHARDS) -> int:
    """The shard of a (course, link) key; the link may be None."""
    course, link = key
    text = f"{course}\x00{link or ''}".encode("utf-8", "surrogatepass")
    return zlib.crc32(text) % shards


def shard_lists(
    items: Iterable[Any], key: Callable[[Any], tuple[str, str | None]]
) -> Iterator[tuple[int, list[tuple]]]:
    """Rows or events -> (shard, those of the shard as plain tuples) for each shard among them."""
    shards: dict[int, list[tuple]] = {}
    for item in items:
        shards.setdefault(shard_of(key(item)), []).append(tuple(item))
    return iter(shards.items())


def rows_as(row_type: type) -> Callable[[Iterable[Any]], Any]:
    """A function that turns a plain tuple back into ``row_type`` (a NamedTuple), in C."""
    return functools.partial(tuple.__new__, row_type)
