"""A full load's batch appended to a fresh table, without judging it against dynashift.versions.

Why: a full load into a table this target has just created is all new keys, yet the merge
(base.SqlTarget.merge_staged, DuckDB's `judging`) reads the versions rows of every batch's keys,
builds the winners and counts them, to learn each time that nothing is there: on the 1M export
that was 0.7-0.8 CPU-s of the applying thread, the load's critical path (SEEN 0.50, winners 0.14,
counts and drops), growing with dynashift.versions.

When: every stage of the batch is a plain stage (no typed columns, soft deletes, history or
change log) of full-load items (all upserts, seq "" and no event id: export.FULL_SEQ) into a table
this target created (`made_here`), which held no versions rows when it was first appended to, and
none of whose keys was appended before. The keys appended are remembered in a temporary table
(a 64-bit hash of table and key), written in the batch's transaction, so a rolled-back batch
leaves nothing there. A key met again (a second export of the table, a replayed batch, or a hash
shared by two keys) sends the batch to the merge; so does anything else. Once a table was merged
it is never appended to again in this connection: the merge may write versions rows this path
does not know of.

What: the rows the merge's new-keys path would write (the user table from the stage, the versions
rows of new keys), the same values; the applied count is the batch's rows. The user table's INSERT
runs on two of DuckDB's threads, its rows' order not kept (`INSERT_THREADS`: why, with numbers).
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Iterator, Protocol, Sequence, runtime_checkable
from weakref import WeakKeyDictionary

import pyarrow as pa
import pyarrow.compute as pc

from ..model import UPSERT, BatchPlan, TableStage
from ..schema import DIST_KEY, STAGE_EVENT, STAGE_OP, STAGE_SEQ, STAGE_VERSION
from .batch_keys import batch_keys
from .metadata import META
from .quoting import quote

if TYPE_CHECKING:
    from .base import SqlTarget

LOADED = "_dynashift_appended_keys"  # temp table: hash(table_name, dist_key) of every key appended
_STAGE = "_dynashift_stage"


@runtime_checkable
class Appender(Protocol):
    """A target this module's SQL is written for (DuckDB's: hash(), UBIGINT, a temp table that
    lives as long as its connection `con`, SET threads / preserve_insertion_order around the
    INSERT, `threads` its run's thread count). `APPENDS_FULL_LOADS` False turns the appends off."""

    APPENDS_FULL_LOADS: bool
    con: object
    threads: int


class _Tables:
    """Per connection: table -> whether appends may go on (False once the table was merged)."""

    def __init__(self, con: object):
        self.con = con
        self.appending: dict[str, bool] = {}
        self.unrestored = False  # a failed INSERT left its settings (an aborted transaction refuses SET)


_STATE: WeakKeyDictionary = WeakKeyDictionary()


def _tables(target: Appender) -> _Tables:
    """The connection's state; a new connection (reopened target) starts anew, as its temp table does."""
    con = target.con
    state = _STATE.get(target)
    if state is None or state.con is not con:
        state = _STATE[target] = _Tables(con)
    return state


def _full_load_items(data: pa.Table) -> bool:
    """Every row an upsert of a full load: seq "" and no event id (export.FULL_SEQ)."""
    for name, value in ((STAGE_OP, UPSERT), (STAGE_SEQ, ""), (STAGE_EVENT, "")):
        column = data.column(name)
        if column.null_count or not pc.all(pc.equal(column, value)).as_py():
            return False
    return True


def appended_or_merged(target: SqlTarget, plan: BatchPlan, change_log: bool) -> list[tuple[str, int, int, int]]:
    """The batch's stages appended (a full load into tables just made) or merged (`merge_stages`):
    (table, applied, duplicates, stale) per stage. Inside the batch's transaction, after its
    schema changes (a table it creates is then made here)."""
    if isinstance(target, Appender) and _tables(target).unrestored:
        _restore(target)
    if appends(target, plan, change_log):
        return append_stages(target, plan.stages)
    return target.merge_stages(plan.stages, change_log)


def appends(target: SqlTarget, plan: BatchPlan, change_log: bool) -> bool:
    """Whether the batch is appended (`append` per stage, no `judging`) rather than merged. Called
    inside the batch's transaction, after its schema changes. A batch merged ends the appends of
    its tables."""
    if not (isinstance(target, Appender) and target.APPENDS_FULL_LOADS):
        return False
    state = _tables(target)
    stages = plan.stages
    tables = [s.table for s in stages]
    eligible = (
        bool(stages) and not change_log and not plan.history and len(set(tables)) == len(tables)
        and all(type(s) is TableStage and not s.soft and target.made_here(s.table)
                and state.appending.get(s.table, True) and _full_load_items(s.data) for s in stages)
        and _fresh(target, state, stages)
    )
    if not eligible:
        for table in tables:
            state.appending[table] = False
    return eligible


