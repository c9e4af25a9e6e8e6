"""Many new attributes: N items, each with one attribute of its own (`metric_<i>`, as dynamic
attribute names are in practice), into a new table, then N more into the table as it exists.

Prints records/s of each run, and, as the floor measured in the same run, records/s of the same
number of items that all carry one attribute (no new columns). Issue 14 measured the first run at
185 records/s (2,000 items into DuckDB: one ALTER TABLE, one INSERT and one UPDATE per column).

    .venv/bin/python bench/new_columns.py --items 2000
    .venv/bin/python bench/new_columns.py --items 2000 --target postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/new_columns.py --items 2000 --max-columns 1600      # fewer in the overflow column
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from dynashift import Config, replicate  # noqa: E402
from dynashift.sources import make_source  # noqa: E402
from dynashift.targets import make_target  # noqa: E402

T0 = 1_700_000_000_000_000


def write(path: Path, table: str, items: int, start: int, own_attribute: bool) -> Path:
    with path.open("wb") as out:
        for i in range(start, start + items):
            keys = {"pk": {"S": f"k{i}"}}
            attr = f"metric_{i}" if own_attribute else "metric"
            out.write(orjson.dumps({"eventID": f"e{i}", "eventName": "INSERT", "tableName": table, "dynamodb": {
                "ApproximateCreationDateTime": T0 + i, "ApproximateCreationDateTimePrecision": "MICROSECOND",
                "Keys": keys, "NewImage": {**keys, attr: {"N": str(i)}}}}) + b"\n")
    return path


def timed(target_uri: str, path: Path, settings: dict) -> tuple[float, int]:
    """records/s of one run, and the columns it added."""
    config = Config(source=f"file://{path}", target=target_uri, **settings)
    target = make_target(target_uri)
    target.open()
    try:
        t = time.perf_counter()
        run = replicate(config, make_source(config.source, config), target)
        return run.records_read / (time.perf_counter() - t), run.columns_added
    finally:
        target.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--target", default=None, help="target URI (default: a fresh DuckDB file in a temp folder)")
    ap.add_argument("--max-columns", type=int, default=None, help="the column budget (default: dynashift's)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dynashift-bench-"))
    uri = args.target or f"duckdb:///{tmp / 'bench.duckdb'}"
    settings = {"max_columns": args.max_columns} if args.max_columns else {}
    n = args.items
    floor, _ = timed(uri, write(tmp / "floor.jsonl", "Narrow", n, 0, False), settings)
    new, added_new = timed(uri, write(tmp / "new.jsonl", "Wide", n, 0, True), settings)
    grown, added_grown = timed(uri, write(tmp / "grown.jsonl", "Wide", n, n, True), settings)
    print(f"{n:,} items, one attribute each, into {uri.split(':')[0]} (load average {os.getloadavg()[0]:.1f})")
    print(f"  floor (no new columns):           {floor:10,.0f} records/s")
    print(f"  a new table, {added_new:5,} columns added: {new:10,.0f} records/s")
    print(f"  the same table, {added_grown:5,} more:      {grown:10,.0f} records/s")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
