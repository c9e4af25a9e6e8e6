"""Many workers on one pipeline: shard leases, in the Kinesis Client Library's model.

Each worker (a `run` process) runs one LeaseKeeper thread on its own database connection. Every
`lease_renewal` seconds it renews its worker row and its leases, then takes its fair share of the
shards that are free (never leased, released, expired, or held by a process known dead), and
steals one from the busiest worker while it holds fewer than its share. A child shard becomes
leaseable only once all its parents were committed as read to their end, so parents come before
children across workers. A source that cannot be split (files, exports, scans) has one lease,
`*`: one worker applies it at a time, the others wait.

Leases only decide who reads what; what makes them safe is the fence (targets/metadata.fence):
a batch commits only while its worker still holds each shard's lease with the counter it read.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .errors import DynashiftError
from .records import Checkpoint
from .targets.leasing import LeaseRow, WorkerRow

log = logging.getLogger("dynashift")

WHOLE = "*"  # the one lease of a source that cannot be split
LISTING_EVERY_S = 10.0  # how often the keeper lists a stream's shards (besides when a shard ends)


@dataclass(frozen=True, slots=True)
class Grant:
    """A lease newly held: its counter, and the shard's checkpoint read after it was taken."""

    shard: str
    counter: int
    checkpoint: Checkpoint | None


@dataclass(slots=True)
class LeaseCounts:
    """For metrics and the summary: what this worker's keeper did."""

    held: int = 0
    taken: int = 0  # leases taken (free, expired or stolen)
    stolen: int = 0  # of those, taken from a live worker
    lost: int = 0  # leases this worker held and found taken over


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def leaseable(shards: dict[str, Any] | None, known: set[str], finished: set[str]) -> set[str]:
    """The shards a worker may lease now: not read to their end, and every parent read to its
    end (or gone from the stream before it was ever read). `shards` maps id -> ShardInfo; None
    means the source is not split (the one lease `*`)."""
    if shards is None:
        return {WHOLE}
    out = set()
    for sid, info in shards.items():
        if sid in finished:
            continue
        if all(p in finished or (p not in shards and p not in known) for p in info.parents):
            out.add(sid)
    return out


def plan_takes(rows: list[LeaseRow], candidates: set[str], me: str, live: set[str], steal: bool,
               counted: set[str] | None = None, closed: set[str] | frozenset[str] = frozenset()
               ) -> list[tuple[str, int, bool]]:
    """Which leases to take this round: (shard, counter read, stolen). A fair share is
    ceil(shards in play / live workers); free leases first, then one stolen from the busiest
    worker when it holds at least two more than this one will (the free ones taken counted: a
    worker that took a free lease and stole in one round left the victim one short, and the
    victim stole back).

    Shards in play are the `candidates` (what this worker may lease) and the leases held among
    `counted` (default: `candidates`): the lease rows not committed as read to their end, which
    every worker sees alike. A worker's candidates also leave out the shards it read to their end
    but has not committed yet; had holdings been counted over the candidates, two workers each
    holding such a shard would each see the other as the busier and steal one lease back and
    forth, every steal refusing the victim's batch (whose commit would have ended that view) and
    re-reading it: 8,207 records read for 4,000 (tests/integration/test_workers.py).
    An open shard is stolen before a `closed` one: a closed shard's owner has often read it to
    its end already (all of it would be read again), and its children are free once it is done."""
    live = live | {me}
    counters = {r.shard: r.counter for r in rows}
    owner = {r.shard: (r.owner if r.owner and r.live and r.owner in live else None) for r in rows}
    shards = sorted(s for s in candidates if s in counters)
    if not shards:
        return []
    pool = candidates if counted is None else counted
    in_play = sorted(s for s in counters if s in candidates or (s in pool and owner[s] is not None))
    share = math.ceil(len(in_play) / len(live))
    mine = sum(1 for s in in_play if owner[s] == me)
    want = share - mine
    if want <= 0:
        return []
    free = [s for s in shards if owner[s] is None]
    free = free[hash(me) % len(free):] + free[:hash(me) % len(free)] if free else []  # workers start apart
    takes = [(s, counters[s], False) for s in free[:want]]
    if len(takes) < want and steal:
        load: dict[str, list[str]] = {}
        for s in in_play:
            if owner[s] not in (None, me):
                load.setdefault(owner[s], []).append(s)  # type: ignore[arg-type]
        if load:
            busiest, theirs = max(load.items(), key=lambda kv: (len(kv[1]), kv[0]))
            leasable = [s for s in theirs if s in candidates]
            leasable = [s for s in leasable if s not in closed] or leasable
            if len(theirs) > mine + len(takes) + 1 and leasable:  # only a move that evens the load (no ping-pong)
                takes.append((leasable[-1], counters[leasable[-1]], True))
    return takes


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(slots=True)
class _Shared:
    held: dict[str, int] = field(default_factory=dict)
    new: dict[str, Grant] = field(default_factory=dict)
    lost: set[str] = field(default_factory=set)
    free_left: bool = False  # at the last round, some leaseable shard was free (or held by the dead)
    ticks: int = 0


