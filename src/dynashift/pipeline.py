"""source -> decode -> batch -> one target transaction per batch (schema, merge, checkpoint, run).

The source is asked for batches from the checkpoints the target committed; each batch is planned
(pure, planning.py) and applied by the target in one transaction. Nothing is acknowledged before
that commit, so a crash at any point resumes from the last committed checkpoint.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future, ThreadPoolExecutor, wait
import dataclasses
import gc
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .config import Config
from .errors import DataTargetError, LeaseLost, SourceError
from .identity import check_definition, filters_of, pipeline_name
from .leases import WHOLE, LeaseKeeper
from .memory import give_back_freed
from .planning import Modes, build_plan
from .records import Checkpoint, Rejected, SourceBatch
from .redact import mask
from .routing import make_router
from .run_lifecycle import apply_in_target, end_failed
from .splitting import apply_split
from .typing_mode import table_modes_of
from .sources import InTargetSource, LiveSource, RereadableSource, Source
from .sources.shards import ShardedSource
from .targets.base import RunCounters, SqlTarget

log = logging.getLogger("dynashift")


@dataclass(slots=True)
class Progress:
    records: int
    bytes: int
    batches: int


@dataclass(slots=True)
class BatchStats:
    """What one committed batch did, for observers (Prometheus metrics, JSON logs)."""

    source: str
    run_id: int
    batch: int
    records: int
    applied: int
    superseded: int
    duplicates: int
    stale: int
    ttl_ignored: int
    rejected: int
    bytes: int
    seconds: float  # from the batch reaching the pipeline to its commit
    lag: dict[str, int]  # shard -> milliseconds behind the tip (live sources)
    rejects: tuple[Rejected, ...] = ()  # the batch's rejected records (for the run's summary of reasons)
    # This worker's leases (several workers per pipeline): held, taken, stolen, lost, commits_refused
    leases: dict[str, int] | None = None
    refused: bool = False  # not a commit: a batch the fence refused (its counts are zero)

    @classmethod
    def refused_batch(cls, run: RunCounters, keeper: LeaseKeeper | None) -> BatchStats:
        return cls(run.source, run.run_id, run.batches, 0, 0, 0, 0, 0, 0, 0, 0, 0.0, {},
                   leases=lease_counts(run, keeper), refused=True)

    @classmethod
    def between(cls, before: RunCounters, after: RunCounters, seconds: float, lag: dict[str, int]) -> BatchStats:
        d = {f: getattr(after, f) - getattr(before, f) for f in (
            "records_read", "changes_applied", "superseded", "duplicates_skipped", "stale_skipped", "ttl_ignored",
            "rejected", "bytes_read")}
        return cls(after.source, after.run_id, after.batches, d["records_read"], d["changes_applied"], d["superseded"],
                   d["duplicates_skipped"], d["stale_skipped"], d["ttl_ignored"], d["rejected"], d["bytes_read"],
                   seconds, dict(lag))


def modes_of(config: Config) -> Modes:
    return Modes(delete=config.delete_mode, ttl=config.ttl_mode(), fail_on_bad_record=config.on_bad_record == "fail",
                 router=make_router(config.routes), tables=table_modes_of(config), budget=config.column_budget)


def replicate(
    config: Config,
    source: Source,
    target: SqlTarget,
    *,
    on_batch: Callable[[RunCounters], None] | None = None,
    stop: threading.Event | None = None,
    follow: bool = False,
    observer: Callable[[BatchStats], None] | None = None,
) -> RunCounters:
    """Apply everything `source.read` yields. Returns the run's counters; raises on failure after
    marking the run failed (the failed batch is rolled back).

    With `follow` (continuous mode, a live source), batches come from `source.follow` until
    `stop` is set; the batch in hand is then committed and the run ends "ok". `observer` hears
    of each committed batch (metrics, logs)."""
    if config.change_log:
        target.ensure_change_log()
    if isinstance(source, InTargetSource):  # applied inside the target itself (redshift-mv://): no rows pass here
        return apply_in_target(config, source, target, on_batch=_observed(on_batch, observer), stop=stop, follow=follow)
    name = open_pipeline(config, source, target)
    keeper = start_leases(config, source, target, name, follow)
    try:
        return _replicate(config, source, target, name, keeper, on_batch=on_batch, stop=stop, follow=follow,
                          observer=observer)
    finally:
        if keeper is not None:
            keeper.stop()  # SIGTERM or the end: every lease given up at once


def open_pipeline(config: Config, source: Source, target: SqlTarget) -> str:
    """The pipeline's name, once its definition is checked against what the target remembers."""
    name = pipeline_name(config, source.uri)
    filters = filters_of(config)
    check_definition(name, target.read_pipeline(name), source.uri, target.schema, filters,
                     target.has_checkpoints(name), config.accept_filter_change)
    target.save_pipeline(name, source.uri, target.schema, filters)
    return name


