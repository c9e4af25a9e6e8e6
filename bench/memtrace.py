"""Where a run's peak RSS is made: RSS sampled every few ms, labelled with what the main thread
(read / plan / wait) and the worker thread (merge / commit / idle) are doing at that moment.

    .venv/bin/python bench/memtrace.py --changes 200000 --shape wide

Prints the peak with its labels, the highest RSS seen per (main, worker) pair, and per batch the
apply's seconds, RSS, Arrow's allocated bytes, glibc's heap (mallinfo2: in use / free but kept),
DuckDB's memory and WAL size at the end of each commit; then the CPU seconds of every thread (main,
the applying thread, DuckDB's workers; sampled, so ended threads count too), the main thread's
seconds per state (read / wait-commit: is the apply the bottleneck?) and the target's close.
Measurement only: the labels are set by wrapping the pipeline's functions from here, nothing in the
product changes. Environment:

    MEMTRACE_SQL="SET checkpoint_threshold='64MB'"  statements run after the target opens (;-separated)
    MEMTRACE_STMTS=1      per batch, the seconds of each kind of statement (COMMIT includes a checkpoint)
    MEMTRACE_AFTER=CHECKPOINT   a statement issued after each batch's commit, timed apart
    MEMTRACE_WAIT=1       heap and in-flight Arrow when the main thread starts waiting for a commit
    MEMTRACE_ARENAS=1     with it, each glibc arena's bytes in use then (which thread's allocations)
    MEMTRACE_PY=1         with it, Python's largest allocations then (tracemalloc: slow)
    MEMTRACE_MAPS=1 / MEMTRACE_TIMELINE=1 / MEMTRACE_NOBATCH=1  (as before)

The last line, `shape`, is the pipeline's serial start and tail (what does not overlap): the first
batch's read (nothing to apply yet), and from the end of reading to the target closed (the last
batch's apply, the run's end, DuckDB's close, i.e. its checkpoint), each in seconds and in the
process's CPU-seconds (comparable on a loaded machine; `--batch-size` shows the balance against
the cost of a batch).
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
marks: dict[str, tuple[float, float]] = {}  # moment -> (wall, process CPU): the pipeline's shape


def mark(what: str) -> None:
    marks.setdefault(what, (time.perf_counter(), time.process_time()))


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


_libc = ctypes.CDLL("libc.so.6")
_libc.mallinfo2.restype = _Mallinfo2


def rss() -> int:
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[1]) * PAGE


def rss_parts() -> tuple[int, int]:
    """(resident, of which file-backed: the libraries' pages, python's, DuckDB's, Arrow's)."""
    with open("/proc/self/statm", "rb") as fh:
        f = fh.read().split()
    return int(f[1]) * PAGE, int(f[2]) * PAGE


def glibc_in_use() -> int:
    m = _libc.mallinfo2()
    return m.uordblks + m.hblkhd


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


def arenas() -> str:
    """Each glibc arena's bytes in use (its system bytes less its free chunks), from malloc_info:
    which thread's allocations hold the heap (arena 0 is the main thread's first)."""
    import re
    path = tempfile.mktemp(prefix="memtrace-arenas-")
    _libc.fopen.restype = ctypes.c_void_p
    fp = _libc.fopen(path.encode(), b"w")
    _libc.malloc_info(0, ctypes.c_void_p(fp))
    _libc.fclose(ctypes.c_void_p(fp))
    xml = Path(path).read_text()
    os.unlink(path)
    out = []
    for nr, body in re.findall(r'<heap nr="(\d+)">(.*?)</heap>', xml, re.S):
        current = sum(int(x) for x in re.findall(r'<system type="current" size="(\d+)"', body))
        free = sum(int(x) for x in re.findall(r'<total type="(?:fast|rest)" count="\d+" size="(\d+)"', body))
        if current - free > MiB:
            out.append(f"{nr}:{(current - free) / MiB:.0f}")
    mmapped = re.findall(r'<total type="mmap" count="\d+" size="(\d+)"', xml)
    return "arenas in use (MiB) " + " ".join(out) + (f" mmapped {int(mmapped[-1]) / MiB:.0f}" if mmapped else "")


def heap() -> str:
    m = _libc.mallinfo2()
    return (f"glibc in use {(m.uordblks + m.hblkhd) / MiB:6.0f} free-kept {m.fordblks / MiB:6.0f} "
            f"(mmapped {m.hblkhd / MiB:.0f})")


ROLES: dict[int, str] = {threading.get_native_id(): "MAIN"}
THREADS: dict[int, tuple[str, float]] = {}  # thread id -> (name, CPU seconds), the last seen


def sample_threads() -> None:
    """CPU seconds of each thread of this process (main, the applying thread, DuckDB's and the
    native engine's workers), kept after a thread ends."""
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError, ValueError):
            stat = open(f"/proc/self/task/{tid}/stat").read()
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            THREADS[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / tick)


