"""A simulated DynamoDB change stream, written to files: `dynashift simulate`.

`simulate` makes changes in true time order, keeping the current item per key (a MODIFY or REMOVE
carries it as OldImage). It then delivers the records the way a stream may: some twice (the very
same record again, soon or much later) and some late (after a newer change of the same key).

An `Observer` sees every change as it is made, in true time order, before the faulty delivery: the
tests' oracle (tests/support/simulated.py) builds the end state DynamoDB holds from it. For that
oracle to be exact, a late record is strictly older than a change of its key already delivered, and
no two changes of one key ever share a timestamp (the clock only moves on).

Memory is bounded by the number of live keys (each one's current image, as JSON bytes), never by
the number of changes: records are written as they are made.

What the tables hold (typed values, the mixed, bench and wide profiles) is simulate_tables.py's.
"""

from __future__ import annotations

import gzip as _gzip
import heapq
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Callable, Protocol

import orjson

from .simulate_tables import Table, bench_tables, mixed_tables, wide_tables

INSERT, MODIFY, REMOVE = b"INSERT", b"MODIFY", b"REMOVE"
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
START_US = 1_700_000_000_000_000
_SORT = orjson.OPT_SORT_KEYS
_GZIP_LEVEL = 1  # the point is test input, not the smallest file
_CHUNK = 1 << 20
_TTL = orjson.dumps(TTL_IDENTITY)


@dataclass(frozen=True)
class SimulateSummary:
    """What `simulate` wrote: `changes` counts records (duplicates included); `stats` has details."""

    files: tuple[Path, ...]
    changes: int
    bytes: int
    tables: tuple[str, ...]
    stats: dict[str, int] = field(default_factory=dict)


class Observer(Protocol):
    """Sees each change as DynamoDB made it, in true time order (before duplicates and late
    delivery): `key` is the item's key as compact sorted JSON, `image` the new item (None on
    REMOVE), `version` the change's time in µs, `ttl` whether a REMOVE is a TTL expiry."""

    def change(self, table: Table, op: bytes, key: bytes, version: int, image: bytes | None, ttl: bool) -> None: ...


# ---------------------------------------------------------------- output files


