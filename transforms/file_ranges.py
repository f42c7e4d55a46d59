"""Event files as byte ranges that workers can share, read as blocks of raw lines.

Lines are read as bytes in large blocks (``bytes.split`` on megabytes at a
time) because a Beam element per line costs more than classifying the line.
An uncompressed file is cut into byte ranges; a line belongs to the range in
which it starts, so ranges can be read by different workers without overlap.
A compressed file cannot be entered mid-stream and is one range; it is read
to the end of its last compressed stream or not at all: a file that ends early
or fails its check raises :class:`UnreadableInputError`, whatever the codec.

This module does not import Beam at load time: the classifier's worker
processes import it (through :mod:`transforms.classify_range`), and should
start in a fraction of a second.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

import zlib

from transforms.events import UTF8_BOM

DEFAULT_RANGE_BYTES = 64 << 20
DEFAULT_BLOCK_BYTES = 8 << 20
_TAIL_READ_BYTES = 64 << 10


class FileRange(NamedTuple):
    """A byte range of one input file (of its decompressed bytes for a compressed file)."""

    path: str
    start: int
    end: int | None  # None: to the end of the (decompressed) file


class LineBlock(NamedTuple):
    """Consecutive lines of a file and the byte offset of the first."""

    first_offset: int  # byte offset of lines[0] in the decompressed file
    lines: list[bytes]  # terminators removed, except the '\r' of a CRLF


# Beam's CompressionTypes.detect_compression_type suffixes (a test keeps them in step),
# spelled here so that classifier workers need not import Beam to open a plain file.
COMPRESSED_SUFFIXES = (".bz2", ".deflate", ".gz", ".zst", ".zstd", ".xz", ".lzma")
_RAW_CHUNK_BYTES = 256 << 10


class UnreadableInputError(OSError):
    """An input file that cannot be read to its end (cut or corrupt compressed data, I/O error).

    Its message is one line that names the file. An OSError, so that callers
    that handle unreadable files handle this one too.
    """


def is_compressed(path: str) -> bool:
    """True when the path's suffix (any case) names a codec Beam decompresses."""
    return path.lower().endswith(COMPRESSED_SUFFIXES)


def _new_decompressor(path: str):
    """A new decompressor for the file's codec (suffix in any case), as Beam would pick it."""
    suffix = path.lower().rsplit(".", 1)[-1]
    if suffix == "gz":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing: the CRC and length are checked
    if suffix == "deflate":
        return zlib.decompressobj()
    if suffix == "bz2":
        import bz2

        return bz2.BZ2Decompressor()
    if suffix in ("xz", "lzma"):
        import lzma

        return lzma.LZMADecompressor()
    if suffix in ("zst", "zstd"):
        import zstandard

        # Beam's window limit: larger windows could need too much memory.
        return zstandard.ZstdDecompressor(max_window_size=2147483648).decompressobj()
    raise ValueError(f"{path}: not a compressed file name")


