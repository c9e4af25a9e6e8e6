"""Full-load throughput: a local DynamoDB export (real layout, gzip DynamoDB JSON) -> DuckDB.

Prints items/s, input MB/s (uncompressed) and peak memory (RSS of this process, DuckDB included).
The export is generated once and cached under bench/.data/; items have the shape of the stream
benchmark's (bench/throughput.py): ~25 attributes, nested maps and lists, sets, ~1 KB each.

    .venv/bin/python bench/export_load.py --items 1000000
    .venv/bin/python bench/export_load.py --items 200000 --profile     # where the time goes (pyinstrument)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
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


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=50_000)
    ap.add_argument("--target", default=None, help="target URI (default: a fresh DuckDB file in a temp folder)")
    ap.add_argument("--profile", action="store_true", help="profile with pyinstrument and print where time goes")
    args = ap.parse_args()

    folder = export_folder(args.items, args.seed)
    gz = sum(p.stat().st_size for p in folder.rglob("*.json.gz"))
    tmp = Path(tempfile.mkdtemp(prefix="dynashift-bench-"))
    target_uri = args.target or f"duckdb:///{tmp / 'bench.duckdb'}"
    config = Config(target=target_uri, batch_size=args.batch_size)
    target = make_target(config.target)
    target.open()
    source = ExportSource(f"export://{folder}?keys=pk,sk", config)

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
    (rows,) = target.query('SELECT count(*) FROM main."orders"')[0]
    target.close()
    shutil.rmtree(tmp, ignore_errors=True)

    print(f"target          {target_uri.split('://')[0]}")
    print(f"items           {run.records_read:,} read, {rows:,} rows ({gz / 1e6:,.0f} MB gzip, "
          f"{run.bytes_read / 1e6:,.0f} MB JSON, {run.bytes_read / max(run.records_read, 1):,.0f} B/item)")
    print(f"batches         {run.batches} of {args.batch_size:,}")
    print(f"time            {seconds:,.1f} s")
    print(f"items/s         {run.records_read / seconds:,.0f}")
    print(f"input MB/s      {run.bytes_read / 1e6 / seconds:,.1f} (uncompressed)")
    print(f"peak RSS        {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
