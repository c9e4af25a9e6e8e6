"""`export://PATH` or `export://s3://BUCKET/PREFIX`: a DynamoDB export to S3 as a full load.

Reads the export's `manifest-summary.json` and `manifest-files.json`, then its gzip data files in
DynamoDB JSON, line by line (memory stays bounded whatever the table size), from S3 through boto3
or from a local copy that keeps the layout (`…/AWSDynamoDB/<export id>/…`). PATH may be one export
or a folder holding several (a full export and the incremental ones after it): all are loaded.

Versions (docs/reference.md §4, docs/full-load.md): a full export's items are INSERTs at the export's
point in time, an incremental export's rows at their own write time, both floored to the second,
because DynamoDB Streams round their times down to the second: a stream change made just after
the export must still win. A stream change within that second wins too, which is harmless: the
stream then holds every later change of that key as well. `seq` "" (full) and "\\x00" plus the
incremental export's end (incremental) sort below every stream's seq, so at equal versions the
stream wins, and a later incremental export wins over an earlier one.

Checkpoints: one per data file (its manifest key): the lines applied, then `done`. A load
interrupted anywhere continues from there; items already applied are merged again at most once
(a replay changes nothing) and never overwrite a newer stream change or tombstone.
ref: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Iterable, Iterator
from urllib.parse import parse_qs

import orjson
import simdjson

from .. import aws
from ..config import Config
from ..decode import dist_key, parse_time, table_from_arn
from ..errors import BadRecordError, ConfigError, SourceError
from ..planning.engine import export_keys_reader
from ..records import INSERT, LAZY, REMOVE, Change, Checkpoint, Rejected, SourceBatch
from .export_native import NativeLoad, native_loads
from .native_items import lazy_images

SUMMARY = "manifest-summary.json"
FILES = "manifest-files.json"
DONE = "done"
FULL_SEQ = ""
INCREMENTAL_SEQ = "\x00"
_SECOND = 1_000_000


def floor_second(us: int) -> int:
    return us - us % _SECOND


def iso_micros(text: Any) -> int | None:
    """`2020-11-04T07:28:34.028Z` (the manifests' times) -> epoch microseconds."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_time(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (ValueError, BadRecordError):
        raise SourceError(f"export manifest: {text!r} is not a time") from None


# ---------------------------------------------------------------- where the files are


class LocalStore:
    """A local copy of an export (or a folder of exports). Keys are paths relative to `root`."""

    def __init__(self, root: str):
        self.root = Path(root).expanduser()
        if not self.root.exists():
            raise SourceError(f"export folder {self.root} does not exist")

    def find(self, name: str) -> list[str]:
        if (self.root / name).is_file():
            return [name]
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob(name) if p.is_file())

    def read(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read {self.root / key}: {exc.strerror}") from None

    def open(self, key: str) -> IO[bytes]:
        try:
            return open(self.root / key, "rb", buffering=1 << 20)
        except OSError as exc:
            raise SourceError(f"cannot read {self.root / key}: {exc.strerror}") from None

    local = True  # a data file whose key does not name the export is looked for in its data/


class S3Store:
    """An export in S3: `prefix` is the export's folder or any folder above it."""

    def __init__(self, client: Any, bucket: str, prefix: str):
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")

    def find(self, name: str) -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        keys: list[str] = []
        token: dict[str, Any] = {}
        while True:
            out = aws.call(self.client.list_objects_v2, f"S3 ListObjectsV2 s3://{self.bucket}/{base}",
                           Bucket=self.bucket, Prefix=base, **token)
            keys += [o["Key"] for o in out.get("Contents", []) if o["Key"].rsplit("/", 1)[-1] == name]
            if not out.get("IsTruncated"):
                return sorted(keys)
            token = {"ContinuationToken": out["NextContinuationToken"]}

    def read(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def open(self, key: str) -> IO[bytes]:
        out = aws.call(self.client.get_object, f"S3 GetObject s3://{self.bucket}/{key}", Bucket=self.bucket, Key=key)
        return io.BufferedReader(_Body(out["Body"], f"S3 GetObject s3://{self.bucket}/{key}"), 1 << 20)

    local = False


class _Body(io.RawIOBase):
    """An S3 object's streaming body whose read errors are mapped at the boundary (aws.py)."""

    def __init__(self, body: Any, what: str):
        self.body, self.what = body, what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        import botocore.exceptions as bx

        try:
            data = self.body.read(len(buffer))
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise aws.map_error(exc, self.what) from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.body.close()
        super().close()


# ---------------------------------------------------------------- the manifests


def locate(store: Any, root: str, data_key: str, export_id: str) -> str:
    """Where a manifest's `dataFileS3Key` is, relative to the export's own folder: the same
    layout in the bucket or in a local copy (the key itself names the bucket's prefix)."""
    if export_id and f"{export_id}/" in data_key:
        rel = data_key.split(f"{export_id}/", 1)[1]
    elif store.local:
        rel = f"data/{data_key.rsplit('/', 1)[-1]}"
    else:
        return data_key
    return f"{root}/{rel}" if root else rel


@dataclass(slots=True)
class DataFile:
    key: str  # dataFileS3Key as the manifest names it: the checkpoint's shard
    location: str  # where the store finds it
    items: int


@dataclass(slots=True)
class Export:
    export_id: str
    table: str
    incremental: bool
    version: int  # full exports: the export time, floored to the second
    seq: str
    time_us: int  # the export's point in time (full) or the end of its window (incremental)
    files: list[DataFile] = field(default_factory=list)

    @property
    def items(self) -> int:
        return sum(f.items for f in self.files)


def read_export(store: Any, summary_key: str, table: str | None = None) -> Export:
    """One export from its summary manifest and its files manifest."""
    root = summary_key.rsplit("/", 1)[0] if "/" in summary_key else ""
    try:
        summary = orjson.loads(store.read(summary_key))
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"{summary_key}: not JSON ({exc})") from None
    fmt = summary.get("outputFormat", "DYNAMODB_JSON")
    if fmt != "DYNAMODB_JSON":
        raise SourceError(f"{summary_key}: output format {fmt} is not supported; export in DYNAMODB_JSON")
    name = table or table_from_arn(summary.get("tableArn"))
    if not name:
        raise SourceError(f"{summary_key}: no tableArn; name the table with export://…?table=NAME")
    incremental = summary.get("exportType") == "INCREMENTAL_EXPORT"
    at = iso_micros(summary.get("exportToTime") if incremental else summary.get("exportTime") or summary.get("startTime"))
    if at is None:
        raise SourceError(f"{summary_key}: no export time in the manifest")
    export_id = root.rsplit("/", 1)[-1] if root else str(summary.get("exportArn", "")).rsplit("/", 1)[-1]
    seq = INCREMENTAL_SEQ + f"{at:020d}" if incremental else FULL_SEQ
    export = Export(export_id, name, incremental, floor_second(at), seq, at)
    files_key = f"{root}/{FILES}" if root else FILES
    for n, line in enumerate(store.read(files_key).splitlines()):
        if not line.strip():
            continue
        try:
            entry = orjson.loads(line)
            key = entry["dataFileS3Key"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise SourceError(f"{files_key} line {n + 1}: not a files-manifest entry") from None
        export.files.append(DataFile(key, locate(store, root, key, export_id), int(entry.get("itemCount") or 0)))
    return export


# ---------------------------------------------------------------- the source


class ExportSource:
    progress_unit = "items"  # what `pending` counts (sources.ProgressSource)

    def __init__(self, uri: str, config: Config, *, client: Any = None, keys: list[str] | None = None):
        location, _, query = uri[len("export://"):].partition("?")
        self.uri = f"export://{location}"  # the checkpoints' source: options do not change what is loaded
        self.config = config
        self.batch_size = config.load_batch_size  # (Config.load_batch_size: why not batch_size)
        self.batch_bytes = config.batch_bytes
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        self._keys: dict[str, list[str]] = {}
        self._key_names = keys or [k for k in params.get("keys", "").split(",") if k] or None
        self._table = params.get("table")
        if location.startswith("s3://"):
            bucket, _, prefix = location[len("s3://"):].partition("/")
            if not bucket:
                raise ConfigError(f"no bucket in {uri!r}: use export://s3://BUCKET/PREFIX")
            self.store: Any = S3Store(client or aws.client(config, "s3"), bucket, prefix)
        elif location:
            self.store = LocalStore(location)
        else:
            raise ConfigError(f"no export in {uri!r}: use export://PATH or export://s3://BUCKET/PREFIX")
        self._exports: list[Export] | None = None
        self._made = (uri, self.store.client if isinstance(self.store, S3Store) else None, keys)

    def reader(self) -> ExportSource:
        """A new reader of the same export sharing no read state with this one (sources.RereadableSource):
        the pipeline reads a refused batch again from its checkpoints, so a batch in flight holds
        none of its lines (a full batch's JSON, ~1 KB an item) through its commit."""
        uri, client, keys = self._made
        again = ExportSource(uri, self.config, client=client, keys=keys)
        again._exports, again._keys = self._exports, dict(self._keys)  # the manifests, read once
        return again

    def exports(self) -> list[Export]:
        """Full exports first (by time), then incremental ones by the end of their window."""
        if self._exports is None:
            found = [read_export(self.store, key, self._table) for key in self.store.find(SUMMARY)]
            if not found:
                raise SourceError(f"{self.uri}: no DynamoDB export there (no {SUMMARY})")
            self._exports = sorted(found, key=lambda e: (e.incremental, e.time_us))
        return self._exports

    def pending(self, checkpoints: dict[str, Checkpoint]) -> int:
        """Items still to load (for a progress bar and its ETA)."""
        total = 0
        for export in self.exports():
            for f in export.files:
                cp = checkpoints.get(f.key)
                if cp is None or cp.position != DONE:
                    total += max(f.items - (int(cp.position) if cp else 0), 0)
        return total

    def read(self, checkpoints: dict[str, Checkpoint]) -> Iterator[SourceBatch]:
        """Batches cut between lines, each with the checkpoint of every file it read from. With the
        native engine a full export's lines are read, keyed and rendered natively (export_native.py)."""
        load = NativeLoad(self.uri, self.batch_size, self.batch_bytes) if native_loads() else None
        batch = SourceBatch() if load is None else load.batch
        for export in self.exports():
            for f in export.files:
                cp = checkpoints.get(f.key)
                if cp is not None and cp.position == DONE:
                    continue
                decode = self._decoder(export)
                done = int(cp.position) if cp is not None else 0
                if load is not None and not export.incremental:
                    with self.store.open(f.location) as raw:
                        yield from load.full_file(raw, f.location.endswith(".gz"), f.key, done, export.table,
                                                  self.key_names(export.table), export.version, decode,
                                                  lambda location=f.location: self.store.open(location))
                    batch = load.batch
                    continue
                for line in self._lines(f, done):
                    if batch.records_read >= self.batch_size or batch.bytes_read >= self.batch_bytes:
                        batch.checkpoints.append(Checkpoint(self.uri, f.key, str(done)))
                        yield batch if load is None else load.cut()
                        batch = SourceBatch() if load is None else load.batch
                    done += 1
                    batch.bytes_read += len(line) + 1
                    if not line.strip():
                        continue
                    batch.records_read += 1
                    item = decode(line, f"{f.key}:{done}")
                    (batch.changes if isinstance(item, Change) else batch.rejected).append(item)
                batch.checkpoints.append(Checkpoint(self.uri, f.key, DONE, done))
        if batch.records_read or batch.checkpoints:
            yield batch if load is None else load.cut()

    def _lines(self, f: DataFile, skip: int) -> Iterator[bytes]:
        with self.store.open(f.location) as raw:
            fh: IO[bytes] = gzip.GzipFile(fileobj=raw) if f.location.endswith(".gz") else raw
            try:
                for n, line in enumerate(fh):
                    if n >= skip:
                        yield line.rstrip(b"\r\n")
            except (EOFError, OSError) as exc:  # a truncated or corrupt gzip member
                raise SourceError(f"{self.uri}: data file {f.key} is damaged ({exc})") from None

    def _decoder(self, export: Export):
        if export.incremental:  # with the native engine, its changes are rendered natively (native_items.py)
            lazy = lazy_images()
            return lambda line, where: lazy(c) if isinstance(c := _incremental(line, export, where), Change) else c
        return _FullDecoder(export, self.key_names(export.table))

    def key_names(self, table: str) -> list[str]:
        """The table's key attributes: export lines carry the item only. From `?keys=` or the
        table itself (DescribeTable, in the region of the export's table ARN)."""
        if self._key_names:
            return self._key_names
        if table not in self._keys:
            self._keys[table] = describe_keys(self.config, table)
        return self._keys[table]


def describe_keys(config: Config, table: str) -> list[str]:
    client = aws.client(config, "dynamodb")
    try:
        desc = aws.call(client.describe_table, f"DynamoDB DescribeTable {table}", TableName=table)["Table"]
    except (aws.AwsError, ConfigError) as exc:
        raise ConfigError(f"the export does not name its key attributes and reading them from table {table} "
                          f"failed ({exc}): name them with export://…?keys=pk,sk") from None
    return [k["AttributeName"] for k in sorted(desc["KeySchema"], key=lambda k: k["KeyType"] != "HASH")]


class _FullDecoder:
    """`{"Item": {...}}` -> an INSERT at the export's point in time.

    Only the keys are read (simdjson); the item stays in the line (`LAZY`) until planning renders
    it, so a batch holds ~1 KB per item rather than ~12 KB of parsed typed JSON. A line of any
    other shape takes the general orjson path with the same result."""

    _PREFIX = b'{"Item":'

    def __init__(self, export: Export, key_names: list[str]):
        self.export, self.key_names = export, key_names
        self._parser = simdjson.Parser()
        self._native = export_keys_reader()  # the native engine's reader, when it runs

    def __call__(self, line: bytes, where: str) -> Change | Rejected:
        found = self._native(line, self.key_names) if self._native is not None else None
        if found is not None:
            change = Change(self.export.table, INSERT, found[0], LAZY, self.export.version, self.export.seq, found[1])
            change.raw = b'{"dynamodb":{"NewImage":' + line[len(self._PREFIX):-1] + b"}}"
            return change
        try:
            keys = self._lazy_keys(line)
        except (ValueError, RuntimeError, KeyError, TypeError, AttributeError):  # (a key that is no object)
            return self._eager(line, where)
        try:
            change = Change(self.export.table, INSERT, keys, LAZY, self.export.version, self.export.seq, dist_key(keys))
        except BadRecordError as exc:
            return Rejected(exc.reason, line, where)
        change.raw = b'{"dynamodb":{"NewImage":' + line[len(self._PREFIX):-1] + b"}}"  # what image_of reads
        return change

    def _lazy_keys(self, line: bytes) -> dict[str, Any]:
        if not (line.startswith(self._PREFIX) and line.endswith(b"}")):
            raise ValueError("not the canonical shape")
        doc = self._parser.parse(line)  # validates the whole line
        try:
            if len(doc) != 1:
                raise ValueError("more than the item")
            item = doc["Item"]
            if not isinstance(item, simdjson.Object):
                raise ValueError("no item")
            return {k: item[k].as_dict() for k in self.key_names}
        finally:
            doc = item = None  # simdjson refuses to parse again while proxies are alive

    def _eager(self, line: bytes, where: str) -> Change | Rejected:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            return Rejected(f"not JSON: {exc}", line, where)
        item = obj.get("Item") if type(obj) is dict else None
        if type(item) is not dict:
            return Rejected("not a DynamoDB export line: no `Item` object", line, where)
        try:
            keys = {k: item[k] for k in self.key_names}
        except KeyError as exc:
            return Rejected(f"item has no key attribute {exc.args[0]!r}", line, where)
        try:
            return Change(self.export.table, INSERT, keys, item, self.export.version, self.export.seq, dist_key(keys))
        except BadRecordError as exc:
            return Rejected(exc.reason, line, where)


def _incremental(line: bytes, export: Export, where: str) -> Change | Rejected:
    """`{"Metadata": {"WriteTimestampMicros": …}, "Keys", "NewImage"?, "OldImage"?}` -> the item's
    state at the end of the window (no NewImage: deleted), at its write time floored to the second."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return Rejected(f"not JSON: {exc}", line, where)
    try:
        if type(obj) is not dict or type(obj.get("Keys")) is not dict:
            raise BadRecordError("not an incremental export line: no `Keys` object")
        stamp = (obj.get("Metadata") or {}).get("WriteTimestampMicros")
        stamp = stamp.get("N") if type(stamp) is dict else stamp  # seen both typed and bare
        written = parse_time(stamp, "MICROSECOND")
        if written is None:
            raise BadRecordError("incremental export line without Metadata.WriteTimestampMicros")
        new, old = obj.get("NewImage"), obj.get("OldImage")
        op = INSERT if type(new) is dict else REMOVE
        keys = obj["Keys"]
        return Change(export.table, op, keys, new if op == INSERT else None, floor_second(written), export.seq,
                      dist_key(keys), old_image=old if op == REMOVE and type(old) is dict else None)
    except BadRecordError as exc:
        return Rejected(exc.reason, line, where)


def make(uri: str, config: Config) -> ExportSource:
    return ExportSource(uri, config)


# ---------------------------------------------------------------- writing one (tests, benchmarks, demos)


def write_export(folder: str | Path, *, table_arn: str, export_time: datetime, files: Iterable[Iterable[dict]],
                 export_from: datetime | None = None, s3_prefix: str = "", level: int = 1) -> Path:
    """Write an export with the real layout: `<folder>/AWSDynamoDB/<id>/manifest-summary.json`,
    `manifest-files.json` and `data/*.json.gz`. `files` holds each data file's lines as objects
    (`{"Item": …}`, or incremental rows when `export_from` is given). Returns the export folder."""
    millis = int(export_time.timestamp() * 1000)
    export_id = f"{millis:014d}-{uuid.uuid4().hex[:8]}"
    base = f"{s3_prefix.strip('/')}/AWSDynamoDB/{export_id}" if s3_prefix.strip("/") else f"AWSDynamoDB/{export_id}"
    root = Path(folder) / "AWSDynamoDB" / export_id
    (root / "data").mkdir(parents=True)
    manifest, total = [], 0
    for lines in files:
        name = f"{uuid.uuid4().hex[:26]}.json.gz"
        count = 0
        with gzip.open(root / "data" / name, "wb", compresslevel=level) as fh:
            for obj in lines:
                fh.write(orjson.dumps(obj) + b"\n")
                count += 1
        digest = hashlib.md5((root / "data" / name).read_bytes()).digest()
        manifest.append({"itemCount": count, "md5Checksum": base64.b64encode(digest).decode(), "etag": digest.hex(),
                         "dataFileS3Key": f"{base}/data/{name}"})
        total += count
    (root / FILES).write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in manifest))
    (root / SUMMARY).write_bytes(orjson.dumps(_summary(table_arn, export_id, export_time, export_from, base, total),
                                              option=orjson.OPT_INDENT_2))
    (root / "_started").write_bytes(b"")
    return root


def _summary(table_arn: str, export_id: str, at: datetime, since: datetime | None, base: str, total: int) -> dict:
    def iso(t: datetime) -> str:
        return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"

    summary = {"version": "2020-06-30", "exportArn": f"{table_arn}/export/{export_id}", "startTime": iso(at),
               "endTime": iso(at), "tableArn": table_arn, "tableId": str(uuid.uuid4()), "exportTime": iso(at),
               "s3Bucket": "local", "s3Prefix": base.split("/AWSDynamoDB/")[0] if "/AWSDynamoDB/" in base else None,
               "s3SseAlgorithm": "AES256", "s3SseKmsKeyId": None, "manifestFilesS3Key": f"{base}/{FILES}",
               "billedSizeBytes": 0, "itemCount": total, "outputFormat": "DYNAMODB_JSON", "exportType": "FULL_EXPORT"}
    if since is not None:
        del summary["exportTime"]
        summary.update({"version": "2023-08-01", "exportFromTime": iso(since), "exportToTime": iso(at),
                        "outputView": "NEW_AND_OLD_IMAGES", "exportType": "INCREMENTAL_EXPORT"})
    return summary


__all__ = ["DONE", "ExportSource", "floor_second", "make", "read_export", "write_export"]
