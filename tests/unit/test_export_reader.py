"""The native export reader's blocks (native/src/export_reader.rs): buffers reused across blocks
and data files (BlockPool) never leak a previous block's text into a line, and a line longer than
a block is read whole; a batch's chunks decline a key met in an earlier chunk (KeySet)."""

from __future__ import annotations

import gzip
import io
from random import Random

import orjson
import pytest

native = pytest.importorskip("dynashift_native", reason="the native engine is not installed: pip install ./native")

BLOCK = 4 << 20  # export_reader.rs BLOCK


def _lines_read(data: bytes, pool, gz: bool = True) -> list[bytes]:
    """Every line ExportReader hands over for `data` (a file's bytes), as Python sees them."""
    lines = native.ExportLines()
    reader = native.ExportReader(io.BytesIO(gzip.compress(data, 1) if gz else data), gz, 0, pool)
    try:
        reader.take(lines, lines.tag(["pk"], 1), 0, 0, 0, 10**9, 1 << 62)
    finally:
        reader.close()
    return [raw for raw, _tag, _no in lines.raw()]


def _expected(data: bytes) -> list[bytes]:
    """The Python reader's records: lines without \\r\\n, blank ones left out."""
    return [line.rstrip(b"\r\n") for line in io.BytesIO(data) if line.strip()]


def test_pooled_blocks_give_every_file_its_own_lines() -> None:
    """Three files through one pool (as a load's files are read): ~10 MB of lines of varied length,
    one of them longer than two blocks, CRLF and blank lines, the last without its newline. Each
    file's lines are exactly its own, though its blocks reuse the buffers of the one before."""
    r = Random(7)
    pool = native.BlockPool()
    for f in range(3):
        parts = []
        for i in range(9_000):
            body = {"Item": {"pk": {"S": f"f{f}-{i}"}, "v": {"S": "x" * r.randrange(1, 2_000)}}}
            parts.append(orjson.dumps(body) + r.choice([b"\n", b"\r\n", b"\n\n"]))
        if f == 1:
            parts.insert(4_000, orjson.dumps({"Item": {"pk": {"S": "long"}, "v": {"S": "y" * (2 * BLOCK + 17)}}}) + b"\n")
        data = b"".join(parts).rstrip(b"\n")
        assert _lines_read(data, pool) == _expected(data)
        assert 0 < len(pool) <= 6  # buffers given back for the next file, no more than the spare count


def test_a_reader_without_a_pool_reads_plain_files_too() -> None:
    data = b"".join(orjson.dumps({"Item": {"pk": {"S": str(i)}}}) + b"\n" for i in range(200_000))
    assert _lines_read(data, None, gz=False) == _expected(data)


def test_a_chunk_with_a_key_met_in_an_earlier_chunk_is_declined() -> None:
    """scan_render with the batch's KeySet: chunks of distinct keys are rendered; one that repeats
    a key of an earlier chunk answers None (the batch is then read whole and render picks the
    winner); without the set each chunk alone is accepted."""
    item = lambda i: orjson.dumps({"Item": {"pk": {"S": f"k{i}"}, "v": {"N": str(i)}}})  # noqa: E731

    def chunk(keys: range | list[int]):
        lines = native.ExportLines()
        reader = native.ExportReader(io.BytesIO(b"\n".join(item(i) for i in keys)), False, 0)
        try:
            reader.take(lines, lines.tag(["pk"], 1), 0, 0, 0, 10**6, 1 << 62)
        finally:
            reader.close()
        return lines

    seen = native.KeySet()
    assert chunk(range(0, 50)).scan_render(1, seen)[0] == 50
    assert chunk(range(50, 90)).scan_render(1, seen)[0] == 40
    assert len(seen) == 90
    assert chunk([90, 91, 3]).scan_render(1, seen) is None
    assert chunk([90, 91, 3]).scan_render(1) is not None
