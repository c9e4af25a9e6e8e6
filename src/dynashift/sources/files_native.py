"""A file source's batches read by the native engine: the batches FileSource.read makes, as blocks.

The reference is FileSource's Python reader; this one cuts the same batches (the same records,
counters and checkpoints) but reads a plain JSON Lines file in Rust (`LineFile`), where each line's
envelope is decoded and each key's newest change per table kept (`LineBatch`), without the GIL and
without a Python object per record. A line the native decoder is not sure about (not one plain
change record, bad JSON, an odd value, a last line without its newline) is decoded here by the
Python code, which rejects it with its reason or makes its changes, and those compete with the
native ones in the batch. A batch is handed to planning as one RenderedBlock per table
(planning/blocks.py); when one cannot be (a winner only the Python path renders, or a gzip file or
JSON document in the batch), its lines are read again from the file by the Python decoder, as it
stood when the batch began, and the batch is planned from those changes: the same plan either way.
"""

from __future__ import annotations

import contextlib
import copy
from typing import TYPE_CHECKING, Iterator

import orjson
import pyarrow as pa

from ..model import HARD_DELETE, UPSERT
from ..planning.blocks import BlockBatch, RenderedBlock
from ..planning.engine import NativeRows, log_fallback_once, native_engine, native_rows, strings_over
from ..planning.lines import LineDecoder
from ..planning.typed_native import absent_typing, chunked_typing, typing_over
from ..planning.rows import record_of
from ..records import LAZY, REMOVE, Change, Checkpoint, Rejected, SourceBatch
from ..schema import DIST_KEY, STAGE_VERSION
from .native_items import _Binary, _refuse

if TYPE_CHECKING:
    from .files import FileSource, _File

_SEP = "\x1f"
EOF, CUT, LINE = 0, 1, 2  # what LineFile.take ended on
THREADS = 2  # the first batches' tables: their winners rendered in up to this many shares at once
SHARE = 4096  # winners per share at least
# The first batches of a pass are rendered on both cores, in shares FIRST_SPLIT times smaller:
# the first is read while nothing is applied yet (the applying thread waits for it), the second
# while the first is applied into tables still empty, the cheapest apply of a run (wide 200k: 0.38-
# 0.44 CPU-s, reading the second batch 0.55-0.59), so the applying thread waits for both. Wide
# 200k tables get 4-7k winners per 75,000-record batch: one share at SHARE.
FIRST_SPLIT = 4
FIRST_BATCHES = 2
# Later batches are rendered on the main thread alone (LATER_THREADS), while the batch before them
# is applied: the applying thread is the run's critical path, and two render threads beside it are
# three runnable threads on two cores, which took a third of a core from it (wide 1M: 20-24% of the
# wall; docs/decisions.md "Stream batch sizes" has the numbers). The main thread has the time: it
# waits for the commit a third of the run.
LATER_THREADS = 1
Segment = list  # [file, first byte, byte after the last line] of a batch's lines in one file


