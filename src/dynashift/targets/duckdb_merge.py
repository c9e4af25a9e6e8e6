"""DuckDB's merge: a whole batch judged at once against dynashift.versions.

DuckDB joins never use an index: every join with dynashift.versions (every table's keys) or
with a user table scans it whole, and each statement has a fixed cost of its own. The shared
merge (base.py `merge_staged`) spends about ten statements per table and batch. Here a batch's
keys, of all its tables, are judged by one join with versions; versions is written by one DELETE
and one INSERT for the whole batch; each table then takes one DELETE (skipped where it cannot
find a row) and one INSERT. Soft-delete mode's batches are merged the same way by
duckdb_soft_merge.py; a batch naming a table twice keeps the per-table merge, with the versions
of the batch's keys read once (`judging`).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import Any, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import TargetError
from ..model import SOFT_DELETE, UPSERT, TableStage
from ..schema import DIST_KEY, STAGE_EVENT, STAGE_OP, STAGE_SEQ, STAGE_VERSION
from .batch_keys import batch_keys, table_names
from .batch_verdicts import TABLE, log_winners, table_counts
from .duckdb_soft_merge import merge_soft_stages
from .metadata import META
from .quoting import quote
from .soft_deletes import values_version_sql

SEEN = "_dynashift_seen"  # the versions rows of a batch's keys (`judging`)
REPLACED = "_dynashift_replaced"  # the row ids of those rows written anew (`_rewrite_versions`)
BATCH = "_dynashift_batch"  # the judged columns of every stage of a batch, then their verdicts (`merge_stages`)
ROW = "_dynashift_row"  # a row's place in BATCH (1, 2, ...)
TIES = "_dynashift_ties"  # the rows of BATCH of the same version as their key's versions row (`_judge_ties`)
MOVED = "_dynashift_moved"  # those of them whose versions row moves to a later seq, with its columns
STAGE = "_dynashift_stage"  # a table's stage with whether each row wins (`_merge_winners`)
KEYS = "_dynashift_replaced_keys"  # the keys of a table's rows its winners replace (`_delete_replaced`)

# What a row of BATCH carries, and its Arrow type: every stage's columns cast to one type each.
_JUDGED = ((DIST_KEY, pa.string()), (STAGE_OP, pa.string()), (STAGE_VERSION, pa.int64()), (STAGE_SEQ, pa.string()),
           (STAGE_EVENT, pa.string()))


def _in_batch_order(rows: pa.ChunkedArray) -> pa.Array:
    """The indices that put the rows of a join's result (each with its place in BATCH, ROW: 1, 2,
    ...) back in BATCH's order: the permutation's inverse (pyarrow 20; a sort before it, 7.5 ms
    for 68k rows where the inverse takes 0.5 ms)."""
    if hasattr(pc, "inverse_permutation"):
        return pc.inverse_permutation(pc.subtract(rows.combine_chunks(), 1))
    return pc.sort_indices(rows)


def _count(mask: pa.Array) -> int:
    return pc.sum(mask).as_py() or 0


def _unused(name: str, data: pa.Table) -> str:
    """`name`, or `name_`, `name__`, ...: a column name `data` does not have (an attribute may be
    mapped onto any name that is not reserved)."""
    while name in data.schema.names:
        name += "_"
    return name


class DuckDBMerge:
    """The merge half of DuckDBTarget (a mixin before SqlTarget): `merge_stages` for a batch,
    `judging`/`_rewrite_versions`/`version_row` for the per-table merge it falls back to."""

    _seen = False  # inside `judging`, with the batch's versions read into SEEN
    _replaced = False  # REPLACED made: rows of versions to delete when the merges are done

    def merge_stages(self, stages: Sequence[TableStage], change_log: bool) -> list[tuple[str, int, int, int]]:
        """Judge every staged row of the batch in one join with versions (`_judge_batch`); write
        versions by one DELETE of the rows replaced (by row id) and one INSERT of the rows new or
        moved; then per table one DELETE of the rows replaced and one INSERT of the winners."""
        tables = [stage.table for stage in stages]
        if stages and len(set(tables)) == len(tables) and all(stage.soft for stage in stages):
            return merge_soft_stages(self, stages, change_log)  # type: ignore[arg-type]  # (duckdb_soft_merge.py)
        if not stages or len(set(tables)) < len(tables) or any(stage.soft for stage in stages):
            return super().merge_stages(stages, change_log)  # type: ignore[misc]
        try:
            verdicts, seen, moved = self._judge_batch(stages)
            wins, dups = pc.equal(verdicts, "W"), pc.equal(verdicts, "D")
            replaces = pc.and_(wins, seen)
            self._write_versions(wins, replaces, moved)
            results, first = [], 0
            for stage in stages:
                rows = stage.data.num_rows
                won, known = wins.slice(first, rows), seen.slice(first, rows)
                applied, replaced = _count(won), _count(replaces.slice(first, rows))
                counts = {("W", True): applied - replaced, ("W", False): replaced, ("D", False): _count(dups.slice(first, rows))}
                first += rows
                applied, duplicates, stale = table_counts(counts, rows)
                if applied:
                    self._merge_winners(stage, applied, applied - replaced, won, known)
                stage.data = stage.data.schema.empty_table()  # not held through the COMMIT (REAPPLIES_PLANS)
                results.append((stage.table, applied, duplicates, stale))
            if change_log and any(r[1] for r in results):
                log_winners(self, f"{BATCH} s")
        finally:
            for staged in (BATCH, TIES, MOVED):
                self._unstage(staged)
        return results

    def _judge_batch(self, stages: Sequence[TableStage]) -> tuple[pa.Array, pa.Array, bool]:
        """Each staged row's verdict (base.py `verdict_sql`) and whether its key has a versions
        row, as Arrow in the batch's order; BATCH registered again with them (`_verdict`,
        `_vrow`: that row's id), and MOVED, the redeliveries that move their key's versions row
        to a later seq, with the columns of that row the rewrite keeps. Returns (verdicts, seen,
        whether MOVED has rows).

        In two steps: the join with all of versions reads only its keys and version_us, which
        settle nearly every verdict ('W' newer or never seen, 'S' older); the few rows of the same
        version ('T') are judged by `verdict_sql` against their versions row, read by row id (a
        join DuckDB filters by the row ids it is given). Reading every column of versions for
        every key was most of the judging, which grows with versions (wide 1M, 333k rows of
        versions, a 66k-key batch: 0.13-0.18 -> 0.09-0.12 CPU-s).

        The verdicts come back to Arrow rather than into a temp table: DuckDB wrote each of a
        batch's rows into it with a dozen columns (mostly NULLs kept for the few tied rows), and
        the statements after it joined it back to BATCH or to each stage. In Arrow, beside BATCH
        and the stages (`_merge_winners`), they are filters: no join."""
        from .base import verdict_sql

        columns: dict[str, Any] = {TABLE: table_names(stages)}
        for name, kind in _JUDGED:
            columns[name] = pa.chunked_array([c.cast(kind) for s in stages for c in s.data.column(name).chunks], kind)
        rows = sum(s.data.num_rows for s in stages)
        columns[ROW] = pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), rows))  # no Python list
        batch = pa.table(columns)
        staged = self.stage_rows(BATCH, batch)
        ver, dk = quote(STAGE_VERSION), quote(DIST_KEY)
        judged = self.query_arrow(  # type: ignore[attr-defined]
            f"SELECT s.{ROW}, CASE WHEN v.rowid IS NULL OR s.{ver} > v.version_us THEN 'W' WHEN s.{ver} = v.version_us"
            f" THEN 'T' ELSE 'S' END AS _verdict, v.rowid AS _vrow FROM {staged} s LEFT JOIN {META}.versions v"
            f" ON v.table_name = s.{TABLE} AND v.dist_key = s.{dk}")
        if judged.num_rows != rows:
            raise TargetError(f"dynashift.versions holds a key twice: {judged.num_rows:,} verdicts for {rows:,} rows")
        order = _in_batch_order(judged.column(0))
        verdicts, vrows = judged.column(1).take(order).combine_chunks(), judged.column(2).take(order).combine_chunks()
        tied, moved = pc.equal(verdicts, "T"), False
        if pc.any(tied).as_py():
            ties, moved = self._judge_ties(staged, batch.column(ROW).filter(tied), vrows.filter(tied), verdict_sql())
            verdicts = pc.replace_with_mask(verdicts, tied, ties)
        self.con.register(BATCH, batch.append_column("_verdict", verdicts).append_column("_vrow", vrows))  # type: ignore[attr-defined]
        return verdicts, pc.is_valid(vrows), moved

    def _judge_ties(self, staged: str, rows: pa.ChunkedArray, vrows: pa.Array, judge: str) -> tuple[pa.Array, bool]:
        """The rows of BATCH (`rows`) of the same version as their key's versions row (`vrows`,
        its row id) judged by `verdict_sql` (`judge`) against it. Returns their verdicts, in
        BATCH's order, and whether some are duplicates that move their versions row to a later
        seq: those are registered as MOVED, with the columns of that row the rewrite keeps."""
        self.con.register(TIES, pa.table({ROW: rows, "_vrow": vrows}))  # type: ignore[attr-defined]
        seq = quote(STAGE_SEQ)
        judged = self.query_arrow(  # type: ignore[attr-defined]
            f"SELECT s.{ROW}, {judge} AS _verdict, s.{seq} > v.seq AS _moved, w._vrow, s.{TABLE}, s.{quote(DIST_KEY)},"
            f" s.{quote(STAGE_VERSION)}, s.{seq}, v.event_id, v.deleted, v.written_at, v.values_version_us, v.values_seq"
            f" FROM {TIES} w JOIN {META}.versions v ON v.rowid = w._vrow JOIN {staged} s ON s.{ROW} = w.{ROW}"
            f" ORDER BY s.{ROW}")
        if judged.num_rows != len(rows):
            raise TargetError(f"dynashift.versions lost rows while judging: {judged.num_rows:,} of {len(rows):,} ties")
        verdicts = judged.column(1).combine_chunks()
        moved = judged.filter(pc.and_(pc.equal(verdicts, "D"), pc.fill_null(judged.column(2), False)))
        self.con.register(MOVED, moved)  # type: ignore[attr-defined]
        return verdicts, moved.num_rows > 0

    def _unstage(self, staged: str) -> None:
        """`drop_stage`, quiet in a transaction a failed statement aborted: its error is the one
        to raise (a data error splits the batch), not "current transaction is aborted"."""
        with contextlib.suppress(TargetError):
            self.drop_stage(staged)

    def _write_versions(self, wins: pa.Array, replaces: pa.Array, moved: bool) -> None:
        """Every winner's versions row written anew (`wins`: the rows of BATCH that win), and a
        redelivery's moved to its later seq (MOVED; base.py `_rewrite_versions` says why); the
        rows they replace deleted by row id first (`replaces`: the winners whose key had one):
        a DuckDB UPDATE rewrites every column block it touches (`_rewrite_versions` below; wide 1M,
        batch 13 replayed: an UPDATE of the known keys 0.20 CPU-s and its commit +0.85). The DELETE
        takes the row ids as `rowid IN (...)`: as a join (DELETE ... USING) it cost 0.020-0.037
        CPU-s, 0.013-0.016 so (same batch)."""
        replaced = [f"SELECT _vrow FROM {BATCH} WHERE _verdict = 'W' AND _vrow IS NOT NULL"]
        rows = [f"SELECT {TABLE}, {quote(DIST_KEY)}, {quote(STAGE_VERSION)}, {quote(STAGE_SEQ)}, {quote(STAGE_EVENT)},"
                f" {quote(STAGE_OP)} <> '{UPSERT}', {self.NOW}, NULL, NULL FROM {BATCH} WHERE _verdict = 'W'"]  # type: ignore[attr-defined]
        if moved:  # (`_judge_ties`) the columns of the row it replaces, but the seq
            replaced.append(f"SELECT _vrow FROM {MOVED}")
            rows.append(f"SELECT {TABLE}, {quote(DIST_KEY)}, {quote(STAGE_VERSION)}, {quote(STAGE_SEQ)}, event_id, deleted,"
                        f" written_at, values_version_us, values_seq FROM {MOVED}")
        if moved or pc.any(replaces).as_py():
            self.execute(f"DELETE FROM {META}.versions WHERE rowid IN ({' UNION ALL '.join(replaced)})")
        if moved or pc.any(wins).as_py():
            self.execute(f"INSERT INTO {META}.versions (table_name, dist_key, version_us, seq, event_id, deleted, written_at,"
                         f" values_version_us, values_seq) {' UNION ALL '.join(rows)}")

    def _merge_winners(self, stage: TableStage, applied: int, fresh: int, wins: pa.Array, known: pa.Array) -> None:
        """One table's winners into it: the rows they replace deleted, then the winners inserted.
        In a table this target made (made_here) a key never seen has no row: no DELETE when no
        winner was seen before, and the rows go in from the stage alone when all of it wins.
        Otherwise the stage is staged with whether each row wins (`wins`), which selects the rows
        inserted; `known`: whether the row's key has a versions row (`_delete_replaced`)."""
        table = stage.table
        made_here = self.made_here(table)
        casts = self.casts(stage)
        if made_here and applied == fresh == stage.data.num_rows:
            staged = self.stage(stage)
            try:
                self.execute(self.insert_rows_sql(table, stage.columns, f"{staged} s", "s", casts))
            finally:
                self._unstage(staged)
            return
        win = _unused("_dynashift_wins", stage.data)
        staged = self.stage_rows(STAGE, stage.data.append_column(win, wins))
        try:
            if not (made_here and applied == fresh):
                self._delete_replaced(stage, wins, known if made_here else None)
            rows = f"(SELECT * FROM {staged} WHERE {quote(win)}) s"
            self.execute(self.insert_rows_sql(table, stage.columns, rows, "s", casts))
        finally:
            self._unstage(staged)

    def _delete_replaced(self, stage: TableStage, wins: pa.Array, known: pa.Array | None) -> None:
        """The rows of `stage.table` its winners replace, deleted: the keys of the winners that
        are not soft deletes (and whose key has a versions row: `known`, in a table made here)
        picked in Arrow and registered alone, one column. The DELETE's join builds its hash table
        from them, not from a filter over the whole stage's scan (wide 1M, batch 13 replayed:
        0.059 -> 0.050 CPU-s for its six DELETEs, the Arrow filter included)."""
        replaces = pc.and_(wins, pc.not_equal(stage.data.column(STAGE_OP), SOFT_DELETE))
        if known is not None:
            replaces = pc.and_(replaces, known)
        keys = pa.table({DIST_KEY: stage.data.column(DIST_KEY).filter(replaces)})
        if not keys.num_rows:
            return
        dk = quote(DIST_KEY)
        self.con.register(KEYS, keys)  # type: ignore[attr-defined]  # not stage_rows: no table's share (duckdb.py _commit)
        try:
            self.execute(f"DELETE FROM {self.table_ref(stage.table)} WHERE {dk} IN (SELECT {dk} FROM {KEYS})")  # type: ignore[attr-defined]
        finally:
            self._unstage(KEYS)

    # ------------------------------------------------------------ the per-table merge (base.py)

    @contextlib.contextmanager
    def judging(self, stages: Sequence[TableStage]) -> Iterator[None]:
        """Around the per-table merges: one join here reads the versions rows of the batch's
        keys, of all its tables, with their row ids; each table's merge then judges against
        those, and rewrites the rows it changes by row id (`_rewrite_versions`)."""
        tables = [stage.table for stage in stages]
        if not tables or len(set(tables)) < len(tables):
            yield  # a table twice: its second merge must see what the first wrote to versions
            return
        staged = self.stage_rows("_dynashift_batch_keys", batch_keys(stages))
        self.execute(f"DROP TABLE IF EXISTS {SEEN}")
        self.execute(f"CREATE TEMP TABLE {SEEN} AS SELECT v.*, v.rowid AS _rowid FROM {META}.versions v"
                     f" JOIN {staged} k ON v.table_name = k.table_name AND v.dist_key = k.dist_key")
        self.drop_stage(staged)
        self._seen, self._replaced = True, False
        try:
            yield
            if self._replaced:  # one DELETE for all tables: each is a join with all of versions' row ids
                self.execute(f"DELETE FROM {META}.versions USING {REPLACED} r WHERE {META}.versions.rowid = r._rowid")
        finally:
            self._seen = False
            with contextlib.suppress(TargetError):  # after a failed statement, the rollback drops them
                self.execute(f"DROP TABLE IF EXISTS {SEEN}")
                self.execute(f"DROP TABLE IF EXISTS {REPLACED}")

    def known_versions(self) -> str:
        return SEEN if self._seen else super().known_versions()  # type: ignore[misc]

    def _rewrite_versions(self, table: str, winners: str, soft: bool) -> None:
        """When judging, the changed rows of dynashift.versions are written anew and the old ones
        deleted by row id, not updated: a DuckDB UPDATE reads and rewrites every column block it
        touches, and a batch's keys touch all of them (the table is the tables' keys, in no key
        order), so its cost grew with the table, faster once it outgrew the buffer pool
        (bench/versions_growth.py, 30,000 of 3M rows: 1.5 CPU-s with its commit, 0.1 this way).
        A deletion touches no column; the next checkpoints vacuum the deleted rows. The new row
        is the one `SqlTarget._rewrite_versions` would have made: the old one is in SEEN. The old
        rows are deleted when the batch's merges are done (`judging`), but at once in soft-delete
        mode, whose late values are matched with versions by key (soft_deletes.late_values)."""
        if not self._seen:
            super()._rewrite_versions(table, winners, soft)  # type: ignore[misc]
            return
        seq, won = quote(STAGE_SEQ), "w._verdict = 'W'"
        moved = f"({won} OR (w._verdict = 'D' AND w.{seq} > v.seq))"
        values = values_version_sql() if soft else ("NULL", "NULL")
        self.execute(
            f"INSERT INTO {META}.versions SELECT v.table_name, v.dist_key, w.{quote(STAGE_VERSION)}, w.{seq},"
            f" CASE WHEN {won} THEN w.{quote(STAGE_EVENT)} ELSE v.event_id END,"
            f" CASE WHEN {won} THEN w.{quote(STAGE_OP)} <> '{UPSERT}' ELSE v.deleted END,"
            f" CASE WHEN {won} THEN {self.NOW} ELSE v.written_at END,"
            f" CASE WHEN {won} THEN {values[0]} ELSE v.values_version_us END,"
            f" CASE WHEN {won} THEN {values[1]} ELSE v.values_seq END"
            f" FROM {winners} w JOIN {SEEN} v ON v._rowid = w._vrow WHERE {moved}"
        )
        replaced = f"SELECT w._vrow AS _rowid FROM {winners} w JOIN {SEEN} v ON v._rowid = w._vrow WHERE {moved}"
        if soft:
            self.execute(f"DELETE FROM {META}.versions WHERE rowid IN ({replaced})")
            return
        self.execute(f"INSERT INTO {REPLACED} {replaced}" if self._replaced else f"CREATE TEMP TABLE {REPLACED} AS {replaced}")
        self._replaced = True

    def version_row(self, table: str) -> tuple[str, str, list[Any]]:
        """A winner's row of dynashift.versions by its row id, read when judging: matching it
        again by key would scan the whole table, and within the batch's transaction the id
        stays the row's (no checkpoint runs in between)."""
        return ("v._rowid" if self._seen else "v.rowid"), f"{META}.versions.rowid = w._vrow", []

