"""Trust at scale: one long run of a simulated stream, its rate and memory batch by batch, and the
replica compared with the stream's expected end state at the end.

The throughput bench says how fast a run is; this one says whether a long or unusual run stays
fast, stays small and ends right: does the rate per batch fall as the tables and
dynashift.versions grow, does resident memory creep up batch after batch, and does the replica
equal the oracle (tests/support/simulated.py's expected.json: every row, value and
`_dynashift_changed_at`) in the delete, TTL, typed or history mode asked for.

    .venv/bin/python bench/scale_run.py --generate changes=5000000,profile=bench,seed=11 --data /tmp/n5m
    .venv/bin/python bench/scale_run.py --data /tmp/n5m                        # DuckDB, hard deletes
    .venv/bin/python bench/scale_run.py --data /tmp/p1m --delete-mode soft      # soft-delete mode
    .venv/bin/python bench/scale_run.py --data /tmp/p1m --column-types typed    # typed columns
    .venv/bin/python bench/scale_run.py --data /tmp/p1m --history beside        # history tables too
    .venv/bin/python bench/scale_run.py --data /tmp/p1m --target postgresql://postgres@127.0.0.1:5432/h5

Run it under `nice -n 10` on a shared machine. One line per committed batch (seconds since the
start, records, the batch's own rate: its records over the time since the previous commit, CPU-s
and resident memory now), then a summary that compares the first and last tenth of the batches.
A PostgreSQL target must be an empty database of its own: the run's tables are made there.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE.parent / "tests"), str(HERE)]

from dynashift import Config, replicate  # noqa: E402
from dynashift.pipeline import BatchStats  # noqa: E402
from dynashift.sources import make_source  # noqa: E402
from dynashift.targets import make_target  # noqa: E402


def rss_mib() -> float:
    """Resident memory now (VmRSS), MiB: ru_maxrss only ever grows, so it cannot show a plateau."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def server_cpu(pid: int | None) -> float:
    """CPU-s of the PostgreSQL backend `pid` on this machine (utime + stime), 0 without one."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


class Sampler:
    """An observer of `replicate`: one sample per committed batch."""

    def __init__(self, backend: int | None = None) -> None:
        self.started = self.last = time.perf_counter()
        self.cpu0, self.backend = cpu_seconds(), backend
        self.server0 = server_cpu(backend)
        self.samples: list[dict[str, float]] = []

    def __call__(self, b: BatchStats) -> None:
        now = time.perf_counter()
        sample = {"t": now - self.started, "records": b.records, "applied": b.applied,
                  "rate": b.records / max(now - self.last, 1e-9), "cpu": cpu_seconds() - self.cpu0,
                  "server": server_cpu(self.backend) - self.server0,
                  "rss": rss_mib(), "peak": peak_rss_mib()}
        self.last = now
        self.samples.append(sample)
        print(f"batch {len(self.samples):4d}  t {sample['t']:7.1f} s  {b.records:7,} rec  {sample['rate']:9,.0f} rec/s"
              f"  cpu {sample['cpu']:7.1f} s" + (f" + server {sample['server']:6.1f} s" if self.backend else "") + f"  rss {sample['rss']:5.0f} MiB  peak {sample['peak']:5.0f} MiB", flush=True)


def tenths(samples: list[dict[str, float]]) -> list[dict[str, float]]:
    """Rate and memory per tenth of the batches: flat, or growing with the file?"""
    out = []
    n = len(samples)
    for i in range(min(10, n)):
        part = samples[i * n // min(10, n):(i + 1) * n // min(10, n)]
        start = samples[i * n // min(10, n) - 1]["t"] if i else 0.0
        seconds = part[-1]["t"] - start
        out.append({"batches": len(part), "rate": sum(s["records"] for s in part) / max(seconds, 1e-9),
                    "rss": max(s["rss"] for s in part)})
    return out


def verify(target_uri: str, expected: Path, config: Config) -> list[str]:
    """The replica against expected.json in the run's mode (text, or typed through typed_support)."""
    from support.oracle import diff_duckdb, diff_rows, expected_tables, load_expected

    mode = "soft_delete" if config.delete_mode == "soft" else "ttl_ignored" if config.ttl_mode() == "ignore" else "tables"
    if config.column_types == "typed":
        from support.typed_support import replica

        target = make_target(target_uri)
        target.open()
        try:
            held = replica(target)
        finally:
            target.close()
        diffs = []
        for name, table in expected_tables(load_expected(expected), mode).items():
            mapping, rows = held.get(name, ({}, []))
            diffs += diff_rows(table, mapping, rows)
        return diffs
    if target_uri.startswith("duckdb:///"):
        if mode == "tables" and expected.stat().st_size > 1 << 30:  # too big to load whole: streamed
            from verify_stream import verify as streamed

            return [f"{n} differences (bench/verify_stream.py)"] if (n := streamed(target_uri.removeprefix("duckdb:///"), str(expected))) else []
        return diff_duckdb(target_uri.removeprefix("duckdb:///"), expected, mode=mode)
    from support.faultkit import diff_postgres

    if mode != "tables":
        raise SystemExit("verify: PostgreSQL is compared in hard-delete mode only (support.faultkit.diff_postgres)")
    return diff_postgres(target_uri, expected)


