"""PostgreSQL's COPY alone, CSV (Arrow) vs binary (native): the tables a run stages, COPYed again.

A run of bench/throughput.py's input into PostgreSQL records every table the target COPYs (the
batch's judged stage, each table's winners); then, in interleaved rounds (csv, binary, csv, ...),
each is COPYed again into a fresh temporary table of the same columns. Prints, per format and
round, the client's CPU-s (this process) and the server backend's CPU-s (from /proc: a local
server only), and wall time of the COPYs alone, without the merge around them.

    .venv/bin/python bench/pg_copy.py --target postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/pg_copy.py --target ... --changes 200000 --shape wide --rounds 4
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from throughput import _cpu, _reset_postgres, _server_cpu, stream_file  # noqa: E402

from dynashift import Config, replicate  # noqa: E402
from dynashift.planning.engine import native_engine  # noqa: E402
from dynashift.schema import DIST_KEY  # noqa: E402
from dynashift.sources import make_source  # noqa: E402
from dynashift.targets import make_target, pg_copy  # noqa: E402
from dynashift.targets.postgres import PostgresTarget  # noqa: E402
from dynashift.targets.quoting import quote  # noqa: E402


def recorded_stages(config: Config) -> list[pa.Table]:
    """Every table a whole run COPYs, of at least `DIST_KEY` (replicated for real: later batches
    judge against the earlier ones' versions, as in a run)."""
    stages: list[pa.Table] = []
    copy = pg_copy.copy_table

    def record(con: object, relation: str, data: pa.Table) -> None:
        if DIST_KEY in data.column_names:
            stages.append(data)
        copy(con, relation, data)

    with patched(record):
        target = make_target(config.target)
        target.open()
        try:
            _reset_postgres(target)
            replicate(config, make_source(config.source, config), target)
        finally:
            target.close()
    return stages


@contextlib.contextmanager
def patched(copy: Callable[[Any, str, pa.Table], None]) -> Iterator[None]:
    """`copy` as copy_table wherever the target's modules imported it."""
    owners = [m for m in (pg_copy, *(sys.modules[n] for n in list(sys.modules) if n.startswith("dynashift.targets.")))
              if getattr(m, "copy_table", None) is pg_copy.copy_table]
    real = pg_copy.copy_table
    for m in owners:
        m.copy_table = copy  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for m in owners:
            m.copy_table = real  # type: ignore[attr-defined]


def copy_round(target: PostgresTarget, backend: int, stages: list[pa.Table], binary: bool) -> tuple[float, float, float]:
    """(client CPU-s, server CPU-s, wall s) of COPYing every table once, in `binary` or CSV."""
    native = native_engine()
    pg_copy.native_engine = (lambda: native) if binary else (lambda: None)  # type: ignore[assignment]
    wall, cpu, server = time.perf_counter(), _cpu(), _server_cpu(backend)
    for data in stages:
        with target.transaction():
            columns = ", ".join(f"{quote(f.name)} {target.column_type(f)}" for f in data.schema)
            target.execute(f"CREATE TEMP TABLE _dynashift_copied ({columns})")
            with target.errors():
                pg_copy.copy_table(target.con, "_dynashift_copied", data)
            target.drop_stage("_dynashift_copied")
    return _cpu() - cpu, _server_cpu(backend) - server, time.perf_counter() - wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", required=True, help="a PostgreSQL URI (its dynashift tables are emptied first)")
    ap.add_argument("--changes", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shape", choices=("bench", "wide"), default="wide")
    ap.add_argument("--rounds", type=int, default=3, help="pairs of rounds (csv, binary), interleaved")
    args = ap.parse_args()
    if native_engine() is None:
        sys.exit("the native engine does not run here: binary COPY needs it (pip install ./native)")

    folder = stream_file(args.changes, args.seed, args.shape)
    config = Config(source=f"file://{folder}/changes-*", target=args.target)
    stages = recorded_stages(config)
    rows, size = sum(s.num_rows for s in stages), sum(s.nbytes for s in stages)
    target = make_target(config.target)
    target.open()
    backend = target.query("SELECT pg_backend_pid()")[0][0]
    print(f"stages          {len(stages)} tables, {rows:,} rows, {size / 1e6:,.0f} MB of Arrow")
    print(f"load average    {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    seen: dict[str, list[tuple[float, float, float]]] = {"csv": [], "binary": []}
    try:
        for _ in range(args.rounds):
            for form in ("csv", "binary"):
                result = copy_round(target, backend, stages, binary=form == "binary")
                seen[form].append(result)
                print(f"{form:<7} client {result[0]:5.2f} CPU-s  server {result[1]:5.2f} CPU-s  wall {result[2]:5.2f} s")
    finally:
        target.close()
    for form, results in seen.items():
        client, server, wall = (statistics.median(r[i] for r in results) for i in range(3))
        print(f"median {form:<7} client {client:5.2f}  server {server:5.2f}  both {client + server:5.2f} CPU-s  "
              f"wall {wall:5.2f} s  ({rows / (client + server):,.0f} rows per CPU-second)")
    print(f"load average    {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
