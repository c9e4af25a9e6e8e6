"""`file://PATH`: a file, a folder of files (read in name order) or a glob pattern.

JSON Lines (one record, or one `{"Records": [...]}` event, per line) or one JSON document
holding `Records`; either may be gzip-compressed. Remembers per file its name, size and the
offset applied (in dynashift.checkpoints), so running again reads only what is new. A file is
streamed line by line, never held whole; only a pretty-printed JSON document is parsed at once.
"""

from __future__ import annotations

import glob
import gzip
import io
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

import orjson

from ..decode import decode_change, expand
from ..planning.blocks import BlockBatch
from ..planning.engine import NativeLineDecoder, line_decoder, native_engine
from ..errors import BadRecordError, ConfigError, SourceError
from ..records import Change, Checkpoint, Rejected, SourceBatch

log = logging.getLogger("dynashift")
_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz", ".gz")
_SEP = "\x1f"  # sorts below every printable character, so "a" + SEP < "a.1" + SEP


@dataclass(slots=True)
class _File:
    name: str  # relative to the source root: the checkpoint's shard
    path: Path
    size: int


def path_from_uri(uri: str) -> str:
    if not uri.startswith("file://"):
        raise ConfigError(f"not a file URI: {uri!r} (use file://PATH)")
    rest = uri[len("file://"):]
    if not rest.strip():
        raise ConfigError("--source file:// needs a path: a file, a folder or a glob (e.g. file://changes/)")
    return rest


# Records per batch when the configuration sets none (docs/decisions.md, "Stream batch sizes"):
# plain JSON Lines the native engine reads hold a batch as Arrow columns (its records stay in the
# file), not Python objects, so a larger batch (fewer statements and commits per record) fits
# under the same peak RSS; a gzip file or a JSON document is decoded into Python objects, as by
# the Python engine, whose batches hold several times more per record.
NATIVE_BATCH_SIZE = 75_000
BATCH_SIZE = 50_000  # Config.batch_size's default