def threads_cpu() -> str:
    sample_threads()
    return " ".join(f"{ROLES.get(tid, name)}/{tid}={cpu:.1f}" for tid, (name, cpu) in sorted(THREADS.items()) if cpu >= 0.1)


def shape(started: float, cpu0: float, batches: int) -> str:
    """The serial start and tail, in seconds and process CPU-seconds."""
    def span(a: tuple[float, float], b: tuple[float, float]) -> str:
        return f"{b[0] - a[0]:.2f} s ({b[1] - a[1]:.2f} CPU-s)"
    t0 = (started, cpu0)
    first, end = marks.get("first-read", t0), marks.get("read-end", t0)
    close, closed = marks["close"], marks["closed"]
    return (f"shape: {batches} batches; first batch read {span(t0, first)}; tail from the end of reading"
            f" {span(end, closed)}: last apply and run end {span(end, close)}, close {span(close, closed)}")


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
    ap.add_argument("--batch-size", type=int, default=None,
                    help="records per batch (default: dynashift's own, as a run without --batch-size)")
    ap.add_argument("--batch-bytes", type=int, default=None, help="input bytes per batch (default: dynashift's own)")
    ap.add_argument("--interval", type=float, default=0.003)
    ap.add_argument("--target", default=None)
    ap.add_argument("--data", type=Path, default=None, help="a folder of changes-*.jsonl (instead of --changes/--shape)")
    args = ap.parse_args()
    folder = args.data or stream_file(args.changes, 1, args.shape)
    tmp = Path(tempfile.mkdtemp(prefix="dynashift-mem-"))
    uri = args.target or f"duckdb:///{tmp / 'bench.duckdb'}"
    sized = {"batch_size": args.batch_size} if args.batch_size else {}
    sized.update({"batch_bytes": args.batch_bytes} if args.batch_bytes else {})
    config = Config(source=f"file://{folder}/changes-*", target=uri, **sized)
    target = make_target(config.target)
    target.open()
    source = make_source(config.source, config)
    for sql in filter(None, os.environ.get("MEMTRACE_SQL", "").split(";")):
        target.con.execute(sql)
    if os.environ.get("MEMTRACE_PY"):
        import tracemalloc
        tracemalloc.start()
    pool = pa.default_memory_pool()
    print(f"arrow pool {pool.backend_name}; MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX')}")
    print(f"after open: rss {rss() / MiB:.0f} MiB, {heap()}")

    # labels
    plan_fn = labelled("main", "plan", pipeline.build_plan)

    def build_plan(sb, *a, **k):
        r0 = rss()
        plan = plan_fn(sb, *a, **k)
        arrow = sum(st.data.nbytes for st in plan.stages)  # (not sb.changes: that decodes a native batch)
        if os.environ.get("MEMTRACE_ARENAS"):
            print(f"  planned: {arenas()}; main thread arena holds the batch just rendered")
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
                box = [next(it)]
            except StopIteration:
                mark("read-end")
                return
            mark("first-read")
            state["main"] = "main-other"
            yield box.pop()  # not held by this frame while the batch is planned and waits
    source.read = read_labelled
    orig_finish = pipeline._finish
    finish_labelled = labelled("main", "wait-commit", orig_finish)

    def finish(pending, *a, **k):
        if os.environ.get("MEMTRACE_WAIT"):
            arrow = sum(st.data.nbytes for st in pending.plan.stages)
            print(f"  wait: rss {rss() / MiB:.0f}; {heap()}; in flight: arrow {arrow / MiB:.0f} MiB"
                  + (f"; {arenas()}" if os.environ.get("MEMTRACE_ARENAS") else ""))
            if os.environ.get("MEMTRACE_PY"):  # Python's own allocations then, by where they were made
                import tracemalloc
                top = tracemalloc.take_snapshot().statistics("lineno")[:6]
                print("    python: " + "; ".join(f"{st.size / MiB:.1f} MiB {st.traceback[0].filename.split('/')[-1]}:"
                                                 f"{st.traceback[0].lineno}" for st in top))
        return finish_labelled(pending, *a, **k)
    pipeline._finish = finish
    tbase.SqlTarget.merge_staged = labelled("worker", "merge", tbase.SqlTarget.merge_staged)
    if hasattr(type(target), "merge_stages"):  # DuckDB: a batch's tables merged together (targets/duckdb_merge.py)
        type(target).merge_stages = labelled("worker", "merge", type(target).merge_stages)
    orig_stage = type(target).stage_rows
    type(target).stage_rows = labelled("worker", "stage", orig_stage)
    orig_apply = type(target).apply
    per_batch = []

    def apply(self, plan, run, change_log=False):
        state["worker"] = "apply"
        ROLES[threading.get_native_id()] = "APPLY"
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            orig_apply(self, plan, run, change_log=change_log)
        finally:
            state["worker"] = "idle"
        after = os.environ.get("MEMTRACE_AFTER")  # e.g. CHECKPOINT: issued after each batch's commit
        t1 = time.perf_counter()
        if after:
            self.con.execute(after)
        after_s = time.perf_counter() - t1
        took, cpu_took = time.perf_counter() - t0, time.thread_time() - c0
        if os.environ.get("MEMTRACE_STMTS"):
            per_batch.append("    " + ", ".join(f"{k}: {v:.2f}" for k, v in sorted(stmt_times.items(), key=lambda kv: -kv[1])
                                                  if v >= 0.02) + (f"; after {after_s:.2f}" if after else ""))
        stmt_times.clear()
        mem = ""
        if hasattr(self, "con"):
            with contextlib.suppress(Exception):
                rows = self.con.execute("SELECT tag, memory_usage_bytes FROM duckdb_memory()"
                                        " WHERE memory_usage_bytes > 0").fetchall()
                mem = " ".join(f"{t}={b / MiB:.0f}" for t, b in rows)
                mem += " wal=" + str(self.con.execute("SELECT wal_size FROM pragma_database_size()").fetchall()[0][0])
        s = smaps()
        top = max((x[1] for x in samples[window[0]:]), default=0)
        window[0] = len(samples)
        per_batch.append(f"batch {sum(x.startswith('batch') for x in per_batch) + 1}: peak {top / MiB:5.0f} apply {took:5.2f}s (thread cpu {cpu_took:5.2f}s) rss {rss() / MiB:5.0f} anon {s.get('Anonymous', 0) / MiB:5.0f}"
                         f" arrow {pa.total_allocated_bytes() / MiB:5.0f} (pool max {pool.max_memory() / MiB:.0f})"
                         f" {heap()} duckdb[{mem}]")
        if os.environ.get("MEMTRACE_MAPS"):
            per_batch.append("    " + mappings())
    type(target).apply = apply
    window = [0]  # the first sample since the previous batch's commit

    # seconds per kind of statement, per batch (the first words of the SQL)
    stmt_times: dict[str, float] = {}

    def timed(fn):
        def wrapper(self, sql, *a, **k):
            t = time.perf_counter()
            try:
                return fn(self, sql, *a, **k)
            finally:
                words = sql.split()
                kind = " ".join(words[:3]) if words[0] in ("DELETE", "INSERT", "UPDATE") else " ".join(words[:4])
                stmt_times[kind[:40]] = stmt_times.get(kind[:40], 0.0) + time.perf_counter() - t
        return wrapper
    type(target).execute = timed(type(target).execute)
    type(target).query = timed(type(target).query)

    # transaction commit label
    orig_tx = type(target).transaction

    def transaction(self):
        cm = orig_tx(self)

        @contextlib.contextmanager
        def wrapped():
            with cm:
                yield
                state["worker"] = "commit"
                t = time.perf_counter()
            stmt_times["COMMIT"] = stmt_times.get("COMMIT", 0.0) + time.perf_counter() - t
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
    parts: list[tuple[int, int]] = []  # (file-backed, glibc in use) per sample, the latter every 10th
    done = threading.Event()

    def sampler():
        t0 = time.perf_counter()
        in_use = glibc_in_use()
        while not done.is_set():
            if len(samples) % 10 == 0:
                sample_threads()
                in_use = glibc_in_use()
            resident, shared = rss_parts()
            parts.append((shared, in_use))
            samples.append((time.perf_counter() - t0, resident, state["main"], state["worker"], pa.total_allocated_bytes()))
            time.sleep(args.interval)
    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    started, cpu0 = time.perf_counter(), time.process_time()
    run = pipeline.replicate(config, source, target)
    t_close = time.perf_counter()
    mark("close")
    target.close()
    mark("closed")
    print(f"close {time.perf_counter() - t_close:.2f}s")
    print("thread cpu (s): " + threads_cpu())
    seconds = time.perf_counter() - started
    done.set()
    th.join()
    for line in per_batch:
        print(line)
    at = max(range(len(samples)), key=lambda i: samples[i][1])
    peak = samples[at]
    cpu = time.process_time() - cpu0
    print(f"records {run.records_read:,} in {seconds:.1f}s, cpu {cpu:.1f}s ({run.records_read / cpu:,.0f} events per"
          f" CPU-second); load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"peak sampled {peak[1] / MiB:.0f} MiB at t={peak[0]:.2f}s main={peak[2]} worker={peak[3]}"
          f" arrow={peak[4] / MiB:.0f}; of it file-backed {parts[at][0] / MiB:.0f}, anonymous"
          f" {(peak[1] - parts[at][0]) / MiB:.0f} of which glibc in use {parts[at][1] / MiB:.0f} (all but the"
          f" file-backed pages: glibc's heap, DuckDB's included, Python's arenas, Rust's buffers)")
    import resource
    print(f"ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    spent: dict[str, float] = {}
    for i in range(1, len(samples)):
        spent[samples[i][2]] = spent.get(samples[i][2], 0.0) + samples[i][0] - samples[i - 1][0]
    print("main thread (s): " + " ".join(f"{k}={v:.1f}" for k, v in sorted(spent.items(), key=lambda kv: -kv[1])))
    best: dict[tuple[str, str], tuple[int, int]] = {}
    for _, r, m, w, a in samples:
        if r > best.get((m, w), (0, 0))[0]:
            best[(m, w)] = (r, a)
    for (m, w), (r, a) in sorted(best.items(), key=lambda kv: -kv[1][0]):
        print(f"  max {r / MiB:5.0f} MiB (arrow {a / MiB:4.0f})  main={m:12s} worker={w}")
    print(shape(started, cpu0, run.batches))
    if os.environ.get("MEMTRACE_TIMELINE"):
        step = max(1, len(samples) // 200)
        for i in range(0, len(samples), step):
            t, r, m, w, a = samples[i]
            print(f"  t={t:6.2f} rss {r / MiB:5.0f} anon {(r - parts[i][0]) / MiB:5.0f} glibc {parts[i][1] / MiB:5.0f}"
                  f" arrow {a / MiB:5.0f} {m:12s} {w}")


if __name__ == "__main__":
    main()
