"""A compressed input that ends early or fails its check fails the run, whatever codec or suffix."""
import bz2
import gzip
import lzma
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import zstandard

from pipelines.cli import main
from tests.conftest import completed, course, noise, retry
from transforms.classify_range import classify_file_range
from transforms.file_ranges import FileRange, UnreadableInputError, iter_line_blocks, open_range

ROOT = Path(__file__).resolve().parent.parent
A, B = course("A"), course("B")
LINES = [completed("1", B, "2024-07-01T00:00:00Z", source_uuid=A), retry(A, B, "2024-07-02T00:00:00Z")]
LINES += [noise(f"event_{n % 50}", n=str(n)) for n in range(3000)]
DATA = b"".join(line + b"\n" for line in LINES)
CODECS = {
    "gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress,
    "lzma": lambda data: lzma.compress(data, format=lzma.FORMAT_ALONE),
    "zst": lambda data: zstandard.ZstdCompressor().compress(data),
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
    "deflate": zlib.compress,
}


def read_all(path) -> bytes:
    with open_range(FileRange(str(path), 0, None)) as handle:
        return b"".join(line + b"\n" for block in iter_line_blocks(handle, block_bytes=1 << 16) for line in block.lines)


def suffixes(codec):
    return [f".jsonl.{codec}", f".JSONL.{codec.upper()}"]


@pytest.mark.parametrize("codec", CODECS)
def test_complete_and_concatenated_files_are_read_whole(tmp_path, codec):
    compressed = CODECS[codec](DATA)
    for suffix in suffixes(codec):
        (tmp_path / f"one{suffix}").write_bytes(compressed)
        (tmp_path / f"two{suffix}").write_bytes(compressed + CODECS[codec](b"last\n"))
        assert read_all(tmp_path / f"one{suffix}") == DATA
        assert read_all(tmp_path / f"two{suffix}") == DATA + b"last\n"


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("cut", [0.5, 0.9, -1], ids=["half", "most", "last-byte"])
def test_a_truncated_file_is_an_error_naming_it(tmp_path, codec, cut):
    compressed = CODECS[codec](DATA)
    end = len(compressed) - 1 if cut == -1 else int(len(compressed) * cut)
    for suffix in suffixes(codec):
        path = tmp_path / f"feed{suffix}"
        path.write_bytes(compressed[:end])
        with pytest.raises(UnreadableInputError, match=f"^{path}: compressed data ends early"):
            read_all(path)
        with pytest.raises(UnreadableInputError):
            classify_file_range(FileRange(str(path), 0, None), None)


@pytest.mark.parametrize("codec", CODECS)
def test_corrupt_data_is_an_error_naming_the_file(tmp_path, codec):
    compressed = bytearray(CODECS[codec](DATA))
    middle = len(compressed) // 2
    compressed[middle:middle + 64] = bytes(64)
    path = tmp_path / f"feed.jsonl.{codec}"
    path.write_bytes(bytes(compressed))
    with pytest.raises(UnreadableInputError, match=f"^{path}: "):
        read_all(path)


def test_a_gzip_checksum_mismatch_is_an_error(tmp_path):
    compressed = bytearray(gzip.compress(DATA))
    compressed[-8] ^= 0xFF  # the CRC-32 of the trailer
    path = tmp_path / "feed.jsonl.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(UnreadableInputError, match="corrupt compressed data"):
        read_all(path)


def test_an_empty_compressed_file_reads_as_no_lines(tmp_path):
    path = tmp_path / "feed.jsonl.gz"
    path.write_bytes(b"")
    assert read_all(path) == b""


def table_bytes(out: Path) -> dict:
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def cli(*args):
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return done.returncode, done.stderr


@pytest.mark.slow
def test_a_truncated_input_fails_the_run_in_one_line_and_publishes_nothing(tmp_path):
    out = tmp_path / "out"
    good = tmp_path / "good.jsonl.gz"
    good.write_bytes(gzip.compress(DATA))
    assert main(["run", "--input", str(good), "--output", str(out)]) == 0
    before = table_bytes(out)
    cases = [("feed.jsonl.bz2", "bz2"), ("feed.jsonl.xz", "xz"), ("FEED.JSONL.GZ", "gz"), ("f.jsonl.gz", "gz")]
    for name, codec in cases:
        compressed = CODECS[codec](DATA)
        truncated = tmp_path / name
        truncated.write_bytes(compressed[:len(compressed) * 2 // 3])
        code, stderr = cli("run", "--input", str(good), str(truncated), "--output", str(out))
        errors = [line for line in stderr.splitlines() if " INFO " not in line]
        assert code == 1 and "Traceback" not in stderr, stderr[-3000:]
        assert len(errors) == 1 and f"{truncated}: compressed data ends early" in errors[0], stderr[-3000:]
        assert table_bytes(out) == before, name


@pytest.mark.slow
def test_verbose_shows_the_traceback(tmp_path):
    truncated = tmp_path / "feed.jsonl.gz"
    truncated.write_bytes(gzip.compress(DATA)[:1000])
    code, stderr = cli("run", "--verbose", "--input", str(truncated), "--output", str(tmp_path / "out"))
    assert code == 1 and "Traceback" in stderr and "UnreadableInputError" in stderr
    assert f"{truncated}: compressed data ends early" in stderr
    code, stderr = cli("--verbose", "run", "--input", str(tmp_path / "typo.jsonl"), "--output", str(tmp_path / "out"))
    assert code == 2
    assert stderr.splitlines() == [f"retry-lineage: error: --input {tmp_path / 'typo.jsonl'}: no such file"]
