"""A full export read by the native engine: the batches export.py's reader would make, as blocks.

The reference is sources/export.py's Python reader; this one cuts the same batches (the same
lines, counters and checkpoints) but keeps a full export's lines in Rust (`ExportLines`),
decompressed on a thread of their own, and plans each batch as one RenderedBlock
(planning/blocks.py): keys read, newest item per key kept and winners rendered in Rust without
the GIL, in parallel. A line the native reader is not sure about goes to the Python decoder, which
rejects it with its reason or resolves it; a batch it cannot render (an unusual value), or one
that mixes tables or an incremental export's changes, is decoded by the Python path whole.

Memory: a batch is read and rendered CHUNK lines at a time, each chunk's raw lines let go once
rendered, so a batch (~1 KB of lines an item) is never held whole next to its rendering
and its predecessor's commit. A batch the chunks cannot give (a line for the Python decoder, a key
met in two chunks, two tables) and a batch decoded by Python later (`expand`) are read again from
their data files, at the same lines (`_again`), and take the whole-batch path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO, Callable, ContextManager, Iterator

import orjson
import pyarrow as pa

from ..errors import SourceError
from ..planning.blocks import BlockBatch, RenderedBlock
from ..planning.engine import NativeRows, ints_over, log_fallback_once, native_engine, strings_over
from ..records import LAZY, Change, Checkpoint, Rejected, SourceBatch

DONE = "done"  # (export.DONE)
THREADS = max(1, min(4, os.cpu_count() or 1))
# records read and rendered at a time, on one thread each: one row group of the DuckDB files dynashift
# writes (targets/duckdb.py), so each chunk is one chunk of the stage's columns; DuckDB's insert
# costs more CPU for other cuts (one array for the batch: a copy; chunks of odd sizes). 1M export,
# 65,536-item batches: 522-526 MiB and 72-78k items per CPU-s; 32,768: 542-546 MiB, 72-74k
CHUNK = 16_384
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
    version: int
    reopen: Callable[[], ContextManager[IO[bytes]]]  # the data file opened again (_again)
    gzip: bool
    start: int  # its lines done before this batch
    records: int = 0  # its records (lines not blank) in this batch


class NativeLoad:
    """The batch in hand of a full load read natively; `batch` holds what the Python reader
    decoded (an incremental export's changes), its rejects, checkpoints and counters."""

    def __init__(self, uri: str, batch_size: int, batch_bytes: int):
        self.uri, self.batch_size, self.batch_bytes = uri, batch_size, batch_bytes
        # set once a batch was read again (decoded by Python: typed mode, routing; or a batch the
        # chunks could not give): the later batches keep their lines whole, as such a load reads
        # each batch again otherwise (from the start of its file: quadratic in the file's batches)
        self.keep = False
        self.step = CHUNK
        self._native = native_engine()
        self.chunk = None  # the ExportLines of the chunk being read (it may span data files)
        self.pool = self._native.BlockPool()  # decompressed blocks' buffers, reused by every file's reader
        self._new()

    def _new(self) -> None:
        self.batch = SourceBatch()
        self.files: list[_File] = []
        self.outs: list[tuple] = []  # each chunk's scan_render answer
        self.seen = self._native.KeySet()  # the keys of the batch's chunks rendered so far
        self.whole = False  # the batch needs its lines whole (read again at the cut)
        self.keeping = self.keep  # this batch keeps its lines whole (`keep` when it began)

    def full_file(self, fh: IO[bytes], gzip: bool, key: str, done: int, table: str, key_names: list[str],
                  version: int, decode: Decode, reopen: Callable[[], ContextManager[IO[bytes]]]
                  ) -> Iterator[SourceBatch]:
        """A full export's data file from line `done` on: the batches it completes."""
        reader = self._native.ExportReader(fh, gzip, done, self.pool)
        try:
            while True:
                f = _File(key, table, key_names, decode, version, reopen, gzip, done)
                if not self.files:  # the batch begins (the one before it planned, perhaps read again)
                    self.keeping = self.keep
                self.files.append(f)
                sb = self.batch
                while True:
                    if self.chunk is None:
                        self.chunk = self._native.ExportLines()
                    tag = self.chunk.tag(key_names, version)
                    before = sb.records_read
                    limit = self.batch_size if self.keeping else min(self.batch_size, (before // self.step + 1) * self.step)
                    try:
                        sb.records_read, sb.bytes_read, done, more = reader.take(
                            self.chunk, tag, before, sb.bytes_read, done, limit, self.batch_bytes)
                    except ValueError as exc:  # a truncated or corrupt gzip member, or the file unreadable
                        raise SourceError(f"{self.uri}: data file {key} is damaged ({exc})") from None
                    f.records += sb.records_read - before
                    if sb.records_read >= limit:
                        self._render()  # its raw lines go now
                    full = sb.records_read >= self.batch_size or sb.bytes_read >= self.batch_bytes
                    if not more or full:
                        break
                if not more:
                    break
                sb.checkpoints.append(Checkpoint(self.uri, key, str(done)))
                yield self.cut()
        finally:
            reader.close()
        self.batch.checkpoints.append(Checkpoint(self.uri, key, DONE, done))

    def _render(self) -> None:
        """The chunk's lines rendered (its answer kept) and let go, unless the batch must be read
        again whole."""
        if self.keeping:
            return  # the batch's lines stay whole: the cut takes them
        chunk, self.chunk, files = self.chunk, None, self.files
        if chunk is None or not len(chunk) or self.whole:
            return
        if self.batch.changes or any(f.table != files[0].table or f.key_names != files[0].key_names for f in files):
            self.whole = True
            return
        out = chunk.scan_render(1, self.seen)  # None too when a key was met in an earlier chunk
        if out is None:
            self.whole = True
        else:
            self.outs.append(out)

    def cut(self) -> SourceBatch:
        """The batch in hand, finished; a new one begins."""
        self._render()
        sb, files, outs, whole, kept = self.batch, self.files, self.outs, self.whole, self.chunk
        self.chunk = None
        self._new()
        if not any(f.records for f in files):
            return sb
        if kept is None and (whole or sb.changes or len({f.table for f in files}) > 1):
            kept = self._again(files)
        if sb.changes or len({f.table for f in files}) > 1:
            changes, rejected = _decode(kept, files)  # the Python path, whole
            sb.changes[:0] = changes
            sb.rejected[:0] = rejected
            return sb
        if kept is not None:  # the whole-batch path
            return _block(sb, kept, files)
        keys, versions, rows = _joined(outs)
        block = RenderedBlock(table=files[0].table, key_names=list(files[0].key_names), rows=rows,
                              dist_keys=keys, versions=versions)
        return BlockBatch(block, lambda: _decode(self._again(files), files)[0], sb.rejected, sb.checkpoints,
                          sb.records_read, sb.bytes_read)

    def _again(self, files: list[_File]):
        """The batch's lines read again (_again); the later batches keep theirs (`keep`)."""
        self.keep = True
        return _again(self._native, self.uri, files)


def _joined(outs: list[tuple]) -> tuple:
    """The chunks' scan_render answers as one batch's (dist_keys, versions, NativeRows). Their keys
    are distinct: a chunk with a key met in an earlier one was declined (KeySet), and the batch
    then takes the whole-batch path."""
    count = sum(o[0] for o in outs)
    keys = pa.concat_arrays([strings_over(o[0], (o[1], o[2], None, 0)) for o in outs])
    versions = pa.concat_arrays([ints_over(o[0], (o[3], None, 0)) for o in outs])
    parts = [p for o in outs for p in o[4]]
    outs.clear()
    return keys, versions, _rows(count, parts)


def _again(native, uri: str, files: list[_File]):
    """The batch's lines read again from their data files (line i of file i's share is tagged i),
    as they were read the first time."""
    lines = native.ExportLines()
    for f in files:
        tag = lines.tag(f.key_names, f.version)
        if not f.records:
            continue
        with f.reopen() as fh:
            reader = native.ExportReader(fh, f.gzip, f.start)
            try:
                got = reader.take(lines, tag, 0, 0, f.start, f.records, 1 << 62)[0]
            except ValueError as exc:
                raise SourceError(f"{uri}: data file {f.key} is damaged ({exc})") from None
            finally:
                reader.close()
        if got != f.records:
            raise SourceError(f"{uri}: data file {f.key} changed while it was read; run again to read it anew")
    return lines


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