def _fresh(target: SqlTarget, state: _Tables, stages: Sequence[TableStage]) -> bool:
    """No key of the batch is in dynashift.versions: a table met for the first time has no
    versions rows at all, and no key of the batch was appended before."""
    target.execute(f"CREATE TEMP TABLE IF NOT EXISTS {LOADED} (h UBIGINT)")
    for stage in stages:
        if stage.table not in state.appending:
            (n,) = target.query(f"SELECT count(*) FROM {META}.versions WHERE table_name = ?", [stage.table])[0]
            if n:
                return False
    staged = target.stage_rows("_dynashift_batch_keys", batch_keys(stages))
    try:
        (met,) = target.query(f"SELECT count(*) FROM {LOADED} WHERE h IN (SELECT hash(table_name, dist_key) FROM {staged})")[0]
        if met:
            return False
        target.execute(f"INSERT INTO {LOADED} SELECT hash(table_name, dist_key) FROM {staged}")
    finally:
        target.drop_stage(staged)
    for stage in stages:
        state.appending[stage.table] = True
    return True


def append_stages(target: SqlTarget, stages: Sequence[TableStage]) -> list[tuple[str, int, int, int]]:
    """Each stage appended (`append`), its rows let go once written unless the target may apply
    the plan again. Returns (table, applied, duplicates, stale) per stage, as merge_stages does."""
    results = []
    for stage in stages:
        results.append((stage.table, *append(target, stage)))
        if not target.REAPPLIES_PLANS:
            stage.data = stage.data.schema.empty_table()
    return results


def append(target: SqlTarget, stage: TableStage) -> tuple[int, int, int]:
    """The stage's rows into its table and their versions rows, as the merge writes new keys.
    Returns (applied, duplicates, stale)."""
    p, dk = target.param, quote(DIST_KEY)
    staged = target.stage_rows(_STAGE, stage.data)
    try:
        with _in_parallel(target):
            target.execute(target.insert_rows_sql(stage.table, stage.columns, f"{staged} s", "s", None))
        target.execute(
            f"INSERT INTO {META}.versions SELECT {p}, {dk}, {quote(STAGE_VERSION)}, {quote(STAGE_SEQ)},"
            f" {quote(STAGE_EVENT)}, false, {target.NOW}, NULL, NULL FROM {staged}",
            [stage.table],
        )
    finally:
        target.drop_stage(staged)
    return stage.data.num_rows, 0, 0


# DuckDB compresses a stage's row groups as it inserts them (optimistic writes): ~2/3 of a full
# load's applying thread, the load's critical path (1M export: dict_fsst in the INSERT and at the
# COMMIT's flush of the row groups it buffered). While it keeps the stage's row order
# (preserve_insertion_order) it inserts on one thread: given a second, its worker ran the INSERT
# while the applying thread waited (bench/thread_states.py --export: the worker runnable alone).
# With the order not kept, each of INSERT_THREADS threads inserts and compresses whole record
# batches of the stage (chunks of 16,384 rows, export_native.CHUNK: two row groups each) and
# flushes its row groups within the INSERT. A table's row order is not part of its contents. The
# run's own thread count again right after (the versions INSERT, the COMMIT: DuckDBTarget.threads).
# 1M export, prioritized runs (own autogroup, nice -20), 3 interleaved pairs: 83.4k/91.2k/83.9k ->
# 95.6k/106.2k/95.0k items/s; applying thread 8.6-9.4 -> 4.8-5.7 CPU-s (COMMIT 1.77 -> 0.42),
# process 16.0-19.2 -> 15.1-17.2 CPU-s; peak RSS 468-469 -> 455-470 MiB; file 378 -> 401 MB
# (each thread fills partial blocks of its own).
# ref: https://duckdb.org/docs/configuration/overview (preserve_insertion_order, threads)
INSERT_THREADS = 2


def _run_threads(target: SqlTarget) -> int:
    """The run's own thread count (`Appender.threads`): only an Appender's stages are appended."""
    assert isinstance(target, Appender)
    return int(target.threads)


def _insert_threads(target: SqlTarget) -> int:
    """DuckDB's threads for a full load's INSERT: at least INSERT_THREADS where there are cores for them."""
    threads = _run_threads(target)
    return max(threads, INSERT_THREADS) if (os.cpu_count() or 1) > 1 else threads


@contextlib.contextmanager
def _in_parallel(target: SqlTarget) -> Iterator[None]:
    """The statement inside on `_insert_threads`, insertion order not kept. Not restored when it
    fails (an aborted transaction refuses SET): the next batch's appended_or_merged restores it."""
    threads = _insert_threads(target)
    if threads <= 1:
        yield
        return
    state = _tables(target)
    state.unrestored = True
    target.execute(f"SET threads = {threads}")
    target.execute("SET preserve_insertion_order = false")
    yield
    _restore(target)


def _restore(target: SqlTarget) -> None:
    target.execute(f"SET threads = {_run_threads(target)}")
    target.execute("RESET preserve_insertion_order")
    _tables(target).unrestored = False
