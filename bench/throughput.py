"""End-to-end throughput: a simulated file of change records -> dynashift -> a target.

Prints events/s, input MB/s and peak memory (RSS of this process, which does all the work,
DuckDB included). The input file is generated once and cached under bench/.data/.

    .venv/bin/python bench/throughput.py --changes 1000000
    .venv/bin/python bench/throughput.py --changes 1000000 --target postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/throughput.py --changes 200000 --profile      # where the time goes (pyinstrument)
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

from dynashift import Config, replicate  # noqa: E402
from dynashift.simulate import simulate  # noqa: E402
from dynashift.sources import make_source  # noqa: E402
from dynashift.targets import make_target  # noqa: E402


def stream_file(changes: int, seed: int) -> Path:
    folder = HERE / ".data" / f"bench-{changes}-{seed}"
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        t = time.perf_counter()
        simulate(folder, changes=changes, profile="bench", seed=seed, expected=False)
        done.write_text("ok")
        print(f"generated {changes:,} changes in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    return folder


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=50_000)
    ap.add_argument("--target", default=None, help="target URI (default: a fresh DuckDB file in a temp folder)")
    ap.add_argument("--profile", action="store_true", help="profile with pyinstrument and print where time goes")
    args = ap.parse_args()

    folder = stream_file(args.changes, args.seed)
    size = sum(p.stat().st_size for p in folder.glob("changes-*"))
    tmp = Path(tempfile.mkdtemp(prefix="dynashift-bench-"))
    target_uri = args.target or f"duckdb:///{tmp / 'bench.duckdb'}"
    config = Config(source=f"file://{folder}/changes-*", target=target_uri, batch_size=args.batch_size)
    target = make_target(config.target)
    target.open()
    if target_uri.startswith(("postgresql://", "postgres://")):
        _reset_postgres(target)
    source = make_source(config.source, config)

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    started = time.perf_counter()
    run = replicate(config, source, target)
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False), file=sys.stderr)
    target.close()
    shutil.rmtree(tmp, ignore_errors=True)

    print(f"target          {target_uri.split('://')[0]}")
    print(f"records         {run.records_read:,} ({size / 1e6:,.0f} MB, {size / max(run.records_read, 1):,.0f} B/record)")
    print(f"applied         {run.changes_applied:,} rows written; {run.duplicates_skipped:,} duplicates, "
          f"{run.stale_skipped:,} stale skipped; {run.batches} batches")
    print(f"time            {seconds:,.1f} s")
    print(f"events/s        {run.records_read / seconds:,.0f}")
    print(f"input MB/s      {size / 1e6 / seconds:,.1f}")
    print(f"peak RSS        {peak_rss_mib():,.0f} MiB")


def _reset_postgres(target) -> None:
    """Benchmarks start from an empty target: drop what an earlier benchmark left."""
    with target.transaction():
        for (name,) in target.query("SELECT table_name FROM dynashift.tables"):
            target.execute(f"DROP TABLE IF EXISTS {target.table_ref(name)}")
        for table in ("tables", "columns", "checkpoints", "runs", "versions", "rejected", "change_log"):
            target.execute(f"DELETE FROM dynashift.{table}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
