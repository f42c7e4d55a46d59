"""Reading files as line blocks: ranges, BOM, CRLF, gzip."""
import gzip
import io
import itertools

import pytest

from transforms.file_ranges import FileRange, iter_line_blocks, open_range, split_file

SAMPLES = [
    b"\xef\xbb\xbfaa\nbbb\r\n\ncccc\ndd",
    b"x\n\n\nyy\n",
    b"\xef\xbb",
    b"",
    b"\n",
    b"abc",
    b"\xef\xbb\xbf\n",
    b"\xef\xbb\xbfa",
    b"long line " * 50 + b"\nshort\n" + b"z" * 300,
]


def lines_with_offsets(data: bytes, start=0, end=None, block_bytes=4):
    out = []
    for block in iter_line_blocks(io.BytesIO(data), start, end, block_bytes):
        offset = block.first_offset
        for line in block.lines:
            out.append((offset, line))
            offset += len(line) + 1
    return out


def test_lines_offsets_bom_and_crlf():
    assert lines_with_offsets(SAMPLES[0]) == [
        (3, b"aa"), (6, b"bbb\r"), (11, b""), (12, b"cccc"), (17, b"dd"),
    ]


def test_trailing_newline_makes_no_extra_line_and_bom_only_at_file_start():
    assert lines_with_offsets(b"x\n\n\nyy\n") == [(0, b"x"), (2, b""), (3, b""), (4, b"yy")]
    assert lines_with_offsets(b"a\n\xef\xbb\xbfb\n") == [(0, b"a"), (2, b"\xef\xbb\xbfb")]


@pytest.mark.parametrize("data", SAMPLES, ids=range(len(SAMPLES)))
@pytest.mark.parametrize("block_bytes", [1, 2, 3, 7, 1 << 20])
def test_any_split_into_three_ranges_reads_every_line_once(data, block_bytes):
    whole = lines_with_offsets(data, block_bytes=block_bytes)
    assert whole == lines_with_offsets(data, block_bytes=1 << 20)
    step = max(1, len(data) // 23)
    for cut in range(1, len(data), step):
        for cut2 in range(cut, len(data), step):
            parts = (
                lines_with_offsets(data, 0, cut, block_bytes)
                + lines_with_offsets(data, cut, cut2, block_bytes)
                + lines_with_offsets(data, cut2, len(data), block_bytes)
            )
            assert parts == whole, (cut, cut2)


def test_split_file_covers_uncompressed_file_and_keeps_gzip_whole():
    ranges = split_file("/x/a.jsonl", 250, range_bytes=100)
    assert ranges == [FileRange("/x/a.jsonl", 0, 100), FileRange("/x/a.jsonl", 100, 200), FileRange("/x/a.jsonl", 200, 250)]
    assert split_file("/x/a.jsonl.gz", 10_000, range_bytes=100) == [FileRange("/x/a.jsonl.gz", 0, None)]


def test_gzip_is_read_decompressed_with_offsets_in_decompressed_bytes(tmp_path):
    data = b"\xef\xbb\xbf{\"a\":1}\r\n\n{\"b\":2}\n"
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress(data))
    with open_range(FileRange(str(path), 0, None)) as handle:
        blocks = list(iter_line_blocks(handle, 0, None, block_bytes=5))
    lines = [(block.first_offset, line) for block in blocks for line in block.lines]
    assert [line for _, line in lines] == [b'{"a":1}\r', b"", b'{"b":2}']
    assert lines[0][0] == 3


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_split_range_covers_the_range_without_overlap(parts):
    from transforms.file_ranges import split_range

    pieces = split_range(FileRange("f", 100, 1100), parts)
    assert pieces[0].start == 100 and pieces[-1].end == 1100
    assert all(a.end == b.start for a, b in itertools.pairwise(pieces))
    assert len(pieces) == parts
    assert split_range(FileRange("f.gz", 0, None), 4) == [FileRange("f.gz", 0, None)]


@pytest.mark.parametrize("suffix, compress", [(".bz2", "bz2"), (".gz", "gzip"), ("", None)])
def test_every_codec_beam_knows_is_read_decompressed(tmp_path, suffix, compress):
    import bz2

    data = b'{"a":1}\n{"b":2}\n'
    path = tmp_path / f"events.jsonl{suffix}"
    path.write_bytes({"bz2": bz2.compress, "gzip": gzip.compress, None: bytes}[compress](data))
    with open_range(FileRange(str(path), 0, None)) as handle:
        lines = [line for block in iter_line_blocks(handle) for line in block.lines]
    assert lines == [b'{"a":1}', b'{"b":2}']


def test_compressed_suffixes_are_beams():
    from apache_beam.io.filesystem import CompressionTypes

    from transforms.file_ranges import COMPRESSED_SUFFIXES, is_compressed

    for name in ["a.jsonl", "a.json", "a.txt", *(f"a.jsonl{suffix}" for suffix in COMPRESSED_SUFFIXES), "A.JSONL.GZ"]:
        beams = CompressionTypes.detect_compression_type(name) != CompressionTypes.UNCOMPRESSED
        assert is_compressed(name) == beams, name


@pytest.mark.slow
def test_a_classifier_worker_does_not_import_beam():
    import subprocess
    import sys

    code = ("import sys; from transforms.classify_range import classify_file_range; "
            "from transforms.file_ranges import FileRange; "
            "classify_file_range(FileRange(sys.argv[1], 0, None), None); "
            "print('apache_beam' in sys.modules)")
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".jsonl") as feed:
        feed.write(b'{"metadata":{"event_name":"x"}}\n')
        feed.flush()
        done = subprocess.run([sys.executable, "-c", code, feed.name], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr[-2000:]
