"""End-to-end throughput: a simulated file of change records -> dynashift -> a target.

Prints dynashift's events/s, the floor's (bench/floor.py: the plainest one-process Python pipeline,
run on the same file in the same run, in a child process), their ratio, and peak memory (RSS of this
process, which does all the work, DuckDB included). The input is generated once and cached under
bench/.data/. `--shape wide` is production-like items (~2.3 KB, ~49 columns per table).

    .venv/bin/python bench/throughput.py --changes 1000000
    .venv/bin/python bench/throughput.py --changes 200000 --shape wide
    .venv/bin/python bench/throughput.py --changes 1000000 --target postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/throughput.py --changes 200000 --profile      # where the time goes (pyinstrument)
    .venv/bin/python bench/throughput.py --changes 1000000 --shape wide --no-floor --trace-sql   # per batch, per statement
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from dynashift import Config, replicate  # noqa: E402
from dynashift.simulate import simulate  # noqa: E402
from dynashift.sources import make_source  # noqa: E402
from dynashift.targets import make_target  # noqa: E402


def stream_file(changes: int, seed: int, shape: str = "bench") -> Path:
    folder = HERE / ".data" / f"{shape}-{changes}-{seed}"
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        t = time.perf_counter()
        simulate(folder, changes=changes, profile=shape, seed=seed, expected=False)
        done.write_text("ok")
        print(f"generated {changes:,} changes in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    return folder


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _server_cpu(pid: int | None) -> float:
    """CPU-s of the PostgreSQL backend serving `pid`'s connection (utime + stime from /proc), NaN
    when it is not a process of this machine: a PostgreSQL run's COPY, joins and index updates
    are done there, not in this process, so its CPU-s alone would flatter PostgreSQL."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, TypeError):
        return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=None,
                    help="records per batch (default: dynashift's own, as a run without --batch-size)")
    ap.add_argument("--target", default=None, help="target URI (default: a fresh DuckDB file in a temp folder)")
    ap.add_argument("--shape", choices=("bench", "wide"), default="bench", help="simulator profile of the input")
    ap.add_argument("--no-floor", action="store_true", help="skip the floor (for profiling runs)")
    ap.add_argument("--profile", action="store_true", help="profile with pyinstrument and print where time goes")
    ap.add_argument("--trace-sql", action="store_true",
                    help="the applying thread's CPU per batch and per kind of statement (bench/sql_trace.py), printed last")
    args = ap.parse_args()

    folder = stream_file(args.changes, args.seed, args.shape)
    size = sum(p.stat().st_size for p in folder.glob("changes-*"))
    tmp = Path(tempfile.mkdtemp(prefix="dynashift-bench-"))
    target_uri = args.target or f"duckdb:///{tmp / 'bench.duckdb'}"
    sized = {"batch_size": args.batch_size} if args.batch_size else {}
    config = Config(source=f"file://{folder}/changes-*", target=target_uri, **sized)
    target = make_target(config.target)
    trace = None
    if args.trace_sql:
        from sql_trace import SqlTrace

        trace = SqlTrace(type(target))
    target.open()
    backend = None
    if target_uri.startswith(("postgresql://", "postgres://")):
        _reset_postgres(target)
        backend = target.query("SELECT pg_backend_pid()")[0][0]
    source = make_source(config.source, config)

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    started, cpu_started, server_started = time.perf_counter(), _cpu(), _server_cpu(backend)
    run = replicate(config, source, target)
    server = _server_cpu(backend) - server_started
    closing = time.thread_time()
    target.close()  # timed too: DuckDB writes what it still holds to the file on close (the floor's close is timed)
    closing = time.thread_time() - closing
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu_started
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False), file=sys.stderr)
    shutil.rmtree(tmp, ignore_errors=True)

    from dynashift.planning.engine import engine_name

    print(f"target          {target_uri.split('://')[0]}")
    print(f"engine          {engine_name()}")
    print(f"load average    {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"records         {run.records_read:,} ({size / 1e6:,.0f} MB, {size / max(run.records_read, 1):,.0f} B/record)")
    print(f"applied         {run.changes_applied:,} rows written; {run.duplicates_skipped:,} duplicates, "
          f"{run.stale_skipped:,} stale skipped; {run.batches} batches")
    print(f"time            {seconds:,.1f} s")
    print(f"events/s        {run.records_read / seconds:,.0f}")
    print(f"cpu time        {cpu:,.1f} s, all threads ({run.records_read / cpu:,.0f} events per CPU-second)")
    if backend is not None:  # the server's share of the work, where it runs on this machine
        print(f"server cpu      {server:,.1f} s, the PostgreSQL backend ({run.records_read / (cpu + server):,.0f} events "
              f"per CPU-second, both)" if server == server else "server cpu      n/a (the server is not on this machine)")
    print(f"input MB/s      {size / 1e6 / seconds:,.1f}")
    print(f"peak RSS        {peak_rss_mib():,.0f} MiB")
    if not args.no_floor:
        ours = run.records_read / seconds
        out = subprocess.run([sys.executable, str(HERE / "floor.py"), str(folder)], check=True,
                             capture_output=True, text=True).stdout
        floor = json.loads(out)
        print(f"floor events/s  {floor['events_per_s']:,.0f} (bench/floor.py, same file; "
              f"{floor['records'] / floor['cpu_seconds']:,.0f} events per CPU-second; peak RSS {floor['peak_rss_mib']:,.0f} MiB)")
        print(f"ratio           {ours / floor['events_per_s']:.2f}x the floor")
    if trace is not None:
        print(f"close           {closing:.2f} CPU-s (the closing checkpoint)")
        print("\n".join(trace.report()))


def _reset_postgres(target) -> None:
    """Benchmarks start from an empty target: drop what an earlier benchmark left."""
    with target.transaction():
        for (name,) in target.query("SELECT table_name FROM dynashift.tables"):
            target.execute(f"DROP TABLE IF EXISTS {target.table_ref(name)}")
        present = {name for (name,) in target.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'dynashift'")}
        for table in ("tables", "columns", "checkpoints", "runs", "versions", "rejected", "change_log", "batches"):
            if table in present:  # change_log exists only where a run asked for it
                # TRUNCATE, not DELETE: a DELETE leaves every row dead in place, and with autovacuum
                # off or behind, each benchmark in the same database ran slower than the one before
                target.execute(f"TRUNCATE dynashift.{table}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
