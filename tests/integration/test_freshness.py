"""The freshness trial: a quiet stream (10 new items a second, local Kinesis), one continuous
worker with default settings. A batch commits as soon as the readers have drained what the shards
hold, so a change reaches its table in about a poll interval, not after `max_wait`. The figures
are printed (a benchmark, not a timed assert: bench/workers.py measures it longer); the test
checks that every change arrived, exactly as made."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import boto3
import orjson
from support.moto_server import moto_endpoint  # noqa: F401 - the fixture
from support.pg import pg_rows, pg_url  # noqa: F401 - the fixture

RATE = 10  # changes per second
WARMUP, MEASURED = 30, 100  # changes


def change(i: int) -> bytes:
    return orjson.dumps({"eventName": "INSERT", "tableName": "Fresh", "dynamodb": {
        "ApproximateCreationDateTime": int(time.time() * 1000), "Keys": {"pk": {"S": f"k{i}"}},
        "NewImage": {"pk": {"S": f"k{i}"}, "n": {"N": str(i)}}}})


def applied(url: str) -> int:
    if not pg_rows(url, "SELECT 1 FROM information_schema.tables WHERE table_name = 'fresh'"):
        return 0
    return pg_rows(url, 'SELECT count(*) FROM public."fresh"')[0][0]


def test_a_quiet_stream_is_applied_within_a_poll_interval(moto_endpoint: str, pg_url: str, tmp_path: Path) -> None:
    client = boto3.client("kinesis", endpoint_url=moto_endpoint)
    stream = "fresh"
    client.create_stream(StreamName=stream, ShardCount=4)
    proc = subprocess.Popen([sys.executable, "-m", "dynashift.cli", "run", "-q", "--source", f"kinesis://{stream}",
                             "--target", pg_url, "--endpoint-url", moto_endpoint],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    start = time.monotonic()
    for i in range(-WARMUP, MEASURED):  # the first seconds (start-up, first commit) are not measured
        client.put_record(StreamName=stream, Data=change(i), PartitionKey=f"k{i}")
        time.sleep(max(0.0, start + (i + WARMUP + 1) / RATE - time.monotonic()))
    deadline = time.monotonic() + 120
    while applied(pg_url) < WARMUP + MEASURED:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)  # commits the batch in hand
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    rows = pg_rows(pg_url, 'SELECT pk, n, 1000 * extract(epoch FROM "_dynashift_synced_at" - "_dynashift_changed_at")'
                           ' FROM public."fresh"')
    assert sorted((pk, n) for pk, n, _ in rows) == sorted((f"k{i}", str(i)) for i in range(-WARMUP, MEASURED))
    latency = sorted(float(ms) / 1000 for pk, n, ms in rows if int(n) >= 0)
    q = statistics.quantiles(latency, n=100)
    print(f"\nfreshness: {MEASURED} changes at {RATE}/s on 4 shards: p50 {q[49]:.2f}s p99 {q[98]:.2f}s"
          f" (load average {os.getloadavg()[0]:.1f})")
