"""Freshness and scale-out of continuous `dynashift run` workers on a local Kinesis (moto).

freshness: a quiet stream (10 new items a second by default), one worker with default settings
into DuckDB; each change's time from being made (its ApproximateCreationDateTime) to its commit
(`_dynashift_synced_at`), p50 / p99 / max.

throughput: a stream filled beforehand (8 shards), then 1, 2 and 3 workers of one pipeline on
PostgreSQL; records/s from the first worker's start until every record is committed.

    .venv/bin/python bench/workers.py freshness --seconds 30
    .venv/bin/python bench/workers.py throughput --changes 20000 --target postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import boto3  # noqa: E402
import duckdb  # noqa: E402
import orjson  # noqa: E402

from dynashift.simulate import simulate  # noqa: E402
from dynashift.simulate_live import put_records  # noqa: E402
from kinesis_throughput import start_moto  # noqa: E402

ENV = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_REGION": "us-east-1"}


def run_cmd(endpoint: str, stream: str, target: str, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "dynashift.cli", "run", "-q", "--source", f"kinesis://{stream}", "--target", target,
           "--endpoint-url", endpoint, *extra]
    return subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=ENV)


def change(i: int) -> bytes:
    now = int(time.time() * 1000)
    return orjson.dumps({"eventName": "INSERT", "tableName": "Fresh", "dynamodb": {
        "ApproximateCreationDateTime": now, "Keys": {"pk": {"S": f"k{i}"}},
        "NewImage": {"pk": {"S": f"k{i}"}, "n": {"N": str(i)}}}})


def freshness(args: argparse.Namespace, endpoint: str, client) -> None:
    stream = f"fresh-{uuid.uuid4().hex[:6]}"
    client.create_stream(StreamName=stream, ShardCount=args.shards)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "fresh.duckdb"
        proc = run_cmd(endpoint, stream, f"duckdb:///{db}")
        time.sleep(3)  # the worker starts; its first seconds (start-up, first commit) are not measured
        warm = int(args.warmup * args.rate)
        n = int(args.seconds * args.rate)
        start = time.monotonic()
        for i in range(-warm, n):
            client.put_record(StreamName=stream, Data=change(i), PartitionKey=f"k{i}")
            time.sleep(max(0.0, start + (i + warm + 1) / args.rate - time.monotonic()))
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        con = duckdb.connect(str(db), read_only=True)
        rows = con.execute('SELECT epoch_ms("_dynashift_synced_at") - epoch_ms("_dynashift_changed_at") FROM main."fresh"'
                           " WHERE CAST(n AS BIGINT) >= 0")
        lat = sorted(r[0] / 1000 for r in rows.fetchall())
        con.close()
    assert len(lat) == n, f"{len(lat)} of {n} changes arrived: {err}"
    q = statistics.quantiles(lat, n=100)
    print(f"freshness: {n} changes at {args.rate:g}/s on {args.shards} shards: p50 {q[49]:.2f}s p99 {q[98]:.2f}s"
          f" max {lat[-1]:.2f}s (load average {os.getloadavg()[0]:.1f})")


def throughput(args: argparse.Namespace, endpoint: str, client) -> None:
    import psycopg

    with tempfile.TemporaryDirectory() as tmp:
        summary = simulate(Path(tmp) / "sim", changes=args.changes, tables=5, seed=1)
        lines = [x for f in summary.files for x in f.read_bytes().splitlines() if x.strip()]
    for workers in args.workers:
        stream = f"tp-{uuid.uuid4().hex[:6]}"
        client.create_stream(StreamName=stream, ShardCount=args.shards)
        put_records(client, stream, lines)
        db = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.target, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{db}"')
        url = args.target.rsplit("/", 1)[0] + "/" + db
        started = time.monotonic()
        procs = [run_cmd(endpoint, stream, url, "--batch-size", str(args.batch_size)) for _ in range(workers)]
        done = 0
        with psycopg.connect(url, autocommit=True) as con:
            while done < len(lines) and time.monotonic() - started < 600:
                time.sleep(0.5)
                try:
                    done = con.execute("SELECT coalesce(sum(records_read), 0) FROM dynashift.runs").fetchone()[0]
                except psycopg.Error:
                    done = 0
        seconds = time.monotonic() - started
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.communicate(timeout=60)
        print(f"throughput: {workers} worker(s), {len(lines)} records, {args.shards} shards: {seconds:.1f}s,"
              f" {len(lines) / seconds:,.0f} records/s (start-up included; load average {os.getloadavg()[0]:.1f})")
        with psycopg.connect(args.target, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{db}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    f = sub.add_parser("freshness")
    f.add_argument("--seconds", type=float, default=30)
    f.add_argument("--rate", type=float, default=10)
    f.add_argument("--warmup", type=float, default=5, help="seconds of changes before the measured ones")
    f.add_argument("--shards", type=int, default=4)
    t = sub.add_parser("throughput")
    t.add_argument("--changes", type=int, default=20000)
    t.add_argument("--shards", type=int, default=8)
    t.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    t.add_argument("--batch-size", type=int, default=5000)
    t.add_argument("--target", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    server, endpoint = start_moto()
    try:
        client = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        (freshness if args.what == "freshness" else throughput)(args, endpoint, client)
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(30)


if __name__ == "__main__":
    main()
