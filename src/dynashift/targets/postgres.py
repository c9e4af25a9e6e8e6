"""PostgreSQL: `postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?libpq options]` (psycopg 3).

A batch is judged as a whole and its winners COPYed straight into their tables (postgres_merge.py;
binary COPY written by the native engine, else CSV: pg_copy.py); soft-delete mode and typed columns
stage each table in a temporary table and take the shared per-table merge. All of it in one
transaction with the batch's checkpoint.
Identifiers hold up to 63 bytes and are case-sensitive: `Name` and `name` are two columns.
ref: https://www.postgresql.org/docs/current/sql-syntax-lexical.html#SQL-SYNTAX-IDENTIFIERS
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import time
from typing import Any, ClassVar, Iterator, Sequence
from urllib.parse import urlsplit

import orjson
import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataTargetError, RetryableTargetError, TargetError, first_line
from ..model import BatchPlan, HistoryStage, TypedStage, WarehouseStage
from ..records import Rejected
from ..schema import DIST_KEY, STAGE_SEQ, STAGE_VERSION, AddTable, Naming
from ..typing_mode import JSON
from .base import Nesting, RunCounters, SqlTarget, quote
from .pg_copy import copy_table, may_contain
from .postgres_merge import PostgresMerge

log = logging.getLogger("dynashift")
DDL_LOCK_KEY = 0x64796E61  # "dyna": the advisory lock every dynashift worker takes for schema changes
VERSIONS_FILLFACTOR = 70  # % of each dynashift.versions page filled by new rows; the rest for HOT updates (index_ddl)
SESSION_MEMORY = "64MB"  # work_mem and temp_buffers of a dynashift session at least (connect)
STAGE_STATISTICS = 10  # a stage's ANALYZE samples 300 x this many rows (connect, load_stage)
CONFLICT_RETRIES = 5  # a batch rolled back by a deadlock or serialization failure is tried this often again

# A quoted identifier, a string literal, or a bare %: what a %s placeholder must not be confused with.
_QUOTED = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'')


class PostgresTarget(PostgresMerge, SqlTarget):
    # ref: NAMEDATALEN - 1 = 63 bytes; longer names are cut and hashed (schema.fit), never truncated by the server
    # ref: https://www.postgresql.org/docs/current/limits.html (1,600 columns per table)
    # ref: https://www.postgresql.org/docs/current/datatype-numeric.html (NUMERIC without precision: any number exactly)
    naming = Naming(max_bytes=63, case_insensitive=False, max_columns=1600, unbounded_numeric=True)
    default_schema = "public"
    REAPPLIES_PLANS = True  # `apply` tries a batch again after a conflict: its stages are kept until it commits
    TEXT = "TEXT"
    TIMESTAMP = "TIMESTAMPTZ"
    # seq strings hold \x1f separators and must order like Python str: bytewise, whatever the locale
    SEQ_TYPE = 'TEXT COLLATE "C"'
    param = "%s"
    engine: ClassVar[str] = "PostgreSQL"
    # Typed mode: bytea from base64, jsonb (exact numerics) from the staged JSON text
    BINARY = "BYTEA"
    JSON = "JSONB"
    BINARY_FROM_TEXT = "decode({}, 'base64')"
    JSON_FROM_TEXT = "CAST({} AS JSONB)"
    JSON_TO_TEXT = "CAST({} AS TEXT)"
    VIEWS_FIX_COLUMNS = True  # ref: https://www.postgresql.org/docs/current/sql-createview.html ("*" expanded at creation)
    MULTI_ADD_COLUMN = True  # ref: https://www.postgresql.org/docs/current/sql-altertable.html (actions, comma-separated)

    def __init__(self, uri: str, schema: str | None = None):
        super().__init__(uri, schema)
        self.con: Any = None
        self.application_name = "dynashift"  # the lease keeper's connection says "dynashift-leases"
        self._tx = Nesting()
        self._first_error: str | None = None

    # ------------------------------------------------------------ connection

    def open(self) -> None:
        self.con = self.connect()
        if self.mode == "read":  # status, report, verify: the server itself refuses any write
            self.execute("SET default_transaction_read_only = on")
        self.prepare_metadata()

    def connect(self) -> Any:
        try:
            con = psycopg.connect(self.uri, autocommit=True, prepare_threshold=None,
                                  application_name=self.application_name)
        except psycopg.Error as exc:
            raise TargetError(f"cannot connect to {self.engine} at {_where(self.uri)}: {first_line(exc)}") from None
        # Unqualified names (the staging and winners tables) resolve only among this session's
        # temporary tables, never to a user table that happens to share the name.
        con.execute("SET search_path TO pg_temp")
        con.execute("SET TIME ZONE 'UTC'")
        # A batch's judging (a hash join of its keys with versions, the verdicts' counts) and its
        # temporary tables outgrew the defaults (work_mem 4MB, temp_buffers 8MB) at 75k records:
        # the hash join ran in 2 batches through temp files, the counts sorted on disk, the temp
        # tables were written out. Raised for this session only, never lowered (a server's own
        # larger setting stays); temp_buffers only counts before the session's first temp table.
        con.execute("SELECT set_config(name, value, false) FROM (VALUES ('work_mem', %s), ('temp_buffers', %s)) s (name, value)"
                    " WHERE pg_size_bytes(current_setting(name)) < pg_size_bytes(value)", [SESSION_MEMORY, SESSION_MEMORY])
        # The only tables this session ANALYZEs are its stages (load_stage), for their row count
        # and the key's distinct share: a sample of 3,000 rows tells them as well as 30,000 and
        # costs a sixth (wide 1M: 0.48 -> 0.08 server CPU-s, judging plans unchanged).
        con.execute(f"SET default_statistics_target = {STAGE_STATISTICS}")
        return con

    def sibling(self) -> PostgresTarget | None:
        other = type(self)(self.uri, self.schema)
        other.application_name = "dynashift-leases"
        other.con = other.connect()
        return other

    def ddl_lock(self, creating: bool = False) -> None:
        # ref: https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS
        self.execute(f"SELECT pg_advisory_xact_lock({DDL_LOCK_KEY})")

    def close(self) -> None:
        if self.con is not None:
            with contextlib.suppress(Exception):
                self.con.close()
            self.con = None

    def run_sql(self, sql: str, params: Sequence[Any], fetch: bool) -> list[tuple] | None:
        """The one place a driver error becomes a dynashift error (STYLE pattern 4)."""
        with self.errors():
            cur = self.con.execute(_escape_percent(sql) if params else sql, list(params) if params else None)
            return cur.fetchall() if fetch else None

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.errors.InFailedSqlTransaction:
            # a statement after the one that failed (a cleanup): report the failure, not its echo
            raise TargetError(f"{self.engine}: {self._first_error or 'an earlier statement failed'}") from None
        except psycopg.Error as exc:
            mapped = map_error(exc, self.engine)
            self._first_error = self._first_error or str(mapped).removeprefix(f"{self.engine}: ")
            raise mapped from None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.run_sql(sql, params, fetch=False)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.run_sql(sql, params, fetch=True) or []

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self._tx.enter(self._begin, lambda: self.execute("COMMIT"), self._rollback)

    def _begin(self) -> None:
        self._first_error = None  # the first error of this transaction, which later ones only echo
        self.execute("BEGIN")

    def _rollback(self) -> None:
        with contextlib.suppress(TargetError):  # a dead connection has rolled back already
            self.execute("ROLLBACK")

    # ------------------------------------------------------------ DDL differences

    def metadata_ddl(self) -> list[str]:
        return super().metadata_ddl() + self.index_ddl()

    def index_ddl(self) -> list[str]:
        """Every merge looks rows of `versions` up by key; without an index that is a full scan.
        Each batch rewrites the versions rows of its keys in place, none of them indexed columns:
        with room left on each page the new row version goes on the same page, a HOT update that
        adds no index entry and whose dead version the next access prunes, without VACUUM
        (wide 200k: 78% HOT, the versions UPDATE's server CPU -35%). A fillfactor set by the
        user is kept.
        ref: https://www.postgresql.org/docs/current/storage-hot.html"""
        return [
            "CREATE INDEX IF NOT EXISTS versions_key ON dynashift.versions (table_name, dist_key)",
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_class c, unnest(c.reloptions) o WHERE c.oid ="
            f" 'dynashift.versions'::regclass AND o LIKE 'fillfactor=%') THEN ALTER TABLE dynashift.versions"
            f" SET (fillfactor = {VERSIONS_FILLFACTOR}); END IF; END $$",
        ]

    def create_table_sql(self, ch: AddTable, columns_sql: str = "") -> str:
        # The primary key is the index the merge's DELETE uses; PostgreSQL names it without clashes.
        columns = super().create_table_sql(ch, columns_sql).removesuffix(")")
        return f"{columns}, PRIMARY KEY ({quote(DIST_KEY)}))"

    def history_table_sql(self, table: str, columns_sql: str) -> str:
        # One row per version; the key also serves the valid-to window over a key's versions.
        columns = super().history_table_sql(table, columns_sql).removesuffix(")")
        return f"{columns}, PRIMARY KEY ({quote(DIST_KEY)}, {quote(STAGE_VERSION)}, {quote(STAGE_SEQ)}))"

    # ------------------------------------------------------------ staging

    def column_type(self, field: pa.Field) -> str:
        if field.name == STAGE_SEQ:
            return self.SEQ_TYPE
        if pa.types.is_integer(field.type):
            return "BIGINT"
        if pa.types.is_timestamp(field.type):
            return self.TIMESTAMP
        if pa.types.is_boolean(field.type):
            return "BOOLEAN"
        return self.TEXT

    def stage_rows(self, name: str, data: pa.Table) -> str:
        ref = quote(name)
        cols = ", ".join(f"{quote(f.name)} {self.column_type(f)}" for f in data.schema)
        self.execute(f"CREATE TEMP TABLE {ref} ({cols})")
        if data.num_rows:
            self.load_stage(ref, data)
        return ref

    def load_stage(self, ref: str, data: pa.Table) -> None:
        """COPY, binary when the native engine writes it, else CSV (pg_copy.py)."""
        with self.errors():
            copy_table(self.con, ref, data)
        if DIST_KEY in data.column_names:
            # Temp tables get no statistics otherwise; the joins with `versions` need the key's.
            # (All columns: 20% of the merge time, for nothing the planner uses.)
            self.execute(f"ANALYZE {ref} ({quote(DIST_KEY)})")

    def copy_rows(self, relation: str, data: pa.Table, where: str = "") -> None:
        """`data` COPYed into `relation` (its columns named as `data`'s), no ANALYZE: the batch
        merge's winners straight into their table (postgres_merge.py), those `where` holds for."""
        with self.errors():
            copy_table(self.con, relation, data, where)

    def drop_stage(self, name: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {name}")

    # ------------------------------------------------------------ values the target cannot hold

    def apply(self, plan: BatchPlan, run: RunCounters, change_log: bool = False) -> None:
        """One batch in one transaction. When the server rolls it back for another session's sake
        (a deadlock with a reader's locks, a serialization failure), it is tried again, a few
        times, after a pause: the connection still works. A lost connection is not retried."""
        self.screen(plan)
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                return super().apply(plan, run, change_log)
            except RetryableTargetError as exc:
                if attempt == CONFLICT_RETRIES or not self.alive():
                    raise
                log.warning("%s; applying the batch again", exc)
                time.sleep(random.uniform(0.5, 1.0) * min(2.0, 0.1 * 2 ** attempt))

    def alive(self) -> bool:
        try:
            self.query("SELECT 1")
            return True
        except TargetError:
            return False

    def unstorable(self, values: pa.ChunkedArray) -> list[tuple[pa.ChunkedArray, str]]:
        """Masks of the rows whose value this target cannot store as it is, each with why.
        PostgreSQL text cannot hold the NUL character."""
        if not may_contain(values, b"\x00"):
            return []
        mask = pc.match_substring(values, "\x00")
        return [(mask, "holds a NUL character, which PostgreSQL text cannot store")] if pc.any(mask).as_py() else []

    def screen(self, plan: BatchPlan) -> None:
        """Move changes holding a value the target cannot store to `rejected`, with their key,
        rather than fail the batch or cut the value."""
        done: set[tuple[str, str, int]] = set()
        for stage in [*plan.stages, *plan.history]:  # history mode: every version is screened too
            if isinstance(stage, WarehouseStage):
                continue  # staged by SQL in the warehouse, which screens it itself (redshift_native)
            types = (stage.types if isinstance(stage, (TypedStage, HistoryStage)) else None) or {}
            bad: dict[int, str] = {}
            for column in stage.columns:
                found = self.unstorable(stage.data.column(column))
                if types.get(column) == JSON:
                    found += self.unstorable_json(stage.data.column(column))
                for mask, why in found:
                    for i in pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist():
                        bad.setdefault(i, f"value of column {column!r} {why}")
            if not bad:
                continue
            keep = pa.array([i not in bad for i in range(stage.data.num_rows)])
            for i, why in sorted(bad.items()):
                key = (stage.table, stage.data.column(DIST_KEY)[i].as_py(), stage.data.column(STAGE_VERSION)[i].as_py())
                if key not in done:  # a change both current and in the history is rejected once
                    done.add(key)
                    plan.rejected.append(_rejected(stage.table, stage.data, i, why))
            stage.data = stage.data.filter(keep)
        plan.stages = [s for s in plan.stages if s.data.num_rows]
        plan.history = [s for s in plan.history if s.data.num_rows]

    def unstorable_json(self, values: pa.ChunkedArray) -> list[tuple[pa.ChunkedArray, str]]:
        """Typed mode: jsonb cannot hold the escaped NUL character `\\u0000` either."""
        if not may_contain(values, b"\\u0000"):
            return []
        mask = pc.match_substring(values, "\\u0000")
        return [(mask, "holds a NUL character, which PostgreSQL jsonb cannot store")] if pc.any(mask).as_py() else []


# ref: https://www.postgresql.org/docs/current/errcodes-appendix.html
# Classes caused by the data itself: 22 data exception (invalid byte sequence, numeric overflow),
# 23 integrity constraint violation (a user's CHECK), 54 program limit exceeded (too many columns,
# row too big). The same records fail the same way every time.
_DATA_CLASSES = ("22", "23", "54")
# Worth another try: 40 transaction rollback (deadlock, serialization), 08 connection exception,
# 57P01-57P05 the server shutting down or restarting, 53300 too many connections.
_RETRY_STATES = ("57P01", "57P02", "57P03", "57P05", "53300")


def map_error(exc: psycopg.Error, engine: str = "PostgreSQL") -> TargetError:
    """A driver error -> retryable, data (the batch is split) or fatal; by SQLSTATE, never by the
    exception's class alone: psycopg files "too many columns" under OperationalError."""
    state = getattr(exc, "sqlstate", None) or ""
    line = first_line(exc)
    if state.startswith("40"):
        # deadlock with another session, serialization failure: the connection lives, retry the batch
        return RetryableTargetError(f"{engine}: {line} (the transaction was rolled back)")
    if state.startswith("08") or state in _RETRY_STATES or (
            not state and isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))):
        # connection lost, server shutting down: a restart resumes from the last checkpoint
        return RetryableTargetError(f"{engine} connection failed: {line}")
    if state[:2] in _DATA_CLASSES or (not state and isinstance(exc, psycopg.DataError)):
        # (psycopg itself refuses a NUL in text before sending: a DataError without SQLSTATE)
        return DataTargetError(f"{engine}: {line}")
    return TargetError(f"{engine}: {line}")


def _rejected(table: str, data: pa.Table, i: int, why: str) -> Rejected:
    seq = data.column(STAGE_SEQ)[i].as_py()
    raw = {"table": table, "dist_key": data.column(DIST_KEY)[i].as_py(), "version": data.column(STAGE_VERSION)[i].as_py()}
    return Rejected(why, orjson.dumps(raw), seq.replace("\x1f", ":"))


def _escape_percent(sql: str) -> str:
    """psycopg reads every % as a placeholder; a % inside a quoted name or literal is doubled."""
    if "%" not in sql:
        return sql
    return _QUOTED.sub(lambda m: m.group(0).replace("%", "%%"), sql)


def _where(uri: str) -> str:
    try:
        parts = urlsplit(uri)
        return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    except ValueError:
        return "the configured address"