class NativeLines:
    """One pass of FileSource.read with the native engine (a generator's state)."""

    def __init__(self, source: FileSource, ttl_ignore: bool):
        self.source, self.ttl_ignore = source, ttl_ignore
        self.native = native_engine()
        self.typed = getattr(source, "typed", False)  # columns rendered with typed mode's per-row facts
        self.decoder = source._decoder  # a NativeLineDecoder: its Decoder holds the names met
        self.rendered = 0  # batches rendered in this pass
        self._new(plain=False)

    def _new(self, plain: bool, snapshot: tuple | None = None) -> None:
        """A new batch: planned from a LineBatch, or (`plain`) from changes as today's reader makes them."""
        self.batch = SourceBatch()
        self.segments: list[Segment] = []
        self.acc = None
        self.plain = plain
        self.snapshot = snapshot  # (names met, last version) when the batch began: to read it again

    def _begin(self) -> None:
        if not self.plain and self.acc is None:
            self.acc = self.native.LineBatch(self.ttl_ignore, self.source.default_table)
            if self.snapshot is None:
                self.snapshot = self._state()

    def _state(self) -> tuple:
        return {t: set(n) for t, n in self.decoder._names.items()}, self.decoder.last_version

    def read(self, checkpoints: dict[str, Checkpoint]) -> Iterator[SourceBatch]:
        s = self.source
        for f in s.files():
            start = s._resume_offset(f, checkpoints.get(f.name))
            if start is None:
                continue
            if s.plain_lines(f, start):
                yield from self._native_file(f, start)
            else:
                yield from self._python_file(f, start)
            self.batch.checkpoints.append(Checkpoint(s.uri, f.name, str(s._end), f.size))
        if self.batch.records_read or self.batch.checkpoints:
            yield self._finish()

    # ------------------------------------------------------------ one file

    def _cut(self, f: _File, at: int, seg: Segment, plain: bool, snapshot: tuple | None = None) -> Iterator[SourceBatch]:
        seg[2] = at
        self.batch.checkpoints.append(Checkpoint(self.source.uri, f.name, str(at), None))
        yield self._finish()
        self._new(plain, snapshot)

    def _native_file(self, f: _File, start: int) -> Iterator[SourceBatch]:
        s, dec = self.source, self.decoder
        reader = self.native.LineFile(str(f.path), start)
        last_end = s._end = start
        prefix = f"{f.name}{_SEP}"
        seg: Segment = [f, start, None]
        self.segments.append(seg)
        while True:
            self._begin()
            b = self.batch
            kind, b.records_read, b.bytes_read, last_end, s._end, dec.last_version, line_start, line, learned = reader.take(
                self.acc, dec._fast, b.records_read, b.bytes_read, last_end, s._end, dec.last_version, s.batch_size,
                s.batch_bytes, prefix)
            for table, names in learned:
                dec._learned(table, names)
            if kind == EOF:
                break
            if kind == CUT:
                yield from self._cut(f, line_start, seg, False)
                seg = [f, line_start, None]
                self.segments.append(seg)
                continue
            # a line for the Python code: it decides, as FileSource._read would
            full = b.records_read >= s.batch_size or b.bytes_read >= s.batch_bytes
            snapshot = self._state() if full else None  # the next batch may begin with this line
            end = line_start + len(line)
            for item, at, stop in s._line(f, line, line_start, end):
                b = self.batch
                if b.records_read >= s.batch_size or b.bytes_read >= s.batch_bytes:
                    if at >= last_end:
                        yield from self._cut(f, at, seg, False, snapshot)
                        seg = [f, at, None]
                        self.segments.append(seg)
                        self._begin()
                last_end = self._count(item, stop, last_end)
        seg[2] = s._end

    def _python_file(self, f: _File, start: int) -> Iterator[SourceBatch]:
        """A gzip file or a JSON document: today's reader, the batch planned from its changes."""
        s = self.source
        if not self.plain:
            self._to_plain()
        last_end = start
        seg: Segment = [f, start, None]
        self.segments.append(seg)
        with contextlib.closing(s._records(f, start)) as records:
            for item, line_start, end in records:
                b = self.batch
                if (b.records_read >= s.batch_size or b.bytes_read >= s.batch_bytes) and line_start >= last_end:
                    yield from self._cut(f, line_start, seg, True)
                    seg = [f, line_start, None]
                    self.segments.append(seg)
                last_end = self._count(item, end, last_end)
        seg[2] = s._end

    def _count(self, item: Change | Rejected, end: int, last_end: int) -> int:
        """Add a record read up to byte `end` to the batch, as FileSource.read counts it (bytes once
        per line, however many records it holds); the new end of what the batch has read."""
        self._add(item)
        self.batch.records_read += 1
        if end > last_end:
            self.batch.bytes_read += end - last_end
        return max(end, last_end)

    def _add(self, item: Change | Rejected) -> None:
        if isinstance(item, Rejected):
            self.batch.rejected.append(item)
        elif self.acc is None:
            self.batch.changes.append(item)
        else:
            raw = item.raw if type(item.raw) is bytes and (item.op == REMOVE or item.new_image is LAZY) else _record(item)
            image = item.new_image if item.new_image is not LAZY else item.names
            self.acc.add_foreign(item.table, item.op, item.dist_key, item.version, item.seq, item.event_id, item.ttl,
                                 raw, list(item.keys), list(image) if image else None)

    def _to_plain(self) -> None:
        """The batch in hand goes on as changes (it reaches a file only the Python reader reads)."""
        if self.acc is not None:
            self.batch.changes = self._expander(list(self.segments), self.snapshot)()
            self.acc = None
        self.plain = True

    # ------------------------------------------------------------ a finished batch

    def _finish(self) -> SourceBatch:
        sb, acc = self.batch, self.acc
        if acc is None:
            return sb
        expand = self._expander(list(self.segments), self.snapshot)
        threads, share = self._rendering()
        tables = acc.render((UPSERT, HARD_DELETE), threads, share, typed=self.typed)
        ttl_ignored, self.acc = acc.ttl_ignored, None
        del acc  # its winners' records (~a batch's input) are not held while the batch waits and applies
        if tables is None:
            log_fallback_once("(file batch)", "a record or value the native engine leaves to the Python code")
            sb.changes = expand()
            return sb
        blocks = []
        for table, key_names, count, parts, meta, names, duplicates, stale, superseded in tables:
            rows = _rows(count, parts, meta)
            assert rows.meta is not None
            blocks.append(RenderedBlock(table, key_names, rows, rows.meta[DIST_KEY], rows.meta[STAGE_VERSION], "",
                                        dict.fromkeys(names), duplicates, stale, superseded))
        out = BlockBatch(blocks, expand, sb.rejected, sb.checkpoints, sb.records_read, sb.bytes_read)
        out.ttl_ignored, out.ttl_ignore = ttl_ignored, self.ttl_ignore
        return out

    def _rendering(self) -> tuple[int, int]:
        """Threads and winners per share for rendering the batch being finished: the first
        FIRST_BATCHES on both cores in small shares (FIRST_SPLIT), later ones on LATER_THREADS."""
        self.rendered += 1
        if self.rendered <= FIRST_BATCHES:
            return THREADS, max(1, SHARE // FIRST_SPLIT)
        return LATER_THREADS, SHARE

    def _expander(self, segments: list[Segment], snapshot: tuple | None):
        """The batch's changes, read again from its files by the Python decoder as it stood when
        the batch began (its rejects are the batch's already)."""
        source = self.source

        def expand() -> list[Change]:
            decoder = LineDecoder(source.default_table)
            names, decoder.last_version = snapshot if snapshot is not None else ({}, 0)
            decoder._names = {t: set(n) for t, n in names.items()}
            again = copy.copy(source)
            again._decoder = decoder
            changes: list[Change] = []
            for f, start, stop in segments:
                with contextlib.closing(again._records(f, start)) as records:
                    for item, line_start, _ in records:
                        if stop is not None and line_start >= stop:
                            break
                        if isinstance(item, Change):
                            changes.append(item)
            return changes

        return expand


def _rows(count: int, parts: list, meta: tuple) -> NativeRows:
    """A table's shares of rendered columns as one column per attribute (chunked, without a copy),
    in the order attributes were first met, with its metadata columns."""
    if len(parts) == 1:
        return native_rows(count, parts[0][1], meta)
    rows = native_rows(count, [], meta)
    arrays: dict[str, list[pa.Array | None]] = {}
    types: dict[str, set[str]] = {}
    typing: dict[str, list] = {}
    for p, (n, cols) in enumerate(parts):
        for name, tags, offsets, data, validity, nulls, *typed in cols:
            arrays.setdefault(name, [None] * len(parts))[p] = strings_over(n, (offsets, data, validity, nulls))
            types.setdefault(name, set()).update(tags)
            if typed:
                typing.setdefault(name, [None] * len(parts))[p] = typing_over(n, typed[0])
    for name, shares in arrays.items():
        filled = [a if a is not None else pa.nulls(parts[p][0], pa.string()) for p, a in enumerate(shares)]
        rows.columns[name] = pa.chunked_array(filled, pa.string())  # type: ignore[assignment]
    rows.types = {name: sorted(t) for name, t in types.items()}
    if typing:
        rows.typing = {name: chunked_typing([t if t is not None else absent_typing(parts[p][0])
                                             for p, t in enumerate(shares)]) for name, shares in typing.items()}
    return rows


def _record(change: Change) -> bytes | None:
    """The record a change the Python decoder parsed whole (a Lambda event's) is rendered from
    natively: its image dumped once, as sources/native_items.py does; None when only the Python
    renderer can take it (binary, or an image that is no dict)."""
    image = None if change.op == REMOVE else change.new_image
    if image is not None and type(image) is not dict:
        return None
    try:
        return orjson.dumps(record_of(change, image), default=_refuse)
    except (_Binary, TypeError, orjson.JSONEncodeError):
        return None
