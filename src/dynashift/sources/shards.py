"""The engine both live sources share: Kinesis Data Streams and DynamoDB Streams are sharded
streams with the same shape (shards split and merge, iterators expire, records expire after the
retention period), so lineage, concurrency, batching, checkpoints and gap detection live here and
`kinesis.py` / `dynamodb_streams.py` only speak their service's API (a `StreamApi`).

Checkpoints, one row per shard (source = the URI, shard = the shard id):

    position  "SEQ" or "SEQ@MS"   SEQ: sequence number of the last record applied ("" if none yet);
                                  MS: epoch milliseconds when the shard was last seen read to its
                                  tip: every record after SEQ arrived after MS
    size      1                   the shard is closed and was drained to its end, so its children
              NULL                may start (status shows it as "complete"); otherwise NULL

The tip time is what tells an idle shard from a gap: a checkpointed record that has expired is
harmless if the shard was at its tip within the retention period (nothing after it could have
expired), and a gap otherwise — unless the checkpointed record is itself still in the stream.

Shards are read concurrently, one thread each, at most `min_interval` apart per shard (the
service's per-shard call limit); pages go through a bounded queue (back-pressure) to the one
thread that builds batches. A child shard starts only once all its parents are drained to their
end, so the batches that hold a parent's last records come first. Each shard's reader thread is
in shard_reader.py. With several workers on one pipeline (leases.py), only the shards this worker
holds a lease on are read, each from the checkpoint read when the lease was taken.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..errors import GapError
from ..records import Change, Checkpoint, SourceBatch
from .shard_reader import Chunk, Page, Reader, ShardInfo, Start, StreamApi, now_ms

__all__ = ["Page", "Position", "ShardInfo", "ShardedSource", "Start", "StreamApi", "now_ms", "parse_start", "seq_key"]

if TYPE_CHECKING:
    from ..leases import LeaseKeeper

log = logging.getLogger("dynashift")

TIP_REFRESH_MS = 10 * 60 * 1000  # rewrite a caught-up shard's tip time at least this often
GAP_MARGIN_MS = 15 * 60 * 1000  # clock skew and the service's trimming delay


def seq_key(seq: str) -> str:
    """Change.seq for a sequence number: zero-padded to 64 digits so string order = number order."""
    return seq.rjust(64, "0")


@dataclass(slots=True)
class Position:
    seq: str = ""
    tip_ms: int | None = None
    finished: bool = False
    written_tip_ms: int | None = None  # the tip time in the last checkpoint handed out

    @classmethod
    def of(cls, cp: Checkpoint) -> Position:
        seq, _, tip = cp.position.partition("@")
        tip_ms = int(tip) if tip.isdigit() else None
        return cls(seq, tip_ms, cp.size is not None, tip_ms)

    def text(self) -> str:
        return self.seq if self.tip_ms is None else f"{self.seq}@{self.tip_ms}"


class ShardedSource:
    """`read` applies what the stream holds now (`run --once`); `follow` keeps reading until
    `stop` is set, closing batches on records, bytes or age (`--batch-size`, `--max-wait`)."""

    def __init__(self, uri: str, api: StreamApi, *, start: Start, batch_size: int, batch_bytes: int,
                 max_wait: float, accept_gap: bool = False, poll: float = 1.0, queue_pages: int = 4):
        self.uri, self.api, self.start = uri, api, start
        self.batch_size, self.batch_bytes, self.max_wait = batch_size, batch_bytes, max_wait
        self.accept_gap, self.poll, self.queue_pages = accept_gap, poll, queue_pages
        self.lag: dict[str, int] = {}  # shard -> milliseconds behind the tip, as of the last batch

    def read(self, checkpoints: dict[str, Checkpoint], leases: LeaseKeeper | None = None) -> Iterator[SourceBatch]:
        return self._run(checkpoints, follow=False, stop=threading.Event(), leases=leases)

    def follow(self, checkpoints: dict[str, Checkpoint], stop: threading.Event,
               leases: LeaseKeeper | None = None) -> Iterator[SourceBatch]:
        return self._run(checkpoints, follow=True, stop=stop, leases=leases)

    def list_shards(self) -> list[ShardInfo]:
        return self.api.list_shards()

    # ------------------------------------------------------------ the batch builder

    def _run(self, checkpoints: dict[str, Checkpoint], *, follow: bool, stop: threading.Event,
             leases: LeaseKeeper | None = None) -> Iterator[SourceBatch]:
        """With `leases`, only the shards this worker holds are read, each from the checkpoint
        read when its lease was taken; a shard whose lease is lost is dropped."""
        positions = {} if leases else {s: Position.of(cp) for s, cp in checkpoints.items()}
        state = _State(self, positions, follow, leases)
        try:
            state.refresh_shards()
            while True:
                state.start_ready()
                if not follow and not state.readers and not state.more_leases():
                    break
                chunk = state.next_chunk(timeout=self._wait(state, follow))
                if chunk is not None:
                    yield from state.take(chunk)
                if stop.is_set():
                    break
                if follow and (state.batch_due() or state.lost_in_batch):
                    yield state.cut()
            if state.has_content():
                yield state.cut()
        finally:
            state.halt.set()
            for reader in state.readers.values():
                reader.stop.set()

    def _wait(self, state: _State, follow: bool) -> float:
        if not follow or state.opened is None:
            return 0.5
        return max(0.0, min(0.5, self.max_wait - (time.monotonic() - state.opened)))


class _State:
    """One run of a ShardedSource: shards, readers, positions and the batch being built."""

    def __init__(self, src: ShardedSource, positions: dict[str, Position], follow: bool,
                 leases: LeaseKeeper | None = None):
        self.src, self.api, self.positions, self.follow = src, src.api, positions, follow
        self.leases = leases
        self.counters: dict[str, int] = {}  # shard -> the lease counter it is read under
        self.lost_in_batch = False  # the open batch holds records of a shard whose lease was lost
        self.shards: dict[str, ShardInfo] = {}
        self.readers: dict[str, Reader] = {}
        self.stalled: set[str] = set()  # at the tip in --once mode: not restarted in this run
        self.out: queue.Queue[Chunk] = queue.Queue(maxsize=src.queue_pages)
        self.halt = threading.Event()
        self.listed_at = 0.0
        self.retention: int | None = None
        self.drained: dict[str, bool] = {}  # shard -> its reader's last page was at the tip
        self._new_batch()

    # -- shards and readers

    def refresh_shards(self) -> None:
        self.shards = {s.id: s for s in self.api.list_shards()}
        self.listed_at = time.monotonic()
        for shard, pos in self.positions.items():
            if not pos.finished and shard not in self.shards:
                self._gap(shard, pos, "the shard itself has expired")
                pos.finished = True  # --accept-gap: let its children start
                self._touch(shard)

    def start_ready(self) -> None:
        if self.follow and time.monotonic() - self.listed_at > 60:
            self.refresh_shards()  # new shards after a reshard; closed ones get their ending
        if self.leases is not None:
            self._sync_leases()
        for shard in self.shards.values():
            if shard.id in self.readers or shard.id in self.stalled:
                continue
            if self.leases is not None and shard.id not in self.counters:
                continue  # another worker's, or nobody's yet
            pos = self.positions.get(shard.id)
            if pos is not None and pos.finished:
                continue
            # With leases, a shard is granted only once its parents were committed as finished.
            if self.leases is not None or all(self._parent_done(p) for p in shard.parents):
                self._start(shard, pos)

    def _sync_leases(self) -> None:
        """Start on the leases gained, drop the lost ones (their records in the open batch make
        it go to the commit now, where the fence refuses it)."""
        assert self.leases is not None
        new, lost = self.leases.grants()
        for shard in lost:
            self.counters.pop(shard, None)
            reader = self.readers.pop(shard, None)
            if reader is not None:
                reader.stop.set()
            self.positions.pop(shard, None)
            self.stalled.discard(shard)
            if shard in self.touched:
                self.lost_in_batch = True
        for shard, grant in new.items():
            reader = self.readers.pop(shard, None)
            if reader is not None:
                reader.stop.set()
            self.counters[shard] = grant.counter
            self.stalled.discard(shard)
            if grant.checkpoint is not None:
                self.positions[shard] = Position.of(grant.checkpoint)
            else:
                self.positions.pop(shard, None)
        if new and any(s not in self.shards for s in new):
            self.refresh_shards()

    def more_leases(self) -> bool:
        """--once with leases, nothing being read: after a fresh round, is there a lease to read
        (a child of a shard just finished here, or one a dead worker left)?"""
        if self.leases is None:
            return False
        finished = [s for s, p in self.positions.items() if p.finished]
        self.leases.sync(finished)
        self._sync_leases()
        before = len(self.readers)
        for shard in self.shards.values():
            pos = self.positions.get(shard.id)
            if shard.id in self.counters and shard.id not in self.readers and shard.id not in self.stalled \
                    and not (pos is not None and pos.finished):
                self._start(shard, pos)
        return len(self.readers) > before

    def _parent_done(self, parent: str) -> bool:
        pos = self.positions.get(parent)
        if pos is not None:
            return pos.finished
        return parent not in self.shards  # expired before we ever knew it (first start) or never read

    def _start(self, shard: ShardInfo, pos: Position | None) -> None:
        start = self._start_of(shard, pos)
        if pos is None:
            pos = self.positions[shard.id] = Position()
            if start.kind == "LATEST":
                pos.tip_ms = now_ms()  # nothing before now is wanted: resume there, not at the horizon
                self._touch(shard.id)
        reader = Reader(self.api, shard, start, pos.seq, self.out, self.halt, self.follow, self.src.poll)
        self.readers[shard.id] = reader
        reader.start()

    def _start_of(self, shard: ShardInfo, pos: Position | None) -> Start:
        configured = self.src.start
        if pos is None:
            known_parent = any(p in self.shards or p in self.positions for p in shard.parents)
            return Start("TRIM_HORIZON") if known_parent else configured
        if pos.seq and self.api.still_holds(shard.id, pos.seq):
            return Start("AFTER_SEQUENCE_NUMBER", pos.seq)
        if not self._tip_recent(pos):
            after = f"after sequence number {pos.seq}" if pos.seq else "since it was last read"
            self._gap(shard.id, pos, f"changes {after} may have expired unread")
        elif not pos.seq and configured.kind != "TRIM_HORIZON" and pos.tip_ms is not None:
            return Start("AT_TIMESTAMP", at_ms=pos.tip_ms)  # a LATEST start, resumed where it began
        # The checkpointed record itself has expired, but nothing after it can have: the oldest
        # record still there is the next one to apply (an iterator after an expired record is not).
        return Start("TRIM_HORIZON")

    # -- gaps

    def _tip_recent(self, pos: Position) -> bool:
        """The shard was at its tip within the retention period: nothing after the checkpoint can
        have expired yet."""
        if self.retention is None:
            self.retention = self.api.retention_ms()
        return pos.tip_ms is not None and pos.tip_ms >= now_ms() - self.retention + GAP_MARGIN_MS

    def _gap(self, shard: str, pos: Position, why: str) -> None:
        hours = f" ({self.retention / 3_600_000:g}h retention)" if self.retention else ""
        message = (f"gap in {self.src.uri} shard {shard}: {why}{hours}. The replica cannot be completed from "
                   "the stream: re-run a full load of the table(s) (export://…), then resume, or pass --accept-gap "
                   "to continue from the oldest record still in the stream")
        if not self.src.accept_gap:
            raise GapError(message)
        log.warning("%s (continuing: --accept-gap)", message.split(". The replica")[0])
        pos.seq, pos.tip_ms = "", None

    # -- chunks -> batches

    def next_chunk(self, timeout: float) -> Chunk | None:
        try:
            chunk = self.out.get(timeout=timeout)
        except queue.Empty:
            return None
        if chunk.error is not None:
            raise chunk.error
        return chunk

    def take(self, chunk: Chunk) -> Iterator[SourceBatch]:
        if self.leases is not None and (chunk.shard not in self.counters or chunk.reader is not self.readers.get(chunk.shard)):
            return  # read before its lease was lost (or re-granted): dropped unread
        pos = self.positions[chunk.shard]
        for seq, decoded, size in chunk.items:
            if self.batch_full():
                yield self.cut()
            for d in decoded:
                (self.sb.changes if isinstance(d, Change) else self.sb.rejected).append(d)
            self.sb.records_read += 1
            self.sb.bytes_read += size
            pos.seq = seq
            self._touch(chunk.shard)
        if chunk.lag_ms is not None:
            self.lag[chunk.shard] = chunk.lag_ms
        self.drained[chunk.shard] = chunk.tip_ms is not None or chunk.finished
        if chunk.tip_ms is not None:
            pos.tip_ms = chunk.tip_ms  # stays true as later records are applied: they arrived later still
            if pos.written_tip_ms is None or chunk.tip_ms - pos.written_tip_ms >= TIP_REFRESH_MS or not self.follow:
                self._touch(chunk.shard)
        if chunk.finished:
            pos.finished = True
            self._touch(chunk.shard)
            if self.leases is not None:
                self.leases.poke([chunk.shard])  # its children may be leased (by this worker) at once
        if chunk.done:
            self.readers.pop(chunk.shard, None)
            self.drained.pop(chunk.shard, None)
            if chunk.finished:
                self.refresh_shards()  # its children, now startable
            elif not self.follow:
                self.stalled.add(chunk.shard)

    def batch_full(self) -> bool:
        return self.sb.records_read >= self.src.batch_size or self.sb.bytes_read >= self.src.batch_bytes

    def _touch(self, shard: str) -> None:
        self.touched.add(shard)
        if self.opened is None:
            self.opened = time.monotonic()

    def has_content(self) -> bool:
        return self.opened is not None

    def batch_due(self) -> bool:
        """Full batches are cut as records come; otherwise a batch commits after `max_wait`, or
        as soon as every reader has drained what its shard holds now (nothing queued, each
        reader's last page at the tip): waiting longer would only add latency."""
        if self.opened is None:
            return False
        if time.monotonic() - self.opened >= self.src.max_wait:
            return True
        return self.sb.records_read > 0 and self.out.empty() and bool(self.readers) and \
            all(self.drained.get(s, False) for s in self.readers)

    def cut(self) -> SourceBatch:
        sb = self.sb
        for shard in sorted(self.touched):
            pos = self.positions.get(shard)
            if pos is None:  # its lease was lost: a checkpoint under the old counter, which the fence refuses
                sb.checkpoints.append(Checkpoint(self.src.uri, shard, "", None, lease=(self._owner(), -1, shard)))
                continue
            lease = (self._owner(), self.counters[shard], shard) if self.leases is not None else None
            sb.checkpoints.append(Checkpoint(self.src.uri, shard, pos.text(), 1 if pos.finished else None, lease=lease))
            pos.written_tip_ms = pos.tip_ms
        self.src.lag.update(self.lag)
        sb.lag = dict(self.src.lag)  # every shard's last known lag travels with the batch
        self._new_batch()
        return sb

    def _owner(self) -> str:
        return self.leases.owner if self.leases is not None else ""

    def _new_batch(self) -> None:
        self.sb = SourceBatch()
        self.lost_in_batch = False
        self.touched: set[str] = set()
        self.lag: dict[str, int] = {}
        self.opened: float | None = None  # when the batch got its first record or checkpoint


def parse_start(position: str, timestamp: Any, parse_time: Callable[[Any], int | None]) -> Start:
    """The configured first-start position: TRIM_HORIZON (default), LATEST or AT_TIMESTAMP."""
    kind = (position or "TRIM_HORIZON").upper()
    if kind == "AT_TIMESTAMP":
        us = parse_time(timestamp)
        return Start(kind, at_ms=None if us is None else us // 1000)
    return Start(kind)