def generate(folder: Path, spec: str) -> None:
    from support.simulated import simulate

    kwargs: dict[str, Any] = {}
    for part in spec.split(","):
        key, value = part.split("=")
        kwargs[key] = int(value) if value.isdigit() else value
    t = time.perf_counter()
    summary = simulate(folder, **kwargs)
    (folder / ".complete").write_text("ok")
    print(f"generated {summary.changes:,} records ({summary.bytes / 1e6:,.0f} MB) in {time.perf_counter() - t:.0f} s",
          file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="a folder simulated with its expected.json")
    ap.add_argument("--generate", metavar="K=V,...", help="simulate into --data first (support.simulated.simulate's "
                    "arguments, e.g. changes=2000000,profile=wide,seed=12)")
    ap.add_argument("--target", help="target URI (default: a new DuckDB file in a temporary folder)")
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--delete-mode", choices=("hard", "soft"), default="hard")
    ap.add_argument("--ttl-deletes", choices=("follow", "hard", "soft", "ignore"), default="follow")
    ap.add_argument("--column-types", choices=("text", "typed"), default="text")
    ap.add_argument("--history", choices=("off", "beside", "only"), default="off")
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--json", type=Path, help="write the samples and the summary here")
    args = ap.parse_args()

    if args.generate and not (args.data / ".complete").exists():
        generate(args.data, args.generate)
    tmp = Path(tempfile.mkdtemp(prefix="dynashift-scale-", dir=os.environ.get("TMPDIR")))
    target_uri = args.target or f"duckdb:///{tmp / 'scale.duckdb'}"
    extra = {"batch_size": args.batch_size} if args.batch_size else {}
    config = Config(source=f"file://{args.data}/changes-*", target=target_uri, delete_mode=args.delete_mode,
                    ttl_deletes=args.ttl_deletes, column_types=args.column_types, history=args.history, **extra)
    target, source = make_target(config.target), make_source(f"file://{args.data}/changes-*", config)
    target.open()
    backend = target.query("SELECT pg_backend_pid()")[0][0] if target_uri.startswith("postgres") else None
    sampler = Sampler(backend)
    try:
        run = replicate(config, source, target, observer=sampler)
    finally:
        target.close()
    seconds, cpu = time.perf_counter() - sampler.started, cpu_seconds() - sampler.cpu0

    from dynashift.planning.engine import engine_name

    parts = tenths(sampler.samples)
    summary = {"engine": engine_name(), "records": run.records_read, "applied": run.changes_applied,
               "batches": run.batches, "seconds": seconds, "events_per_s": run.records_read / seconds, "cpu": cpu,
               "peak_rss": peak_rss_mib(), "tenths": parts, "load": os.getloadavg(),
               "server": sampler.samples[-1]["server"] if sampler.samples else 0.0}
    print(f"engine {summary['engine']}; {run.records_read:,} records, {run.changes_applied:,} applied, "
          f"{run.batches} batches in {seconds:,.1f} s = {summary['events_per_s']:,.0f} ev/s; cpu {cpu:,.1f} s"
          + (f" + server {sampler.samples[-1]['server']:,.1f} s" if backend and sampler.samples else "") + "; "
          f"peak RSS {summary['peak_rss']:,.0f} MiB; load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("per tenth of the batches: rate " + " ".join(f"{p['rate'] / 1000:.0f}k" for p in parts)
          + " | RSS max " + " ".join(f"{p['rss']:.0f}" for p in parts))
    if not args.no_verify:
        t = time.perf_counter()
        diffs = verify(target_uri, args.data / "expected.json", config)
        summary["differences"] = len(diffs)
        print(f"verify: {len(diffs)} differences ({time.perf_counter() - t:.0f} s)"
              + "".join(f"\n  {d}" for d in diffs[:20]))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "samples": sampler.samples}, indent=1))
    if target_uri.startswith("duckdb:///") and not args.target:
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()
    if summary.get("differences"):
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
