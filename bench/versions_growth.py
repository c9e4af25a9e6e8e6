"""Does judging a batch against dynashift.versions (and updating it) cost more as it grows?

    .venv/bin/python bench/versions_growth.py --prefill 4000000 --batches 4

A DuckDB file target whose dynashift.versions is first filled with `--prefill` keys (spread over
`--tables` tables, checkpointed: as a long stream leaves it), then `--batches` batches of
`--batch` rows applied through the product's `apply` (a share `--updates` of them changing keys
already there, chosen at random; a few exact redeliveries of the previous batch; the rest new).
Prints per batch the process CPU seconds (all threads: DuckDB's workers too) and wall seconds of
each kind of statement, so that two prefills compare at equal batches. Keys are random hex
(production keys carry no order a zonemap could use). Only the versions bookkeeping is of
interest: the user tables hold only the batches' rows.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import pyarrow as pa  # noqa: E402

from dynashift.model import UPSERT, BatchPlan, TableStage  # noqa: E402
from dynashift.schema import (  # noqa: E402
    CHANGED_AT, DIST_KEY, STAGE_EVENT, STAGE_OP, STAGE_SEQ, STAGE_VERSION, AddColumn, AddTable,
)
from dynashift.targets import make_target  # noqa: E402


def key(i: int) -> str:
    return '{"id":{"S":"' + hashlib.md5(str(i).encode()).hexdigest() + '"}}'


def stage(table: str, keys: list[str], version: int, seqs: list[str]) -> TableStage:
    versions = pa.array([version] * len(keys), pa.int64())
    data = pa.table({
        DIST_KEY: pa.array(keys, pa.string()),
        STAGE_OP: pa.array([UPSERT] * len(keys), pa.string()),
        STAGE_VERSION: versions,
        STAGE_SEQ: pa.array(seqs, pa.string()),
        STAGE_EVENT: pa.array([""] * len(keys), pa.string()),
        CHANGED_AT: versions.cast(pa.timestamp("us", tz="UTC")),
        "a": pa.array(["x" * 20] * len(keys), pa.string()),
    })
    return TableStage(table, ["a"], data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefill", type=int, default=1_000_000)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--tables", type=int, default=6)
    ap.add_argument("--updates", type=float, default=0.6, help="share of a batch's rows that change known keys")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="dynashift-vg-"))
    target = make_target(f"duckdb:///{tmp / 'vg.duckdb'}")
    target.open()
    tables = [f"t{n}" for n in range(args.tables)]
    run = target.begin_run("bench://versions")

    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    execute, query = target.execute, target.query

    def timed(fn):
        def wrapper(sql, params=()):
            c0, w0 = time.process_time(), time.perf_counter()
            try:
                return fn(sql, params)
            finally:
                label = " ".join(sql.split()[:4])[:40]
                spent[label][0] += time.process_time() - c0
                spent[label][1] += time.perf_counter() - w0
        return wrapper

    # first batch: the tables, one row each (made here), then the prefill straight into versions
    target.apply(BatchPlan(schema_changes=[c for t in tables for c in (AddTable(t, t, ("id",)), AddColumn(t, "a", "a", False))],
                           stages=[stage(t, [key(-1 - n)], 1, ["0"]) for n, t in enumerate(tables)]), run)
    c0, w0 = time.process_time(), time.perf_counter()
    with target.transaction():
        target.execute(
            "INSERT INTO dynashift.versions SELECT 't' || (i % ?), '{\"id\":{\"S\":\"' || md5(i::VARCHAR) || '\"}}',"
            " 1, '0', '', false, now(), NULL, NULL FROM range(?) r(i)", [args.tables, args.prefill])
    target.execute("CHECKPOINT")
    print(f"prefill {args.prefill:,} keys: cpu {time.process_time() - c0:.2f}s wall {time.perf_counter() - w0:.2f}s")
    known = {t: [i for i in range(n, args.prefill, args.tables)] for n, t in enumerate(tables)}
    fresh = args.prefill
    previous: list[tuple[str, list[str], int, list[str]]] = []
    target.execute, target.query = timed(execute), timed(query)
    totals = [0.0, 0.0]
    for b in range(args.batches):
        version = 10 + b
        per = args.batch // args.tables
        batch = []
        for n, t in enumerate(tables):
            ups = rnd.sample(known[t], min(len(known[t]), int(per * args.updates)))
            new = list(range(fresh, fresh + per - len(ups)))
            fresh += len(new)
            keys = [key(i) for i in ups + new]
            known[t].extend(new)
            seqs = [f"{b:04d}{j:08d}" for j in range(len(keys))]
            if previous:  # a few redeliveries of the previous batch: duplicates, rewritten positions
                _, pkeys, pver, pseqs = previous[n]
                taken = {k for k in keys}
                redo = [(k, s) for k, s in zip(pkeys[:per // 50], pseqs) if k not in taken]
                batch.append(stage(t, keys + [k for k, _ in redo], version, seqs + [s for _, s in redo]))
                # the redeliveries carry the previous version: build that column by hand
                col = batch[-1].data.column(STAGE_VERSION).to_pylist()
                col[len(keys):] = [pver] * len(redo)
                data = batch[-1].data.set_column(2, STAGE_VERSION, pa.array(col, pa.int64()))
                batch[-1].data = data.set_column(5, CHANGED_AT, data.column(STAGE_VERSION).cast(pa.timestamp("us", tz="UTC")))
            else:
                batch.append(stage(t, keys, version, seqs))
        previous = [(s.table, s.data.column(DIST_KEY).to_pylist(), version, s.data.column(STAGE_SEQ).to_pylist())
                    for s in batch]
        spent.clear()
        c0, w0 = time.process_time(), time.perf_counter()
        target.apply(BatchPlan(stages=batch), run)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        totals[0] += cpu
        totals[1] += wall
        top = sorted(spent.items(), key=lambda kv: -kv[1][0])[:8]
        print(f"batch {b + 1}: cpu {cpu:.2f}s wall {wall:.2f}s applied {run.changes_applied:,}"
              f" dups {run.duplicates_skipped:,} stale {run.stale_skipped:,}")
        print("    " + ", ".join(f"{k}: {c:.2f}/{w:.2f}" for k, (c, w) in top))
    (rows,) = target.query("SELECT count(*) FROM dynashift.versions")[0]
    print(f"total cpu {totals[0]:.2f}s wall {totals[1]:.2f}s; versions rows {rows:,}")
    target.close()


if __name__ == "__main__":
    main()