class FileSource:
    progress_unit = "bytes"  # what `pending` counts (sources.ProgressSource)

    def __init__(self, uri: str, *, default_table: str | None = None, batch_size: int | None = None,
                 batch_bytes: int = 256 << 20, ttl_ignore: bool = False, soft: bool = False, typed: bool = False):
        """`ttl_ignore` and `soft` say how the batches will be planned (TTL expiries ignored; soft
        deletes): the native engine keeps each key's newest change while reading, for that plan.
        `batch_size` None: chosen when a pass begins (`_batch_size_for`)."""
        self.uri = uri
        self.path = path_from_uri(uri)
        self.default_table = default_table
        self._batch_size = batch_size
        self.batch_size = batch_size or BATCH_SIZE
        self.batch_bytes = batch_bytes
        self._decoder = line_decoder(default_table)
        self._ttl_ignore, self._soft = ttl_ignore, soft
        self.typed = typed  # typed columns: the native reader renders each value's type too (planning/typed_native.py)

    # ------------------------------------------------------------ which files

    def files(self) -> list[_File]:
        root = Path(self.path).expanduser()
        if any(ch in self.path for ch in "*?["):
            paths = [Path(p) for p in glob.glob(os.path.expanduser(self.path), recursive=True)]
            base = Path(_glob_base(self.path)).expanduser()
            if not paths:
                raise ConfigError(f"source {self.uri}: the pattern matches no file")
        elif root.is_dir():
            paths = [p for p in root.rglob("*") if p.is_file() and p.name.endswith(_SUFFIXES)]
            base = root
        elif root.is_file():
            paths, base = [root], root.parent
        else:
            raise SourceError(f"source {self.uri}: {root} does not exist")
        found = [
            _File(p.relative_to(base).as_posix() if p.is_relative_to(base) else p.name, p, p.stat().st_size)
            for p in paths
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(base).parts)
        ]
        return sorted(found, key=lambda f: f.name)

    def pending(self, checkpoints: dict[str, Checkpoint]) -> int:
        """On-disk bytes still to read (for a progress bar)."""
        total = 0
        for f in self.files():
            cp = checkpoints.get(f.name)
            if cp is None or cp.size is None or cp.size != f.size:
                done = int(cp.position) if cp is not None and cp.size is None and not _is_gz(f.path) else 0
                total += max(f.size - done, 0)
        return total

    # ------------------------------------------------------------ reading

    def read(self, checkpoints: dict[str, Checkpoint]) -> Iterator[SourceBatch]:
        """Batches of at most `batch_size` records / `batch_bytes` bytes, cut only between lines,
        each carrying the checkpoint of the files it read."""
        native = native_engine() is not None and isinstance(self._decoder, NativeLineDecoder) and not self._soft
        self.batch_size = self._batch_size or self._batch_size_for(native, checkpoints)
        if native:
            from .files_native import NativeLines  # the same batches, kept and rendered natively

            yield from NativeLines(self, self._ttl_ignore).read(checkpoints)
            return
        batch = SourceBatch()
        for f in self.files():
            start = self._resume_offset(f, checkpoints.get(f.name))
            if start is None:
                continue
            last_end = start
            for item, line_start, end in self._records(f, start):
                full = batch.records_read >= self.batch_size or batch.bytes_read >= self.batch_bytes
                if full and line_start >= last_end:
                    batch.checkpoints.append(Checkpoint(self.uri, f.name, str(line_start), None))
                    yield batch
                    batch = SourceBatch()
                if isinstance(item, Change):
                    batch.changes.append(item)
                else:
                    batch.rejected.append(item)
                batch.records_read += 1
                if end > last_end:
                    batch.bytes_read += end - last_end
                    last_end = end
            batch.checkpoints.append(Checkpoint(self.uri, f.name, str(self._end), f.size))
        if batch.records_read or batch.checkpoints:
            yield batch

    def _batch_size_for(self, native: bool, checkpoints: dict[str, Checkpoint]) -> int:
        """The default batch size of this pass: the larger one when the native engine reads every
        file still to read as plain lines (a pass cuts the same batches whenever it is made again,
        `reader`, as long as the files are the same)."""
        if not native:
            return BATCH_SIZE
        for f in self.files():
            start = self._resume_offset(f, checkpoints.get(f.name))
            if start is not None and not self.plain_lines(f, start):
                return BATCH_SIZE
        return NATIVE_BATCH_SIZE

    def plain_lines(self, f: _File, start: int) -> bool:
        """Whether the native reader may read this file from `start`: plain JSON Lines (not gzip,
        not a document, no byte order mark)."""
        if _is_gz(f.path):
            return False
        if start:
            return True
        with _open(f.path) as fh:
            first = fh.readline()
        return not first.startswith(b"\xef\xbb\xbf") and _is_json_line(first)

    def reader(self) -> FileSource:
        """A new reader of the same files, sharing nothing with this one's reads (its end offset,
        its decoder's last version and attribute names met): what reads a refused batch again
        while this one is suspended mid-file, exactly as a new run would read it."""
        return FileSource(self.uri, default_table=self.default_table, batch_size=self.batch_size,  # as this pass cut
                          batch_bytes=self.batch_bytes, ttl_ignore=self._ttl_ignore, soft=self._soft,
                          typed=self.typed)

    def _resume_offset(self, f: _File, cp: Checkpoint | None) -> int | None:
        """Where to start reading a file; None when it was read to its end and has not changed."""
        if cp is None:
            return 0
        if cp.size is not None and cp.size == f.size:
            return None
        done = int(cp.position)
        if cp.size is not None and f.size < cp.size:
            return 0  # replaced by a shorter file: read it again (replays change nothing)
        if not _is_gz(f.path) and done > f.size:
            return 0
        return done

    def _records(self, f: _File, start: int) -> Iterator[tuple[Change | Rejected, int, int]]:
        """Every record of a file from `start` (an offset in its uncompressed bytes), each with
        the offset just past the line it came from."""
        self._end = start
        with _open(f.path) as fh:
            try:
                yield from self._read(f, fh, start)
            except (EOFError, OSError, zlib.error) as exc:  # a truncated or corrupt .gz
                # What could be read is applied; the rest is one rejected record, and the file
                # counts as read (a repaired copy, of another size, is read again from here).
                why = f"{f.name} cannot be read past uncompressed byte {self._end}: {exc}"
                log.warning("%s is truncated or corrupt (%s): what came before uncompressed byte %d was read, the"
                            " rest is one record in dynashift.rejected", f.path, exc, self._end,
                            extra={"fields": {"file": str(f.path)}})
                yield Rejected(why, b"", f"{f.name}:{self._end}"), self._end, self._end

    def _read(self, f: _File, fh: IO[bytes], start: int) -> Iterator[tuple[Change | Rejected, int, int]]:
        if start:
            _skip(fh, start)
        first = fh.readline()
        offset = start
        if start == 0 and first.startswith(b"\xef\xbb\xbf"):
            first = first[3:]
            offset = 3
        if start == 0 and not _is_json_line(first):
            rest = fh.read()
            yield from self._document(f, first + rest, offset + len(first) + len(rest))
            return
        lines = [first] if first else []
        prefix = f"{f.name}{_SEP}"
        chunks = _chunks(fh, _is_gz(f.path))
        while lines:
            i = 0
            while i < len(lines):
                # whole lines of plain records in bulk (the native engine), the rest one by one
                changes, stop = self._decoder.decode_lines(lines, i, prefix, offset)
                for change in changes:
                    end = offset + len(lines[i])
                    self._end = end
                    yield change, offset, end
                    offset = end
                    i += 1
                if i < len(lines):
                    end = offset + len(lines[i])
                    yield from self._line(f, lines[i], offset, end)
                    offset = end
                    i += 1
            lines = next(chunks, [])

    def _line(self, f: _File, line: bytes, offset: int, end: int) -> Iterator[tuple[Change | Rejected, int, int]]:
        body = line.strip()
        if not line.endswith(b"\n") and body and not _is_gz(f.path) and not _parses(body):
            return  # the last line, still being written: read whole once the file grows (_end stays before it)
        self._end = end
        if not body:
            return
        for i, item in enumerate(self._decoder.decode(body, f"{f.name}{_SEP}{offset:015d}{_SEP}")):
            if isinstance(item, BadRecordError):
                record = item.record
                raw = body if record is None else _dump(record)
                yield Rejected(item.reason, raw, f"{f.name}:{offset}" + (f"#{i}" if record is not None else "")), offset, end
            else:
                yield item, offset, end

    def _document(self, f: _File, data: bytes, end: int) -> Iterator[tuple[Change | Rejected, int, int]]:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            # Neither JSON Lines nor one document: JSON Lines whose first line is bad.
            yield from self._lines_of(f, data)
            return
        self._end = end
        yield from self._decode(f, obj, None, 0, end)

    def _lines_of(self, f: _File, data: bytes) -> Iterator[tuple[Change | Rejected, int, int]]:
        offset = 0
        for line in io.BytesIO(data):
            end = offset + len(line)
            yield from self._line(f, line, offset, end)
            offset = end

    def _decode(self, f: _File, obj, raw: bytes | None, offset: int, end: int) -> Iterator[tuple[Change | Rejected, int, int]]:
        base = f"{f.name}{_SEP}{offset:015d}{_SEP}"
        single = raw is not None and not (type(obj) is dict and "Records" in obj and "dynamodb" not in obj)
        for i, rec in expand(obj):
            seq = f"{base}{i:06d}"
            try:
                if isinstance(rec, BadRecordError):
                    raise rec
                change = decode_change(
                    rec, seq, default_table=self.default_table, fallback_version=self._decoder.last_version,
                    raw=raw if single else None,
                )
            except BadRecordError as exc:
                text = raw if single else _dump(rec)
                yield Rejected(exc.reason, text, f"{f.name}:{offset}#{i}"), offset, end
                continue
            self._decoder.last_version = change.version
            yield change, offset, end


