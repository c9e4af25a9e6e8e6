"""A full load by parallel Scan (`dynashift backfill --table T --scan`), gentle on production.

Segments are read by one thread each; a token bucket shared by all of them holds the read rate to
`scan_rate` read capacity units per second (each page's ConsumedCapacity is paid for; a page is
sized so one call costs about half a second of a segment's share), so the table's own traffic is
not throttled. Pages pass through a bounded queue: memory stays a few pages per segment.

Version (docs/reference.md §4, docs/full-load.md): every item is an INSERT at the scan's start, floored
to the second and taken from the earlier of this machine's clock and DynamoDB's (the `Date` of the
DescribeTable answer), less one second: DynamoDB Streams round their times down to the second, so
a write made during the scan must carry a version at least the scan's. `seq` is "": a stream
change at the same version wins. Lowering the version is always safe: a stream change that wins
over a scanned item is followed, in the stream, by every later change of its key.

Checkpoints: one per segment (`segment-N`), holding the scan's start, its segment count and the
last key read (`LastEvaluatedKey`), or `done`. An interrupted backfill continues each segment
after its last committed page, with the original start as version; `--restart` begins a new scan.
ref: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Scan.html#Scan.ParallelScan
"""

from __future__ import annotations

import base64
import queue
import threading
import time
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Iterator

import orjson

from .. import aws
from ..config import Config
from ..decode import dist_key
from ..errors import BadRecordError
from ..records import INSERT, Change, Checkpoint, Rejected, SourceBatch
from .native_items import lazy_images

_SECOND = 1_000_000
_MARGIN_US = _SECOND  # clocks of this machine and of DynamoDB Streams may differ a little
_PAGE_ITEMS = 1000  # DynamoDB also stops a page at 1 MB


class RateLimiter:
    """A token bucket in capacity units per second, shared by the segment readers. A reader takes
    its estimate before a call and settles the difference after; the debt is slept off, so the
    long-run rate never exceeds `rate` (bursts up to one second's worth)."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.tokens = rate or 0.0
        self.last = clock()
        self.lock = threading.Lock()

    def take(self, units: float) -> None:
        if not self.rate:
            return
        with self.lock:
            now = self.clock()
            self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate) - units
            self.last = now
            wait = -self.tokens / self.rate if self.tokens < 0 else 0.0
        if wait:
            self.sleep(wait)

    def settle(self, units: float) -> None:
        """Pay (or get back) the difference between a call's estimate and its real cost."""
        if self.rate:
            with self.lock:
                self.tokens -= units


# ---------------------------------------------------------------- positions as checkpoint text


def _key_json(key: dict[str, Any]) -> dict[str, Any]:
    return {k: ({"B": base64.b64encode(v["B"]).decode()} if isinstance(v.get("B"), (bytes, bytearray)) else v)
            for k, v in key.items()}


def _key_wire(key: dict[str, Any]) -> dict[str, Any]:
    return {k: ({"B": base64.b64decode(v["B"])} if "B" in v else v) for k, v in key.items()}


