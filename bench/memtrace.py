"""Where a run's peak RSS is made: RSS sampled every few ms, labelled with what the main thread
(read / plan / wait) and the worker thread (merge / commit / idle) are doing at that moment.

    .venv/bin/python bench/memtrace.py --changes 200000 --shape wide

Prints the peak with its labels, the highest RSS seen per (main, worker) pair, and per batch the
RSS, Arrow's allocated bytes, glibc's heap (mallinfo2: in use / free but kept) and DuckDB's
memory at the end of each commit. Measurement only: the labels are set by wrapping the pipeline's
functions from here, nothing in the product changes.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import pyarrow as pa  # noqa: E402

from dynashift import Config  # noqa: E402
from dynashift import pipeline  # noqa: E402
from dynashift.sources import make_source  # noqa: E402
from dynashift.targets import make_target  # noqa: E402
from dynashift.targets import base as tbase  # noqa: E402
from throughput import stream_file  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
MiB = 1 << 20
state = {"main": "start", "worker": "idle"}


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


_libc = ctypes.CDLL("libc.so.6")
_libc.mallinfo2.restype = _Mallinfo2


def rss() -> int:
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[1]) * PAGE


def smaps() -> dict[str, int]:
    out = {}
    with open("/proc/self/smaps_rollup") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return out


def mappings() -> str:
    """Anonymous RSS by kind of mapping: [heap] (glibc main arena), 64 MiB-reserved regions (glibc
    thread arenas), others grouped by size."""
    groups: dict[str, int] = {}
    name, size = "", 0
    with open("/proc/self/smaps") as fh:
        for line in fh:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                size = hi - lo
                name = parts[5] if len(parts) > 5 else ""
            elif parts[0] == "Anonymous:":
                kb = int(parts[1]) * 1024
                if not kb:
                    continue
                if name:
                    key = name if name.startswith("[") else "file-backed"
                elif size == 64 * MiB or size == 128 * MiB:
                    key = "64MiB-region (glibc arena?)"
                elif size <= 1 * MiB:
                    key = "<=1MiB (pymalloc arenas, small)"
                else:
                    key = f"anon {min(size // MiB, 64)}MiB-ish" if size < 64 * MiB else "anon >=64MiB"
                groups[key] = groups.get(key, 0) + kb
    return ", ".join(f"{k}: {v / MiB:.0f}" for k, v in sorted(groups.items(), key=lambda kv: -kv[1]) if v > MiB)


def heap() -> str:
    m = _libc.mallinfo2()
    return (f"glibc in use {(m.uordblks + m.hblkhd) / MiB:6.0f} free-kept {m.fordblks / MiB:6.0f} "
            f"(mmapped {m.hblkhd / MiB:.0f})")


def labelled(where: str, label: str, fn):
    def wrapper(*a, **k):
        before = state[where]
        state[where] = label
        try:
            return fn(*a, **k)
        finally:
            state[where] = before
    return wrapper


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=200_000)
    ap.add_argument("--shape", default="wide")
    ap.add_argument("--batch-size", type=int, default=50_000)
    ap.add_argument("--interval", type=float, default=0.003)
    ap.add_argument("--target", default=None)
    args = ap.parse_args()
    folder = stream_file(args.changes, 1, args.shape)
    tmp = Path(tempfile.mkdtemp(prefix="dynashift-mem-"))
    uri = args.target or f"duckdb:///{tmp / 'bench.duckdb'}"
    config = Config(source=f"file://{folder}/changes-*", target=uri, batch_size=args.batch_size)
    target = make_target(config.target)
    target.open()
    source = make_source(config.source, config)
    for sql in filter(None, os.environ.get("MEMTRACE_SQL", "").split(";")):
        target.con.execute(sql)
    pool = pa.default_memory_pool()
    print(f"arrow pool {pool.backend_name}; MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX')}")
    print(f"after open: rss {rss() / MiB:.0f} MiB, {heap()}")

    # labels
    plan_fn = labelled("main", "plan", pipeline.build_plan)

    def build_plan(sb, *a, **k):
        r0 = rss()
        plan = plan_fn(sb, *a, **k)
        arrow = sum(st.data.nbytes for st in plan.stages)  # (not sb.changes: that decodes a native batch)
        print(f"  plan: {sb.records_read} records; stages {len(plan.stages)} arrow"
              f" {arrow / MiB:.0f} MiB rows {sum(st.data.num_rows for st in plan.stages)}; rss {r0 / MiB:.0f} ->"
              f" {rss() / MiB:.0f}; {heap()}")
        return plan
    pipeline.build_plan = build_plan
    read = source.read

    def read_labelled(checkpoints):
        it = read(checkpoints)
        while True:
            state["main"] = "read"
            try:
                sb = next(it)
            except StopIteration:
                return
            state["main"] = "main-other"
            yield sb
            del sb  # not held here while the next batch is read
    source.read = read_labelled
    orig_finish = pipeline._finish
    pipeline._finish = labelled("main", "wait-commit", orig_finish)
    tbase.SqlTarget.merge_staged = labelled("worker", "merge", tbase.SqlTarget.merge_staged)
    orig_stage = type(target).stage_rows
    type(target).stage_rows = labelled("worker", "stage", orig_stage)
    orig_apply = type(target).apply
    per_batch = []

    def apply(self, plan, run, change_log=False):
        state["worker"] = "apply"
        try:
            orig_apply(self, plan, run, change_log=change_log)
        finally:
            state["worker"] = "idle"
        mem = ""
        if hasattr(self, "con"):
            with contextlib.suppress(Exception):
                rows = self.con.execute("SELECT tag, memory_usage_bytes FROM duckdb_memory()"
                                        " WHERE memory_usage_bytes > 0").fetchall()
                mem = " ".join(f"{t}={b / MiB:.0f}" for t, b in rows)
        s = smaps()
        per_batch.append(f"batch {len(per_batch) + 1}: rss {rss() / MiB:5.0f} anon {s.get('Anonymous', 0) / MiB:5.0f}"
                         f" arrow {pa.total_allocated_bytes() / MiB:5.0f} (pool max {pool.max_memory() / MiB:.0f})"
                         f" {heap()} duckdb[{mem}]")
        if os.environ.get("MEMTRACE_MAPS"):
            per_batch.append("    " + mappings())
    type(target).apply = apply

    # transaction commit label
    orig_tx = type(target).transaction

    def transaction(self):
        cm = orig_tx(self)

        @contextlib.contextmanager
        def wrapped():
            with cm:
                yield
                state["worker"] = "commit"
            state["worker"] = "apply-end"
        return wrapped()
    type(target).transaction = transaction

    if os.environ.get("MEMTRACE_NOBATCH"):  # what holding the source batch through its commit costs
        start = pipeline._Pending.start

        def start_without_batch(self, *a, **k):
            self.batch = None
            return start(self, *a, **k)
        pipeline._Pending.start = start_without_batch
    samples: list[tuple[float, int, str, str, int]] = []
    done = threading.Event()

    def sampler():
        t0 = time.perf_counter()
        while not done.is_set():
            samples.append((time.perf_counter() - t0, rss(), state["main"], state["worker"], pa.total_allocated_bytes()))
            time.sleep(args.interval)
    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    started, cpu0 = time.perf_counter(), time.process_time()
    run = pipeline.replicate(config, source, target)
    target.close()
    seconds = time.perf_counter() - started
    done.set()
    th.join()
    for line in per_batch:
        print(line)
    peak = max(samples, key=lambda s: s[1])
    cpu = time.process_time() - cpu0
    print(f"records {run.records_read:,} in {seconds:.1f}s, cpu {cpu:.1f}s ({run.records_read / cpu:,.0f} events per"
          f" CPU-second); load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"peak sampled {peak[1] / MiB:.0f} MiB at t={peak[0]:.2f}s main={peak[2]} worker={peak[3]}"
          f" arrow={peak[4] / MiB:.0f}")
    import resource
    print(f"ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    best: dict[tuple[str, str], tuple[int, int]] = {}
    for _, r, m, w, a in samples:
        if r > best.get((m, w), (0, 0))[0]:
            best[(m, w)] = (r, a)
    for (m, w), (r, a) in sorted(best.items(), key=lambda kv: -kv[1][0]):
        print(f"  max {r / MiB:5.0f} MiB (arrow {a / MiB:4.0f})  main={m:12s} worker={w}")
    if os.environ.get("MEMTRACE_TIMELINE"):
        step = max(1, len(samples) // 200)
        for t, r, m, w, a in samples[::step]:
            print(f"  t={t:6.2f} rss {r / MiB:5.0f} arrow {a / MiB:5.0f} {m:12s} {w}")


if __name__ == "__main__":
    main()
