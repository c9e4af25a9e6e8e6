"""Full-load throughput: a local DynamoDB export (real layout, gzip DynamoDB JSON) -> DuckDB.

Prints items/s, input MB/s (uncompressed) and peak memory (RSS of this process, DuckDB included).
The export is generated once and cached under bench/.data/; items have the shape of the stream
benchmark's (bench/throughput.py): ~25 attributes, nested maps and lists, sets, ~1 KB each.

    .venv/bin/python bench/export_load.py --items 1000000
    .venv/bin/python bench/export_load.py --items 200000 --profile     # where the time goes (pyinstrument)
    .venv/bin/python bench/export_load.py --items 200000 --trace-sql   # DuckDB's share: each statement's wall time
    .venv/bin/python bench/export_load.py --duckdb-set "force_compression='zstd'"   # evaluate a DuckDB setting

The floor (printed in the same run, in a child process): the plainest one-process Python pipeline
over the same files: gzip-read each line, orjson-parse it, keep the first item per key, render the
winners as bench/floor.py does, Arrow, one DuckDB `CREATE TABLE AS`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from random import Random

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from dynashift import Config, replicate  # noqa: E402
from dynashift.simulate_tables import bench_item  # noqa: E402 - the stream benchmark's item shape
from dynashift.sources.export import ExportSource, write_export  # noqa: E402
from dynashift.targets import make_target  # noqa: E402

TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders"
EXPORT_TIME = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=timezone.utc)
ITEMS_PER_FILE = 100_000  # real exports hold a few hundred MB of gzip per file; ours are smaller


def export_folder(items: int, seed: int) -> Path:
    folder = HERE / ".data" / f"export-{items}-{seed}"
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        t = time.perf_counter()
        r = Random(seed)

        def lines(lo: int, hi: int):
            for i in range(lo, hi):
                yield {"Item": bench_item(r, {"pk": {"S": f"cust#{i % 20011}"}, "sk": {"N": str(i)}})}

        bounds = range(0, items, ITEMS_PER_FILE)
        write_export(folder, table_arn=TABLE_ARN, export_time=EXPORT_TIME,
                     files=(lines(lo, min(lo + ITEMS_PER_FILE, items)) for lo in bounds))
        done.write_text("ok")
        print(f"generated an export of {items:,} items in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    return folder


class _TimedConnection:
    """A DuckDB connection whose every statement (BEGIN and COMMIT too) is timed: wall seconds on
    the calling thread, the process's CPU seconds meanwhile (all threads: the reader's too), and
    the calling thread's own CPU seconds (DuckDB runs a statement on the calling thread, and on
    workers of its own only with threads > 1)."""

    def __init__(self, con, times: dict):
        self._con, self._times = con, times

    def execute(self, sql: str, *args):
        wall, cpu, own = time.perf_counter(), _cpu(), time.thread_time()
        try:
            return self._con.execute(sql, *args)
        finally:
            entry = self._times.setdefault(" ".join(sql.split())[:90], [0, 0.0, 0.0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - wall
            entry[2] += _cpu() - cpu
            entry[3] += time.thread_time() - own

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def _print_times(times: dict, seconds: float) -> None:
    print(f"{'wall s':>8} {'cpu s':>7} {'own s':>7} {'calls':>5}  statement (wall and own CPU on the applying thread,"
          f" cpu: the process's; the run took {seconds:.1f} s)")
    for sql, (n, wall, cpu, own) in sorted(times.items(), key=lambda kv: -kv[1][1])[:14]:
        print(f"{wall:8.2f} {cpu:7.2f} {own:7.2f} {n:5d}  {sql}")
    print(f"{sum(v[1] for v in times.values()):8.2f} {sum(v[2] for v in times.values()):7.2f}"
          f" {sum(v[3] for v in times.values()):7.2f}        all statements")


def _time_applying_thread() -> list[float]:
    """The applying thread's CPU-s per batch (pipeline._Pending._commit timed on that thread)."""
    from dynashift import pipeline

    spent: list[float] = []
    commit = pipeline._Pending._commit

    def timed(self, *a, **k):
        own = time.thread_time()
        try:
            return commit(self, *a, **k)
        finally:
            spent.append(time.thread_time() - own)
    pipeline._Pending._commit = timed
    return spent


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def floor(folder: Path) -> dict:
    """The plain pipeline over the export's data files: (items, seconds, cpu seconds, peak RSS)."""
    import duckdb
    import orjson
    import pyarrow as pa

    sys.path.insert(0, str(HERE))
    from floor import _text  # noqa: E402 - the same rendering as the stream floor's

    started = time.perf_counter()
    first: dict[bytes, bytes] = {}
    count = 0
    for path in sorted(folder.rglob("*.json.gz")):
        with gzip.open(path, "rb") as fh:
            for line in fh:
                item = orjson.loads(line)["Item"]
                key = orjson.dumps({"pk": item["pk"], "sk": item["sk"]}, option=orjson.OPT_SORT_KEYS)
                first.setdefault(key, line)
                count += 1
    rows = [{k: _text(v) for k, v in orjson.loads(line)["Item"].items()} for line in first.values()]
    names = sorted({k for r in rows for k in r})
    arrays = {"dist_key": pa.array([k.decode() for k in first], pa.string())}
    for name in names:
        arrays[name] = pa.array([r.get(name) for r in rows], pa.string())
    data = pa.table(arrays)  # noqa: F841 (read by DuckDB below)
    with tempfile.TemporaryDirectory(prefix="dynashift-floor-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "floor.duckdb"))
        con.execute("CREATE TABLE orders AS SELECT * FROM data")
        con.close()
    return {"items": count, "seconds": time.perf_counter() - started, "cpu_seconds": _cpu(),
            "peak_rss_mib": peak_rss_mib()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=None,
                    help="items per batch (Config.load_batch_size; default: the product's)")
    ap.add_argument("--target", default=None, help="target URI (default: a fresh DuckDB file in a temp folder)")
    ap.add_argument("--profile", action="store_true", help="profile with pyinstrument and print where time goes")
    ap.add_argument("--no-floor", action="store_true", help="skip the floor (for profiling runs)")
    ap.add_argument("--trace-sql", action="store_true", help="time each DuckDB statement (COMMIT and close included)")
    ap.add_argument("--duckdb-set", action="append", default=[], metavar="SETTING",
                    help="run `SET SETTING` on the DuckDB target once open (evaluating a setting; printed with the result)")
    ap.add_argument("--floor-of", help=argparse.SUPPRESS)  # the child process that runs the floor
    args = ap.parse_args()
    if args.floor_of:
        print(json.dumps(floor(Path(args.floor_of))))
        return

    folder = export_folder(args.items, args.seed)
    gz = sum(p.stat().st_size for p in folder.rglob("*.json.gz"))
    tmp = Path(tempfile.mkdtemp(prefix="dynashift-bench-"))
    target_uri = args.target or f"duckdb:///{tmp / 'bench.duckdb'}"
    config = Config(target=target_uri, **({"load_batch_size": args.batch_size} if args.batch_size else {}))
    target = make_target(config.target)
    target.open()
    times: dict = {}
    for setting in args.duckdb_set:
        target.con.execute(f"SET {setting}")
    if args.trace_sql:
        target.con = _TimedConnection(target.con, times)
    source = ExportSource(f"export://{folder}?keys=pk,sk", config)

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    apply_cpu = _time_applying_thread()
    started, cpu_started, main_started = time.perf_counter(), _cpu(), time.thread_time()
    run = replicate(config, source, target)
    main_cpu = time.thread_time() - main_started
    (rows,) = target.query(f"SELECT count(*) FROM {target.table_ref('orders')}")[0]
    closing, closing_cpu, closing_own = time.perf_counter(), _cpu(), time.thread_time()
    target.close()  # timed too: DuckDB writes what it still holds to the file on close
    if args.trace_sql:
        times["(close: the last checkpoint)"] = [1, time.perf_counter() - closing, _cpu() - closing_cpu,
                                                   time.thread_time() - closing_own]
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu_started
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False), file=sys.stderr)
    size = sum(p.stat().st_size for p in tmp.glob("bench.duckdb*"))
    shutil.rmtree(tmp, ignore_errors=True)

    from dynashift.planning.engine import engine_description

    print(f"target          {target_uri.split('://')[0]}")
    print(f"engine          {engine_description()}")
    if args.duckdb_set:
        print(f"duckdb settings {'; '.join(args.duckdb_set)} (not the default)")
    print(f"load average    {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"items           {run.records_read:,} read, {rows:,} rows ({gz / 1e6:,.0f} MB gzip, "
          f"{run.bytes_read / 1e6:,.0f} MB JSON, {run.bytes_read / max(run.records_read, 1):,.0f} B/item)")
    print(f"batches         {run.batches} of {config.load_batch_size:,}")
    print(f"time            {seconds:,.1f} s")
    ours = run.records_read / seconds
    print(f"items/s         {ours:,.0f} ({run.records_read / cpu:,.0f} per CPU-second)")
    print(f"input MB/s      {run.bytes_read / 1e6 / seconds:,.1f} (uncompressed)")
    print(f"CPU-s           {cpu:.2f} process, {sum(apply_cpu):.2f} applying thread, {main_cpu:.2f} main thread,"
          f" {cpu - sum(apply_cpu) - main_cpu:.2f} others (gzip, DuckDB's, render shares)")
    if not args.target:
        print(f"file            {size / 1e6:,.0f} MB")
    print(f"peak RSS        {peak_rss_mib():,.0f} MiB")
    if args.trace_sql:
        _print_times(times, seconds)
    if not args.no_floor and not args.target:
        out = subprocess.run([sys.executable, __file__, "--floor-of", str(folder)], check=True,
                             capture_output=True, text=True).stdout
        base = json.loads(out)
        per_s = base["items"] / base["seconds"]
        print(f"floor items/s   {per_s:,.0f} (the plain pipeline, same files; {base['items'] / base['cpu_seconds']:,.0f} "
              f"per CPU-second; peak RSS {base['peak_rss_mib']:,.0f} MiB)")
        print(f"ratio           {ours / per_s:.2f}x the floor")
        print(f"load average    {' '.join(f'{x:.2f}' for x in os.getloadavg())} (after the floor)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