def start_leases(config: Config, source: Source, target: SqlTarget, name: str, follow: bool) -> LeaseKeeper | None:
    """This worker's lease keeper, on a second connection; None where one writer is all there
    can be (DuckDB)."""
    conn = target.sibling()
    if conn is None:
        return None
    shards = source.list_shards if isinstance(source, ShardedSource) else None
    keeper = LeaseKeeper(conn, name, duration=config.lease_duration, renewal=config.lease_renewal, shards=shards,
                         steal=follow)
    try:
        keeper.start()
    except BaseException:
        conn.close()
        raise
    return keeper


def _replicate(config: Config, source: Source, target: SqlTarget, name: str, keeper: LeaseKeeper | None, *,
               on_batch: Callable[[RunCounters], None] | None, stop: threading.Event | None, follow: bool,
               observer: Callable[[BatchStats], None] | None) -> RunCounters:
    stop = stop or threading.Event()
    state = target.load_state()
    # runs.source and rejected.source never hold a password
    run = target.begin_run(mask(source.uri), name, keeper.owner if keeper else "")
    # A batch holds tens of thousands of acyclic objects; the cyclic GC would rescan them on every
    # allocation burst (measured: parsing 4x slower). Reference counting frees them; collect per batch.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    modes = modes_of(config)
    # Batch N commits on a worker thread (the database releases the GIL) while batch N+1 is read
    # and planned here; each batch is planned on the schema its predecessors will have, and
    # batches commit strictly in order. A failed commit fails the run, so planning ahead is safe.
    # When following a live source each batch is finished at once (metrics, lag stay current).
    applier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dynashift-apply")
    pending: _Pending | None = None
    try:
        target.expire_tombstones(config.tombstone_retention)
        while True:
            batches = _batches(source, target, follow, stop, name, keeper)
            try:
                for sb in batches:
                    if config.include or config.exclude:
                        sb.changes = [c for c in sb.changes if config.wants_table(c.table)]
                    _stamp(sb.checkpoints, name, keeper, source)
                    plan = build_plan(sb, state, target.naming, modes)
                    state.apply(plan.schema_changes)
                    lag = dict(sb.lag)
                    # Kept through its commit only to split it if the target refuses it (splitting.py); a
                    # source that can read it again where it lies does so then (_reread): its lines and
                    # changes are let go now, not held while the next batch is read and planned.
                    kept = None if isinstance(source, RereadableSource) else sb
                    del sb
                    # what planning freed goes back to the system before this batch waits for its
                    # predecessor's commit, whose DuckDB memory would stack on it (memory.py)
                    give_back_freed()
                    if pending is not None:
                        _finish(pending, config, source, target, run, observer, on_batch, follow, name, keeper)
                    pending = _Pending(plan, lag, kept, modes)
                    del kept
                    pending.start(applier, target, run, config.change_log)
                    # the batch before, let go by the worker at its commit (_Pending._commit), goes back to
                    # the system here while the worker applies this one: on the worker, whose work is the
                    # run's critical path, it cost ~9 ms a batch (wide 1M: 0.12 CPU-s of 14 batches)
                    give_back_freed()
                    if follow:  # a live source may wait long for the next batch: finish this one now
                        _finish(pending, config, source, target, run, observer, on_batch, follow, name, keeper)
                        pending = None
                    if stop.is_set():
                        break
                if pending is not None:
                    _finish(pending, config, source, target, run, observer, on_batch, follow, name, keeper)
                    pending = None
                break
            except LeaseLost as lost:
                # A zombie's batch (this worker was frozen or cut off past its lease): refused whole
                # by the fence. Drop those shards, re-read the rest from their checkpoints, go on.
                pending = None
                run.commits_refused += 1
                target.save_run(run)
                log.warning("%s; going on with the shards still held", lost)
                if observer is not None:
                    observer(BatchStats.refused_batch(run, keeper))
                state = target.load_state()
                if keeper is not None:
                    keeper.regrant()
                if stop.is_set():
                    break
            finally:
                batches.close()
    except BaseException as exc:
        _settle(pending)  # the batch in flight holds the connection until it commits or rolls back
        _drain(applier)  # also one whose Future a Ctrl-C inside submit() left unassigned
        end_failed(target, run, exc)
        raise
    finally:
        _settle(pending)
        applier.shutdown(wait=True)
        if gc_was_enabled:
            gc.enable()
    target.end_run(run, "ok")
    return run


