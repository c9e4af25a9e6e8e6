"""Per batch of a DuckDB run: what its COMMIT cost, whether it vacuumed, and what DuckDB then holds.

    .venv/bin/python bench/vacuum_trace.py --changes 1000000 --shape wide
    .venv/bin/python bench/vacuum_trace.py --changes 2000000 --shape wide --storage   # + row groups

After each batch's COMMIT (timed by the applying thread's CPU; DuckDB runs it there on one
thread): whether that COMMIT checkpointed and with how many vacuum tasks, DuckDB's memory
(duckdb_memory(): BASE_TABLE, before the COMMIT -> after it: the row versions of each row group
the batch deleted from are there until the checkpoint, a 256 KiB block each, with cached blocks
of the tables), the process's RSS and, with --storage, each table's row groups and how many of them
have deleted rows (read from pragma_storage_info and the tables' rowids: slow, outside the timing).
Last, the run's wall, process CPU-s, the applying thread's CPU-s in COMMITs and peak RSS.
Measurement only: the target is wrapped from here.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from dynashift import Config, replicate  # noqa: E402
from dynashift.sources import make_source  # noqa: E402
from dynashift.targets import make_target  # noqa: E402
from dynashift.targets.duckdb import DuckDBTarget  # noqa: E402
from throughput import stream_file  # noqa: E402


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def policy(target: DuckDBTarget) -> str:
    """The vacuum rule's state after a commit: the data owed (thresholds' worth) and, where the
    target counts them, the file's row groups, their last growth and its budget."""
    owed = getattr(target, "_unvacuumed", None)
    rows = (f"  row groups {target._row_groups} (+{target._growth}, budget {target._budget})"
            if hasattr(target, "_row_groups") else "")
    return f"owed {owed if owed is None else round(owed, 2)}{rows}"


def storage(target: DuckDBTarget) -> tuple[int, int]:
    """(row groups, row groups with deleted rows) over every table of the file."""
    groups = deleted = 0
    tables = target.con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'warehouse'").fetchall()
    for schema, table in tables:
        ref = f'"{schema}"."{table}"'
        rows = target.con.execute(
            f"SELECT row_group_id, min(start), max(start + count) FROM pragma_storage_info('{schema}.{table}')"
            " WHERE column_id = 0 AND segment_type <> 'VALIDITY' GROUP BY ALL").fetchall()
        live = dict(target.con.execute(
            f"WITH g AS (SELECT unnest(?) AS id, unnest(?) AS lo, unnest(?) AS hi)"
            f" SELECT g.id, count(t.rowid) FROM g LEFT JOIN {ref} t ON t.rowid >= g.lo AND t.rowid < g.hi GROUP BY g.id",
            [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]]).fetchall()) if rows else {}
        groups += len(rows)
        deleted += sum(1 for r in rows if live.get(r[0], 0) < r[2] - r[1])
    return groups, deleted


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=1_000_000)
    ap.add_argument("--shape", default="wide")
    ap.add_argument("--storage", action="store_true", help="count row groups and those with deletes per batch")
    ap.add_argument("--data", help="a folder of changes-* files instead of bench/.data's (e.g. a longer run)")
    args = ap.parse_args()
    for setting in filter(None, os.environ.get("VACUUM_TRACE_SET", "").split(",")):  # NAME=VALUE: a class attribute
        name, _, value = setting.partition("=")
        setattr(DuckDBTarget, name, type(getattr(DuckDBTarget, name))(value))
    folder = Path(args.data) if args.data else stream_file(args.changes, 1, args.shape)
    tmp = Path(tempfile.mkdtemp(prefix="dynashift-vac-"))
    rows: list[str] = []
    spent = [0.0]
    commit = DuckDBTarget._commit

    def traced(self: DuckDBTarget) -> None:
        pinned = self.con.execute("SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'BASE_TABLE'").fetchone()[0]
        wal, c = self._wal_bytes(), time.thread_time()
        large = self._staged_bytes >= self.CHECKPOINT_AT_COMMIT_BYTES
        commit(self)
        cpu = time.thread_time() - c
        tasks = at_commit[0]
        cpu_apply = applying[1]
        spent[0] += cpu
        if not large and self._wal_bytes() >= wal:
            return  # a small commit into the WAL (metadata): not a batch's
        mem = dict((r[0], r[1]) for r in self.con.execute("SELECT tag, memory_usage_bytes FROM duckdb_memory()").fetchall())
        extra = "  rg %4d  rg-with-deletes %4d" % storage(self) if args.storage else ""
        rows.append(f"{len(rows) + 1:5d} {cpu:7.3f}  prev apply {cpu_apply:6.3f}  tasks {str(tasks):>4s}  base_table {pinned / 2**20:6.1f} -> {mem.get('BASE_TABLE', 0) / 2**20:5.1f}"
                    f"  total {sum(mem.values()) / 2**20:6.1f} MiB  rss {_rss():4d}"
                    f"  {policy(self)}{extra}")
        print(rows[-1], flush=True)

    vacuum, at_commit, last = DuckDBTarget._vacuum, [None], [DuckDBTarget.VACUUM_TASKS]

    def set_tasks(self: DuckDBTarget, tasks: int) -> bool:
        last[0] = tasks
        return vacuum(self, tasks)

    class Con:
        """The target's connection, noting the vacuum tasks set when a COMMIT runs."""

        def __init__(self, con) -> None:
            self._con = con

        def execute(self, sql: str, *params):
            if sql == "COMMIT":
                at_commit[0] = last[0]
            return self._con.execute(sql, *params)

        def __getattr__(self, name: str):
            return getattr(self._con, name)

    DuckDBTarget._commit = traced
    apply, applying = DuckDBTarget.apply, [0.0, 0.0]

    def timed_apply(self: DuckDBTarget, *args, **kwargs) -> None:
        c = time.thread_time()
        try:
            apply(self, *args, **kwargs)
        finally:
            applying[0] += time.thread_time() - c
            applying[1] = time.thread_time() - c
    DuckDBTarget.apply = timed_apply
    DuckDBTarget._vacuum = set_tasks
    config = Config(source=f"file://{folder}/changes-*", target=f"duckdb:///{tmp / 'b.duckdb'}")
    target = make_target(config.target)
    target.open()
    target.con = Con(target.con)
    print(f"batch  commit CPU-s (applying thread), max_vacuum_tasks at the COMMIT, DuckDB memory after it; load"
          f" {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    use = resource.getrusage(resource.RUSAGE_SELF)
    t0, cpu0 = time.perf_counter(), use.ru_utime + use.ru_stime
    replicate(config, make_source(config.source, config), target)
    c = time.thread_time()
    target.close()
    close = time.thread_time() - c
    use = resource.getrusage(resource.RUSAGE_SELF)
    print(f"wall {time.perf_counter() - t0:.1f} s  process {use.ru_utime + use.ru_stime - cpu0:.1f} CPU-s"
          f"  commits {spent[0]:.2f} CPU-s  applies {applying[0]:.2f} CPU-s  close {close:.2f}  peak RSS {use.ru_maxrss // 1024} MiB"
          f"  load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
