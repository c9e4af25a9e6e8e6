"""The main thread's work alone: a file source's batches read, decoded, rendered and planned, no target.

    .venv/bin/python bench/source_cost.py --changes 200000 --shape wide
    .venv/bin/python bench/source_cost.py --changes 1000000 --rounds 3

What a run's main thread does between commits (bench/throughput.py's input; FileSource.read, then
build_plan on the schema the batches build up), without the applying thread beside it: its
CPU-seconds (the process's, so the native render's helper threads count; the main thread's own
apart) vary far less on a loaded machine than a whole run's, so a change to the reading side can
be compared in interleaved runs of this alone. Prints per batch the read and plan CPU-s, then the
totals and peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from dynashift import Config  # noqa: E402
from dynashift.pipeline import modes_of  # noqa: E402
from dynashift.planning import build_plan  # noqa: E402
from dynashift.planning.engine import engine_name  # noqa: E402
from dynashift.schema import Naming, SchemaState  # noqa: E402
from dynashift.sources import make_source  # noqa: E402
from throughput import stream_file  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=200_000)
    ap.add_argument("--shape", choices=("bench", "wide"), default="wide")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--quiet", action="store_true", help="totals only")
    args = ap.parse_args()
    folder = stream_file(args.changes, 1, args.shape)
    sized = {"batch_size": args.batch_size} if args.batch_size else {}
    config = Config(source=f"file://{folder}/changes-*", target="duckdb:///unused.duckdb", **sized)
    source = make_source(config.source, config)
    state, naming, modes = SchemaState(), Naming(63, False), modes_of(config)
    started, cpu0, main0 = time.perf_counter(), time.process_time(), time.thread_time()
    reads = plans = 0.0
    records = batches = 0
    it = source.read({})
    while True:
        c = time.thread_time()
        sb = next(it, None)
        read = time.thread_time() - c
        if sb is None:
            break
        c = time.thread_time()
        plan = build_plan(sb, state, naming, modes)
        state.apply(plan.schema_changes)
        planned = time.thread_time() - c
        reads, plans, records, batches = reads + read, plans + planned, records + sb.records_read, batches + 1
        if not args.quiet:
            print(f"  batch {batches}: {sb.records_read:,} records, read {read:.3f} plan {planned:.3f} main CPU-s")
        del sb, plan
    seconds, cpu, main_cpu = time.perf_counter() - started, time.process_time() - cpu0, time.thread_time() - main0
    print(f"engine {engine_name()}; {records:,} records, {batches} batches; {seconds:.2f} s; process {cpu:.2f} CPU-s, "
          f"main thread {main_cpu:.2f} (read {reads:.2f}, plan {plans:.2f}); peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; load "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
