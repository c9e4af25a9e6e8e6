"""What one DuckDB checkpoint costs under each setting, on the state a real stream leaves.

    .venv/bin/python bench/checkpoint_cost.py --after 19 --set "SET max_vacuum_tasks=0" --set ""

Streams the benchmark file (bench/throughput.py's, wide by default) into a kept DuckDB file and
copies the file and its WAL after batch --after's commit (just before an automatic checkpoint
folds that WAL: wide 1M, batch 19). Then, each variant in its own process, interleaved, --repeat
times: attach a fresh copy (the WAL replayed, not folded: the threshold is set out of reach),
run the variant's statements, and time a CHECKPOINT: wall seconds, process CPU-seconds, file size.
The whole-run benchmarks cannot tell a checkpoint setting's ~2 CPU-s from the noise of a
shared 2-core machine; one checkpoint in isolation, in CPU-seconds, can.
"""

from __future__ import annotations

import argparse
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


def snapshot(changes: int, shape: str, after: int, folder: Path) -> None:
    from dynashift import Config, pipeline
    from dynashift.sources import make_source
    from dynashift.targets import make_target
    from throughput import stream_file

    live = folder / "live"
    live.mkdir()
    config = Config(source=f"file://{stream_file(changes, 1, shape)}/changes-*",
                    target=f"duckdb:///{live / 'b.duckdb'}", batch_size=50_000)
    target = make_target(config.target)
    target.open()
    apply, count = type(target).apply, [0]

    def copy_after(self, plan, run, change_log=False):
        apply(self, plan, run, change_log=change_log)
        count[0] += 1
        if count[0] == after:
            (folder / "snap").mkdir()
            for f in live.glob("b.duckdb*"):
                if f.is_file():
                    shutil.copy(f, folder / "snap" / f.name)
            os._exit(0)  # the snapshot is all we want from the run
    type(target).apply = copy_after
    pipeline.replicate(config, make_source(config.source, config), target)
    sys.exit(f"the stream ended after {count[0]} batches, before batch {after}")


def measure(snap: Path, statements: str) -> str:
    import duckdb

    work = Path(tempfile.mkdtemp(prefix="dynashift-ckpt-"))
    try:
        for f in snap.iterdir():
            shutil.copy(f, work / f.name)
        path = work / "b.duckdb"
        con = duckdb.connect(config={"temp_directory": f"{path}.tmp"})
        con.execute("SET memory_limit = '128MB'; SET checkpoint_threshold = '100GB'")  # the target's pool; no fold on attach
        con.execute(f"ATTACH '{path}' AS w (ROW_GROUP_SIZE 16384)")
        con.execute("USE w")
        for sql in filter(None, statements.split(";")):
            con.execute(sql)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu0, t0 = usage.ru_utime + usage.ru_stime, time.perf_counter()
        con.execute("CHECKPOINT")
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime - cpu0
        return (f"{statements or 'defaults':40s} checkpoint {time.perf_counter() - t0:6.2f} s, {cpu:5.2f} CPU-s,"
                f" file {path.stat().st_size / 2**20:5.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=1_000_000)
    ap.add_argument("--shape", default="wide")
    ap.add_argument("--after", type=int, default=19, help="copy the file after this batch's commit")
    ap.add_argument("--set", action="append", default=None, metavar="SQL", help="a variant: statements (;-separated)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # the child process: a snapshot folder
    args = ap.parse_args()
    if args.measure:
        print(measure(Path(args.measure), args.set[0] if args.set else ""), flush=True)
        return
    folder = Path(tempfile.mkdtemp(prefix="dynashift-snap-"))
    try:
        take = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import checkpoint_cost as c;"
                f" c.snapshot({args.changes}, {args.shape!r}, {args.after}, c.Path({str(folder)!r}))")
        child = subprocess.run([sys.executable, "-c", take])  # its own process: it ends at the snapshot
        if child.returncode or not (folder / "snap").exists():
            sys.exit("no snapshot taken")
        print(f"snapshot after batch {args.after} of {args.shape} {args.changes:,}; load"
              f" {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for _ in range(args.repeat):
            for variant in args.set or [""]:
                subprocess.run([sys.executable, __file__, "--measure", str(folder / "snap"), "--set", variant], check=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