def _settle(pending: _Pending | None) -> None:
    """Wait until a batch's commit in flight has ended, whatever its outcome, so that nothing else
    (`end_run`) uses the target's one connection at the same time. A Ctrl-C does not cut this
    wait short: the commit itself is bounded, a connection shared by two threads is not safe."""
    if pending is None or pending.future is None:
        return
    while not pending.future.done():
        with contextlib.suppress(BaseException):
            wait([pending.future])


def _drain(applier: ThreadPoolExecutor) -> None:
    """Wait until every batch handed to the worker thread has ended, whatever interrupts the wait."""
    while True:
        try:
            applier.shutdown(wait=True)
            return
        except BaseException:  # noqa: BLE001 - a second Ctrl-C does not cut this short either
            continue


@dataclasses.dataclass
class _Pending:
    """A planned batch and, once started, its commit in flight."""

    plan: Any
    lag: dict
    # kept until the commit: a batch the target refuses is split (splitting.py); None for a
    # RereadableSource, which reads it again then
    batch: SourceBatch | None = None
    modes: Modes | None = None
    future: Future | None = None
    started: float = 0.0
    before: RunCounters | None = None

    def start(self, applier: ThreadPoolExecutor, target: SqlTarget, run: RunCounters, change_log: bool) -> None:
        self.before = dataclasses.replace(run)
        self.started = time.monotonic()
        run.batch_started = self.started
        run.lag_ms = max(self.lag.values()) if self.lag else None
        self.future = applier.submit(self._commit, target, run, change_log)

    def _commit(self, target: SqlTarget, run: RunCounters, change_log: bool) -> None:
        """The batch's transaction, on the worker thread. Once it has committed, the source batch
        (kept only to split a refused batch) and the staged rows are let go at once rather than when
        the next batch has been planned, so that they are not held while the next batch is read;
        the main thread gives their memory back to the system (memory.py) once it has handed
        the worker the next batch."""
        target.apply(self.plan, run, change_log=change_log)
        self.batch = None
        self.plan.stages, self.plan.history, self.plan.unrenderable = [], [], []


def _finish(pending: _Pending, config: Config, source: Source, target: SqlTarget, run: RunCounters,
            observer: Callable[[BatchStats], None] | None, on_batch: Callable[[RunCounters], None] | None,
            follow: bool, name: str = "", keeper: LeaseKeeper | None = None) -> None:
    """Wait for a batch's commit, then do what follows a commit, in batch order."""
    try:
        pending.future.result()  # re-raises the commit's error here
    except DataTargetError as exc:
        if config.on_bad_record == "fail" or pending.modes is None:
            raise
        if pending.batch is None and not isinstance(source, RereadableSource):
            raise
        batch = pending.batch or _reread(config, source, target, name, keeper, pending.plan.checkpoints)
        apply_split(target, batch, pending.plan, run, pending.modes, config.change_log, exc)
    pending.batch = None
    if pending.lag:
        target.write_lag(source.uri, pending.lag, name)
    if observer is not None:
        stats = BatchStats.between(pending.before, run, time.monotonic() - pending.started, pending.lag)
        stats.rejects = tuple(pending.plan.rejected)
        stats.leases = lease_counts(run, keeper)
        observer(stats)
    pending.plan = None
    # A long run must not keep old cycles. Not after every batch: a young-generation pass walks every
    # object of the batch being planned meanwhile (measured: ~50 ms per 50,000 records, on the main thread).
    if follow and run.batches % 100 == 0:
        gc.collect(2)
    elif run.batches % 10 == 0:
        gc.collect(0)
    if on_batch is not None:
        on_batch(run)


