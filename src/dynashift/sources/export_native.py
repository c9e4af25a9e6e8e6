"""A full export read by the native engine: the batches export.py's reader would make, as blocks.

The reference is sources/export.py's Python reader; this one cuts the same batches (the same
lines, counters and checkpoints) but keeps a full export's lines in Rust (`ExportLines`),
decompressed on a thread of their own, and plans each batch as one RenderedBlock
(planning/blocks.py): keys read, newest item per key kept and winners rendered in Rust without
the GIL, in parallel. A line the native reader is not sure about goes to the Python decoder, which
rejects it with its reason or resolves it; a batch it cannot render (an unusual value), or one
that mixes tables or an incremental export's changes, is decoded by the Python path whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO, Callable, Iterator

import orjson
import pyarrow as pa

from ..errors import SourceError
from ..planning.blocks import BlockBatch, RenderedBlock
from ..planning.engine import NativeRows, ints_over, log_fallback_once, native_engine, strings_over
from ..records import LAZY, Change, Checkpoint, Rejected, SourceBatch

DONE = "done"  # (export.DONE)
THREADS = max(1, min(4, os.cpu_count() or 1))
Decode = Callable[[bytes, str], "Change | Rejected"]


def native_loads() -> bool:
    """Whether full exports are read by the native engine in this process."""
    return native_engine() is not None


@dataclass(slots=True)
class _File:
    """A data file's share of the batch in hand."""

    key: str  # the manifest's key: checkpoints and reject positions
    table: str
    key_names: list[str]
    decode: Decode  # the Python decoder of its lines (export._FullDecoder)


class NativeLoad:
    """The batch in hand of a full load read natively; `batch` holds what the Python reader
    decoded (an incremental export's changes), its rejects, checkpoints and counters."""

    def __init__(self, uri: str, batch_size: int, batch_bytes: int):
        self.uri, self.batch_size, self.batch_bytes = uri, batch_size, batch_bytes
        self._native = native_engine()
        self._new()

    def _new(self) -> None:
        self.batch = SourceBatch()
        self.lines = self._native.ExportLines()
        self.files: list[_File] = []

    def full_file(self, fh: IO[bytes], gzip: bool, key: str, done: int, table: str, key_names: list[str],
                  version: int, decode: Decode) -> Iterator[SourceBatch]:
        """A full export's data file from line `done` on: the batches it completes."""
        reader = self._native.ExportReader(fh, gzip, done)
        try:
            while True:
                tag = self.lines.tag(key_names, version)
                self.files.append(_File(key, table, key_names, decode))
                sb = self.batch
                try:
                    sb.records_read, sb.bytes_read, done, full = reader.take(
                        self.lines, tag, sb.records_read, sb.bytes_read, done, self.batch_size, self.batch_bytes)
                except ValueError as exc:  # a truncated or corrupt gzip member, or the file unreadable
                    raise SourceError(f"{self.uri}: data file {key} is damaged ({exc})") from None
                if not full:
                    break
                sb.checkpoints.append(Checkpoint(self.uri, key, str(done)))
                yield self.cut()
        finally:
            reader.close()
        self.batch.checkpoints.append(Checkpoint(self.uri, key, DONE, done))

    def cut(self) -> SourceBatch:
        """The batch in hand, finished; a new one begins."""
        sb, lines, files = self.batch, self.lines, self.files
        self._new()
        if not len(lines):
            return sb
        if sb.changes or len({f.table for f in files}) > 1:
            changes, rejected = _decode(lines, files)  # the Python path, whole
            sb.changes[:0] = changes
            sb.rejected[:0] = rejected
            return sb
        return _block(sb, lines, files)


def _block(sb: SourceBatch, lines, files: list[_File]) -> SourceBatch:
    rejected: list[Rejected] = []
    names: dict[str, None] = {}
    # the usual batch (every line an item with a key not met before) is keyed and rendered in one
    # parse per line; any other takes the steps below: keys, the Python decoder's lines, render
    out = lines.scan_render(THREADS)
    if out is None:
        out = _scan_and_render(lines, files, rejected, names)
    table = files[0].table

    def expand() -> list[Change]:
        return _decode(lines, files)[0]  # (its rejects are the batch's already)

    if out is None:
        log_fallback_once(table, "a record or value the native engine leaves to the Python code")
        sb.changes = expand()
        sb.rejected[:0] = rejected
        return sb
    count, offsets, data, versions, parts, duplicates, stale, superseded = out
    if not count:
        sb.rejected[:0] = rejected
        return sb
    block = RenderedBlock(
        table, list(files[0].key_names), _rows(count, parts),
        strings_over(count, (offsets, data, None, 0)), ints_over(count, (versions, None, 0)),
        "", names, duplicates, stale, superseded)
    return BlockBatch(block, expand, rejected + sb.rejected, sb.checkpoints, sb.records_read, sb.bytes_read)


def _scan_and_render(lines, files: list[_File], rejected: list[Rejected], names: dict[str, None]) -> tuple | None:
    """Each line's keys read natively, the lines it is not sure about judged by the Python decoder
    (rejects and the attributes it parsed added to `rejected` and `names`), then the winners rendered."""
    for index, raw, tag, line_no in lines.scan(THREADS):
        found = files[tag].decode(raw, f"{files[tag].key}:{line_no}")
        if isinstance(found, Rejected):
            rejected.append(found)
            lines.resolve(index, None)
            continue
        if found.new_image is LAZY:
            record = found.raw
        else:  # parsed by the Python decoder: its attributes count as met (planning/core.py `names`)
            names.update(dict.fromkeys(found.new_image))
            record = b'{"dynamodb":{"NewImage":' + orjson.dumps(found.new_image) + b"}}"
        lines.resolve(index, found.dist_key, record)
    return lines.render(THREADS)


def _rows(count: int, parts: list) -> NativeRows:
    """Each share's text columns as one column per attribute (chunked, without a copy), in the
    order attributes were first met."""
    arrays: dict[str, list[pa.Array | None]] = {}
    types: dict[str, set[str]] = {}
    for p, (rows, cols) in enumerate(parts):
        for name, tags, offsets, data, validity, nulls in cols:
            arrays.setdefault(name, [None] * len(parts))[p] = strings_over(rows, (offsets, data, validity, nulls))
            types.setdefault(name, set()).update(tags)
    columns: dict[str, pa.Array] = {}
    for name, shares in arrays.items():
        filled = [a if a is not None else pa.nulls(parts[p][0], pa.string()) for p, a in enumerate(shares)]
        columns[name] = filled[0] if len(filled) == 1 else pa.chunked_array(filled, pa.string())
    return NativeRows(count, columns, {name: sorted(t) for name, t in types.items()})


def _decode(lines, files: list[_File]) -> tuple[list[Change], list[Rejected]]:
    """The Python decoder over every line of the batch, in order."""
    changes: list[Change] = []
    rejected: list[Rejected] = []
    for raw, tag, line_no in lines.raw():
        found = files[tag].decode(raw, f"{files[tag].key}:{line_no}")
        (changes if isinstance(found, Change) else rejected).append(found)
    return changes, rejected