class _Writer:
    """Writes lines to `files` successive files in stream order, in large chunks."""

    def __init__(self, out_dir: Path, total: int, files: int, gzip: bool, progress) -> None:
        self.out_dir, self.gzip, self.progress = out_dir, gzip, progress
        self.bounds = [total * (i + 1) // files for i in range(files)]
        self.paths: list[Path] = []
        self.n = 0
        self.buf: list[bytes] = []
        self.size = 0
        self.fh = None
        self._next_file()

    def _next_file(self) -> None:
        self._flush()
        if self.fh is not None:
            self.fh.close()
        path = self.out_dir / f"changes-{len(self.paths) + 1:04d}.jsonl{'.gz' if self.gzip else ''}"
        self.paths.append(path)
        self.fh = _gzip.open(path, "wb", compresslevel=_GZIP_LEVEL) if self.gzip else open(path, "wb")

    def _flush(self) -> None:
        if self.buf:
            self.fh.write(b"".join(self.buf))
            self.buf, self.size = [], 0

    def write(self, line: bytes) -> None:
        while self.n >= self.bounds[len(self.paths) - 1]:
            self._next_file()
        self.buf.append(line)
        self.size += len(line)
        self.n += 1
        if self.size >= _CHUNK:
            self._flush()
        if self.progress is not None and self.n % 10_000 == 0:
            self.progress(self.n)

    def close(self) -> None:
        while len(self.paths) < len(self.bounds):
            self._next_file()
        self._flush()
        self.fh.close()
        if self.progress is not None and self.n % 10_000:
            self.progress(self.n)


# ---------------------------------------------------------------- the stream


class _Stream:
    """True-time changes, the truth they leave behind, and their faulty delivery."""

    def __init__(self, tables: list[Table], r: Random, total: int, writer: _Writer, *,
                 p_dup: float, p_late: float, observer: Observer | None, start_us: int = START_US) -> None:
        self.tables, self.r, self.total, self.out = tables, r, total, writer
        self.p_dup, self.p_late, self.observer = p_dup, p_late, observer
        self.clock = start_us
        self.made = 0  # distinct changes made so far
        self.pending: list[tuple[int, int, bool, bytes]] = []  # (due, seq, is_late, line)
        self.late_pending = self.dup_pending = self.seq = 0
        self.held: dict[tuple[int, bytes], bytes] = {}  # late records waiting for a newer change
        self.forced: list[tuple[int, int, tuple[int, bytes]]] = []
        self.stats = dict.fromkeys(("records", "changes", "duplicates", "late", "inserts", "reinserts",
                                    "modifies", "removes", "ttl_removes"), 0)

    # -- delivery

    def free(self) -> int:
        return self.total - self.out.n - 2 * len(self.held) - self.late_pending - self.dup_pending

    def run(self) -> None:
        out, r = self.out, self.r
        while out.n < self.total:
            if self.free() <= 0:
                self._flush_step()
            elif self.pending and self.pending[0][0] <= out.n:
                self._emit_pending()
            elif self.forced and self.forced[0][0] <= out.n:
                tk = heapq.heappop(self.forced)[2]
                if tk in self.held:
                    self._fresh(*self._change(tk[0], tk[1]), hold=False)
            else:
                ti = r.randrange(len(self.tables))
                self._fresh(*self._change(ti, None), hold=True)
        self.stats["records"] = out.n

    def _flush_step(self) -> None:
        """The end of the stream: deliver what is owed, dropping duplicates if they do not fit."""
        if self.total - self.out.n < 2 * len(self.held) + self.late_pending + self.dup_pending:
            self.pending = [p for p in self.pending if p[2]]
            heapq.heapify(self.pending)
            self.dup_pending = 0
        if self.held:
            tk = next(iter(self.held))
            self._fresh(*self._change(tk[0], tk[1]), hold=False)
        else:
            self._emit_pending()

    def _emit_pending(self) -> None:
        _, _, is_late, line = heapq.heappop(self.pending)
        if is_late:
            self.late_pending -= 1
            self.stats["late"] += 1
        else:
            self.dup_pending -= 1
            self.stats["duplicates"] += 1
        self._write(line)

    def _fresh(self, tk: tuple[int, bytes], line: bytes, *, hold: bool) -> None:
        r = self.r
        if tk in self.held:  # this newer change overtakes the held one, which follows later
            self._push(self.out.n + 1 + self._delay(40, 20_000), True, self.held.pop(tk))
            self.late_pending += 1
        elif hold and r.random() < self.p_late and self.free() >= 2:
            self.held[tk] = line
            heapq.heappush(self.forced, (self.out.n + r.randint(0, 8), self._next_seq(), tk))
            return
        self._write(line)

    def _write(self, line: bytes) -> None:
        self.out.write(line)
        if self.r.random() < self.p_dup and self.free() >= 1:
            self._push(self.out.n + self._delay(20, 100_000), False, line)
            self.dup_pending += 1

    def _delay(self, short: int, long: int) -> int:
        r = self.r
        if r.random() < 0.7:
            return r.randint(0, short)
        return r.randint(short, max(short, min(long, self.total // 3)))

    def _push(self, due: int, is_late: bool, line: bytes) -> None:
        heapq.heappush(self.pending, (due, self._next_seq(), is_late, line))

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # -- changes in true time, and the truth they leave

    def _tick(self, t: Table) -> tuple[int, int]:
        """(version in µs, timestamp as written); strictly increasing across all tables."""
        self.clock += self.r.randint(1, 2000)
        if t.millis:
            ms = self.clock // 1000 + 1
            self.clock = ms * 1000
            return self.clock, ms
        return self.clock, self.clock

    def _pick(self, t: Table) -> tuple[bytes, bytes | None]:
        r, k = self.r, self.r.random()
        if t.live and (k < (0.5 if t.wide else 0.7 if t.bench else 0.45)):
            return MODIFY, r.choice(t.live_pool.items)
        if t.live and k >= (0.9 if t.bench else 0.8):
            return REMOVE, r.choice(t.live_pool.items)
        if t.dead_pool.items and r.random() < 0.15:
            return INSERT, r.choice(t.dead_pool.items)
        return INSERT, None

    def _change(self, ti: int, dk: bytes | None) -> tuple[tuple[int, bytes], bytes]:
        t, r = self.tables[ti], self.r
        if dk is None:
            op, dk = self._pick(t)
        else:
            op = (REMOVE if r.random() < 0.2 else MODIFY) if dk in t.live else INSERT
        progress = self.made / self.total
        self.made += 1
        version, ts = self._tick(t)
        new_b = old_b = None
        ttl = False
        if op == INSERT:
            if dk is None:
                keys = t.key_fn(r, t.next_id)
                t.next_id += 1
                dk = _compact(orjson.dumps(keys, option=_SORT))
            else:
                keys = orjson.loads(dk)
                t.dead_pool.remove(dk)
                self.stats["reinserts"] += 1
            new = t.new_item(r, keys, progress)
            self.stats["inserts"] += 1
        elif op == MODIFY:
            old_b = t.live[dk]
            new = t.modified(r, orjson.loads(old_b), progress)
            self.stats["modifies"] += 1
        else:
            old_b = t.live.pop(dk)
            t.live_pool.remove(dk)
            ttl = r.random() < t.ttl_share
            t.dead_pool.add(dk)
            self.stats["removes"] += 1
            self.stats["ttl_removes"] += ttl
        if op != REMOVE:
            t.seen.update(new)
            new_b = _compact(orjson.dumps(new))
            if dk not in t.live:
                t.live_pool.add(dk)
            t.live[dk] = new_b
        self.stats["changes"] += 1
        if self.observer is not None:
            self.observer.change(t, op, dk, version, new_b, ttl)
        return (ti, dk), self._record(t, op, ts, dk, new_b, old_b, ttl)

    def _record(self, t: Table, op: bytes, ts: int, keys: bytes, new: bytes | None, old: bytes | None,
                ttl: bool) -> bytes:
        h = f"{self.r.getrandbits(128):032x}"
        event_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}".encode()
        parts = [b'{"awsRegion":"us-east-1","eventID":"', event_id, b'","eventName":"', op,
                 b'","userIdentity":', _TTL if ttl else b"null",
                 b',"recordFormat":"application/json","tableName":', t.name_json,
                 b',"dynamodb":{"ApproximateCreationDateTime":', str(ts).encode(), t.precision,
                 b',"Keys":', keys]
        size = len(keys)
        if new is not None:
            parts += (b',"NewImage":', new)
            size += len(new)
        if old is not None:
            parts += (b',"OldImage":', old)
            size += len(old)
        parts += (b',"SizeBytes":', str(size).encode(), b'},"eventSource":"aws:dynamodb"}\n')
        return b"".join(parts)


def _compact(data: bytes) -> bytes:
    """A copy without the spare capacity orjson leaves in its output (up to 8 KB per call)."""
    return bytes(memoryview(data))


# ---------------------------------------------------------------- entry point


PROFILES = ("mixed", "bench", "wide")


def simulate(out_dir: str | Path, *, changes: int = 50_000, tables: int = 5, files: int = 1, seed: int = 0,
             profile: str = "mixed", gzip: bool = False, observer: Observer | None = None,
             progress: Callable[[int], None] | None = None, start_us: int = START_US,
             expected: bool = False) -> SimulateSummary:
    """Write `changes` records (duplicates included) of a simulated stream into `out_dir`.

    profile "mixed": at least five tables with awkward names, keys and values, for correctness;
    profile "bench": `tables` tables of ~2 KB records (70% MODIFY, 20% INSERT, 10% REMOVE);
    profile "wide": 6 tables of ~49 columns, ~2.3 KB records of 20 attributes (nested maps, lists of
    maps, sets, 38-digit numbers, binary), both images on MODIFY; `tables` is ignored.
    `observer` sees every change in true time order (see module doc). `expected` is refused: the
    expected end state is test tooling (tests/support/simulated.py); False is accepted for callers.
    """
    if expected:
        raise ValueError("simulate writes only the stream: the expected end state is tests/support/simulated.py's")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} ({', '.join(PROFILES)})")
    if changes < 0 or files < 1:
        raise ValueError("changes must be >= 0 and files >= 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    r = Random(seed)
    specs = (mixed_tables(max(5, tables)) if profile == "mixed" else wide_tables() if profile == "wide"
             else bench_tables(tables))
    rates = (0.025, 0.025) if profile == "mixed" else (0.01, 0.01)
    writer = _Writer(out, changes, files, gzip, progress)
    stream = _Stream(specs, r, changes, writer, p_dup=rates[0], p_late=rates[1], observer=observer,
                     start_us=start_us)
    try:
        stream.run()
    finally:
        writer.close()
    return SimulateSummary(files=tuple(writer.paths), changes=writer.n,
                           bytes=sum(p.stat().st_size for p in writer.paths),
                           tables=tuple(t.name for t in specs if t.seen), stats=dict(stream.stats))
