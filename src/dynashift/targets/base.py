"""The target contract, and the set-based SQL every SQL target shares.

A target opens a transaction, reads its schema state and checkpoints, applies schema changes,
stages a batch and merges it per table (one DELETE and one INSERT, never a statement per key),
and writes checkpoints and the `runs` row in the same transaction (docs/reference.md §6). Kin engines
subclass and override only what differs: the connection, how a batch is staged, type names.
The `dynashift.*` bookkeeping (DDL, checkpoints, runs, lag, status reads) is in metadata.py.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Iterator, Sequence

import orjson
import pyarrow as pa

from ..errors import TargetError
from ..model import SOFT_DELETE, SOFT_DELETE_WITH_VALUES, UPSERT, BatchPlan, TableStage, TypedStage
from ..typing_mode import BINARY, BOOLEAN, DECIMAL, JSON, NUMERIC, decimal_parts, family
from ..schema import (
    CHANGED_AT,
    DELETED,
    DIST_KEY,
    STAGE_EVENT,
    STAGE_OP,
    STAGE_SEQ,
    STAGE_VALUES_SEQ,
    STAGE_VALUES_VERSION,
    STAGE_VERSION,
    SYNCED_AT,
    AddColumn,
    AddTable,
    Naming,
    SchemaChange,
    has_own_column,
)
from .column_records import add_columns, record_columns, record_types
from .full_load import appended_or_merged
from .leasing import LeaseTables
from .metadata import META, MetadataTables, RunCounters
from .quoting import quote, select_list
from .run_counts import advanced, copy_counters
from .soft_deletes import keep_newer_values, late_values, soft_delete, values_version_sql

__all__ = ["META", "Nesting", "RunCounters", "SqlTarget", "quote"]

# The precedence rule of batching.beats, in SQL: s = staged change, v = what the target holds.
_BEATS = (
    "(s.{ver} > v.version_us OR (s.{ver} = v.version_us AND s.{seq} > v.seq"
    " AND (s.{ev} = '' OR s.{ev} <> v.event_id)))"
)
_DUPLICATE = "(s.{ver} = v.version_us AND (s.{seq} = v.seq OR (s.{ev} <> '' AND s.{ev} = v.event_id)))"


def verdict_sql() -> str:
    """Each staged row `s` judged against its key's versions row `v` (NULL: never seen): 'W' it
    wins, 'D' it is a duplicate of what was applied, 'S' it is stale."""
    names = dict(ver=quote(STAGE_VERSION), seq=quote(STAGE_SEQ), ev=quote(STAGE_EVENT))
    return f"CASE WHEN v.dist_key IS NULL OR {_BEATS.format(**names)} THEN 'W' WHEN {_DUPLICATE.format(**names)} THEN 'D' ELSE 'S' END"


class SqlTarget(MetadataTables, LeaseTables, ABC):
    """What DuckDB, PostgreSQL and Redshift share. Subclasses set the class constants and
    implement the connection primitives at the bottom."""

    naming: ClassVar[Naming]
    default_schema: ClassVar[str]
    TEXT: ClassVar[str] = "VARCHAR"
    TIMESTAMP: ClassVar[str] = "TIMESTAMPTZ"
    SEQ_TYPE: ClassVar[str] = "VARCHAR"
    param: ClassVar[str] = "?"
    # Transaction start time. Redshift has no now() on compute nodes and says SYSDATE.
    NOW: ClassVar[str] = "now()"
    # Typed mode (typing_mode.py): binary and JSON types, and how staged text becomes them.
    BINARY: ClassVar[str] = "BLOB"
    JSON: ClassVar[str] = "JSON"
    BINARY_FROM_TEXT: ClassVar[str] = "from_base64({})"
    JSON_FROM_TEXT: ClassVar[str] = "CAST({} AS JSON)"
    JSON_TO_TEXT: ClassVar[str] = "CAST({} AS VARCHAR)"
    # One ALTER TABLE may add several columns (PostgreSQL); DuckDB and Redshift take one per statement.
    MULTI_ADD_COLUMN: ClassVar[bool] = False
    # Rows of dynashift.columns are written through a staged relation (cheap in DuckDB: an Arrow
    # table registered) rather than as bound VALUES (DuckDB binds 1,000 parameters slowly).
    STAGE_METADATA_ROWS: ClassVar[bool] = False
    # A view's `*` is fixed when the view is made, and pins its columns' types (PostgreSQL): views
    # over a table are made again when its columns change. VIEW_OPTIONS ends CREATE VIEW.
    VIEWS_FIX_COLUMNS: ClassVar[bool] = False
    VIEW_OPTIONS: ClassVar[str] = ""
    # A target that may apply the same plan again (PostgreSQL retries a batch after a conflict)
    # keeps its stages' rows until the batch has committed; others let each go once merged, so
    # that a batch's Arrow tables are not held through its COMMIT (a peak of the run's memory).
    REAPPLIES_PLANS: ClassVar[bool] = False

    def __init__(self, uri: str, schema: str | None = None):
        self.uri = uri
        self.schema = schema or self.default_schema
        self.table_schemas: dict[str, str] = {}  # table -> the schema it was created in (dynashift.tables)
        # "write" (run: creates the metadata), "read" (status, report, verify: creates nothing, and
        # needs the metadata) or "probe" (doctor: connects, creates nothing, needs nothing)
        self.mode = "write"
        # plain tables this target created: each of their rows has its versions row (made_here)
        self.created: set[str] = set()

    def prepare_metadata(self) -> None:
        """What `open` does once connected, by mode: create/migrate the metadata, or only check it."""
        if self.mode == "write":
            self.ensure_metadata()
        elif self.mode == "read":
            self.require_metadata()

    def made_here(self, table: str) -> bool:
        """Whether each row of `table` surely has its versions row, so that a batch of keys never
        seen needs no DELETE there (merge): a plain table this target created, on a target that is
        its file's one writer. Each merge writes a row and its versions row in one transaction, and
        only expire_tombstones deletes versions rows (a soft-deleted row then stays without one),
        after which the target forgets the tables it made; another writer could expire them unseen."""
        return self.ONE_WRITER and table in self.created

    def expire_tombstones(self, retention_seconds: float) -> int:
        """(metadata.py) The tables this target created may then hold rows without versions rows."""
        self.created.clear()
        return super().expire_tombstones(retention_seconds)

    # ------------------------------------------------------------ names

    def table_ref(self, table: str) -> str:
        return f"{quote(self.table_schemas.get(table, self.schema))}.{quote(table)}"

    # ------------------------------------------------------------ one batch

    def apply(self, plan: BatchPlan, run: RunCounters, change_log: bool = False) -> None:
        """Everything of one batch in one transaction: schema, data, versions, rejects,
        checkpoints and the runs row. Updates `run` only once the commit has succeeded."""
        counts = {"applied": 0, "duplicates": 0, "stale": 0}
        per_table: dict[str, int] = {}
        started = run.batch_started or time.monotonic()
        with self.transaction():
            self.apply_schema(self.unapplied(plan.schema_changes))
            for table, applied, dups, stale in appended_or_merged(self, plan, change_log):  # (full_load.py)
                counts["applied"] += applied
                counts["duplicates"] += dups
                counts["stale"] += stale
                per_table[table] = per_table.get(table, 0) + applied
            if plan.history:
                from .history import merge_history

                for versions in plan.history:  # history mode: every version of the batch (history.py)
                    applied = merge_history(self, versions)
                    if not self.REAPPLIES_PLANS:
                        versions.data = versions.data.schema.empty_table()
                    counts["applied"] += applied if versions.only else 0
            record_types(self, plan)
            self.write_rejected(plan, run)
            self.write_checkpoints(plan.checkpoints)
            pending = advanced(run, plan, counts)
            self._update_run(pending)
            pending.batch_seconds = time.monotonic() - started
            self.write_batch(run, pending, per_table, pending.batch_seconds)
        copy_counters(pending, run)

    def apply_schema(self, changes: Sequence[SchemaChange]) -> None:
        """A batch's schema changes in as few statements as the target allows: a new table is
        created with its columns; new columns of a table are added together (one ALTER TABLE
        where the target takes several ADD COLUMNs, `MULTI_ADD_COLUMN`); their rows of
        dynashift.columns are written by one INSERT."""
        from .typed_and_history import apply_extended, create_extended, drop_live_views, options_json, refresh_views, \
            remake_live_views

        p = self.param
        views = drop_live_views(self, changes)
        plain = {ch.table for ch in changes if isinstance(ch, AddTable) and ch.history == "off" and not ch.item_column}
        inline: dict[str, list[str]] = {}  # a new table -> its columns, created with it
        for ch in changes:
            if isinstance(ch, AddColumn) and ch.table in plain and has_own_column(ch):
                inline.setdefault(ch.table, []).append(f"{quote(ch.column)} {self.sql_type(ch.type)}")
        adds: dict[str, list[str]] = {}  # a physical table -> columns still to add
        recorded: list[AddColumn] = []
        for ch in changes:
            if isinstance(ch, AddColumn):
                if has_own_column(ch) and ch.table not in inline:
                    for table in ch.tables or (ch.table,):
                        adds.setdefault(table, []).append(f"{quote(ch.column)} {self.sql_type(ch.type)}")
                recorded.append(ch)
                continue
            add_columns(self, adds)  # first: a widening or variant may concern a column just added
            record_columns(self, recorded)
            if isinstance(ch, AddTable):
                if ch.history != "off" or ch.item_column:
                    create_extended(self, ch)  # with the item column, the history table or view (typed_and_history.py)
                else:
                    self.execute(self.create_table_sql(ch, "".join(f", {c}" for c in inline.get(ch.table, ()))))
                    self.created.add(ch.table)
                self.execute(
                    f"INSERT INTO {META}.tables (table_name, source_table, key_attributes, created_at, options, schema_name)"
                    f" VALUES ({p}, {p}, {p}, {self.NOW}, {p}, {p})",
                    [ch.table, ch.source_table, orjson.dumps(list(ch.key_attributes)).decode(), options_json(ch),
                     self.schema],
                )
                self.table_schemas[ch.table] = self.schema
            else:
                apply_extended(self, ch)
        add_columns(self, adds)
        record_columns(self, recorded)
        remake_live_views(self, views)
        if changes and not all(isinstance(ch, AddTable) or (isinstance(ch, AddColumn) and not ch.tables) for ch in changes):
            refresh_views(self, changes)

    def create_table_sql(self, ch: AddTable, columns_sql: str = "") -> str:
        """`columns_sql`: `, "a" TYPE, …`, the table's first attributes, created with it."""
        return (
            f"CREATE TABLE {self.table_ref(ch.table)} ({quote(DIST_KEY)} {self.TEXT},"
            f" {quote(CHANGED_AT)} {self.TIMESTAMP}, {quote(SYNCED_AT)} {self.TIMESTAMP}, {quote(DELETED)} BOOLEAN"
            f"{columns_sql})"
        )

    def merge_stages(self, stages: Sequence[TableStage], change_log: bool) -> list[tuple[str, int, int, int]]:
        """A batch's stages merged one after the other (`merge`), inside `judging`. Returns
        (table, applied, duplicates, stale) per stage. DuckDB judges a whole batch at once instead
        (duckdb_merge.py)."""
        results = []
        with self.judging(stages):
            for stage in stages:
                results.append((stage.table, *self.merge(stage, change_log)))
                if not self.REAPPLIES_PLANS:
                    stage.data = stage.data.schema.empty_table()
        return results

    def merge(self, stage: TableStage, change_log: bool) -> tuple[int, int, int]:
        """Stage one table's rows, keep those newer than what the target holds, then one DELETE
        and one INSERT (plus an UPDATE for soft deletes). Returns (applied, duplicates, stale)."""
        staged = self.stage(stage)
        casts = self.casts(stage)
        try:
            result = self.merge_staged(stage.table, stage.columns, staged, stage.data.num_rows, change_log,
                                       soft=stage.soft, casts=casts)
        except BaseException:
            # the real error, not "current transaction is aborted" from cleaning up after it
            with contextlib.suppress(TargetError):
                self.drop_stage(staged)
            raise
        self.drop_stage(staged)
        return result

    def casts(self, stage: TableStage) -> dict[str, str] | None:
        """Typed mode: each typed column's SQL from its staged text (`s`), for the INSERT."""
        types = stage.types if isinstance(stage, TypedStage) else None
        return {c: self.cast_sql(f"s.{quote(c)}", t) for c, t in types.items()} if types else None

    def insert_rows_sql(self, table: str, columns: Sequence[str], rows: str, w: str, casts: dict[str, str] | None) -> str:
        """The INSERT of a merge's rows into `table`: `rows` is the FROM clause, with the staged
        rows as `s` and the row's op in `w` (the stage itself, or the winners joined to it)."""
        dk, op = quote(DIST_KEY), quote(STAGE_OP)
        cols = "".join(f", {quote(c)}" for c in columns)
        return (
            f"INSERT INTO {self.table_ref(table)} ({dk}, {quote(CHANGED_AT)}, {quote(SYNCED_AT)}, {quote(DELETED)}{cols})"
            f" SELECT s.{dk}, s.{quote(CHANGED_AT)}, {self.NOW}, {w}.{op} = '{SOFT_DELETE_WITH_VALUES}'"
            f"{select_list(columns, casts)} FROM {rows} WHERE {w}.{op} IN ('{UPSERT}', '{SOFT_DELETE_WITH_VALUES}')"
        )

    def merge_staged(self, table: str, columns: Sequence[str], staged: str, total: int,
                     change_log: bool, soft: bool = False, casts: dict[str, str] | None = None) -> tuple[int, int, int]:
        """The merge of a relation already staged in the target (by `stage`, or by SQL in the
        warehouse itself: the Redshift materialized-view path). `total` is its row count.
        `casts` (typed mode) maps a column to the SQL that turns its staged text into its type.
        `dynashift.versions` is read once (the verdicts, with each key's row) and written by one
        UPDATE of the rows found and one INSERT of new keys (DuckDB rewrites the rows found instead:
        its `_rewrite_versions`)."""
        p = self.param
        names = dict(ver=quote(STAGE_VERSION), seq=quote(STAGE_SEQ), ev=quote(STAGE_EVENT))
        beats = _BEATS.format(**names)
        target, dk, op = self.table_ref(table), quote(DIST_KEY), quote(STAGE_OP)
        winners = "_dynashift_winners"
        self.execute(f"DROP TABLE IF EXISTS {winners}")
        # Judge every staged row in one join with `versions`, keeping only the narrow columns the
        # merge needs: the staged values themselves are read once, by the INSERT below.
        carried = [DIST_KEY, STAGE_OP, STAGE_VERSION, STAGE_SEQ, STAGE_EVENT, CHANGED_AT]
        carried += [STAGE_VALUES_VERSION, STAGE_VALUES_SEQ] if soft else []
        previous = (", v.version_us AS _old_version, v.seq AS _old_seq, v.deleted AS _old_deleted,"
                    " v.values_version_us AS _old_values_version, v.values_seq AS _old_values_seq") if soft else ""
        verdict = verdict_sql()
        row, _, _ = self.version_row(table)
        self.execute(
            f"CREATE TEMP TABLE {winners} AS SELECT {', '.join(f's.{quote(c)}' for c in carried)}{previous},"
            f" {verdict} AS _verdict, {row} AS _vrow FROM {staged} s LEFT JOIN {self.known_versions()} v"
            f" ON v.table_name = {p} AND v.dist_key = s.{dk}",
            [table],
        )
        counts = self.query(f"SELECT _verdict, _vrow IS NULL, count(*) FROM {winners} GROUP BY _verdict, _vrow IS NULL")
        applied = sum(int(n) for v, _, n in counts if v == "W")
        dups = sum(int(n) for v, _, n in counts if v == "D")
        fresh = sum(int(n) for v, unknown, n in counts if v == "W" and unknown)
        if applied and soft:
            keep_newer_values(self, winners)
        if applied > fresh or dups:
            self._rewrite_versions(table, winners, soft)
        if applied < total:
            self.execute(f"DELETE FROM {winners} WHERE _verdict <> 'W'")
        if applied:
            # Every staged row a winner of a key never seen, in a table this target made: none can
            # have a row there (made_here), so no DELETE, and the rows go in from the stage alone.
            new_keys = applied == fresh == total and not soft and self.made_here(table)
            rows, w = (f"{staged} s", "s") if new_keys else (f"{staged} s JOIN {winners} w ON w.{dk} = s.{dk}", "w")
            if not new_keys:
                self.execute(f"DELETE FROM {target} WHERE {dk} IN (SELECT {dk} FROM {winners} WHERE {op} <> '{SOFT_DELETE}')")
            self.execute(self.insert_rows_sql(table, columns, rows, w, casts))
            if soft:  # only soft-delete mode stages SOFT_DELETE winners: no statement to learn there are none
                soft_delete(self, target, winners, staged, columns, casts)
        if applied:
            if fresh:
                values = ", ".join(values_version_sql()) if soft else "NULL, NULL"
                self.execute(
                    f"INSERT INTO {META}.versions SELECT {p}, {dk}, {quote(STAGE_VERSION)}, {quote(STAGE_SEQ)},"
                    f" {quote(STAGE_EVENT)}, {op} <> '{UPSERT}', {self.NOW}, {values} FROM {winners} WHERE _vrow IS NULL",
                    [table],
                )
            if change_log:
                self.execute(
                    f"INSERT INTO {META}.change_log SELECT {p}, {dk}, {op}, {quote(STAGE_VERSION)}, {quote(STAGE_SEQ)},"
                    f" {quote(STAGE_EVENT)}, {self.NOW} FROM {winners}",
                    [table],
                )
        late = late_values(self, table, target, staged, columns, beats, casts) if soft and applied < total else 0
        self.execute(f"DROP TABLE IF EXISTS {winners}")
        return int(applied + late), int(dups), int(total - applied - dups - late)

    @contextlib.contextmanager
    def judging(self, stages: Sequence[TableStage]) -> Iterator[None]:
        """Around a batch's merges: a target whose joins scan whole tables (DuckDB) reads the
        versions of every staged key here, once for all tables. Here nothing: each merge's
        join finds its keys through the index on dynashift.versions."""
        yield

    def known_versions(self) -> str:
        """The relation the merge judges against: dynashift.versions, or what `judging` read of it."""
        return f"{META}.versions"

    def version_row(self, table: str) -> tuple[str, str, list[Any]]:
        """How a winner finds its key's row of dynashift.versions: the expression over `v` (the
        row joined when judging) kept in the winners as `_vrow`, NULL for a key never seen, and
        the condition (with its parameters) matching `{META}.versions` to winner `w`. Here the
        key, which the index on (table_name, dist_key) serves (DuckDB overrides: its row id)."""
        versions = f"{META}.versions"
        return "v.dist_key", f"{versions}.table_name = {self.param} AND {versions}.dist_key = w._vrow", [table]

    def _rewrite_versions(self, table: str, winners: str, soft: bool) -> None:
        """One UPDATE of the versions rows the batch changes: a winner's row becomes the winner's;
        a redelivery of the applied change, met later in the stream, moves the position kept for
        it there. What is applied is then always the newest (version, seq) seen, so a change that
        came between the two copies (and lost to the second) cannot win when part of the stream is
        replayed (found by the fuzz test's replay)."""
        _, match, params = self.version_row(table)
        seq, won = quote(STAGE_SEQ), "w._verdict = 'W'"
        values = values_version_sql() if soft else ("NULL", "NULL")
        self.execute(
            f"UPDATE {META}.versions SET version_us = w.{quote(STAGE_VERSION)}, seq = w.{seq},"
            f" event_id = CASE WHEN {won} THEN w.{quote(STAGE_EVENT)} ELSE event_id END,"
            f" deleted = CASE WHEN {won} THEN w.{quote(STAGE_OP)} <> '{UPSERT}' ELSE deleted END,"
            f" written_at = CASE WHEN {won} THEN {self.NOW} ELSE written_at END,"
            f" values_version_us = CASE WHEN {won} THEN {values[0]} ELSE values_version_us END,"
            f" values_seq = CASE WHEN {won} THEN {values[1]} ELSE values_seq END"
            f" FROM {winners} w WHERE {match} AND ({won} OR (w._verdict = 'D' AND w.{seq} > {META}.versions.seq))",
            params,
        )

    def write_rejected(self, plan: BatchPlan, run: RunCounters) -> None:
        if not plan.rejected:
            return
        data = pa.table(
            {
                "run_id": pa.array([run.run_id] * len(plan.rejected), pa.int64()),
                "source": pa.array([run.source] * len(plan.rejected), pa.string()),
                "position": pa.array([r.position for r in plan.rejected], pa.string()),
                "reason": pa.array([r.reason for r in plan.rejected], pa.string()),
                "raw": pa.array([_text(r.raw) for r in plan.rejected], pa.string()),
            }
        )
        staged = self.stage_rows("_dynashift_rejected", data)
        try:
            self.execute(
                f'INSERT INTO {META}.rejected (rejected_at, run_id, source, position, reason, "raw")'
                f' SELECT {self.NOW}, run_id, source, position, reason, "raw" FROM {staged}'
            )
        finally:
            self.drop_stage(staged)

    # ------------------------------------------------------------ engine primitives

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...

    @abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Begin/commit, rolling back on error. A nested call joins the outer transaction."""

    @abstractmethod
    def stage_rows(self, name: str, data: pa.Table) -> str:
        """Make `data` queryable under a relation name for this transaction; return that name."""

    @abstractmethod
    def drop_stage(self, name: str) -> None: ...

    def stage(self, stage: TableStage) -> str:
        return self.stage_rows("_dynashift_stage", stage.data)

    def probe_writes(self) -> None:
        """`doctor`'s proof that a run may write: a scratch table in schema dynashift and one in
        the target schema, made in a transaction that is rolled back. Raises what the target refuses."""
        probe = f"{META}._dynashift_doctor_probe"
        with contextlib.suppress(_Rollback), self.transaction():
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {META}")
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}")
            self.execute(f"CREATE TABLE {probe} (x {self.TEXT})")
            self.execute(f"INSERT INTO {probe} VALUES ('ok')")
            self.execute(f"CREATE TABLE {self.table_ref('_dynashift_doctor_probe')} (x {self.TEXT})")
            raise _Rollback

    # ------------------------------------------------------------ typed mode (typing_mode.py)

    def sql_type(self, column_type: str | None) -> str:
        kind = family(column_type)
        if kind == DECIMAL:
            return f"DECIMAL(38,{decimal_parts(column_type)[1]})"  # type: ignore[arg-type]
        if kind == NUMERIC:
            return "NUMERIC"
        return {BOOLEAN: "BOOLEAN", BINARY: self.BINARY, JSON: self.JSON}.get(kind, self.TEXT)

    def widen_column(self, ref: str, column: str, sql_type: str) -> None:
        """A column's type made wider in place (Redshift, which cannot, overrides this)."""
        self.execute(f"ALTER TABLE {ref} ALTER COLUMN {quote(column)} TYPE {sql_type}")

    def history_table_sql(self, table: str, columns_sql: str) -> str:
        from .typed_and_history import history_columns_sql

        return f"CREATE TABLE {self.table_ref(table)} ({history_columns_sql(self)}{columns_sql})"

    def cast_sql(self, expr: str, column_type: str) -> str:
        """Staged text -> the column's type, in the INSERT ... SELECT (staging stays text)."""
        kind = family(column_type)
        if kind in (DECIMAL, NUMERIC):
            return f"CAST({expr} AS {self.sql_type(column_type)})"
        if kind == BOOLEAN:
            return f"({expr} = 'true')"
        if kind == BINARY:
            return self.BINARY_FROM_TEXT.format(expr)
        if kind == JSON:
            return self.JSON_FROM_TEXT.format(expr)
        return expr


class _Rollback(Exception):
    """Raised inside a transaction so that it is rolled back (`probe_writes`)."""


class Nesting:
    """Tracks transaction depth so that a nested `transaction()` is a no-op (STYLE pattern 2)."""

    def __init__(self) -> None:
        self.depth = 0

    @contextlib.contextmanager
    def enter(self, begin, commit, rollback) -> Iterator[None]:
        if self.depth:
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
            return
        begin()
        self.depth = 1
        try:
            yield
        except BaseException:
            self.depth = 0
            rollback()
            raise
        self.depth = 0
        commit()


def _text(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    return raw.decode("utf-8", errors="replace")


