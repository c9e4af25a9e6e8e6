"""One shard's reader thread, and the plain types the stream engine (shards.py) and the service
modules (kinesis.py, dynamodb_streams.py) share: a shard, a page of records, where a reader starts,
and the service API a source speaks.

A reader reads one shard from its start until its end (or, in --once mode, its tip), page by
page, at most `min_interval` apart, and hands each page, decoded, to the batch builder through a
bounded queue (back-pressure). It stops when the run halts or its own shard is dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ..aws import ExpiredIterator, Throttled, Unavailable
from ..records import Change, Rejected

log = logging.getLogger("dynashift")

OUTAGE_PAUSE_S = 10  # continuous mode: pause after retries ran out, then go on


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class ShardInfo:
    id: str
    parents: tuple[str, ...] = ()
    ending: str | None = None  # EndingSequenceNumber: set once the shard is closed


@dataclass(slots=True)
class Page:
    records: list[Any]
    next_iterator: str | None
    millis_behind: int | None  # None: the service does not say (DynamoDB Streams)


@dataclass(slots=True)
class Start:
    """Where a shard reader begins: a ShardIteratorType and its argument."""

    kind: str  # TRIM_HORIZON | LATEST | AT_TIMESTAMP | AFTER_SEQUENCE_NUMBER
    seq: str = ""
    at_ms: int | None = None


class StreamApi(Protocol):
    """What a service module provides. Implementations map their errors through aws.call."""

    min_interval: float  # seconds between GetRecords calls on one shard
    timestamps: bool  # AT_TIMESTAMP iterators exist (Kinesis), so LATEST can be resumed exactly
    empty_pages_at_tip: int  # without MillisBehindLatest: consecutive empty pages taken as the tip

    def list_shards(self) -> list[ShardInfo]: ...
    def retention_ms(self) -> int: ...
    def iterator(self, shard: str, start: Start) -> str: ...
    def get_records(self, iterator: str) -> Page: ...
    def decoder(self) -> Callable[[Any], tuple[str, list[Change | Rejected], int]]:
        """A decoder for one shard's records, in order: record -> (sequence number, its changes or
        rejects, its size in bytes). Stateful (a record without a time takes the previous one's)."""
    def record_time_ms(self, record: Any) -> int | None: ...
    def still_holds(self, shard: str, seq: str) -> bool:
        """Whether the record `seq` is still in the shard (not yet past the trim horizon)."""


@dataclass(slots=True)
class Chunk:
    """One page of one shard, decoded, on its way from a reader to the batch builder."""

    shard: str
    items: list[tuple[str, list[Change | Rejected], int]] = field(default_factory=list)
    tip_ms: int | None = None  # the page reached the shard's tip at this time
    lag_ms: int | None = None
    finished: bool = False  # the shard is closed and this was its last page
    done: bool = False  # the reader stops here (finished, or at the tip in --once mode)
    error: BaseException | None = None
    reader: Any = None  # the _Reader that read it


class Reader(threading.Thread):
    """Reads one shard from `start` until its end (or, in --once mode, its tip), page by page."""

    def __init__(self, api: StreamApi, shard: ShardInfo, start: Start, last_seq: str, out: queue.Queue,
                 halt: threading.Event, follow: bool, poll: float):
        super().__init__(name=f"dynashift-{shard.id}", daemon=True)
        self.api, self.shard, self.start_at, self.last_seq = api, shard, start, last_seq
        self.out, self.halt, self.follow, self.poll = out, halt, follow, poll
        self.stop = threading.Event()  # this shard only (its lease was lost)
        self.empty_pages = 0
        self.decode = api.decoder()

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - handed to the batch builder, raised there
            self._put(Chunk(self.shard.id, error=exc, done=True))

    def _loop(self) -> None:
        iterator: str | None = self.api.iterator(self.shard.id, self.start_at)
        if self.start_at.kind == "LATEST" and self.api.timestamps:
            self.start_at = Start("AT_TIMESTAMP", at_ms=now_ms() - 1000)  # for renewals before a first record
        last_call = 0.0
        while iterator is not None and not self.halt.is_set() and not self.stop.is_set():
            wait = self.api.min_interval - (time.monotonic() - last_call)
            if wait > 0:
                time.sleep(wait)
            asked_ms, last_call = now_ms(), time.monotonic()
            try:
                page = self.api.get_records(iterator)
            except ExpiredIterator:
                iterator = self._renew()
                continue
            except (Throttled, Unavailable) as exc:
                if not self.follow:
                    raise
                log.warning("%s; trying again in %ss", exc, OUTAGE_PAUSE_S)  # a long run outlives outages
                self.stop.wait(OUTAGE_PAUSE_S)
                continue
            chunk = self._chunk(page, asked_ms)
            self._put(chunk)
            if chunk.done:
                return
            iterator = page.next_iterator
            if chunk.tip_ms is not None:
                self.stop.wait(self.poll)

    def _chunk(self, page: Page, asked_ms: int) -> Chunk:
        chunk = Chunk(self.shard.id)
        for record in page.records:
            seq, decoded, size = self.decode(record)
            chunk.items.append((seq, decoded, size))
            self.last_seq = seq
        self.empty_pages = 0 if page.records else self.empty_pages + 1
        ending = self.shard.ending
        chunk.finished = page.next_iterator is None or bool(
            ending and self.last_seq and int(self.last_seq) >= int(ending))
        at_tip = (page.millis_behind == 0 if page.millis_behind is not None
                  else self.empty_pages >= self.api.empty_pages_at_tip)
        if at_tip and not chunk.finished:
            chunk.tip_ms = asked_ms
        chunk.lag_ms = self._lag(page, at_tip or chunk.finished)
        chunk.done = chunk.finished or (at_tip and not self.follow and ending is None)
        return chunk

    def _lag(self, page: Page, at_tip: bool) -> int | None:
        if page.millis_behind is not None:
            return page.millis_behind
        if at_tip:
            return 0
        if page.records:
            t = self.api.record_time_ms(page.records[-1])
            return max(0, now_ms() - t) if t is not None else None
        return None

    def _renew(self) -> str:
        """An iterator lives five minutes; a new one continues after the last record read."""
        start = Start("AFTER_SEQUENCE_NUMBER", self.last_seq) if self.last_seq else self.start_at
        return self.api.iterator(self.shard.id, start)

    def _put(self, chunk: Chunk) -> None:
        chunk.reader = self
        while not self.halt.is_set() and not self.stop.is_set():
            try:
                self.out.put(chunk, timeout=0.5)
                return
            except queue.Full:
                continue