def _b64(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(type(value).__name__)


class ScanSource:
    """Items of one table by parallel Scan, as INSERT changes at the scan's start."""
    progress_unit = "items"  # what `pending` counts (sources.ProgressSource)


    def __init__(self, table: str, config: Config, *, client: Any = None, segments: int | None = None,
                 rate: float | None = None, consistent: bool = False, restart: bool = False,
                 page_items: int = _PAGE_ITEMS):
        self.table = table
        self.uri = f"scan://{table}"
        self.client = client or aws.client(config, "dynamodb")
        self.segments = segments or config.scan_segments
        self.rate = rate if rate is not None else config.scan_rate
        self.consistent, self.restart, self.page_items = consistent, restart, page_items
        self.batch_size, self.batch_bytes = config.batch_size, config.batch_bytes
        out = aws.call(self.client.describe_table, f"DynamoDB DescribeTable {table}", TableName=table)
        desc = out["Table"]
        self.key_names = [k["AttributeName"] for k in sorted(desc["KeySchema"], key=lambda k: k["KeyType"] != "HASH")]
        self.item_count = int(desc.get("ItemCount") or 0)  # DynamoDB updates it every six hours or so
        self._server_us = _date_us(out.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date"))
        self.limiter = RateLimiter(self.rate)
        self._lazy = lazy_images()
        self.started_us: int | None = None  # the version of this load, once read() has begun

    # ------------------------------------------------------------ where each segment stands

    def scan_start(self) -> int:
        local = time.time_ns() // 1000
        now = min(local, self._server_us) if self._server_us else local
        return now - now % _SECOND - _MARGIN_US

    def plan(self, checkpoints: dict[str, Checkpoint]) -> tuple[int, int, dict[int, dict[str, Any] | None]]:
        """(start µs, segment count, segment -> key to continue after) for the segments still to
        read: those of the newest scan the checkpoints hold, else of a new one."""
        positions = [] if self.restart else [orjson.loads(cp.position) for s, cp in checkpoints.items()
                                             if s.startswith("segment-")]
        if not positions:
            return self.scan_start(), self.segments, {i: None for i in range(self.segments)}
        start = max(p["start_us"] for p in positions)
        current = {int(s.split("-", 1)[1]): orjson.loads(cp.position) for s, cp in checkpoints.items()
                   if s.startswith("segment-") and orjson.loads(cp.position)["start_us"] == start}
        total = next(iter(current.values()))["of"]
        todo: dict[int, dict[str, Any] | None] = {}
        for i in range(total):
            p = current.get(i)
            if p is None:
                todo[i] = None
            elif not p.get("done"):
                todo[i] = _key_wire(p["after"])
        return start, total, todo

    def pending(self, checkpoints: dict[str, Checkpoint]) -> int:
        """Roughly (ItemCount is approximate): the share of segments not finished."""
        _, total, todo = self.plan(checkpoints)
        return self.item_count * len(todo) // max(total, 1)

    # ------------------------------------------------------------ reading

    def read(self, checkpoints: dict[str, Checkpoint]) -> Iterator[SourceBatch]:
        start, total, todo = self.plan(checkpoints)
        self.started_us = start
        if not todo:
            return
        pages: queue.Queue = queue.Queue(maxsize=2 * len(todo))
        stop = threading.Event()
        threads = [threading.Thread(target=self._segment, args=(i, total, key, pages, stop), daemon=True,
                                    name=f"scan-{self.table}-{i}") for i, key in todo.items()]
        for t in threads:
            t.start()
        try:
            yield from self._batches(pages, len(threads), start, total)
        finally:
            stop.set()
            while any(t.is_alive() for t in threads):
                _drain(pages)
                for t in threads:
                    t.join(timeout=0.05)

    def _batches(self, pages: queue.Queue, running: int, start: int, total: int) -> Iterator[SourceBatch]:
        batch, touched = SourceBatch(), {}
        self._lazy = lazy_images()  # the native engine renders the items from one orjson dump each
        while running:
            msg = pages.get()
            if isinstance(msg, BaseException):
                raise msg
            segment, items, after, size = msg
            batch.changes.extend(self._change(item, start) for item in items)
            batch.records_read += len(items)
            batch.bytes_read += size
            done = after is None
            running -= done
            touched[segment] = {"start_us": start, "of": total, **({"done": True} if done else {"after": _key_json(after)})}
            if batch.records_read >= self.batch_size or batch.bytes_read >= self.batch_bytes or not running:
                batch.checkpoints = [Checkpoint(self.uri, f"segment-{s}", orjson.dumps(p).decode())
                                     for s, p in sorted(touched.items())]
                yield _split_rejected(batch)
                batch, touched = SourceBatch(), {}

    def _change(self, item: dict[str, Any], start: int) -> Change | Rejected:
        try:
            keys = {k: item[k] for k in self.key_names}
            return self._lazy(Change(self.table, INSERT, keys, item, start, "", dist_key(keys)))
        except (KeyError, BadRecordError) as exc:
            reason = exc.reason if isinstance(exc, BadRecordError) else f"item has no key attribute {exc.args[0]!r}"
            return Rejected(reason, orjson.dumps(item, default=_b64), f"{self.uri}")

    def _segment(self, segment: int, total: int, after: dict[str, Any] | None, pages: queue.Queue,
                 stop: threading.Event) -> None:
        """One segment's pages, in order, into the queue (or the error that ended it)."""
        per_item = None
        try:
            while not stop.is_set():
                limit = self._limit(per_item, total)
                estimate = (per_item or 0.5) * limit if per_item else 0.5
                self.limiter.take(estimate)
                params: dict[str, Any] = {"TableName": self.table, "Segment": segment, "TotalSegments": total,
                                          "Limit": limit, "ReturnConsumedCapacity": "TOTAL",
                                          "ConsistentRead": self.consistent}
                if after:
                    params["ExclusiveStartKey"] = after
                out = aws.call(self.client.scan, f"DynamoDB Scan {self.table} segment {segment}", **params)
                items = out.get("Items", [])
                used = float((out.get("ConsumedCapacity") or {}).get("CapacityUnits") or 0.5)
                self.limiter.settle(used - estimate)
                if items:
                    per_item = used / len(items)
                after = out.get("LastEvaluatedKey")
                size = len(orjson.dumps(items, default=_b64))
                while not stop.is_set():
                    try:
                        pages.put((segment, items, after, size), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if after is None:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread, which raises it
            pages.put(exc)

    def _limit(self, per_item: float | None, total: int) -> int:
        """Items per call: with a rate, about half a second of this segment's share."""
        if not self.rate:
            return self.page_items
        if per_item is None:
            return min(self.page_items, 25)
        return max(1, min(self.page_items, int(self.rate / total / 2 / per_item)))


def _split_rejected(batch: SourceBatch) -> SourceBatch:
    rejected = [c for c in batch.changes if isinstance(c, Rejected)]
    if rejected:
        batch.changes = [c for c in batch.changes if not isinstance(c, Rejected)]
        batch.rejected.extend(rejected)
    return batch


def _drain(pages: queue.Queue) -> None:
    try:
        while True:
            pages.get_nowait()
    except queue.Empty:
        pass


def _date_us(header: Any) -> int | None:
    """An HTTP `Date` header (second precision) -> epoch µs; None when absent or unreadable."""
    if not isinstance(header, str):
        return None
    try:
        return int(parsedate_to_datetime(header).timestamp()) * _SECOND
    except (TypeError, ValueError):
        return None


__all__ = ["RateLimiter", "ScanSource"]