def _chunks(fh: IO[bytes], gz: bool) -> Iterator[list[bytes]]:
    """The rest of a file as lists of lines (~1 MB each). A gzip member may end early: every line
    read before the error comes out before the error is raised."""
    while True:
        if not gz:
            lines = fh.readlines(1 << 20)
        else:
            lines, size = [], 0
            try:
                while size < 1 << 20:
                    line = fh.readline()
                    if not line:
                        break
                    lines.append(line)
                    size += len(line)
            except (EOFError, OSError, zlib.error):
                if lines:
                    yield lines
                raise
        if not lines:
            return
        yield lines


def _dump(rec) -> bytes:
    try:
        return orjson.dumps(rec)
    except TypeError:
        return repr(rec).encode()


def _parses(body: bytes) -> bool:
    try:
        orjson.loads(body)
        return True
    except orjson.JSONDecodeError:
        return False


def _is_json_line(line: bytes) -> bool:
    body = line.strip()
    if not body:
        return True
    try:
        orjson.loads(body)
        return True
    except orjson.JSONDecodeError:
        return not body.startswith((b"{", b"["))  # a bad line, not the start of a document


def _is_gz(path: Path) -> bool:
    return path.name.endswith(".gz")


def _open(path: Path) -> IO[bytes]:
    try:
        if _is_gz(path):
            return gzip.open(path, "rb")
        return open(path, "rb", buffering=1 << 20)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror}") from None


def _skip(fh: IO[bytes], offset: int) -> None:
    if isinstance(fh, gzip.GzipFile):
        remaining = offset
        while remaining:
            chunk = fh.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
    else:
        fh.seek(offset)


def _glob_base(pattern: str) -> str:
    parts = Path(pattern).parts
    base = []
    for part in parts:
        if any(ch in part for ch in "*?["):
            break
        base.append(part)
    return str(Path(*base)) if base else "."
