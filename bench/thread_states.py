"""Which of a run's threads are runnable at once, and each kind's CPU-seconds and waits for a core.

    .venv/bin/python bench/thread_states.py --changes 1000000 --shape wide

A sampler thread reads every thread's state from /proc/self/task every ~2 ms (Linux only) while
the run goes on, and sorts the threads into: main (reads, decodes, plans), apply (the applying
thread, pipeline.py), duckdb (threads created by the applying thread: DuckDB's workers, started
when a statement runs on more than one thread), helper (other threads: the native engine's render
shares; a short-lived thread's CPU is as last sampled). Prints the share of the wall with 0, 1, 2, 3+ of them runnable ("R": running or waiting
for a core), the commonest combinations, and per kind its CPU-seconds and its run_delay (seconds
runnable but not running: contention, ours or other processes'). A wall where only `apply` is
runnable is one core left idle on a quiet 2-core machine: the commit is the critical path.
This is how the DuckDB worker was seen running while the applying thread waited for it (decisions.md,
DuckDB threads). Measurement only: nothing in the product changes.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from dynashift import Config, pipeline, replicate  # noqa: E402
from dynashift.sources import make_source  # noqa: E402
from dynashift.targets import make_target  # noqa: E402
from throughput import stream_file  # noqa: E402

APPLYING: list[int] = []
TICK = os.sysconf("SC_CLK_TCK")


def _stat(tid: str) -> tuple[str, float] | None:
    """(state, CPU-s so far) of one thread; None once it has ended."""
    try:
        fields = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], (int(fields[11]) + int(fields[12])) / TICK


def _delay(tid: str) -> float:
    try:
        return int(open(f"/proc/self/task/{tid}/schedstat").read().split()[1]) / 1e9
    except OSError:
        return 0.0


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.samples: list[tuple[float, list[str]]] = []
        self.cpu: dict[str, float] = {}
        self.delay: dict[str, float] = {}
        self.born: dict[str, float] = {}  # first seen (threads started after the applying thread: DuckDB's)
        self.names: dict[str, str] = {}  # each thread's name (comm) when first seen

    def run(self) -> None:
        me = str(threading.get_native_id())
        t0 = time.perf_counter()
        while not self.stop.is_set():
            now = time.perf_counter() - t0
            running = []
            for tid in os.listdir("/proc/self/task"):
                if tid == me:
                    continue
                got = _stat(tid)
                if got is None:
                    continue
                if tid not in self.born:
                    self.born[tid] = now
                    try:
                        self.names[tid] = open(f"/proc/self/task/{tid}/comm").read().strip()
                    except OSError:
                        self.names[tid] = ""
                self.cpu[tid], self.delay[tid] = got[1], _delay(tid)
                if got[0] == "R":
                    running.append(tid)
            self.samples.append((now, running))
            time.sleep(0.002)


NAMES: dict[str, str] = {}


def kind(tid: str, main: str, duckdb: set[str]) -> str:
    if NAMES.get(tid) == "dynashift-expor":  # a full export's gzip thread (native/src/export.rs)
        return "gunzip"
    if tid == main:
        return "main"
    if APPLYING and tid == str(APPLYING[0]):
        return "apply"
    return "duckdb" if tid in duckdb else "helper"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=200_000)
    ap.add_argument("--shape", default="wide")
    ap.add_argument("--target", default=None)
    ap.add_argument("--batch-size", type=int, default=None, help="records per batch (default: dynashift's own)")
    ap.add_argument("--batch-bytes", type=int, default=None, help="input bytes per batch (default: dynashift's own)")
    ap.add_argument("--export", type=int, default=0, metavar="ITEMS",
                    help="a full load of bench/export_load.py's export of ITEMS items instead of a stream")
    ap.add_argument("--duckdb-set", action="append", default=[], metavar="SETTING",
                    help="run `SET SETTING` on the DuckDB target once open (evaluating a setting)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dynashift-threads-"))
    target_uri = args.target or f"duckdb:///{tmp / 'bench.duckdb'}"
    if args.export:
        from export_load import export_folder  # noqa: E402

        config = Config(source=f"export://{export_folder(args.export, 1)}?keys=pk,sk", target=target_uri)
    else:
        folder = stream_file(args.changes, 1, args.shape)
        sized = {"batch_size": args.batch_size} if args.batch_size else {}
        sized.update({"batch_bytes": args.batch_bytes} if args.batch_bytes else {})
        config = Config(source=f"file://{folder}/changes-*", target=target_uri, **sized)
    target = make_target(config.target)
    target.open()
    for setting in args.duckdb_set:
        target.con.execute(f"SET {setting}")
    source = make_source(config.source, config)
    commit = pipeline._Pending._commit

    def noted(self, *a, **k):
        if not APPLYING:
            APPLYING.append(threading.get_native_id())
        return commit(self, *a, **k)
    pipeline._Pending._commit = noted
    known = set(os.listdir("/proc/self/task"))  # DuckDB's threads from before the run are helpers here
    sampler = Sampler()
    sampler.start()
    started = time.perf_counter()
    run = replicate(config, source, target)
    target.close()
    wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    shutil.rmtree(tmp, ignore_errors=True)
    report(sampler, run.records_read, wall, known)
    print(f"rows    {run.changes_applied:,} written of {run.records_read:,} records ({run.superseded:,} superseded "
          f"in their batch, {run.duplicates_skipped:,} duplicates, {run.stale_skipped:,} stale); {run.batches} batches; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


def report(s: Sampler, records: int, wall: float, known: set[str]) -> None:
    main = str(threading.main_thread().native_id)
    NAMES.update(s.names)
    # threads first seen after the applying thread, other than the main thread's short render
    # shares: DuckDB's workers (long-lived, or started per statement)
    start = s.born.get(str(APPLYING[0]), float("inf")) if APPLYING else float("inf")
    duckdb = {t for t, b in s.born.items() if b >= start and t not in known and s.cpu.get(t, 0) > 0.3}
    hist: collections.Counter = collections.Counter()
    combos: collections.Counter = collections.Counter()
    for (t, running), (t2, _) in zip(s.samples, s.samples[1:]):
        kinds = sorted(kind(tid, main, duckdb) for tid in running)
        hist[min(len(kinds), 3)] += t2 - t
        combos["+".join(kinds) or "(none)"] += t2 - t
    total = s.samples[-1][0] if s.samples else wall
    cpu: collections.Counter = collections.Counter()
    delay: collections.Counter = collections.Counter()
    for tid, c in s.cpu.items():
        cpu[kind(tid, main, duckdb)] += c
        delay[kind(tid, main, duckdb)] += s.delay.get(tid, 0.0)
    print(f"records {records:,}, {wall:.2f} s ({records / wall:,.0f} ev/s); load "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("runnable at once: " + ", ".join(f"{n}{'+' if n == 3 else ''}: {100 * hist[n] / total:.0f}%" for n in range(4)))
    print("commonest: " + "; ".join(f"{100 * v / total:.0f}% {k}" for k, v in combos.most_common(8)))
    for k in ("apply", "duckdb", "main", "helper", "gunzip"):
        print(f"{k:7s} {cpu[k]:6.2f} CPU-s, {delay[k]:5.2f} s waiting for a core")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
