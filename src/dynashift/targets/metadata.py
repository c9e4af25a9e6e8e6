"""Everything dynashift keeps about itself in the target's `dynashift` schema: the DDL and its
migrations, checkpoints, runs and their batches, tombstone expiry, per-shard lag, and the reads
behind `status` and `report`. Mixed into every SQL target (targets/base.py), so a checkpoint or a
`runs` row is written on the same connection, in the same transaction, as the batch it describes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import orjson

from ..records import Checkpoint
from ..errors import LeaseLost
from ..schema import CHANGED_AT, OVERFLOW, SYNCED_AT, SchemaState, TableInfo, name_from_stored
from .quoting import quote

META = "dynashift"
BATCH_HISTORY_SECONDS = 30 * 86400  # dynashift.batches rows older than this are dropped when a run begins
LAG_TABLE = f"{META}.shard_lag"


@dataclass(slots=True)
class RunCounters:
    """One row of dynashift.runs, kept up to date batch by batch."""

    run_id: int
    source: str
    records_read: int = 0
    changes_applied: int = 0
    superseded: int = 0
    duplicates_skipped: int = 0
    stale_skipped: int = 0
    ttl_ignored: int = 0
    rejected: int = 0
    tables_created: int = 0
    columns_added: int = 0
    batches: int = 0
    bytes_read: int = 0
    pipeline: str = ""  # the pipeline this run belongs to ("" = the source URI)
    worker: str = ""  # the worker (leases.py owner id) that runs it
    commits_refused: int = 0  # batches refused at commit because another worker had taken a shard's lease
    # Of the batch in hand, set by the pipeline for dynashift.batches (not columns of `runs`):
    lag_ms: int | None = None  # how far the source is behind its tip (max over shards)
    batch_started: float | None = None  # time.monotonic() when the batch reached the pipeline
    batch_seconds: float | None = None  # the last committed batch's time, as written to dynashift.batches



def table_options(info: TableInfo, options: str | None) -> TableInfo:
    """A table's options as dynashift.tables holds them (written by extended.options_json)."""
    if options:
        o = orjson.loads(options)
        info.item_column, info.history = bool(o.get("item_column")), o.get("history") or "off"
        info.history_table, info.live_view = o.get("history_table"), o.get("live_view")
    return info


