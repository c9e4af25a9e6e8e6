"""Scan backfill against moto: the table's stream is switched on, then a rate-limited parallel Scan
runs while writes continue; after the stream is applied the replica equals a final Scan of the
table (rendered by the simulator's own renderer, independent of decode.py). Also: an interrupted
backfill resumes per segment, and the rate limiter holds its rate."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from support.moto_server import moto_endpoint  # noqa: F401 - the fixture

from dynashift import Config, replicate, run_once
from dynashift.simulate_live import item_operations
from dynashift.sources.scan import RateLimiter, ScanSource
from dynashift.targets import make_target
from support.dynamo import dynamodb, scan_as_expected
from support.oracle import diff_duckdb

_names = iter(range(1_000_000))
ITEMS = 2500


def populated_table(endpoint: str, items: int = ITEMS) -> str:
    """A table with `items` items and no stream yet (as in production before dynashift)."""
    client = dynamodb(endpoint)
    name = f"Backfill-{next(_names)}"
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
    )
    resource = boto3.resource("dynamodb", endpoint_url=endpoint).Table(name)
    with resource.batch_writer() as writer:
        for i in range(items):
            writer.put_item(Item={"pk": f"item-{i:06d}", "sk": i % 7, "n": i, "name": f"first {i}",
                                  "tags": {"a", f"t{i % 5}"}, "blob": bytes([i % 256]) * 3})
    return name


def enable_stream(endpoint: str, table: str) -> None:
    dynamodb(endpoint).update_table(TableName=table, StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})


def keep_writing(endpoint: str, table: str, stop: threading.Event, done: list[int]) -> None:
    """Puts, updates and deletes over the table's keys (and new ones) until told to stop."""
    client = dynamodb(endpoint)
    calls = {"put": client.put_item, "update": client.update_item, "delete": client.delete_item}
    schema = [("pk", "S"), ("sk", "N")]
    for op, request in item_operations(schema, 100_000, seed=7, keys=ITEMS + 300):
        if stop.is_set():
            return
        calls[op](TableName=table, **request)
        done[0] += 1


def test_backfill_while_writes_continue_then_the_stream(moto_endpoint: str, tmp_path: Path) -> None:
    table = populated_table(moto_endpoint)
    enable_stream(moto_endpoint, table)  # stream first, then the scan: no gap between them
    db = tmp_path / "r.duckdb"
    stop, writes = threading.Event(), [0]
    writer = threading.Thread(target=keep_writing, args=(moto_endpoint, table, stop, writes))
    writer.start()
    try:
        time.sleep(2.5)  # the scan starts among writes, seconds after the stream began
        assert writes[0] > 50
        config = Config(endpoint_url=moto_endpoint, batch_size=400, target=f"duckdb:///{db}")
        source = ScanSource(table, config, segments=4, rate=None)
        source.page_items = 50  # moto ignores the 1 MB page limit; small pages interleave with writes
        before = writes[0]
        run = _replicate(config, source)
        during = writes[0] - before
        time.sleep(0.3)
    finally:
        stop.set()
        writer.join()
    assert during > 10, "writes must continue during the scan"  # how many depends on the machine's load
    assert run.rejected == 0 and run.records_read >= ITEMS - 400
    stream = run_once(f"dynamodb-streams://{table}", f"duckdb:///{db}", endpoint_url=moto_endpoint)
    assert stream.records_read >= writes[0]
    assert stream.stale_skipped > 0  # changes the scan had already seen are skipped
    oracle = scan_as_expected(moto_endpoint, table, tmp_path / "scan.json")
    assert diff_duckdb(db, oracle, check_changed_at=False) == []


class _WritesRightAfterAPage:
    """A DynamoDB client whose first Scan page is followed at once by updates of its items: the
    updates land in the scan's first second, after the scan read those items."""

    def __init__(self, client: Any, table: str):
        self.client, self.table, self.updated = client, table, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def scan(self, **params: Any) -> dict[str, Any]:
        out = self.client.scan(**params)
        if not self.updated:
            for item in out["Items"][:20]:
                self.client.update_item(TableName=self.table, Key={"pk": item["pk"], "sk": item["sk"]},
                                        UpdateExpression="SET #n = :v", ExpressionAttributeNames={"#n": "name"},
                                        ExpressionAttributeValues={":v": {"S": "changed after the scan read it"}})
                self.updated.append(item["pk"]["S"])
        return out


