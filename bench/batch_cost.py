"""What one more batch costs: the same input applied at two or more batch sizes, in CPU-seconds.

Smaller batches would shorten a run's serial start (the first batch is read with nothing to
apply) and its tail (the last batch applied with nothing to read), but each batch has costs of
its own (its statements, its commit, joins that read whole tables). This measures that balance
in CPU-seconds, which a loaded machine distorts far less than seconds: each size runs in its own
process (bench/throughput.py --no-floor), sizes interleaved, `--rounds` times.

    .venv/bin/python bench/batch_cost.py --changes 200000 --shape wide --sizes 50000,25000,12500

Prints per size the median wall seconds, CPU-seconds and peak RSS, and per size after the first
the CPU-seconds each extra batch cost: (cpu - cpu of the first size) / (batches - its batches).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_once(changes: int, shape: str, size: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, str(HERE / "throughput.py"), "--changes", str(changes), "--shape", shape,
                          "--batch-size", str(size), "--no-floor"], check=True, capture_output=True, text=True).stdout
    found = {
        "seconds": re.search(r"^time\s+([\d,.]+) s", out, re.M),
        "cpu": re.search(r"^cpu time\s+([\d,.]+) s", out, re.M),
        "batches": re.search(r"; ([\d,]+) batches", out),
        "rss": re.search(r"^peak RSS\s+([\d,.]+) MiB", out, re.M),
    }
    missing = [k for k, m in found.items() if m is None]
    if missing:
        raise SystemExit(f"bench/throughput.py printed no {', '.join(missing)}:\n{out}")
    return {k: float(m.group(1).replace(",", "")) for k, m in found.items() if m is not None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=200_000)
    ap.add_argument("--shape", choices=("bench", "wide"), default="wide")
    ap.add_argument("--sizes", default="50000,12500", help="batch sizes, comma-separated; the first is the reference")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if len(sizes) < 2:
        raise SystemExit("--sizes needs two sizes at least")
    runs: dict[int, list[dict[str, float]]] = {s: [] for s in sizes}
    for r in range(args.rounds):
        for size in sizes:
            one = run_once(args.changes, args.shape, size)
            runs[size].append(one)
            print(f"round {r + 1} batch size {size:>7,}: {one['batches']:.0f} batches, {one['seconds']:.1f} s,"
                  f" {one['cpu']:.2f} CPU-s, {one['rss']:.0f} MiB", flush=True)
    med = {s: {k: statistics.median(x[k] for x in runs[s]) for k in ("seconds", "cpu", "batches", "rss")} for s in sizes}
    ref = med[sizes[0]]
    print(f"medians of {args.rounds} rounds; load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for size in sizes:
        m = med[size]
        line = (f"  batch size {size:>7,}: {m['batches']:.0f} batches, {m['seconds']:.1f} s, {m['cpu']:.2f} CPU-s,"
                f" {m['rss']:.0f} MiB")
        extra = m["batches"] - ref["batches"]
        if size != sizes[0] and extra:
            line += f"; {(m['cpu'] - ref['cpu']) / extra:+.3f} CPU-s per extra batch"
        print(line)


if __name__ == "__main__":
    main()
