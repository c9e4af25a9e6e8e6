"""Prometheus metrics (`run --metrics-port`) scraped over HTTP on 127.0.0.1 from a continuous run
following a Kinesis stream on moto, and JSON logs (`--log-format json`): every stderr line one
JSON object, one per batch, errors included."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import orjson
import pytest
from support.moto_server import moto_endpoint, served_to_end  # noqa: F401 - the fixture

from dynashift.errors import ConfigError
from dynashift.metrics import LATENCY_BUCKETS, Metrics, serve
from dynashift.pipeline import BatchStats
from support.simulated import simulate
from dynashift.simulate_live import put_records

LINE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (-?[0-9.e+]+|\+Inf)$')


def parse(text: str) -> dict[str, float]:
    """The text exposition format -> {'name{labels}': value}; every line must be a comment or a sample."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = LINE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.headers["Content-Type"], resp.read().decode()


# ---------------------------------------------------------------- the registry and its server


def test_counters_add_up_and_the_histogram_is_cumulative() -> None:
    m = Metrics()
    m.observe(BatchStats("kinesis://s", 1, 1, 100, 60, 30, 5, 4, 0, 1, 5000, 0.07, {"shard-0": 120, "shard-1": 0}))
    m.observe(BatchStats("kinesis://s", 1, 2, 50, 50, 0, 0, 0, 0, 0, 2500, 3.0, {"shard-0": 10}))
    s = parse(m.render())
    assert s['dynashift_records_read_total{source="kinesis://s"}'] == 150
    assert s['dynashift_changes_applied_total{source="kinesis://s"}'] == 110
    assert s['dynashift_records_rejected_total{source="kinesis://s"}'] == 1
    assert s['dynashift_records_skipped_total{source="kinesis://s",reason="superseded"}'] == 30
    assert s['dynashift_records_skipped_total{source="kinesis://s",reason="duplicate"}'] == 5
    assert s['dynashift_records_skipped_total{source="kinesis://s",reason="stale"}'] == 4
    assert s['dynashift_batches_total{source="kinesis://s"}'] == 2
    assert s['dynashift_shard_lag_milliseconds{source="kinesis://s",shard="shard-0"}'] == 10  # the latest value
    assert s['dynashift_shard_lag_milliseconds{source="kinesis://s",shard="shard-1"}'] == 0
    assert s['dynashift_batch_seconds_count'] == 2 and s['dynashift_batch_seconds_sum'] == pytest.approx(3.07)
    buckets = [s[f'dynashift_batch_seconds_bucket{{le="{b:g}"}}'] for b in LATENCY_BUCKETS]
    assert buckets == sorted(buckets) and buckets[LATENCY_BUCKETS.index(0.1)] == 1
    assert buckets[LATENCY_BUCKETS.index(5.0)] == 2 and s['dynashift_batch_seconds_bucket{le="+Inf"}'] == 2


def test_label_values_are_escaped() -> None:
    m = Metrics()
    m.observe(BatchStats('file://a "b"\\c', 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0.01, {}))
    assert 'source="file://a \\"b\\"\\\\c"' in m.render()
    parse(m.render())


def test_served_on_127_0_0_1_with_the_prometheus_content_type() -> None:
    m = Metrics()
    server = serve(m, 0)
    try:
        assert server.server_address[0] == "127.0.0.1"
        kind, body = scrape(server.url)
        assert kind.startswith("text/plain; version=0.0.4")
        assert "dynashift_start_time_seconds" in parse(body)
        with pytest.raises(urllib.error.HTTPError) as info:
            scrape(server.url.replace("/metrics", "/other"))
        assert info.value.code == 404
        with pytest.raises(ConfigError, match="choose another --metrics-port"):
            serve(m, server.server_address[1])  # the port is taken
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- a continuous run, scraped