def test_a_write_just_after_its_item_was_scanned_wins(moto_endpoint: str, tmp_path: Path) -> None:
    table = populated_table(moto_endpoint, 300)
    enable_stream(moto_endpoint, table)
    db = tmp_path / "r.duckdb"
    config = Config(endpoint_url=moto_endpoint, target=f"duckdb:///{db}")
    source = ScanSource(table, config, segments=1)
    source.client = _WritesRightAfterAPage(source.client, table)
    _replicate(config, source)
    assert len(source.client.updated) == 20
    assert source.started_us <= time.time_ns() // 1000 - 1_000_000  # a second below the clocks
    run_once(f"dynamodb-streams://{table}", f"duckdb:///{db}", endpoint_url=moto_endpoint)
    assert diff_duckdb(db, scan_as_expected(moto_endpoint, table, tmp_path / "s.json"), check_changed_at=False) == []


def _replicate(config: Config, source: Any, **kwargs: Any):
    target = make_target(config.target)
    target.open()
    try:
        return replicate(config, source, target, **kwargs)
    finally:
        target.close()


def test_interrupted_backfill_resumes_per_segment(moto_endpoint: str, tmp_path: Path) -> None:
    table = populated_table(moto_endpoint, 1200)
    db = tmp_path / "r.duckdb"
    config = Config(endpoint_url=moto_endpoint, batch_size=200, target=f"duckdb:///{db}")
    stop = threading.Event()
    first = _replicate(config, ScanSource(table, config, segments=3), on_batch=lambda run: stop.set(), stop=stop)
    assert 0 < first.records_read < 1200
    source = ScanSource(table, config, segments=5)  # resumes with the scan's own 3 segments
    second = _replicate(config, source)
    assert first.records_read + second.records_read == 1200  # each page exactly once
    assert source.started_us is not None
    assert diff_duckdb(db, scan_as_expected(moto_endpoint, table, tmp_path / "s.json"), check_changed_at=False) == []
    versions = {v for (v,) in _sql(db, "SELECT DISTINCT version_us FROM dynashift.versions")}
    assert versions == {source.started_us}  # the resumed part kept the first run's version
    again = _replicate(config, ScanSource(table, config))
    assert again.records_read == 0  # complete: nothing to do
    time.sleep(1.0)
    fresh = ScanSource(table, config, restart=True)  # a re-load, e.g. after a gap: a new, later version
    assert _replicate(config, fresh).records_read == 1200
    assert fresh.started_us > source.started_us
    assert _sql(db, "SELECT DISTINCT version_us FROM dynashift.versions") == [(fresh.started_us,)]


def _sql(db: Path, query: str) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_the_rate_limit_holds(moto_endpoint: str, tmp_path: Path) -> None:
    table = populated_table(moto_endpoint, 300)
    config = Config(endpoint_url=moto_endpoint, target=f"duckdb:///{tmp_path / 'r.duckdb'}")
    source = ScanSource(table, config, segments=2, rate=4.0)
    paid: list[float] = []
    original = source.limiter.settle
    source.limiter.settle = lambda units: (paid.append(units), original(units))[1]  # type: ignore[method-assign]
    started = time.monotonic()
    run = _replicate(config, source)
    seconds = time.monotonic() - started
    assert run.records_read == 300
    calls = len(paid)
    assert calls >= 8  # pages sized to about half a second of a segment's share
    # moto charges 1 unit per call; the first second's burst is free, the rest at <= 4 units/s
    assert seconds >= (calls * 1.0 - 4) / 4 - 0.1


def test_rate_limiter_with_a_fake_clock() -> None:
    now = [0.0]
    limiter = RateLimiter(10.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    for _ in range(100):
        limiter.take(2.0)  # 200 units at 10/s: 19 s after the 10-unit burst
    assert 18.9 <= now[0] <= 19.1
    unlimited = RateLimiter(None, clock=lambda: 0.0, sleep=lambda s: pytest.fail("must not wait"))
    unlimited.take(1e9)


def test_backfill_command(moto_endpoint: str, tmp_path: Path) -> None:
    table = populated_table(moto_endpoint, 500)
    db = tmp_path / "cli.duckdb"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    cli = [sys.executable, "-m", "dynashift.cli", "backfill", "--table", table, "--target", f"duckdb:///{db}",
           "--endpoint-url", moto_endpoint, "-q"]
    refused = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "--scan" in refused.stderr
    done = subprocess.run([*cli, "--scan", "--segments", "3", "--rate", "500"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "loaded 500 items" in done.stderr
    assert diff_duckdb(db, scan_as_expected(moto_endpoint, table, tmp_path / "s.json"), check_changed_at=False) == []
    missing = subprocess.run([*cli[:5], "NoSuchTable", *cli[6:], "--scan"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 1 and "NoSuchTable" in missing.stderr and "Traceback" not in missing.stderr