class LeaseKeeper(threading.Thread):
    """One worker's leases on one pipeline, kept on `conn` (a sibling connection) by a thread."""

    def __init__(self, conn: Any, pipeline: str, *, duration: float, renewal: float,
                 shards: Callable[[], dict[str, Any]] | None, steal: bool = True):
        super().__init__(name="dynashift-leases", daemon=True)
        self.conn, self.pipeline, self.duration, self.renewal = conn, pipeline, duration, renewal
        self.list_shards, self.steal = shards, steal
        self.owner = owner_id()
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.counts = LeaseCounts()
        self._shared = _Shared()
        self._lock = threading.Condition()
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._listing: dict[str, Any] | None = None
        self._listed_at = 0.0
        self._local_finished: set[str] = set()
        self._regrant = False
        self._warned = False
        self._registered = False

    # ------------------------------------------------------------ what the reader side sees

    def grants(self) -> tuple[dict[str, Grant], set[str]]:
        """Leases gained and lost since the last call."""
        with self._lock:
            new, lost = self._shared.new, self._shared.lost
            self._shared.new, self._shared.lost = {}, set()
            return new, lost

    def held(self) -> dict[str, int]:
        with self._lock:
            return dict(self._shared.held)

    def free_left(self) -> bool:
        with self._lock:
            return self._shared.free_left

    def poke(self, finished: Iterable[str] = ()) -> None:
        """Run a round now (a shard ended: its children may be leaseable)."""
        with self._lock:
            self._local_finished |= set(finished)
        self._listed_at = 0.0
        self._wake.set()

    def sync(self, finished: Iterable[str] = (), timeout: float = 30.0) -> None:
        """Run a round now and wait for it."""
        with self._lock:
            seen = self._shared.ticks
        self.poke(finished)
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._shared.ticks <= seen and self.is_alive() and time.monotonic() < deadline:
                self._lock.wait(0.2)

    def regrant(self) -> None:
        """After a refused batch: hand every held lease out again, with its checkpoint re-read."""
        with self._lock:
            self._regrant = True
            self._shared.new, self._shared.lost = {}, set()
        self.sync()

    def wait_for(self, shard: str, stop: threading.Event) -> bool:
        """Block until this worker holds `shard` (True) or `stop` is set (False)."""
        while not stop.is_set():
            if shard in self.held():
                return True
            self._wake.set()
            stop.wait(0.2)
        return False

    # ------------------------------------------------------------ the thread

    def start(self) -> None:
        self._round()  # the first round before the run reads anything
        super().start()

    def run(self) -> None:
        while not self._halt.is_set():
            self._wake.wait(self.renewal)
            self._wake.clear()
            if self._halt.is_set():
                break
            self._round()

    def stop(self) -> None:
        """Leave: give every lease up at once (SIGTERM, end of a run), then close."""
        self._halt.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout=30)
        try:
            self.conn.drop_worker(self.pipeline, self.owner)
        except DynashiftError as exc:
            log.warning("could not give up the leases of %s (they expire in %gs): %s", self.pipeline, self.duration, exc)
        finally:
            self.conn.close()

    def _round(self) -> None:
        try:
            self._tick()
            self._warned = False
        except DynashiftError as exc:  # the database is away: the leases expire; the fence keeps data safe
            if not self._warned:
                log.warning("leases of %s not renewed: %s", self.pipeline, exc)
                self._warned = True
        with self._lock:
            self._shared.ticks += 1
            self._lock.notify_all()

    def _tick(self) -> None:
        c, pipeline, me = self.conn, self.pipeline, self.owner
        with self._lock:
            local_finished = set(self._local_finished)
            regrant, self._regrant = self._regrant, False
            before = dict(self._shared.held)
        with c.transaction():
            c.heartbeat_worker(pipeline, me, self.host, self.pid, self.duration, len(before))
            c.renew_leases(pipeline, me, self.duration)
        known, finished = c.finished_shards(pipeline)
        listing = self._shards()
        candidates = leaseable(listing, known, finished | local_finished)
        closed = {s for s, info in (listing or {}).items() if info.ending}
        rows = c.leases(pipeline)
        missing = candidates - {r.shard for r in rows}
        if missing:
            with c.transaction():
                c.add_leases(pipeline, sorted(missing))
            rows = c.leases(pipeline)
        live = self._live(c.workers(pipeline))
        # A continuous worker takes nothing in its first round, only says it is there: workers
        # started together then see each other before sharing, instead of one taking every shard
        # and the others stealing them back (each move re-reads what the first had read ahead).
        first = self.steal and not self._registered and not (live - {me})
        self._registered = True
        counted = {r.shard for r in rows} - finished  # alike for every worker (plan_takes)
        takes = [] if first else plan_takes(rows, candidates, me, live, self.steal, counted, closed)
        if takes:
            with c.transaction():
                for shard, counter, _ in takes:
                    c.take_lease(pipeline, shard, counter, me, self.duration)
        held = c.held_leases(pipeline, me)
        done = [s for s in held if s in finished]  # read to its end and committed: nobody needs it
        if done:
            with c.transaction():
                c.release_leases(pipeline, me, done)
            held = {s: n for s, n in held.items() if s not in done}
        gained = {s: n for s, n in held.items() if regrant or before.get(s) != n}
        checkpoints = c.read_checkpoints(pipeline, sorted(gained)) if gained else {}
        lost = {s for s, n in before.items() if held.get(s) != n}
        taken = {s for s, _, _ in takes if s in held}
        free_left = any(r.shard in candidates and r.shard not in held and
                        (r.owner is None or not r.live or r.owner not in live) for r in c.leases(pipeline))
        with self._lock:
            self.counts.taken += len(taken)
            self.counts.stolen += sum(1 for s, _, stolen in takes if stolen and s in held)
            self.counts.lost += len(lost - set(done))
            self.counts.held = len(held)
            self._shared.held = held
            for s in lost:
                self._shared.new.pop(s, None)
            self._shared.lost |= lost - set(gained)
            self._shared.new.update({s: Grant(s, n, checkpoints.get(s)) for s, n in gained.items()})
            self._shared.free_left = free_left
            self._local_finished -= finished
        if lost - set(done):
            log.warning("pipeline %s: the lease on %s was taken over by another worker", pipeline,
                        ", ".join(sorted(lost - set(done))))

    def _shards(self) -> dict[str, Any] | None:
        if self.list_shards is None:
            return None
        if self._listing is None or time.monotonic() - self._listed_at > LISTING_EVERY_S:
            self._listing = {s.id: s for s in self.list_shards()}
            self._listed_at = time.monotonic()
        return self._listing

    def _live(self, workers: list[WorkerRow]) -> set[str]:
        """Owners taken as alive: an unexpired worker row, unless it is a process of this host
        that is gone (a crashed run restarted on the same machine need not wait for expiry)."""
        dead = [w.owner for w in workers if w.owner != self.owner and w.host == self.host and w.pid != self.pid
                and not process_alive(w.pid)]
        if dead:
            with self.conn.transaction():
                self.conn.forget_workers(self.pipeline, dead)
        return {w.owner for w in workers if w.live and w.owner not in dead}