def test_a_continuous_run_is_scraped_over_http(moto_endpoint: str, tmp_path: Path) -> None:
    kinesis = boto3.client("kinesis", endpoint_url=moto_endpoint)
    stream = "metrics-stream"
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    summary = simulate(tmp_path / "sim", changes=1500, tables=3, seed=5)
    lines = [x for f in summary.files for x in f.read_bytes().splitlines() if x.strip()]
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dynashift.cli", "run", "--source", f"kinesis://{stream}", "--target",
         f"duckdb:///{tmp_path / 'r.duckdb'}", "--endpoint-url", moto_endpoint, "--metrics-port", str(port),
         "--batch-size", "300", "--max-wait", "0.2s", "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        samples = wait_for(lambda: parse(scrape(url)[1]), lambda s: "dynashift_start_time_seconds" in s, proc)
        assert samples.get(f'dynashift_records_read_total{{source="kinesis://{stream}"}}', 0) == 0
        put_records(kinesis, stream, lines)
        read = f'dynashift_records_read_total{{source="kinesis://{stream}"}}'
        samples = wait_for(lambda: parse(scrape(url)[1]), lambda s: s.get(read) == len(lines), proc)
        applied = samples[f'dynashift_changes_applied_total{{source="kinesis://{stream}"}}']
        skipped = sum(v for k, v in samples.items() if k.startswith("dynashift_records_skipped_total"))
        assert applied > 0 and applied + skipped == len(lines)  # nothing rejected: every record accounted for
        shards = [k for k in samples if k.startswith("dynashift_shard_lag_milliseconds")]
        assert len(shards) == 2 and all('shard="shardId-' in k for k in shards)
        assert samples["dynashift_batch_seconds_count"] == samples[f'dynashift_batches_total{{source="kinesis://{stream}"}}']
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    events = [orjson.loads(line) for line in err.splitlines()]  # every line is JSON
    assert {e["level"] for e in events} == {"info"}
    batches = [e for e in events if e["msg"] == "batch"]
    assert sum(b["records"] for b in batches) == len(lines)
    assert all({"run_id", "applied", "seconds", "lag_ms", "ts"} <= set(b) for b in batches)
    assert events[0]["msg"].startswith("metrics at http://127.0.0.1:") and events[-1]["event"] == "run finished"


def wait_for(read, done, proc: subprocess.Popen, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else proc.returncode
        try:
            value = read()
            if done(value):
                return value
        except (urllib.error.URLError, ConnectionError):
            pass
        assert time.monotonic() < deadline, "timed out waiting for the metrics"
        time.sleep(0.1)


# ---------------------------------------------------------------- JSON logs


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynashift.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_json_logs_have_a_line_per_batch_and_a_summary(tmp_path: Path) -> None:
    summary = simulate(tmp_path / "sim", changes=1000, tables=2, seed=3)
    done = run_cli("run", "--once", "--source", f"file://{summary.files[0]}", "--target", "duckdb:///r.duckdb",
                   "--batch-size", "300", "--log-format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    events = [orjson.loads(line) for line in done.stderr.splitlines()]
    batches = [e for e in events if e["msg"] == "batch"]
    assert [b["batch"] for b in batches] == [1, 2, 3, 4] and sum(b["records"] for b in batches) == 1000
    end = events[-1]
    assert end["event"] == "run finished" and end["records"] == 1000 and end["applied"] == sum(b["applied"] for b in batches)
    assert summary.changes == 1000


def test_json_logs_report_an_error_as_one_json_line_with_the_exit_status(tmp_path: Path) -> None:
    for source, code, words in (("bogus://x", 2, "unknown source"), ("file://nowhere/", 1, "nowhere does not exist")):
        done = run_cli("run", "--once", "--source", source, "--target", "duckdb:///r.duckdb", "--log-format", "json",
                       cwd=tmp_path)
        assert done.returncode == code
        event = [orjson.loads(line) for line in done.stderr.splitlines()][-1]
        assert event["level"] == "error" and event["exit_code"] == code and words in event["msg"]


def test_a_source_applied_inside_the_target_is_observed_too(tmp_path) -> None:
    """redshift-mv:// applies its batches in the warehouse (an InTargetSource, through the run
    lifecycle); its batches still reach the metrics."""
    from dynashift import Config
    from dynashift.pipeline import replicate
    from dynashift.targets import make_target

    class InWarehouse:
        uri = "redshift-mv://public.v"
        batches = [(100, 90), (50, 50)]

        def check_target(self, target):
            pass

        def apply_next(self, config, target, state, run):
            if not self.batches:
                return None
            read, applied = self.batches.pop(0)
            run.records_read += read
            run.changes_applied += applied
            run.batches += 1
            run.batch_seconds = 0.5
            return []

    m, seen = Metrics(), []
    target = make_target(f"duckdb:///{tmp_path / 'm.duckdb'}")
    target.open()
    try:
        replicate(Config(), InWarehouse(), target, observer=lambda b: (seen.append(b), m.observe(b)))
    finally:
        target.close()
    assert [(b.batch, b.records, b.applied, b.seconds) for b in seen] == [(1, 100, 90, 0.5), (2, 50, 50, 0.5)]
    assert parse(m.render())['dynashift_records_read_total{source="redshift-mv://public.v"}'] == 150
