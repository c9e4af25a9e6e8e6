"""Where the applying thread's CPU goes, per kind of statement, and how it grows batch by batch.

    .venv/bin/python bench/statement_cost.py --changes 1000000 --shape bench
    .venv/bin/python bench/statement_cost.py --changes 1000000 --shape wide --explain 20

One run into a fresh DuckDB file (bench/throughput.py's input), with every statement of the DuckDB
target timed by the CPU time of the thread that runs it (DuckDB runs a statement on the calling
thread when it has one worker thread, the default on 2 cores): a loaded machine distorts that far
less than seconds. Prints per kind of statement (literals and table names folded) the CPU and
wall seconds, the count, and its mean CPU per batch over the first and the last quarter of the
batches: which statements grow with the tables. `--explain N` prints DuckDB's EXPLAIN ANALYZE of
the statements of batch N that start with `--prefix` (they run once, profiled, instead of plainly).
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from dynashift import Config, replicate  # noqa: E402
from dynashift.sources import make_source  # noqa: E402
from dynashift.targets import make_target  # noqa: E402
from dynashift.targets.duckdb import DuckDBTarget  # noqa: E402
from throughput import stream_file  # noqa: E402


def label(sql: str) -> str:
    """A statement's kind: its first words, user tables and literals folded."""
    s = re.sub(r'"[^"]*"\."[^"]*"', "TABLE", sql)
    s = re.sub(r"'[^']*'", "'x'", s)
    kind = " ".join(s.split()[:5])[:60]
    return kind + (" +JOIN" if kind.startswith("INSERT INTO TABLE") and " JOIN " in s else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=1_000_000)
    ap.add_argument("--shape", choices=("bench", "wide"), default="bench")
    ap.add_argument("--batch-size", type=int, default=50_000)
    ap.add_argument("--uri-options", default="", help="appended to the target URI, e.g. ?memory_limit=1GB")
    ap.add_argument("--explain", type=int, default=0, help="EXPLAIN ANALYZE the statements of this batch")
    ap.add_argument("--prefix", default='INSERT INTO "main"', help="which statements --explain profiles")
    ap.add_argument("--top", type=int, default=16)
    args = ap.parse_args()

    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    batches: list[dict[str, float]] = []  # per commit: CPU per kind
    current: dict[str, float] = defaultdict(float)

    def note(kind: str, cpu: float, wall: float) -> None:
        spent[kind][0] += cpu
        spent[kind][1] += wall
        spent[kind][2] += 1
        current[kind] += cpu

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: DuckDBTarget, sql: str, params: Any = ()) -> Any:
            if args.explain and len(batches) == args.explain and sql.startswith(args.prefix):
                c = time.thread_time()
                plan = self.con.execute("EXPLAIN ANALYZE " + sql, list(params)).fetchall()
                print(f"=== {time.thread_time() - c:.3f} CPU-s: {sql[:160]}\n{plan[0][1]}")
                return None
            c, w = time.thread_time(), time.perf_counter()
            try:
                return fn(self, sql, params)
            finally:
                note(label(sql), time.thread_time() - c, time.perf_counter() - w)
        return wrapper

    commit = DuckDBTarget._commit

    def timed_commit(self: DuckDBTarget) -> None:
        c, w = time.thread_time(), time.perf_counter()
        commit(self)
        note("COMMIT", time.thread_time() - c, time.perf_counter() - w)
        batches.append(dict(current))
        current.clear()

    DuckDBTarget.execute = timed(DuckDBTarget.execute)  # type: ignore[method-assign]
    DuckDBTarget.query = timed(DuckDBTarget.query)  # type: ignore[method-assign]
    DuckDBTarget._commit = timed_commit  # type: ignore[method-assign]

    folder = stream_file(args.changes, 1, args.shape)
    tmp = Path(tempfile.mkdtemp(prefix="dynashift-statements-"))
    config = Config(source=f"file://{folder}/changes-*", target=f"duckdb:///{tmp / 'b.duckdb'}{args.uri_options}",
                    batch_size=args.batch_size)
    target = make_target(config.target)
    target.open()
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    run = replicate(config, make_source(config.source, config), target)
    c = time.thread_time()
    target.close()
    closing = time.thread_time() - c
    after = resource.getrusage(resource.RUSAGE_SELF)
    shutil.rmtree(tmp, ignore_errors=True)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(f"{run.records_read:,} records, {run.batches} batches: {time.perf_counter() - started:.1f} s, {cpu:.1f} CPU-s"
          f" (all threads), close {closing:.2f} CPU-s, peak RSS {after.ru_maxrss / 1024:.0f} MiB")
    print(f"statements: {sum(v[0] for v in spent.values()):.2f} CPU-s on the threads that ran them")
    data = [b for b in batches if sum(b.values()) > 0.001]
    k = max(1, len(data) // 4)
    print(" CPU-s  wall-s count  per batch: first quarter, last quarter")
    for kind, (c, w, n) in sorted(spent.items(), key=lambda kv: -kv[1][0])[:args.top]:
        early = sum(b.get(kind, 0.0) for b in data[:k]) / k
        late = sum(b.get(kind, 0.0) for b in data[-k:]) / k
        print(f"{c:6.2f} {w:7.2f} {int(n):5d}  {early:.3f} {late:.3f}  {kind}")


if __name__ == "__main__":
    main()
