"""One batch's DuckDB merge and commit, replayed alone on the file a real stream left: per kind of
statement, the CPU-seconds of the thread that runs it. Whole runs on a loaded 2-core machine vary
by ±30%; one batch replayed on a fresh copy of the same file, a few times, tells a statement's
change of 10-20 ms apart.

    .venv/bin/python bench/merge_replay.py capture --batch 13 --out /tmp/b13     # wide 1M by default
    .venv/bin/python bench/merge_replay.py replay /tmp/b13 --repeat 3

`capture` streams bench/throughput.py's input into a kept DuckDB file and, just before batch
--batch's merge (DuckDBMerge.merge_stages), copies the file (the previous batch committed: a large
batch checkpoints at its commit, so the WAL is empty or folded on replay) and writes that batch's
stages as Arrow IPC files, then stops. `replay` copies the file afresh for each round, opens it as
the product does, merges the stages and commits, and prints the merge's and the commit's CPU
(the thread's and the process's) and each kind of statement's. Run it from two checkouts on one
capture to compare their SQL (the code comes from this script's own checkout). `--vacuum`: the
commit may vacuum (a replay's first checkpoint would, as a run's first does; off by default).
`--set SETTING=VALUE` (repeatable) SETs a DuckDB setting after the target opens; with `--against
SETTING=VALUE` the rounds alternate between the two (old, new, old, new: the same load for both),
e.g. `--against "disabled_compression_methods='dict_fsst'"`. Each round also prints the file's
size after the commit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import pyarrow.ipc as ipc  # noqa: E402

from dynashift import Config, replicate  # noqa: E402
from dynashift.model import TableStage  # noqa: E402
from dynashift.sources import make_source  # noqa: E402
from dynashift.targets import make_target  # noqa: E402
from dynashift.targets.duckdb import DuckDBTarget  # noqa: E402
from sql_trace import label  # noqa: E402
from throughput import stream_file  # noqa: E402


class _Captured(Exception):
    pass


def capture(batch: int, out: Path, changes: int, shape: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    folder = stream_file(changes, 1, shape)
    tmp = Path(tempfile.mkdtemp(prefix="merge-replay-"))
    calls = [0]
    merge = DuckDBTarget.merge_stages

    def kept(self: DuckDBTarget, stages, change_log):
        calls[0] += 1
        if calls[0] < batch:
            return merge(self, stages, change_log)
        for suffix in ("", ".wal"):
            if Path(self.path + suffix).exists():
                shutil.copy(self.path + suffix, out / f"file.duckdb{suffix}")
        for i, stage in enumerate(stages):
            with ipc.new_file(str(out / f"stage-{i}.arrow"), stage.data.schema) as writer:
                writer.write_table(stage.data)
        (out / "stages.json").write_text(json.dumps({
            "stages": [{"table": s.table, "columns": s.columns, "soft": s.soft} for s in stages],
            "created": sorted(self.created), "change_log": change_log}))
        raise _Captured

    DuckDBTarget.merge_stages = kept  # type: ignore[method-assign]
    config = Config(source=f"file://{folder}/changes-*", target=f"duckdb:///{tmp / 'bench.duckdb'}")
    target = make_target(config.target)
    target.open()
    try:
        replicate(config, make_source(config.source, config), target)
    except _Captured:
        print(f"batch {batch} captured in {out}")
    else:
        print(f"the stream has fewer than {batch} batch merges")
    os._exit(0)  # the pipeline's threads and the open file: nothing of them is wanted


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def replay_once(folder: Path, vacuum: bool, settings: list[str] = ()) -> dict[str, float]:
    meta = json.loads((folder / "stages.json").read_text())
    stages = [TableStage(m["table"], m["columns"], ipc.open_file(str(folder / f"stage-{i}.arrow")).read_all(), m["soft"])
              for i, m in enumerate(meta["stages"])]
    tmp = Path(tempfile.mkdtemp(prefix="merge-replay-"))
    for suffix in ("", ".wal"):
        if (folder / f"file.duckdb{suffix}").exists():
            shutil.copy(folder / f"file.duckdb{suffix}", tmp / f"r.duckdb{suffix}")
    target = make_target(f"duckdb:///{tmp / 'r.duckdb'}")
    target.open()
    for setting in settings:
        target.con.execute(f"SET {setting}")
    target.created = set(meta["created"])
    if not vacuum and target._unvacuumed is not None:
        target._unvacuumed = 0.0
        target._vacuum_next(False)
    spent: dict[str, float] = defaultdict(float)
    execute = type(target).execute

    def timed(self, sql, params=()):
        c = time.thread_time()
        try:
            return execute(self, sql, params)
        finally:
            spent[label(sql)] += time.thread_time() - c
    type(target).execute = timed  # type: ignore[method-assign]
    query_arrow = type(target).query_arrow

    def timed_arrow(self, sql):
        c = time.thread_time()
        try:
            return query_arrow(self, sql)
        finally:
            spent[label(sql)] += time.thread_time() - c
    type(target).query_arrow = timed_arrow  # type: ignore[method-assign]
    try:
        c0, p0, w0 = time.thread_time(), _cpu(), time.perf_counter()
        target._begin()
        target.merge_stages(stages, meta["change_log"])
        c1, p1, w1 = time.thread_time(), _cpu(), time.perf_counter()
        target._commit()
        c2, p2, w2 = time.thread_time(), _cpu(), time.perf_counter()
    finally:
        type(target).execute = execute  # type: ignore[method-assign]
        type(target).query_arrow = query_arrow  # type: ignore[method-assign]
        target.close()
        size = (tmp / "r.duckdb").stat().st_size / 1e6
        shutil.rmtree(tmp, ignore_errors=True)
    return {"merge (thread)": c1 - c0, "merge (process)": p1 - p0, "merge (wall)": w1 - w0,
            "commit (thread)": c2 - c1, "commit (process)": p2 - p1, "commit (wall)": w2 - w1,
            "file MB (after)": size, **spent}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    cap = sub.add_parser("capture")
    cap.add_argument("--batch", type=int, default=13)
    cap.add_argument("--out", type=Path, required=True)
    cap.add_argument("--changes", type=int, default=1_000_000)
    cap.add_argument("--shape", choices=("bench", "wide"), default="wide")
    rep = sub.add_parser("replay")
    rep.add_argument("folder", type=Path)
    rep.add_argument("--repeat", type=int, default=3)
    rep.add_argument("--vacuum", action="store_true")
    rep.add_argument("--set", action="append", default=[], metavar="SETTING=VALUE")
    rep.add_argument("--against", action="append", default=[], metavar="SETTING=VALUE")
    args = ap.parse_args()
    if args.command == "capture":
        capture(args.batch, args.out, args.changes, args.shape)
        return
    arms = [args.set] + ([args.set + args.against] if args.against else [])
    rounds = [[replay_once(args.folder, args.vacuum, arm) for arm in arms] for _ in range(args.repeat)]
    for i, arm in enumerate(arms):
        runs = [r[i] for r in rounds]
        print(f"CPU-s per round ({args.repeat} rounds, load {os.getloadavg()[0]:.1f}){' with ' + ', '.join(arm) if arm else ''}")
        totals = [k for k in runs[0] if k.endswith(("(thread)", "(process)", "(wall)", "(after)"))]
        statements = sorted((k for k in runs[0] if k not in totals), key=lambda k: -runs[0][k])
        for kind in totals + statements:
            print(f"  {' '.join(f'{r.get(kind, 0.0):7.3f}' for r in runs)}  {kind}")


if __name__ == "__main__":
    main()
