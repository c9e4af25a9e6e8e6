"""Soft-delete mode on DuckDB's batch merge (duckdb_merge.py): a whole batch judged at once.

Why: soft-delete mode kept the per-table merge (base.py `merge_staged` with soft_deletes.py), about
fifteen statements per table and batch, each a scan in DuckDB (no join uses an index); the per-batch
CPU of a soft run grew with the tables. Here, as for hard deletes, every staged row of the batch is
judged by one join with dynashift.versions and versions is written by one DELETE and one INSERT;
each table then takes a DELETE and an INSERT, plus soft-delete mode's own statements only where the
batch needs them: the key-only rows and marks of soft REMOVEs (`soft_deletes.soft_delete`) when
the table has such winners, and late values (`soft_deletes.late_values`) when a losing upsert meets
a soft-deleted key.

What is written is exactly what the per-table merge writes (tests/integration/
test_duckdb_soft_batch_merge.py compares tables, versions, change log and counters): the same
verdicts (`verdict_sql`), a soft REMOVE yielding to newer values the row already shows
(`keep_newer_values`, run on the verdicts before versions are written), the same values version
per winner (`values_version_sql`), and late values matched against versions once the batch's
winners are in it, as there. Like the per-table merge in soft mode, no shortcut skips a table's
DELETE for keys never seen: a soft-deleted row may outlive its versions row (expire_tombstones).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Sequence

import pyarrow as pa

from ..errors import TargetError
from ..model import SOFT_DELETE, UPSERT, TableStage
from ..schema import CHANGED_AT, DIST_KEY, STAGE_EVENT, STAGE_OP, STAGE_SEQ, STAGE_VALUES_SEQ, STAGE_VALUES_VERSION, \
    STAGE_VERSION
from .batch_keys import table_names
from .batch_verdicts import TABLE, VERDICTS, log_winners
from .metadata import META
from .quoting import quote
from .soft_deletes import keep_newer_values, late_values, soft_delete, values_version_sql

if TYPE_CHECKING:
    from .duckdb import DuckDBTarget

BATCH = "_dynashift_soft_batch"  # the judged columns of every stage of the batch
SOFT = "_dynashift_soft_winners"  # one table's soft REMOVEs that won (`soft_deletes.soft_delete`)

# What a row of BATCH carries: the hard merge's columns, the values version of a soft REMOVE with
# values, and the change time (the key-only row of a soft REMOVE carries it).
_JUDGED = ((DIST_KEY, pa.string()), (STAGE_OP, pa.string()), (STAGE_VERSION, pa.int64()), (STAGE_SEQ, pa.string()),
           (STAGE_EVENT, pa.string()), (STAGE_VALUES_VERSION, pa.int64()), (STAGE_VALUES_SEQ, pa.string()))

# A staged row's counts, keyed by (verdict, key never seen, a soft REMOVE, an upsert meeting a
# soft-deleted key): the last two say which of soft mode's statements a table needs.
Counts = dict[tuple[str, bool, bool, bool], int]


def merge_soft_stages(t: DuckDBTarget, stages: Sequence[TableStage], change_log: bool) -> list[tuple[str, int, int, int]]:
    """The batch's soft-mode stages merged together (each table once in the batch): (table, applied,
    duplicates, stale) per stage, as `SqlTarget.merge_stages` returns them."""
    _judge(t, stages)
    try:
        keep_newer_values(t, VERDICTS)  # a soft REMOVE's values yield to newer ones the row shows
        counts: dict[str, Counts] = defaultdict(dict)
        for table, verdict, unknown, soft, late, n in t.query(
                f"SELECT {TABLE}, _verdict, _vrow IS NULL, {quote(STAGE_OP)} = '{SOFT_DELETE}',"
                f" _verdict <> 'W' AND {quote(STAGE_OP)} = '{UPSERT}' AND coalesce(_old_deleted, false),"
                f" count(*) FROM {VERDICTS} GROUP BY ALL"):
            counts[table][(verdict, unknown, soft, late)] = int(n)
        _write_versions(t, any((k[0] == "W" and not k[1]) or k[0] == "D" for c in counts.values() for k in c))
        results = []
        for stage in stages:
            c = counts[stage.table]
            applied = sum(n for k, n in c.items() if k[0] == "W")
            dups = sum(n for k, n in c.items() if k[0] == "D")
            soft = sum(n for k, n in c.items() if k[0] == "W" and k[2])
            maybe_late = sum(n for k, n in c.items() if k[3])
            late, total = _merge_table(t, stage, applied, soft, maybe_late), stage.data.num_rows
            stage.data = stage.data.schema.empty_table()  # not held through the COMMIT (REAPPLIES_PLANS)
            results.append((stage.table, applied + late, dups, total - applied - dups - late))
        if change_log and any(r[1] for r in results):
            log_winners(t)
    finally:
        with contextlib.suppress(TargetError):  # after a failed statement, the rollback drops them
            t.execute(f"DROP TABLE IF EXISTS {VERDICTS}")
            t.execute(f"DROP TABLE IF EXISTS {SOFT}")
    return results


def _judge(t: DuckDBTarget, stages: Sequence[TableStage]) -> None:
    """VERDICTS: each staged row's verdict, with the row id and the columns of its key's versions
    row that a rewrite keeps and that soft mode judges values by (`_old_*`, soft_deletes.py)."""
    from .base import verdict_sql

    columns: dict[str, Any] = {TABLE: table_names(stages)}
    for name, kind in _JUDGED:
        columns[name] = pa.chunked_array([c.cast(kind) for s in stages for c in s.data.column(name).chunks], kind)
    kind = stages[0].data.schema.field(CHANGED_AT).type
    columns[CHANGED_AT] = pa.chunked_array([c.cast(kind) for s in stages for c in s.data.column(CHANGED_AT).chunks], kind)
    staged = t.stage_rows(BATCH, pa.table(columns))
    try:
        t.execute(
            f"CREATE OR REPLACE TEMP TABLE {VERDICTS} AS SELECT s.*, {verdict_sql()} AS _verdict, v.rowid AS _vrow,"
            " v.version_us AS _old_version, v.seq AS _old_seq, v.event_id AS _old_event, v.deleted AS _old_deleted,"
            " v.written_at AS _old_written, v.values_version_us AS _old_values_version, v.values_seq AS _old_values_seq"
            f" FROM {staged} s LEFT JOIN {META}.versions v ON v.table_name = s.{TABLE} AND v.dist_key = s.{quote(DIST_KEY)}"
        )
    finally:
        with contextlib.suppress(TargetError):
            t.drop_stage(staged)


def _write_versions(t: DuckDBTarget, replaces: bool) -> None:
    """duckdb_merge's `_write_versions` with soft mode's values version for each winner
    (`values_version_sql`: what values a soft-deleted row shows)."""
    seq, won = quote(STAGE_SEQ), "_verdict = 'W'"
    written = f"({won} OR (_verdict = 'D' AND {seq} > _old_seq))"
    values = values_version_sql()
    if replaces:
        t.execute(f"DELETE FROM {META}.versions WHERE rowid IN (SELECT _vrow FROM {VERDICTS} WHERE {written})")
    t.execute(
        f"INSERT INTO {META}.versions (table_name, dist_key, version_us, seq, event_id, deleted, written_at,"
        f" values_version_us, values_seq) SELECT {TABLE}, {quote(DIST_KEY)}, {quote(STAGE_VERSION)}, {seq},"
        f" CASE WHEN {won} THEN {quote(STAGE_EVENT)} ELSE _old_event END,"
        f" CASE WHEN {won} THEN {quote(STAGE_OP)} <> '{UPSERT}' ELSE _old_deleted END,"
        f" CASE WHEN {won} THEN {t.NOW} ELSE _old_written END,"
        f" CASE WHEN {won} THEN {values[0]} ELSE _old_values_version END,"
        f" CASE WHEN {won} THEN {values[1]} ELSE _old_values_seq END"
        f" FROM {VERDICTS} WHERE {written}"
    )


def _merge_table(t: DuckDBTarget, stage: TableStage, applied: int, soft: int, maybe_late: int) -> int:
    """One table's winners into it (the rows they replace deleted, upserts and soft REMOVEs with
    values inserted, soft REMOVEs without values marked), then its late values. Returns the late
    values applied."""
    table, dk, p = stage.table, quote(DIST_KEY), t.param
    if not (applied or maybe_late):
        return 0
    target, casts = t.table_ref(table), t.casts(stage)
    staged = t.stage(stage)
    try:
        if applied:
            t.execute(f"DELETE FROM {target} WHERE {dk} IN (SELECT {dk} FROM {VERDICTS}"
                      f" WHERE {TABLE} = {p} AND _verdict = 'W' AND {quote(STAGE_OP)} <> '{SOFT_DELETE}')", [table])
            rows = f"{staged} s JOIN {VERDICTS} w ON w.{TABLE} = {p} AND w._verdict = 'W' AND w.{dk} = s.{dk}"
            t.execute(t.insert_rows_sql(table, stage.columns, rows, "w", casts), [table])
        if soft:
            t.execute(f"CREATE OR REPLACE TEMP TABLE {SOFT} AS SELECT * FROM {VERDICTS}"
                      f" WHERE {TABLE} = {p} AND _verdict = 'W' AND {quote(STAGE_OP)} = '{SOFT_DELETE}'", [table])
            soft_delete(t, target, SOFT, staged, stage.columns, casts)
        if not maybe_late:
            return 0
        from .base import _BEATS

        beats = _BEATS.format(ver=quote(STAGE_VERSION), seq=quote(STAGE_SEQ), ev=quote(STAGE_EVENT))
        return late_values(t, table, target, staged, stage.columns, beats, casts)
    finally:
        with contextlib.suppress(TargetError):
            t.drop_stage(staged)
