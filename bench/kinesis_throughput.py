"""End-to-end throughput from a Kinesis endpoint into DuckDB: simulated change records are put
into a stream (PutRecords), then `kinesis://` replicates them all (`--once`) into a fresh DuckDB.

By default the endpoint is a local moto server started in a child process (with tests/support/moto_server.py's
patches, so GetRecords answers like AWS); `--endpoint-url` points at another one instead (LocalStack,
or AWS itself with `--endpoint-url ''`, where the stream must exist and be empty).

Prints PutRecords rate, end-to-end events/s (GetRecords -> decode -> DuckDB, every shard read
concurrently) and peak memory of this process (the moto server's is not counted).

    .venv/bin/python bench/kinesis_throughput.py --changes 100000 --shards 4
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import boto3  # noqa: E402

from dynashift import Config, replicate  # noqa: E402
from dynashift.simulate import simulate  # noqa: E402
from dynashift.simulate_live import put_records  # noqa: E402
from dynashift.sources import make_source  # noqa: E402
from dynashift.targets import make_target  # noqa: E402

_SERVER = """
import logging, sys, time
sys.path.insert(0, {tests!r})
from moto.server import ThreadedMotoServer
from support.moto_server import aws_like
logging.getLogger("werkzeug").setLevel(logging.ERROR)
with aws_like():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port={port}, verbose=False)
    server.start()
    print("ready", flush=True)
    sys.stdin.read()
    server.stop()
"""


def start_moto() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = _SERVER.format(tests=str(HERE.parent / "tests"), port=port)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc, f"http://127.0.0.1:{port}"


def read_only(client, stream: str) -> int:
    """Every record of every shard with bare GetRecords calls, one thread per shard: what the
    endpoint itself can serve, the ceiling for the end-to-end figure."""
    from concurrent.futures import ThreadPoolExecutor

    def shard(shard_id: str) -> int:
        it = client.get_shard_iterator(StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        n = 0
        while it:
            page = client.get_records(ShardIterator=it, Limit=10_000)
            n += len(page["Records"])
            if not page["Records"] and not page.get("MillisBehindLatest"):
                break
            it = page.get("NextShardIterator")
        return n

    ids = [s["ShardId"] for s in client.list_shards(StreamName=stream)["Shards"]]
    with ThreadPoolExecutor(len(ids)) as pool:
        return sum(pool.map(shard, ids))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=100_000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=50_000)
    ap.add_argument("--endpoint-url", default=None, help="use this endpoint instead of starting moto")
    args = ap.parse_args()
    for k, v in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(k, v)

    server, endpoint = (None, args.endpoint_url) if args.endpoint_url is not None else start_moto()
    tmp = Path(tempfile.mkdtemp(prefix="dynashift-kbench-"))
    try:
        stream = f"bench-{os.getpid()}"
        client = boto3.client("kinesis", endpoint_url=endpoint or None)
        client.create_stream(StreamName=stream, ShardCount=args.shards)
        client.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1})
        summary = simulate(tmp / "sim", changes=args.changes, profile="bench", seed=args.seed, expected=False)
        started = time.perf_counter()
        sent = sum(put_records(client, stream, p.open("rb")) for p in summary.files)
        put_seconds = time.perf_counter() - started

        config = Config(source=f"kinesis://{stream}", target=f"duckdb:///{tmp / 'bench.duckdb'}",
                        endpoint_url=endpoint or None, batch_size=args.batch_size)
        target = make_target(config.target)
        target.open()
        started = time.perf_counter()
        run = replicate(config, make_source(config.source, config), target)
        seconds = time.perf_counter() - started
        target.close()
        started = time.perf_counter()
        ceiling = read_only(client, stream)
        read_seconds = time.perf_counter() - started
    finally:
        if server is not None:
            server.communicate("", timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"endpoint        {'local moto' if server else endpoint} ({args.shards} shards)")
    print(f"put             {sent:,} records in {put_seconds:,.1f} s ({sent / put_seconds:,.0f}/s)")
    print(f"replicated      {run.records_read:,} records, {run.changes_applied:,} rows written, {run.batches} batches")
    print(f"time            {seconds:,.1f} s")
    print(f"events/s        {run.records_read / seconds:,.0f}")
    print(f"endpoint alone  {ceiling:,} records read back with bare GetRecords calls (all shards at once, no"
          f" processing) in {read_seconds:,.1f} s: {ceiling / read_seconds:,.0f}/s")
    print(f"peak RSS        {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
