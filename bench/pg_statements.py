"""Where a PostgreSQL run's time goes, per statement: the server backend's CPU, the applying
thread's own CPU and the wall time of each kind of statement (COPY included), summed over a run.

The server backend is the third CPU consumer of a PostgreSQL run (besides the main and the
applying thread); bench/throughput.py prints its total, this its share per statement. The backend's
CPU comes from /proc/<pid>/schedstat (nanoseconds), so the server must run on this machine.

    .venv/bin/python bench/pg_statements.py --changes 200000 --shape wide --target postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from dynashift import Config, replicate  # noqa: E402
from dynashift.sources import make_source  # noqa: E402
from dynashift.targets import make_target  # noqa: E402
from throughput import _reset_postgres, stream_file  # noqa: E402


def _server_ns(pid: int) -> int:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def _kind(sql: str) -> str:
    """A statement's kind: its text with names of temp tables and lists cut short."""
    sql = re.sub(r"\s+", " ", sql).strip()
    sql = re.sub(r'(SELECT|\() ?(s\.)?"[^"]+"(, (s\.)?"[^"]+"){3,}', r"\1 …cols…", sql)
    return sql[:110]


class Tracer:
    def __init__(self, pid: int):
        self.pid = pid
        self.rows: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
        self.batches: list[dict[str, float]] = [defaultdict(float)]  # per batch: server CPU-s per kind

    def timed(self, kind: str, call, *args, **kwargs):
        wall, own, server = time.perf_counter(), time.thread_time(), _server_ns(self.pid)
        try:
            return call(*args, **kwargs)
        finally:
            row = self.rows[kind]
            row[0] += 1
            row[1] += time.perf_counter() - wall
            row[2] += time.thread_time() - own
            row[3] += (_server_ns(self.pid) - server) / 1e9
            self.batches[-1][kind] += (_server_ns(self.pid) - server) / 1e9
            if kind == "(all of apply)":
                self.batches.append(defaultdict(float))

    def print(self, seconds: float) -> None:
        total = [sum(r[i] for r in self.rows.values()) for i in (1, 2, 3)]
        print(f"statements      wall {total[0]:.2f} s, applying thread {total[1]:.2f} CPU-s, server {total[2]:.2f} CPU-s"
              f" (run {seconds:.2f} s)")
        print(f"{'n':>5} {'wall':>6} {'client':>6} {'server':>6}  statement")
        for kind, (n, wall, own, server) in sorted(self.rows.items(), key=lambda kv: -kv[1][3]):
            print(f"{n:5d} {wall:6.2f} {own:6.2f} {server:6.2f}  {kind}")

    def print_batches(self, top: int = 10) -> None:
        """Server CPU-s per batch of the costliest kinds: what grows with the tables."""
        kinds = sorted(self.rows, key=lambda k: -self.rows[k][3])[:top]
        batches = [b for b in self.batches if b]
        print("server CPU-s per batch (columns: batches)")
        for kind in kinds:
            print(" ".join(f"{b.get(kind, 0.0):5.2f}" for b in batches), "", kind[:60])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shape", choices=("bench", "wide"), default="wide")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--target", required=True, help="a postgresql:// URI (its dynashift tables are emptied)")
    ap.add_argument("--per-batch", action="store_true", help="also the server CPU-s per batch of the costliest kinds")
    ap.add_argument("--explain", metavar="FILE", help="every statement's plan with its actual rows and times"
                    " (auto_explain, sent to the client as notices), written to FILE")
    ap.add_argument("--sql", action="append", default=[], help="run this SQL once the target is open (an experiment)")
    args = ap.parse_args()

    folder = stream_file(args.changes, args.seed, args.shape)
    sized = {"batch_size": args.batch_size} if args.batch_size else {}
    config = Config(source=f"file://{folder}/changes-*", target=args.target, **sized)
    target = make_target(config.target)
    target.open()
    _reset_postgres(target)
    for sql in args.sql:
        target.execute(sql)
    if args.explain:
        plans = open(args.explain, "w")
        target.con.add_notice_handler(lambda diag: plans.write(f"{diag.message_primary}\n\n"))
        for sql in ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0", "SET auto_explain.log_analyze = on",
                    "SET auto_explain.log_buffers = on", "SET auto_explain.log_level = notice"):
            target.execute(sql)
    tracer = Tracer(target.query("SELECT pg_backend_pid()")[0][0])
    run_sql, load_stage = target.run_sql, target.load_stage
    copy_rows = getattr(target, "copy_rows", None)  # the batch merge's COPY into a user table
    if copy_rows is not None:
        target.copy_rows = lambda ref, data, *a: tracer.timed(f"COPY {len(data.column_names)} columns into a table",
                                                              copy_rows, ref, data, *a)
    target.run_sql = lambda sql, params, fetch: tracer.timed(_kind(sql), run_sql, sql, params, fetch)
    target.load_stage = lambda ref, data: tracer.timed(f"COPY {len(data.column_names)} columns into a stage", load_stage, ref, data)
    for name in ("merge_stages", "_merge_winners", "screen", "apply"):  # whole steps: what the statements leave out
        real = getattr(target, name, None)
        if real is not None:
            setattr(target, name, lambda *a, _real=real, _name=name, **k: tracer.timed(f"(all of {_name})", _real, *a, **k))
    source = make_source(config.source, config)
    started, server = time.perf_counter(), _server_ns(tracer.pid)
    run = replicate(config, source, target)
    seconds = time.perf_counter() - started
    server = (_server_ns(tracer.pid) - server) / 1e9
    target.close()
    print(f"records         {run.records_read:,}; {run.batches} batches; {seconds:.2f} s, "
          f"{run.records_read / seconds:,.0f} ev/s; server {server:.2f} CPU-s; load {os.getloadavg()[0]:.1f}")
    tracer.print(seconds)
    if args.per_batch:
        tracer.print_batches()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