class DecompressedFile:
    """A compressed file read as its decompressed bytes, to the checked end of its last stream.

    Beam's ``CompressedFile`` stops quietly wherever the compressed bytes stop,
    so a truncated ``.bz2`` or ``.xz`` would read as fewer lines. Here the
    decompressor must report the end of its stream (and, for gzip, a matching
    CRC and length) before the file ends; concatenated streams (``cat a.gz
    b.gz``) are read one after the other. An empty file reads as empty.
    """

    def __init__(self, raw: BinaryIO, path: str):
        self._raw = raw
        self._path = path
        self._decompressor = _new_decompressor(path)
        self._buffer = bytearray()
        self._started = False  # any compressed byte seen
        self._finished = False

    def read(self, size: int = -1) -> bytes:
        while not self._finished and (size < 0 or len(self._buffer) < size):
            self._decompress_more()
        size = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _decompress_more(self) -> None:
        decompressor = self._decompressor
        if decompressor.eof:
            data = decompressor.unused_data or self._raw.read(_RAW_CHUNK_BYTES)
            if not data:
                self._finished = True
                return
            decompressor = self._decompressor = _new_decompressor(self._path)
        else:
            data = self._raw.read(_RAW_CHUNK_BYTES)
            if not data:
                if self._started:
                    raise UnreadableInputError(f"{self._path}: compressed data ends early (truncated file?)")
                self._finished = True
                return
        self._started = True
        try:
            self._buffer += decompressor.decompress(data)
        except Exception as error:  # zlib.error, OSError, LZMAError, ZstdError: the data is not what it claims
            raise UnreadableInputError(f"{self._path}: corrupt compressed data ({error})") from error

    def close(self) -> None:
        self._raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def split_range(file_range: FileRange, parts: int) -> list[FileRange]:
    """Cut an uncompressed range into ``parts`` sub-ranges (line ownership keeps them exact)."""
    if file_range.end is None or parts <= 1:
        return [file_range]
    step = max(1, -(-(file_range.end - file_range.start) // parts))
    return [FileRange(file_range.path, start, min(start + step, file_range.end))
            for start in range(file_range.start, file_range.end, step)]


def split_file(path: str, size: int, range_bytes: int = DEFAULT_RANGE_BYTES) -> list[FileRange]:
    """Byte ranges covering one file; a single range for compressed or small files."""
    if is_compressed(path) or size <= range_bytes:
        return [FileRange(path, 0, None)]
    return [FileRange(path, start, min(start + range_bytes, size)) for start in range(0, size, range_bytes)]


def _skip_to_line_start(handle: BinaryIO, start: int) -> int | None:
    r"""Position just after the first '\n' at or after ``start - 1``; None at end of file."""
    handle.seek(start - 1)
    position = start - 1
    while chunk := handle.read(_TAIL_READ_BYTES):
        newline = chunk.find(b"\n")
        if newline >= 0:
            handle.seek(position + newline + 1)
            return position + newline + 1
        position += len(chunk)
    return None


def iter_line_blocks(handle: BinaryIO, start: int = 0, end: int | None = None,
                     block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[LineBlock]:
    """Blocks of the lines that start in ``[start, end)`` of an open file.

    A UTF-8 byte order mark at the very start of the file is not part of the first line.
    """
    peeked = b""
    if start > 0:
        position = _skip_to_line_start(handle, start)
        if position is None or (end is not None and position >= end):
            return
    else:
        peeked = handle.read(len(UTF8_BOM))
        position = 0
        if peeked == UTF8_BOM:
            peeked, position = b"", len(UTF8_BOM)

    def read(size: int) -> bytes:
        nonlocal peeked
        data, peeked = peeked[:size], peeked[size:]
        return data + handle.read(size - len(data)) if len(data) < size else data

    carry, carry_offset = b"", position
    # The first line is owned by the range starting at 0 even when a BOM precedes it.
    first_line_pending = start == 0
    while end is None or position < end:
        chunk = read(block_bytes if end is None else min(block_bytes, end - position))
        if not chunk:
            if carry:
                yield LineBlock(carry_offset, [carry])
            return
        position += len(chunk)
        lines = chunk.split(b"\n")
        lines[0] = carry + lines[0]
        first_offset = carry_offset
        carry = lines.pop()
        carry_offset = position - len(carry)
        if lines:
            first_line_pending = False
            yield LineBlock(first_offset, lines)
    # Past the range: finish only the line that crosses its end.
    while carry or first_line_pending:
        chunk = read(_TAIL_READ_BYTES)
        newline = chunk.find(b"\n")
        if newline >= 0:
            yield LineBlock(carry_offset, [carry + chunk[:newline]])
            return
        if not chunk:
            if carry:
                yield LineBlock(carry_offset, [carry])
            return
        carry += chunk


def open_range(file_range: FileRange) -> BinaryIO | DecompressedFile:
    """The file, decompressed by its extension in any case (Beam's suffixes: .gz, .bz2, .zst, ...).

    Local files are opened directly (classifier workers need not import Beam);
    others through Beam's FileSystems. Decompression is always
    :class:`DecompressedFile`, which fails on a truncated or corrupt file.
    """
    path = file_range.path
    if "://" in path:
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems

        raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    else:
        raw = open(path, "rb")  # noqa: SIM115 (the caller closes it)
    return DecompressedFile(raw, path) if is_compressed(path) else raw