class MetadataTables:
    """The `dynashift.*` tables of one target. Needs only the connection primitives and the
    dialect constants every SqlTarget has."""

    uri: str
    schema: str
    TEXT: ClassVar[str]
    TIMESTAMP: ClassVar[str]
    SEQ_TYPE: ClassVar[str]
    param: ClassVar[str]
    NOW: ClassVar[str]
    # After the type of a versions column that every batch writes anew for each of its keys and
    # that compresses poorly (keys, seqs, event ids): "" here, DuckDB's skips compressing it.
    RAW: ClassVar[str] = ""

    if TYPE_CHECKING:
        def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

        def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...

        def transaction(self) -> contextlib.AbstractContextManager[None]: ...

        def table_ref(self, table: str) -> str: ...

    # ------------------------------------------------------------ DDL

    def metadata_ddl(self) -> list[str]:
        t, ts, seq, raw = self.TEXT, self.TIMESTAMP, self.SEQ_TYPE, self.RAW
        return [
            f"CREATE SCHEMA IF NOT EXISTS {META}",
            f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}",
            f"CREATE TABLE IF NOT EXISTS {META}.tables (table_name {t}, source_table {t}, key_attributes {t}, created_at {ts},"
            f" options {t}, schema_name {t})",
            f"CREATE TABLE IF NOT EXISTS {META}.columns (table_name {t}, attribute_name {t}, column_name {t},"
            f" types_seen {t}, is_key BOOLEAN, first_seen {ts}, last_seen {ts}, column_type {t}, variant_column {t},"
            f" type_changes {t})",
            f"CREATE TABLE IF NOT EXISTS {META}.checkpoints (source {t}, shard {t}, position {t}, size BIGINT, updated_at {ts},"
            f" pipeline {t})",
            f"CREATE TABLE IF NOT EXISTS {META}.runs (run_id BIGINT, source {t}, started_at {ts}, ended_at {ts}, status {t},"
            " records_read BIGINT, changes_applied BIGINT, superseded BIGINT, duplicates_skipped BIGINT, stale_skipped BIGINT,"
            " ttl_ignored BIGINT, rejected BIGINT, tables_created BIGINT, columns_added BIGINT, batches BIGINT,"
            f" bytes_read BIGINT, error {t}, pipeline {t}, worker {t}, commits_refused BIGINT)",
            f"CREATE TABLE IF NOT EXISTS {META}.pipelines (pipeline {t}, source {t}, schema_name {t}, filters {t},"
            f" created_at {ts}, updated_at {ts})",
            f"CREATE TABLE IF NOT EXISTS {META}.leases (pipeline {t}, shard {t}, owner {t}, counter BIGINT,"
            f" heartbeat {ts}, expires_at {ts}, taken_at {ts})",
            f"CREATE TABLE IF NOT EXISTS {META}.workers (pipeline {t}, owner {t}, host {t}, pid BIGINT, started_at {ts},"
            f" heartbeat {ts}, expires_at {ts}, shards BIGINT)",
            f"CREATE TABLE IF NOT EXISTS {META}.versions (table_name {t}, dist_key {t}{raw}, version_us BIGINT,"
            f" seq {seq}{raw}, event_id {t}{raw}, deleted BOOLEAN, written_at {ts}, values_version_us BIGINT,"
            f" values_seq {seq})",
            f"CREATE OR REPLACE VIEW {META}.tombstones AS SELECT table_name, dist_key, version_us, seq, event_id,"
            f" written_at FROM {META}.versions WHERE deleted",
            f"CREATE TABLE IF NOT EXISTS {META}.rejected (rejected_at {ts}, run_id BIGINT, source {t}, position {t}, reason {t}, \"raw\" {t})",
            f"CREATE TABLE IF NOT EXISTS {META}.batches (run_id BIGINT, batch BIGINT, applied_at {ts}, records BIGINT,"
            " applied BIGINT, skipped BIGINT, rejected BIGINT, bytes BIGINT, seconds DOUBLE PRECISION, lag_ms BIGINT,"
            f" tables {t})",
        ]

    def ensure_change_log(self) -> None:
        """dynashift.change_log, made only when a run has `change_log = true` (an option should not
        leave an empty table behind for everyone else)."""
        t, ts, seq = self.TEXT, self.TIMESTAMP, self.SEQ_TYPE
        with self.transaction():
            self.execute(f"CREATE TABLE IF NOT EXISTS {META}.change_log (table_name {t}, dist_key {t}, op {t},"
                         f" version_us BIGINT, seq {seq}, event_id {t}, applied_at {ts})")

    def ensure_metadata(self) -> None:
        with self.transaction():
            self.ddl_lock(creating=True)  # two workers starting together must not race on CREATE
            for sql in self.metadata_ddl():
                self.execute(sql)
            migrate_metadata(self)

    def require_metadata(self) -> None:
        """For the commands that only read (status, report, verify): the metadata must be there
        already; nothing is created. Also learns which schema each table was created in."""
        from ..errors import TargetError
        from ..redact import mask

        (n,) = self.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'dynashift'"
                          " AND table_name = 'runs'")[0]
        if not n:
            raise TargetError(f"no dynashift metadata in {mask(self.uri)}: nothing has been replicated there"
                              " (check --target, or run `dynashift run` first)")
        self.read_table_schemas()

    def read_table_schemas(self) -> None:
        """dynashift.tables.schema_name -> `table_schemas`, so that a table is found where it was
        created whatever --schema says now (a database made before the column existed: none)."""
        if self.has_metadata_column("tables", "schema_name"):
            self.table_schemas = {name: schema for name, schema in self.query(
                f"SELECT table_name, schema_name FROM {META}.tables WHERE schema_name IS NOT NULL")}

    def has_metadata_column(self, table: str, column: str) -> bool:
        p = self.param
        (n,) = self.query(f"SELECT count(*) FROM information_schema.columns WHERE table_schema = 'dynashift'"
                          f" AND table_name = {p} AND column_name = {p}", [table, column])[0]
        return bool(n)

    def load_state(self) -> SchemaState:
        self.read_table_schemas()
        state = SchemaState()
        for name, source_table, keys, options in self.query(
            f"SELECT table_name, source_table, key_attributes, options FROM {META}.tables"
        ):
            state.tables[source_table] = table_options(TableInfo(name, source_table, orjson.loads(keys)), options)
        by_name = {t.name: t for t in state.tables.values()}
        for table, attr, column, types, column_type, variant in self.query(
            f"SELECT table_name, attribute_name, column_name, types_seen, column_type, variant_column FROM {META}.columns"
        ):
            info = by_name.get(table)
            if info is not None:
                attr = name_from_stored(attr)  # a name holding NUL is stored as JSON (schema.stored_name)
                info.columns[attr] = column or ""
                info.overflow = info.overflow or column == OVERFLOW
                info.types[attr] = set(orjson.loads(types or "[]"))
                if column_type:
                    info.column_types[attr] = column_type
                if variant:
                    info.variants[attr] = variant
        return state

    def ddl_lock(self, creating: bool = False) -> None:
        """Serialize schema changes (and run numbering) between workers until the transaction
        ends. A hook: PostgreSQL takes an advisory lock, Redshift locks a metadata table; DuckDB
        has one writing process per file and needs none."""

    def read_checkpoints(self, pipeline: str, shards: Sequence[str] | None = None) -> dict[str, Checkpoint]:
        """The committed positions of `pipeline` (its name; the source URI for the default one),
        of every shard or only of `shards`."""
        p = self.param
        where, params = f"pipeline = {p}", [pipeline]
        if shards is not None:
            if not shards:
                return {}
            where += f" AND shard IN ({', '.join([p] * len(shards))})"
            params += list(shards)
        rows = self.query(f"SELECT source, shard, position, size FROM {META}.checkpoints WHERE {where}", params)
        return {shard: Checkpoint(source, shard, position, size, pipeline) for source, shard, position, size in rows}

    # ------------------------------------------------------------ runs

    def begin_run(self, source: str, pipeline: str = "", worker: str = "") -> RunCounters:
        """A new `runs` row. Runs of the pipeline left 'running' by a worker that is no longer
        alive (no unexpired dynashift.workers row) are marked interrupted; other workers' are not."""
        p = self.param
        pipeline = pipeline or source
        with self.transaction():
            self.ddl_lock()  # run ids are max + 1: two workers starting together must not share one
            self.execute(
                f"UPDATE {META}.runs SET status = 'interrupted', ended_at = {self.NOW} WHERE status = 'running'"
                f" AND coalesce(pipeline, source) = {p} AND (worker IS NULL OR worker NOT IN (SELECT owner FROM"
                f" {META}.workers WHERE pipeline = {p} AND expires_at > {self.NOW} AND owner <> {p}))",
                [pipeline, pipeline, worker],
            )
            self.execute(f"DELETE FROM {META}.batches WHERE applied_at < {self.seconds_ago()}", [BATCH_HISTORY_SECONDS])
            (last,) = self.query(f"SELECT coalesce(max(run_id), 0) FROM {META}.runs")[0]
            run = RunCounters(run_id=int(last) + 1, source=source, pipeline=pipeline, worker=worker)
            self.execute(
                f"INSERT INTO {META}.runs (run_id, source, started_at, status, records_read, changes_applied, superseded,"
                " duplicates_skipped, stale_skipped, ttl_ignored, rejected, tables_created, columns_added, batches, bytes_read,"
                f" pipeline, worker, commits_refused) VALUES ({p}, {p}, {self.NOW}, 'running', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,"
                f" {p}, {p}, 0)",
                [run.run_id, source, pipeline, worker or None],
            )
        return run

    def _update_run(self, run: RunCounters, status: str | None = None, error: str | None = None) -> None:
        p = self.param
        fields = [
            "records_read", "changes_applied", "superseded", "duplicates_skipped", "stale_skipped", "ttl_ignored",
            "rejected", "tables_created", "columns_added", "batches", "bytes_read", "commits_refused",
        ]
        sets = ", ".join(f"{f} = {p}" for f in fields)
        params: list[Any] = [getattr(run, f) for f in fields]
        if status is not None:
            sets += f", status = {p}, error = {p}, ended_at = {self.NOW}"
            params += [status, error]
        self.execute(f"UPDATE {META}.runs SET {sets} WHERE run_id = {p}", params + [run.run_id])

    def save_run(self, run: RunCounters) -> None:
        """The counters of a run still going (after a batch refused by the fence)."""
        with self.transaction():
            self._update_run(run)

    def end_run(self, run: RunCounters, status: str, error: str | None = None) -> None:
        with self.transaction():
            self._update_run(run, status, error)

    def seconds_ago(self) -> str:
        """SQL for "now minus `param` seconds" (a hook: Redshift writes it with DATEADD)."""
        return f"{self.NOW} - {self.param} * INTERVAL '1 second'"

    def expire_tombstones(self, retention_seconds: float) -> int:
        with self.transaction():
            (n,) = self.query(
                f"SELECT count(*) FROM {META}.versions WHERE deleted AND written_at < {self.seconds_ago()}",
                [retention_seconds],
            )[0]
            if n:
                self.execute(
                    f"DELETE FROM {META}.versions WHERE deleted AND written_at < {self.seconds_ago()}",
                    [retention_seconds],
                )
        return int(n)


    # ------------------------------------------------------------ in each batch's transaction

    def write_batch(self, before: RunCounters, after: RunCounters, per_table: dict[str, int], seconds: float) -> None:
        """One row of dynashift.batches: what this batch did, for `status` and `report` (the
        throughput, lag and batch-size history). In the batch's transaction, so it is exact."""
        p = self.param
        skipped = sum(getattr(after, f) - getattr(before, f)
                      for f in ("superseded", "duplicates_skipped", "stale_skipped", "ttl_ignored"))
        self.execute(
            f"INSERT INTO {META}.batches VALUES ({p}, {p}, {self.NOW}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})",
            [after.run_id, after.batches, after.records_read - before.records_read,
             after.changes_applied - before.changes_applied, skipped, after.rejected - before.rejected,
             after.bytes_read - before.bytes_read, round(seconds, 6), after.lag_ms,
             orjson.dumps(dict(sorted(per_table.items()))).decode()],
        )


    def write_checkpoints(self, checkpoints: Sequence[Checkpoint]) -> None:
        p = self.param
        self.fence(checkpoints)
        for cp in checkpoints:  # one per shard or file touched by the batch, not per record
            pipeline = cp.pipeline or cp.source
            self.execute(f"DELETE FROM {META}.checkpoints WHERE pipeline = {p} AND shard = {p}", [pipeline, cp.shard])
            self.execute(
                f"INSERT INTO {META}.checkpoints (source, shard, position, size, updated_at, pipeline)"
                f" VALUES ({p}, {p}, {p}, {p}, {self.NOW}, {p})",
                [cp.source, cp.shard, cp.position, cp.size, pipeline],
            )

    def fence(self, checkpoints: Sequence[Checkpoint]) -> None:
        """The compare-and-set that makes a lease mean something: in the batch's transaction,
        every leased shard it moves must still be held by its worker with the counter it read.
        The UPDATE locks those lease rows until the commit, so a takeover waits for this batch
        (and then reads its checkpoint); a takeover that came first makes this batch fail whole."""
        leased = [cp for cp in checkpoints if cp.lease is not None]
        if not leased:
            return
        p = self.param
        pipeline, owner = leased[0].pipeline or leased[0].source, leased[0].lease[0]  # type: ignore[index]
        wanted = sorted({(cp.lease[2], cp.lease[1]) for cp in leased})  # type: ignore[index]
        held = " OR ".join([f"(shard = {p} AND counter = {p})"] * len(wanted))
        params: list[Any] = [x for pair in wanted for x in pair]
        self.execute(f"UPDATE {META}.leases SET heartbeat = {self.NOW} WHERE pipeline = {p} AND owner = {p} AND ({held})",
                     [pipeline, owner, *params])
        rows = self.query(f"SELECT shard FROM {META}.leases WHERE pipeline = {p} AND owner = {p} AND ({held})",
                          [pipeline, owner, *params])
        lost = sorted({shard for shard, _ in wanted} - {r[0] for r in rows})
        if lost:
            raise LeaseLost(pipeline, lost)

    # ------------------------------------------------------------ reading, for status

    def status(self, recent_runs: int = 10) -> dict[str, Any]:
        tables = []
        for name, source_table in self.query(f"SELECT table_name, source_table FROM {META}.tables ORDER BY table_name"):
            ref = self.table_ref(name)
            rows, last_change, last_sync = self.query(
                f"SELECT count(*), max({quote(CHANGED_AT)}), max({quote(SYNCED_AT)}) FROM {ref}"
            )[0]
            (ncols,) = self.query(f"SELECT count(*) FROM {META}.columns WHERE table_name = {self.param}", [name])[0]
            tables.append(
                {"table": name, "source_table": source_table, "rows": int(rows), "columns": int(ncols),
                 "last_change": _iso(last_change), "last_sync": _iso(last_sync),
                 # how long the newest change took from DynamoDB to this table
                 "lag_s": _seconds(last_change, last_sync)}
            )
        # read-only status of a database no run of this version opened yet: no pipeline columns
        piped = self.has_metadata_column("runs", "commits_refused")
        pipeline_col = "pipeline" if piped else "source"
        checkpoints = [
            {"source": s, "shard": sh, "position": pos, "size": size, "updated_at": _iso(at), "pipeline": pl or s}
            for s, sh, pos, size, at, pl in self.query(
                f"SELECT source, shard, position, size, updated_at, {pipeline_col} FROM {META}.checkpoints"
                f" ORDER BY {pipeline_col}, source, shard"
            )
        ]
        cols = ("run_id, source, started_at, ended_at, status, records_read, changes_applied, superseded, duplicates_skipped,"
                " stale_skipped, ttl_ignored, rejected, tables_created, columns_added, batches, bytes_read, error"
                + (", pipeline, worker, commits_refused" if piped else ""))
        runs = []
        for row in self.query(f"SELECT {cols} FROM {META}.runs ORDER BY run_id DESC LIMIT {int(recent_runs)}"):
            run = {k: (_iso(v) if k in ("started_at", "ended_at") else v) for k, v in zip(cols.split(", "), row)}
            seconds = _seconds(row[2], row[3] or (datetime.now(timezone.utc) if row[4] == "running" else None))
            run["seconds"] = seconds
            run["records_per_s"] = round(run["records_read"] / seconds, 1) if seconds else None
            runs.append(run)
        pipelines = self.pipelines_status()
        alive = {w["owner"] for entry in pipelines for w in entry["workers"] if w["alive"]}
        for run in runs:  # a run whose process is gone (killed) is "lost" until the next run marks it interrupted
            if run["status"] == "running" and ((self.ONE_WRITER and self.mode == "read")
                                               or (run.get("worker") and run["worker"] not in alive)):
                run["status"] = "lost"
        (rejected,) = self.query(f"SELECT count(*) FROM {META}.rejected")[0]
        last = self.query(f"SELECT run_id, batch, applied_at, records, applied, seconds, lag_ms FROM {META}.batches"
                          " ORDER BY applied_at DESC, run_id DESC, batch DESC LIMIT 1")
        last_batch = dict(zip(("run_id", "batch", "applied_at", "records", "applied", "seconds", "lag_ms"), last[0])) \
            if last else None
        if last_batch:
            last_batch["applied_at"] = _iso(last_batch["applied_at"])
        return {"target": self.uri, "tables": tables, "checkpoints": checkpoints, "runs": runs,
                "last_batch": last_batch, "rejected": int(rejected), "pipelines": pipelines}


    # ------------------------------------------------------------ per-shard lag

    def write_lag(self, source_uri: str, lag: dict[str, int], pipeline: str = "") -> None:
        """Milliseconds behind the tip per shard, as of the batch just committed. Kept out of the
        batch's transaction on purpose: it is a gauge, not data; losing one update loses nothing."""
        p = self.param
        pipeline = pipeline or source_uri
        with self.transaction():
            self.execute(f"CREATE TABLE IF NOT EXISTS {LAG_TABLE} (source {self.TEXT}, shard {self.TEXT},"
                         f" millis_behind BIGINT, updated_at {self.TIMESTAMP}, pipeline {self.TEXT})")
            for shard, ms in sorted(lag.items()):
                self.execute(f"DELETE FROM {LAG_TABLE} WHERE coalesce(pipeline, source) = {p} AND shard = {p}",
                             [pipeline, shard])
                self.execute(f"INSERT INTO {LAG_TABLE} (source, shard, millis_behind, updated_at, pipeline)"
                             f" VALUES ({p}, {p}, {p}, {self.NOW}, {p})", [source_uri, shard, int(ms), pipeline])

    def read_lag(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(pipeline, shard) -> {millis_behind, updated_at}; empty when no live source ever ran."""
        if not self._has_table("shard_lag"):
            return {}
        rows = self.query(f"SELECT coalesce(pipeline, source), shard, millis_behind, updated_at FROM {LAG_TABLE}")
        return {(s, sh): {"millis_behind": int(ms), "updated_at": at.isoformat() if at else None} for s, sh, ms, at in rows}

    # ------------------------------------------------------------ rebuilding one table

    def forget_table(self, table: str, source: str | None = None, pipeline: str | None = None) -> tuple[str, str]:
        """Drop replicated `table` (its target name or its DynamoDB table's) with its history table
        or view, and everything dynashift remembers of it (columns, versions and tombstones,
        change_log, its row in `tables`), in one transaction; with `source`, the checkpoints of that
        source's `pipeline` (default: its unnamed one) too, so the next run of it reads the source
        from its start; other pipelines of the source keep theirs. Returns (table, DynamoDB table)."""
        from ..errors import ConfigError

        p = self.param
        self.read_table_schemas()
        found = self.query(f"SELECT table_name, source_table, options FROM {META}.tables WHERE table_name = {p}"
                           f" OR source_table = {p} ORDER BY CASE WHEN table_name = {p} THEN 0 ELSE 1 END",
                           [table, table, table])
        if not found:
            raise ConfigError(f"no replicated table {table!r} in {self.meta_where()} (see `dynashift status`)")
        name, source_table, options = found[0]
        extra = orjson.loads(options) if options else {}
        logged = self.has_metadata_column("change_log", "table_name")  # made only when change_log = true
        with self.transaction():
            if extra.get("live_view"):  # soft-delete mode's view of the live rows
                self.execute(f"DROP VIEW IF EXISTS {self.table_ref(extra['live_view'])}")
            if extra.get("history") == "only":
                self.execute(f"DROP VIEW IF EXISTS {self.table_ref(name)}")
            else:
                self.execute(f"DROP TABLE IF EXISTS {self.table_ref(name)}")
            if extra.get("history_table"):
                self.execute(f"DROP TABLE IF EXISTS {self.table_ref(extra['history_table'])}")
            for meta in ("columns", "versions", *(("change_log",) if logged else ()), "tables"):
                self.execute(f"DELETE FROM {META}.{meta} WHERE table_name = {p}", [name])
            if source is not None:
                self.execute(f"DELETE FROM {META}.checkpoints WHERE pipeline = {p}", [pipeline or source])
        self.table_schemas.pop(name, None)
        return name, source_table

    def meta_where(self) -> str:
        from ..redact import mask

        return mask(self.uri)

    def _has_table(self, name: str) -> bool:
        (n,) = self.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'dynashift'"
                          f" AND table_name = {self.param}", [name])[0]
        return bool(n)

    # ------------------------------------------------------------ the report's series

    def batch_rows(self, first_run: int) -> list[tuple]:
        """dynashift.batches of runs from `first_run` on, oldest first."""
        return self.query(
            f"SELECT run_id, batch, applied_at, records, applied, skipped, rejected, bytes, seconds, lag_ms, tables"
            f" FROM {META}.batches WHERE run_id >= {self.param} ORDER BY applied_at, run_id, batch", [first_run])

    def columns_first_seen(self) -> list[tuple]:
        """(table, first_seen) of every column, in the order they appeared."""
        return self.query(f"SELECT table_name, first_seen FROM {META}.columns ORDER BY table_name, first_seen")

    def tables_created_at(self) -> list[tuple]:
        return self.query(f"SELECT table_name, created_at FROM {META}.tables")


# Columns added to the metadata tables after the original design; older databases get them on open.
# (table, column, type: None = text)
_ADDED = (("tables", "options", None), ("columns", "column_type", None), ("columns", "variant_column", None),
          ("columns", "type_changes", None), ("tables", "schema_name", None), ("checkpoints", "pipeline", None),
          ("runs", "pipeline", None), ("runs", "worker", None), ("shard_lag", "pipeline", None),
          ("runs", "commits_refused", "BIGINT"))


def migrate_metadata(t: MetadataTables) -> None:
    """Add the metadata columns a database made by an older dynashift lacks (one query when none do).
    Checkpoints and runs of before pipelines belong to the default pipeline of their source,
    whose name is the source URI."""
    have = set(t.query("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'dynashift'"))
    tables = {table for table, _ in have}
    for table, column, kind in _ADDED:
        if table in tables and (table, column) not in have:
            t.execute(f"ALTER TABLE {META}.{table} ADD COLUMN {column} {kind or t.TEXT}")
    if ("checkpoints", "pipeline") not in have:
        t.execute(f"UPDATE {META}.checkpoints SET pipeline = source WHERE pipeline IS NULL")
    if ("runs", "pipeline") not in have:
        t.execute(f"UPDATE {META}.runs SET pipeline = source, commits_refused = 0 WHERE pipeline IS NULL")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _seconds(start: Any, end: Any) -> float | None:
    """end - start in seconds (timestamps as the driver returns them), None when either is missing."""
    if start is None or end is None:
        return None
    if (start.tzinfo is None) != (end.tzinfo is None):  # a naive UTC value next to an aware one
        start, end = (x.replace(tzinfo=timezone.utc) if x.tzinfo is None else x for x in (start, end))
    return round((end - start).total_seconds(), 3)
