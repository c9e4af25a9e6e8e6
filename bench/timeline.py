"""A run's timeline: when each batch is read, planned, waited for and applied, on which thread.

    .venv/bin/python bench/timeline.py --changes 200000 --shape wide

Prints one line per step (main thread: read = the source's next batch, native decode and render
included; plan = build_plan; wait = waiting for the previous commit. Applying thread: apply),
each with its start and end (seconds since the run began) and the thread's own CPU-seconds, then
the serial start (first read and plan: nothing to apply yet), the serial tail (after the last
read: the last apply, the run's end, the target's close) and the overlap. Measurement only: the
steps are timed by wrapping the pipeline's functions from here, nothing in the product changes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from dynashift import Config  # noqa: E402
from dynashift import pipeline  # noqa: E402
from dynashift.sources import make_source  # noqa: E402
from dynashift.targets import make_target  # noqa: E402
from dynashift.sources.files import NATIVE_BATCH_SIZE  # noqa: E402
from throughput import stream_file  # noqa: E402

steps: list[tuple[str, str, float, float, float]] = []  # (thread, step, start, end, thread CPU-s)
helpers: list[float] = []  # per read: CPU-s of the native engine's helper threads (render shares)
T0 = [0.0]
APPLYING: list[int] = []  # the applying thread's native id, once it has run


def _thread_cpu(tid: int) -> float:
    fields = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _others() -> float:
    """CPU-s of this process but the main and applying threads (so far)."""
    applying = _thread_cpu(APPLYING[0]) if APPLYING else 0.0
    return time.process_time() - time.thread_time() - applying


def timed(thread: str, step: str, fn):
    def wrapper(*a, **k):
        t, c = time.perf_counter(), time.thread_time()
        try:
            return fn(*a, **k)
        finally:
            steps.append((thread, step, t - T0[0], time.perf_counter() - T0[0], time.thread_time() - c))
    return wrapper


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=200_000)
    ap.add_argument("--shape", default="wide")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--target", default=None)
    ap.add_argument("--first", type=int, default=None,
                    help="records in the first batch only (then --batch-size or the default): a ramp, measured")
    ap.add_argument("--export", type=int, default=0, metavar="ITEMS",
                    help="a full load of bench/export_load.py's export of ITEMS items instead of a stream "
                         "(helpers: the gzip thread)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dynashift-timeline-"))
    uri = args.target or f"duckdb:///{tmp / 'bench.duckdb'}"
    size = args.first or args.batch_size
    if args.export:
        from export_load import export_folder

        sized = {"load_batch_size": size} if size else {}
        config = Config(source=f"export://{export_folder(args.export, 1)}?keys=pk,sk", target=uri, **sized)
    else:
        sized = {"batch_size": size} if size else {}
        config = Config(source=f"file://{stream_file(args.changes, 1, args.shape)}/changes-*", target=uri, **sized)
    target = make_target(config.target)
    target.open()
    source = make_source(config.source, config)
    then = args.batch_size or NATIVE_BATCH_SIZE

    read = source.read

    def read_timed(checkpoints):
        it = read(checkpoints)
        while True:
            t, c, o = time.perf_counter(), time.thread_time(), _others()
            try:
                sb = next(it)
            except StopIteration:
                steps.append(("main", "read-end", t - T0[0], time.perf_counter() - T0[0], time.thread_time() - c))
                return
            steps.append(("main", f"read {sb.records_read}", t - T0[0], time.perf_counter() - T0[0],
                          time.thread_time() - c))
            helpers.append(max(0.0, _others() - o))
            if args.first:
                source.batch_size = then  # FileSource reads it at each take: later batches are full
            yield sb
    source.read = read_timed
    pipeline.build_plan = timed("main", "plan", pipeline.build_plan)
    pipeline._finish = timed("main", "wait", pipeline._finish)
    apply = type(target).apply

    def apply_noted(*a, **k):
        if not APPLYING:
            APPLYING.append(threading.get_native_id())
        return apply(*a, **k)
    type(target).apply = timed("apply", "apply", apply_noted)

    T0[0] = started = time.perf_counter()
    cpu0 = time.process_time()
    run = pipeline.replicate(config, source, target)
    t = time.perf_counter()
    target.close()
    steps.append(("main", "close", t - started, time.perf_counter() - started, 0.0))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    shutil.rmtree(tmp, ignore_errors=True)
    reads = iter(helpers)
    for thread, step, a, b, c in steps:
        indent = "" if thread == "main" else " " * 40
        extra = f" + helpers {next(reads):.2f}" if step.startswith("read ") else ""
        print(f"{indent}{thread:5s} {step:14s} {a:6.2f} -> {b:6.2f} ({b - a:5.2f} s, {c:5.2f} CPU-s{extra})")
    reads = [s for s in steps if s[1].startswith("read ")]
    applies = [s for s in steps if s[1] == "apply"]
    first_apply = applies[0][2] if applies else seconds
    last_read = reads[-1][3] if reads else 0.0
    main_cpu = sum(s[4] for s in steps if s[0] == "main" and s[1] != "wait")
    apply_cpu = sum(s[4] for s in applies)
    print(f"records {run.records_read:,}, {run.batches} batches, {seconds:.2f} s, {cpu:.2f} CPU-s "
          f"({run.records_read / seconds:,.0f} ev/s); load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"main thread (read+plan) {main_cpu:.2f} CPU-s; applying thread {apply_cpu:.2f} CPU-s; "
          f"waits {sum(s[3] - s[2] for s in steps if s[1] == 'wait'):.2f} s")
    print(f"serial start {first_apply:.2f} s; serial tail {seconds - last_read:.2f} s "
          f"(close {steps[-1][3] - steps[-1][2]:.2f} s)")
    print(f"critical path on two idle cores, from thread CPU-s: {critical_path(steps):.2f} s")
    if args.export:
        print(f"with the gzip thread sharing the cores: {shared_cores(steps):.2f} s")


def critical_path(steps) -> float:
    """A run's seconds were each step as long as its thread's CPU-s (two idle cores): batch i+1's
    read and plan overlap batch i's apply; the close follows the last apply. A read lasts its
    main thread's CPU-s and half its helpers' (a table rendered in two shares at once)."""
    main = [0.0]  # per batch: read + plan CPU-s
    reads = iter(helpers)
    for thread, step, _, _, cpu in steps:
        if step.startswith("read ") and thread == "main":
            main.append(cpu + next(reads) / 2)
        elif step == "plan":
            main[-1] += cpu
    main = main[1:]
    applies = [cpu for thread, step, _, _, cpu in steps if step == "apply"]
    t_read, t_apply = 0.0, 0.0
    for i, apply in enumerate(applies):
        t_read += main[i] if i < len(main) else 0.0  # batch i read and planned
        t_apply = max(t_read, t_apply) + apply  # applied after it is read and the previous one committed
        t_read = max(t_read, t_apply - apply)  # the next read starts once this batch is handed over
    return t_apply


def shared_cores(steps) -> float:
    """critical_path for a full load, whose helper is the gzip thread (not render shares): batch
    i+1's read (main + gzip) and batch i's apply share two cores, so that stretch lasts the longest
    of the apply, the read's main thread and half of all three's CPU-s."""
    main, reads = [], iter(helpers)
    for thread, step, _, _, cpu in steps:
        if step.startswith("read ") and thread == "main":
            main.append((cpu, next(reads)))
        elif step == "plan" and main:
            main[-1] = (main[-1][0] + cpu, main[-1][1])
    applies = [cpu for thread, step, _, _, cpu in steps if step == "apply"]
    if not main or not applies:
        return 0.0
    total = max(main[0][0], sum(main[0]) / 2)  # the first read: nothing to apply yet
    for i, apply in enumerate(applies):
        own, gz = main[i + 1] if i + 1 < len(main) else (0.0, 0.0)
        total += max(apply, own, (apply + own + gz) / 2)
    return total


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    threading.current_thread().name = "main"
    main()
