"""Shards of the (course, assignment link) key space, and rows carried as plain tuples.

The runner encodes every element that crosses a stage boundary. A NamedTuple is
pickled (its class included) and rebuilt by a Python call; a list of plain tuples
of strings and numbers is encoded by Beam's compiled primitives coder. So the
many accepted events travel as one list per classified range, cut into one list
per shard of the key they are grouped by, as plain tuples; a consumer rebuilds
the row type with :func:`rows_as`. The shard of a key is the same in every
process (not Python's randomised ``hash``); on Dataflow the shards are the
parallelism of the step that groups by them.

A list that goes into a grouping travels packed (:func:`pack_rows`): one
``bytes`` value, compressed. The local runner keeps every grouped value as the
Python object it decodes until the grouping is read, and holds a stage's
input and output encoded at once besides: a list of tuples of strings costs
there some three times its encoded size, its packed bytes about a quarter of it.
"""

from __future__ import annotations

import functools
import pickle
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa

ASSIGNMENT_SHARDS = 16


def shard_of(key: tuple[str, str | None], shards: int = ASSIGNMENT_SHARDS) -> int:
    """The shard of a (course, link) key; the link may be None."""
    course, link = key
    text = f"{course}\x00{link or ''}".encode("utf-8", "surrogatepass")
    return zlib.crc32(text) % shards


_PACKED_SIZE = struct.Struct("<Q")  # the pickled size, ahead of the compressed pickle


def pack_rows(rows: list[tuple]) -> bytes:
    """A list of plain tuples (strings, numbers, bools, None, lists) as one ``bytes`` value.

    The list is pickled and the pickle compressed (zstd): ids and fingerprints
    repeat across the events of one assignment, names and states across all.
    """
    pickled = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
    return _PACKED_SIZE.pack(len(pickled)) + pa.compress(pickled, codec="zstd", asbytes=True)


def unpack_rows(packed: bytes) -> list[tuple]:
    """The list that :func:`pack_rows` packed (the same values, in the same order)."""
    (size,) = _PACKED_SIZE.unpack_from(packed)
    pickled = pa.decompress(
        memoryview(packed)[_PACKED_SIZE.size :], size, codec="zstd", asbytes=True
    )
    rows = pickle.loads(pickled)
    if not isinstance(rows, list):
        raise TypeError(f"packed rows must hold a list, not {type(rows).__name__}")
    return rows


def shard_lists(
    items: Iterable[Any], key: Callable[[Any], tuple[str, str | None]]
) -> Iterator[tuple[int, list[tuple]]]:
    """Rows or events -> (shard, those of the shard as plain tuples) for each shard among them."""
    shards: dict[int, list[tuple]] = {}
    for item in items:
        shards.setdefault(shard_of(key(item)), []).append(tuple(item))
    return iter(shards.items())


def packed_shard_lists(
    items: Iterable[Any], key: Callable[[Any], tuple[str, str | None]]
) -> Iterator[tuple[int, bytes]]:
    """:func:`shard_lists`, each shard's list packed (:func:`pack_rows`)."""
    for shard, rows in shard_lists(items, key):
        yield shard, pack_rows(rows)


def rows_as(row_type: type) -> Callable[[Iterable[Any]], Any]:
    """A function that turns a plain tuple back into ``row_type`` (a NamedTuple), in C."""
    return functools.partial(tuple.__new__, row_type)