def _reread(config: Config, source: RereadableSource, target: SqlTarget, name: str, keeper: LeaseKeeper | None,
            checkpoints: list[Checkpoint]) -> SourceBatch:
    """A refused batch of a source that reads where its records lie, read again from the
    checkpoints committed before it: the same records, cut at the same place. Fails the run (a
    later run starts from those checkpoints) if the source no longer ends that batch where it did."""
    with contextlib.closing(source.reader().read(target.read_checkpoints(name))) as batches:
        sb = next(batches, None)
    where = [(cp.shard, cp.position, cp.size) for cp in checkpoints]
    if sb is None or [(cp.shard, cp.position, cp.size) for cp in sb.checkpoints] != where:
        raise SourceError(f"source {mask(source.uri)} changed since its refused batch was read; run again to read it"
                          " anew")
    if config.include or config.exclude:
        sb.changes = [c for c in sb.changes if config.wants_table(c.table)]
    _stamp(sb.checkpoints, name, keeper, source)
    return sb


def _observed(on_batch: Callable[[RunCounters], None] | None,
              observer: Callable[[BatchStats], None] | None) -> Callable[[RunCounters], None] | None:
    """For a source applied inside the target (its own loop calls `on_batch`): tell `observer` of
    each batch too, from the difference of the run's counters."""
    if observer is None:
        return on_batch
    last: list[RunCounters] = []

    def hook(run: RunCounters) -> None:
        before = last[0] if last else RunCounters(run.run_id, run.source)
        observer(BatchStats.between(before, run, run.batch_seconds or 0.0, {}))
        last[:] = [dataclasses.replace(run)]
        if on_batch is not None:
            on_batch(run)

    return hook


def _batches(source: Source, target: SqlTarget, follow: bool, stop: threading.Event, name: str,
             keeper: LeaseKeeper | None) -> Iterator[SourceBatch]:
    if keeper is not None and not isinstance(source, ShardedSource):
        if not keeper.wait_for(WHOLE, stop):  # another worker applies it: wait, then find what is left
            return
    checkpoints = target.read_checkpoints(name)
    if isinstance(source, ShardedSource):
        leases = keeper
        batches = source.follow(checkpoints, stop, leases) if follow else source.read(checkpoints, leases)
    else:
        live = follow and isinstance(source, LiveSource)
        batches = source.follow(checkpoints, stop) if live else source.read(checkpoints)
    with contextlib.closing(batches):  # a live source stops its shard readers when closed
        yield from batches


def lease_counts(run: RunCounters, keeper: LeaseKeeper | None) -> dict[str, int] | None:
    if keeper is None:
        return None
    c = keeper.counts
    return {"held": c.held, "taken": c.taken, "stolen": c.stolen, "lost": c.lost, "commits_refused": run.commits_refused}


def _stamp(checkpoints: list[Checkpoint], name: str, keeper: LeaseKeeper | None, source: Source) -> None:
    """Checkpoints carry the pipeline; a whole-source lease (files, exports) fences each batch."""
    whole = keeper is not None and not isinstance(source, ShardedSource)
    counter = keeper.held().get(WHOLE, -1) if whole and keeper is not None else -1
    for cp in checkpoints:
        cp.pipeline = name
        if whole and keeper is not None:
            cp.lease = (keeper.owner, counter, WHOLE)


def replicate_every(
    config: Config,
    source: Source,
    target: SqlTarget,
    interval: float,
    *,
    stop: threading.Event,
    on_batch: Callable[[RunCounters], None] | None = None,
    on_run: Callable[[RunCounters], None] | None = None,
    observer: Callable[[BatchStats], None] | None = None,
) -> list[RunCounters]:
    """Scheduled mode (`--interval`): apply what the source holds, sleep `interval` seconds,
    repeat until `stop` is set — one `runs` row per wake, so warehouse load stays bounded."""
    runs: list[RunCounters] = []
    while not stop.is_set():
        runs.append(replicate(config, source, target, on_batch=on_batch, stop=stop, observer=observer))
        if on_run is not None:
            on_run(runs[-1])
        stop.wait(interval)
    return runs
