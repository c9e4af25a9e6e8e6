"""DuckDB, the embedded default: `duckdb:///PATH` (a file) or `duckdb:///:memory:`.

Batches are staged by registering the Arrow table with the connection (zero copy).
ref: https://duckdb.org/docs/guides/python/sql_on_arrow
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import parse_qsl

import duckdb
import orjson
import pyarrow as pa

from ..errors import ConfigError, DataTargetError, TargetError, first_line
from ..schema import Naming
from .base import Nesting, SqlTarget
from .duckdb_merge import DuckDBMerge


def path_from_uri(uri: str) -> str:
    """`duckdb:///rel/or/abs.duckdb` -> the path after `duckdb://` with one leading slash removed
    for relative paths (`duckdb:///demo.duckdb` is ./demo.duckdb; `duckdb:////tmp/x` is /tmp/x)."""
    if not uri.startswith("duckdb://"):
        raise ConfigError(f"not a DuckDB URI: {uri!r} (use duckdb:///PATH)")
    rest = uri[len("duckdb://"):].partition("?")[0]  # ?memory_limit=… is an option, not the path
    if rest.startswith("/"):
        rest = rest[1:]
    if not rest:
        raise ConfigError("duckdb:/// needs a file path, e.g. duckdb:///dynashift.duckdb")
    return rest


_SIZE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.I)
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def size_bytes(size: str) -> float:
    """A DuckDB size setting (`256MB`: decimal units, as DuckDB reads them; `1GiB`) in bytes."""
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]+)", size.strip(), re.I).groups()
    return float(number) * _UNITS[unit.upper()]


_OPTIONS = ("memory_limit", "threads")


def uri_options(uri: str) -> dict[str, str]:
    """The options after `?` in a DuckDB URI; an unknown one is refused by name."""
    options = dict(parse_qsl(uri.partition("?")[2], keep_blank_values=True))
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown option {', '.join(unknown)} in the DuckDB target URI: "
                          "only memory_limit and threads (e.g. duckdb:///r.duckdb?memory_limit=2GB) are known")
    return options


def memory_limit_of(uri: str, default: str) -> str:
    """`?memory_limit=2GB` in a DuckDB URI (a large table's merges may want more than the default);
    the size is checked here since it is written into a SET."""
    limit = uri_options(uri).get("memory_limit", default)
    if not _SIZE.fullmatch(limit.strip()):
        raise ConfigError(f"memory_limit={limit!r} in the DuckDB target URI: give a size such as 512MB or 2GB")
    return limit.strip()


def threads_of(uri: str) -> int:
    """`?threads=N` in a DuckDB URI, else one fewer than this process's cores (at least 1): the
    main thread decodes on a core of its own while the applying thread drives DuckDB, and DuckDB's
    own default (all cores) has its workers compete with that decode (decisions.md)."""
    threads = uri_options(uri).get("threads")
    if threads is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, cores - 1)
    if not threads.strip().isdigit() or int(threads) < 1:
        raise ConfigError(f"threads={threads!r} in the DuckDB target URI: give a whole number of at least 1")
    return int(threads)


class DuckDBTarget(DuckDBMerge, SqlTarget):
    # DuckDB compares identifiers case-insensitively and has no length limit; 255 bytes keeps
    # names readable and portable.
    naming = Naming(max_bytes=255, case_insensitive=True)
    default_schema = "main"
    STAGE_METADATA_ROWS = True
    ONE_WRITER = True
    APPENDS_FULL_LOADS = True  # (full_load.py)
    # DuckDB's buffer pool may grow to 80% of the machine's memory by default, caching every block
    # of a table it has written: a long run's memory would grow with the data. Bounded, blocks are
    # evicted (they are in the file; a query that needs more spills to PATH.tmp).
    # ref: https://duckdb.org/docs/configuration/overview (memory_limit)
    MEMORY_LIMIT = "128MB"
    # Half the pool's blocks come from DuckDB's block allocator (`block_allocator_memory`): a freed
    # block is kept for the next one, where the C allocator handed its pages back to the system and
    # the next block faulted them in anew, zeroed. A batch's merge and commit allocate and free
    # blocks by the hundred (row groups compressed and written, blocks read and evicted): page
    # faults, madvise and the allocator were 10-15% of the applying thread (wide 1M, perf). The
    # allocator's pages stay resident once touched, so a share of the pool, not all of it: with
    # all of it wide 2M's peak RSS reached 506-515 MiB in 3 runs of 9 (the budget is 512).
    # ref: https://duckdb.org/docs/stable/configuration/overview (block_allocator_memory)
    BLOCK_ALLOCATOR_SHARE = 0.5
    # By default DuckDB checkpoints whenever its WAL passes 16MB: after every batch, rewriting each
    # table's last, partly filled row group each time (measured: half of a wide batch's apply,
    # mostly waiting for the disk). Every 256MB of WAL instead; each commit is still durable (the
    # WAL is synced), only the WAL replayed after a crash is longer.
    # ref: https://duckdb.org/docs/configuration/overview (checkpoint_threshold)
    CHECKPOINT_THRESHOLD = "256MB"
    # A commit through the WAL writes every row twice: to the WAL, then compressed into the file by
    # the next checkpoint (and spilled to PATH.tmp meanwhile once the pool is full). A commit that
    # checkpoints skips the WAL (DuckDB: auto_checkpoint_skip_wal_threshold), so a transaction that
    # staged at least this many bytes checkpoints at its COMMIT: its rows are compressed into the
    # file once, and the close has little left to do. Such a checkpoint counts towards VACUUM_EVERY
    # as its share of CHECKPOINT_THRESHOLD (vacuuming at each made it dearer than the WAL). A
    # smaller transaction (a live stream's few records) goes to the WAL: after a checkpoint the
    # next append starts a new row group, and a few rows per commit would make many small ones.
    # ref: https://duckdb.org/docs/stable/configuration/overview (auto_checkpoint_skip_wal_threshold)
    CHECKPOINT_AT_COMMIT_BYTES = 8 * 2**20
    # A checkpoint rewrites each table's last, partly filled row group whole (DuckDB's default:
    # 122,880 rows): a stream's batch adds a few thousand rows per table, so each checkpoint
    # rewrote up to all of a table below a million rows, more as the tables grew (wide 1M: 3.7,
    # 4.5, 6.3 s). Row groups of 16,384 rows bound that rewrite: 2.3, 3.1, 3.6 s. Applied when
    # the file is attached for writing (a file keeps no row-group size: readers do not need it).
    # ref: https://duckdb.org/docs/stable/sql/statements/attach (ROW_GROUP_SIZE)
    # 8,192 rather than 16,384: at COMMIT DuckDB moves a table's new rows over as they are only if
    # the transaction appended at least a row group to it; fewer are appended to the table again,
    # row by row, then compressed by the checkpoint (LocalStorage::Flush). A wide stream's batch
    # gives each table ~11,000 rows: with 8,192 a full row group is written to the file during
    # the INSERT, compressed (optimistic write), and the commit moves it over.
    ROW_GROUP_SIZE = 8_192
    # DuckDB runs a statement on `threads` threads (default: one per core). A run already keeps
    # two busy: the main thread decoding the next batch and the one applying this one; DuckDB's
    # second thread only contended with them (wide 1M on 2 cores, 3 runs each, loaded: 88.5-90.1 s
    # and 48-54 CPU-s with 1 thread, 87.5-114 s and 51-58 CPU-s with 2). One fewer than the cores
    # while writing (`threads_of`: 1 on 2 cores, 7 on 8; `?threads=N` in the URI sets it), the
    # whole run long: also for a COMMIT that checkpoints and for an INSERT of full row groups. On
    # DuckDB's own count there, its worker compressed the row groups mostly while the applying
    # thread waited for it (both running at once 6-8% of the run), so the apply took as long and
    # cost more (wide 1M: +2.4 CPU-s, +14 MiB peak). Its own count again at close, when the
    # closing checkpoint has the cores to itself.
    # ref: https://duckdb.org/docs/configuration/overview (threads)
    # A checkpoint also vacuums: it rewrites the row groups of every table written since the last
    # checkpoint that lost rows to deletes, and a stream deletes rows (replaced rows, replaced
    # versions rows) from nearly all of them: wide 1M, the checkpoint after batch 19 is 4.55 CPU-s,
    # 1.40 without the vacuum (bench/checkpoint_cost.py). A run's first checkpoint (a short run's
    # close) vacuums, then every VACUUM_EVERY-th: a table written again has its deleted rows
    # reclaimed within VACUUM_EVERY checkpoints (VACUUM_EVERY x CHECKPOINT_THRESHOLD of data) or at
    # the next run's first.
    # ref: https://duckdb.org/docs/configuration/overview (max_vacuum_tasks)
    VACUUM_EVERY = 4
    VACUUM_TASKS = 100  # DuckDB's default max_vacuum_tasks
    # What the vacuum bounds is memory: DuckDB pins a 256 KiB block for each row group a
    # transaction deletes from (its row versions) until the checkpoint, outside what it can evict
    # (600 row groups in the 128MB pool: out of memory), and a wide batch adds ~22 row groups. Bytes
    # do not bound them in a long run: what a vacuum leaves grows with the live rows (wide 3M: 107
    # row groups after the vacuum at batch 15, 205 after batch 28's) and by the end of wide 3M the
    # bytes' rule let 447 row groups (~112 MiB) be pinned in a 122 MiB pool. So a checkpoint also
    # vacuums when the file's row groups plus the last checkpoint's growth would pin more than
    # VACUUM_PINNED_SHARE of memory_limit (wide 1M and 2M never get there). DuckDB's checkpoint log
    # counts them (one entry per row group a checkpoint kept, and per vacuum task with the row
    # groups it made: 2.5 ms; pragma_storage_info, 0.33 CPU-s for 300 row groups of 49 columns).
    # ref: https://duckdb.org/docs/stable/operations_manual/logging/overview
    VACUUM_PINNED_SHARE = 0.8
    ROW_VERSIONS_BYTES = 256 * 1024
    LOG_SETTINGS = ("SET logging_level = 'debug'", "SET enabled_log_types = 'Checkpoint'",
                    "SET logging_mode = 'enable_selected'", "SET enable_logging = true")
    ROW_GROUPS_LOGGED = ("SELECT count(*) FILTER (WHERE message LIKE '%''type'': checkpoint,%'), coalesce(sum(CASE"
                         " WHEN message LIKE '%''type'': vacuum,%' THEN regexp_extract(message, 'target_count=(\\d+)', 1)::BIGINT"
                         " END), 0) FROM duckdb_logs WHERE type = 'Checkpoint' AND starts_with(message, '{''database'': warehouse,')")
    # A checkpoint at commit leaves each table the batch wrote a new row group, and DuckDB pins a
    # 256 kB block per row group that has deletes (its row versions), outside what it can evict:
    # with many tables those piled up until the next vacuum merged them, and ran the 128MB pool
    # out (40 tables, 2M narrow records: out of memory; vacuuming at each checkpoint: none). So a
    # checkpoint at commit counts at least as its tables' share of NEW_ROW_GROUPS_PER_VACUUM
    # (6 wide tables: about what their bytes count; 40 tables: a vacuum every third batch).
    NEW_ROW_GROUPS_PER_VACUUM = 128
    # dynashift.versions' keys, seqs and event ids are written uncompressed (metadata.py RAW): each
    # batch writes a versions row anew for every key it changes, and DuckDB's analysis of those
    # long, unique strings (DICT_FSST, which seldom gains there) was most of that INSERT: 70,000
    # versions rows, one thread, 0.075-0.080 -> 0.028-0.033 CPU-s. Judging scans dist_key whole
    # each batch: faster uncompressed (140,000 rows: 0.0036 -> 0.0020 CPU-s). A file made before
    # keeps its versions table as it was.
    # ref: https://github.com/duckdb/duckdb/blob/main/test/sql/create/create_table_compression.test (USING COMPRESSION)
    RAW = " USING COMPRESSION uncompressed"

    def __init__(self, uri: str, schema: str | None = None):
        super().__init__(uri, schema)
        self.path = path_from_uri(uri)
        self.memory_limit = memory_limit_of(uri, self.MEMORY_LIMIT)
        self.threads = threads_of(uri)
        self.con: duckdb.DuckDBPyConnection | None = None
        self._tx = Nesting()
        self._threads: int | None = None  # DuckDB's own thread count, while a run uses self.threads
        # checkpoints' worth of data (CHECKPOINT_THRESHOLD each) since the last checkpoint that
        # vacuumed; None: DuckDB's way. _vacuuming: whether the next checkpoint will.
        self._unvacuumed: float | None = None
        self._vacuuming = True
        # The cap in row groups (None: not counted), the file's after the last checkpoint (None:
        # none yet this run) and what the last checkpoint that did not vacuum added.
        self._budget: int | None = None
        self._row_groups: int | None = None
        self._growth = 0
        self._staged_bytes = 0  # Arrow bytes staged in the open transaction (CHECKPOINT_AT_COMMIT_BYTES)
        self._staged_relations = 0  # relations staged in it: at least the tables it writes

    def open(self) -> None:
        if self.path != ":memory:":
            parent = Path(self.path).expanduser().resolve().parent
            if not parent.exists():
                raise ConfigError(f"folder {parent} for the DuckDB file does not exist")
            if self.mode != "write" and not Path(self.path).expanduser().exists():
                raise TargetError(f"no dynashift metadata in {self.uri}: there is no file {self.path}"
                                  " (`duckdb:///relative/path` or `duckdb:////absolute/path`)")
        try:
            self.con = self._connect(read_only=self.mode == "read" and self.path != ":memory:")
        except duckdb.Error as exc:
            if "lock" in str(exc).lower():
                raise TargetError(self._held_by(str(exc))) from None
            raise TargetError(f"cannot open DuckDB file {self.path}: {first_line(exc)}") from None
        if self.path != ":memory:":  # an in-memory database holds its tables in the pool: not bounded
            self.con.execute(f"SET memory_limit = '{self.memory_limit}'")
            self._block_allocator(size_bytes(self.memory_limit) * self.BLOCK_ALLOCATOR_SHARE)
            self.con.execute(f"SET checkpoint_threshold = '{self.CHECKPOINT_THRESHOLD}'")
            if self.mode == "write":
                self._threads = int(self.con.execute("SELECT current_setting('threads')").fetchone()[0])
                self.con.execute(f"SET threads = {int(self.threads)}")
                if self._vacuum(self.VACUUM_TASKS):
                    self._unvacuumed, self._vacuuming = float(self.VACUUM_EVERY), True  # the first vacuums
                    if self._counting():
                        self._budget = int(self.VACUUM_PINNED_SHARE * size_bytes(self.memory_limit) / self.ROW_VERSIONS_BYTES)
        self.prepare_metadata()

    def _block_allocator(self, size: float) -> None:
        """BLOCK_ALLOCATOR_SHARE; quietly not where DuckDB has no such setting (an older version)."""
        with contextlib.suppress(duckdb.Error):
            self.con.execute(f"SET block_allocator_memory = '{int(size)}B'")

    def _vacuum(self, tasks: int) -> bool:
        """Whether the next checkpoint may vacuum (`tasks` > 0); False where DuckDB has no such
        setting: it then vacuums at every checkpoint, as it always did."""
        try:
            self.con.execute(f"SET max_vacuum_tasks = {int(tasks)}")
        except duckdb.Error:
            return False
        return True

    def _vacuum_next(self, vacuums: bool) -> None:
        if vacuums != self._vacuuming:
            self._vacuum(self.VACUUM_TASKS if vacuums else 0)
            self._vacuuming = vacuums

    def _counting(self) -> bool:
        """Whether DuckDB logs its checkpoints' row groups (read by `_counted`); False where this
        DuckDB cannot."""
        try:
            for sql in self.LOG_SETTINGS:
                self.con.execute(sql)
            self._counted()
        except duckdb.Error:
            return False
        return True

    def _counted(self) -> int | None:
        """The file's row groups after the checkpoints logged since the last call (the log is
        emptied): those each checkpoint kept and those its vacuum made; None if none was logged."""
        kept, made = self.con.execute(self.ROW_GROUPS_LOGGED).fetchone()
        self.con.execute("CALL truncate_duckdb_logs()")
        return kept + made if kept or made else None

    def _owes_vacuum(self, share: float) -> bool:
        """Whether the next checkpoint, of `share` thresholds' worth of data, vacuums: VACUUM_EVERY
        thresholds' worth since the last that did, or the row groups the batch after it may delete
        from would pin more than the budget."""
        over = (self._budget is not None and self._row_groups is not None
                and self._row_groups + self._growth > self._budget)
        return self._unvacuumed + share >= self.VACUUM_EVERY or over

    def _count_row_groups(self, vacuumed: bool) -> None:
        """After a checkpoint: the file's row groups, and their growth if it did not vacuum."""
        if self._budget is None:
            return
        counted = self._counted()
        if counted is None:  # a checkpoint logs dynashift's own tables at least: not the log we read
            self._budget = None
            return
        if not vacuumed and self._row_groups is not None:
            self._growth = max(0, counted - self._row_groups)
        self._row_groups = counted

    def _wal_bytes(self) -> int:
        try:
            return os.stat(self.path + ".wal").st_size
        except OSError:
            return 0

    def _begin(self) -> None:
        self._staged_bytes = self._staged_relations = 0
        self.con.execute("BEGIN TRANSACTION")

    def _commit(self) -> None:
        """COMMIT, which checkpoints once the WAL has passed the threshold (the WAL is then folded
        into the file and removed), or at once, without writing the WAL, for a transaction that
        staged CHECKPOINT_AT_COMMIT_BYTES: counted, so that a checkpoint vacuums once VACUUM_EVERY
        thresholds' worth of data were checkpointed since the last that did."""
        large = self._staged_bytes >= self.CHECKPOINT_AT_COMMIT_BYTES and self.path != ":memory:"
        share = max(self._staged_bytes / size_bytes(self.CHECKPOINT_THRESHOLD),
                    self._staged_relations * self.VACUUM_EVERY / self.NEW_ROW_GROUPS_PER_VACUUM) if large else 1.0
        self._staged_bytes = self._staged_relations = 0
        if large and self._unvacuumed is not None:
            self._vacuum_next(self._owes_vacuum(share))
        before = self._wal_bytes()
        if large:
            with contextlib.suppress(duckdb.Error):  # refused in an aborted transaction: COMMIT ends it as before
                self.con.execute("SET checkpoint_threshold = '0B'")
            try:
                self.con.execute("COMMIT")
            finally:
                self.con.execute(f"SET checkpoint_threshold = '{self.CHECKPOINT_THRESHOLD}'")
        else:
            self.con.execute("COMMIT")
        if self._unvacuumed is None:
            return
        after = self._wal_bytes()
        if not (after < before or (large and after == 0)):  # refused (another transaction open): in the WAL
            return
        self._count_row_groups(self._vacuuming)
        self._unvacuumed = 0.0 if self._vacuuming else self._unvacuumed + share
        self._vacuum_next(self._owes_vacuum(1.0))  # the next, if the WAL's threshold makes it

    def _owner_file(self) -> Path:
        return Path(self.path + ".owner")

    def _held_by(self, error: str) -> str:
        """DuckDB allows one writing process per file: say which pipeline has it (from the note
        the holder left beside the file), in one line."""
        pid = re.search(r"PID (\d+)", error)
        who = f"process {pid.group(1)}" if pid else "another process"
        try:
            note = orjson.loads(self._owner_file().read_bytes())
            if not pid or str(note.get("pid")) == pid.group(1):
                who = f"pipeline {note['pipeline']!r} (pid {note['pid']} on {note['host']})"
        except (OSError, ValueError, KeyError):
            pass
        return (f"DuckDB file {self.path} is in use by {who}: DuckDB allows one writing process per file."
                " Stop it first, or use PostgreSQL for several workers")

    def save_pipeline(self, name: str, source: str, schema: str, filters: dict[str, Any]) -> None:
        super().save_pipeline(name, source, schema, filters)
        if self.path != ":memory:":
            with contextlib.suppress(OSError):
                self._owner_file().write_bytes(orjson.dumps({"pipeline": name, "pid": os.getpid(),
                                                             "host": socket.gethostname()}))

    def _connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A file written to is attached (its row-group size is an option of ATTACH), under a
        name of its own: DuckDB names a file's catalog after the file, and `dynashift.duckdb`
        would make `dynashift.tables` ambiguous (catalog or our metadata schema?). Spills go
        beside the file, as with `duckdb.connect(PATH)` (an in-memory connection's are in ./.tmp).
        `read_only`: status and report never write (nor wait for a writer's lock to hold one)."""
        if self.path == ":memory:" or (read_only and Path(self.path).stem.lower() != "dynashift"):
            return duckdb.connect(self.path, read_only=read_only)
        path = str(Path(self.path).expanduser())
        con = duckdb.connect(config={"temp_directory": path + ".tmp"})
        literal = "'" + path.replace("'", "''") + "'"
        option = " (READ_ONLY)" if read_only else f" (ROW_GROUP_SIZE {int(self.ROW_GROUP_SIZE)})"
        try:
            try:
                con.execute(f"ATTACH {literal} AS warehouse{option}")
            except duckdb.Error as exc:
                if not re.search(r"row.group.size", str(exc), re.I):
                    raise
                # a DuckDB without the option (it came after 1.1): its row groups, only slower checkpoints
                con.execute(f"ATTACH {literal} AS warehouse")
        except duckdb.Error:
            con.close()
            raise
        con.execute("USE warehouse")
        return con

    def close(self) -> None:
        if self.con is not None:
            if self._threads is not None:  # the closing checkpoint (the WAL folded into the file) on every core
                with contextlib.suppress(duckdb.Error):
                    self.con.execute(f"SET threads = {self._threads}")
                self._threads = None
            if self._unvacuumed is not None:  # the closing checkpoint folds what the WAL holds: its share
                with contextlib.suppress(duckdb.Error):
                    share = self._wal_bytes() / size_bytes(self.CHECKPOINT_THRESHOLD)
                    self._vacuum_next(self._owes_vacuum(share))
            self.con.close()
            self.con = None
            if self.path != ":memory:":
                with contextlib.suppress(OSError, ValueError):
                    note = orjson.loads(self._owner_file().read_bytes())
                    if note.get("pid") == os.getpid():
                        self._owner_file().unlink()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self.con.execute(sql, list(params))
        except duckdb.Error as exc:
            raise map_error(exc) from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            return self.con.execute(sql, list(params)).fetchall()
        except duckdb.Error as exc:
            raise map_error(exc) from None

    def query_arrow(self, sql: str) -> pa.Table:
        """A query's rows as Arrow (the batch merge's verdicts: tens of thousands of rows, which
        Python tuples would make slow). `to_arrow_table` from DuckDB 1.4, `fetch_arrow_table` before."""
        try:
            rel = self.con.sql(sql)
            fetch = getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table
            return fetch()
        except duckdb.Error as exc:
            raise map_error(exc) from None

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self._tx.enter(
            self._begin,
            self._commit,
            self._rollback,
        )

    def _rollback(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.execute("ROLLBACK")

    def stage_rows(self, name: str, data: pa.Table) -> str:
        self._staged_bytes += data.nbytes
        self._staged_relations += 1
        self.con.register(name, data)
        return name

    def drop_stage(self, name: str) -> None:
        try:
            self.con.unregister(name)
        except duckdb.Error as exc:  # in a failed transaction; registering the name again replaces it
            raise map_error(exc) from None


def map_error(exc: duckdb.Error) -> TargetError:
    """A DuckDB error -> a data error (a value that does not convert, is out of range, breaks a
    constraint: the batch is split to find its records) or a fatal one. An embedded database has
    no connection to lose, and one writer per file: nothing is worth retrying."""
    if isinstance(exc, (duckdb.DataError, duckdb.IntegrityError)):
        return DataTargetError(f"DuckDB: {first_line(exc)}")
    return TargetError(f"DuckDB: {first_line(exc)}")
