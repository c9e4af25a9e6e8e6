"""Faults of the target and of the source while `dynashift run` follows a Kinesis stream (moto) into
PostgreSQL, as a user runs it (a subprocess). After every fault, progress resumes and the end state
is proven (tests/support/faultkit.py: every committed state is exactly a prefix of the stream, read in
snapshots all along; at the end, the replica equals the oracle and every record was committed once).

- Target: the PostgreSQL backend is terminated from another session in the middle of a batch
  transaction, again and again. The batch rolls back, the run exits 1 with one clear line, and
  the restarted run completes with zero differences.
- Source: between dynashift and moto, a proxy (tests/support/faultproxy.py) throttles (Provisioned-
  ThroughputExceeded, LimitExceeded), expires iterators, answers 500/503 and drops connections at
  random, and the endpoint stops answering for a while, while a shard is split and two are merged.
  Real boto3, real moto, injected faults. Missing permissions end the run with one clear line.

`DYNASHIFT_OUTAGE_SECONDS` sets how long the endpoint stays silent (default 6; the long variant
uses 45, past the whole retry budget of one call).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from support.faultkit import (Replica, StreamModel, audit, command, committed_problems, kinesis, new_stream, split, start,
                      stop, stream_lines, write_config)
from support.faultproxy import FaultProxy
from support.moto_server import moto_endpoint  # noqa: F401 - the fixture
from support.pg import pg_url  # noqa: F401 - the fixture

from dynashift.simulate_live import put_records

pytestmark = pytest.mark.postgres

OUTAGE = float(os.environ.get("DYNASHIFT_OUTAGE_SECONDS", "6"))


class Watch:
    """Reads committed snapshots of the replica in a thread while dynashift runs."""

    def __init__(self, replica: Replica, model: StreamModel):
        self.replica, self.model = replica, model
        self.snapshots, self.problems, self.covered = 0, [], 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.done.set()
        self.thread.join(30)

    def _run(self) -> None:
        while not self.done.is_set():
            try:
                self.problems += committed_problems(self.replica, self.model)
                self.snapshots += 1
            except psycopg.errors.TransactionRollback:
                pass  # this reader lost a deadlock with dynashift's DDL (so may dynashift: it retries)
            except Exception as exc:  # noqa: BLE001 - reported, not raised, from this thread
                self.problems.append(repr(exc))
            time.sleep(0.1)

    def wait_for(self, records: int, proc: subprocess.Popen, timeout: float = 120) -> None:
        """Until the committed checkpoints cover `records` records of the stream."""
        deadline = time.monotonic() + timeout
        while self.model.covered(self.checkpoints()) < records:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, f"stuck at {self.model.covered(self.checkpoints())} of {records}"
            time.sleep(0.2)

    def checkpoints(self) -> dict[str, str]:
        try:
            return dict(self.replica.rows("SELECT shard, position FROM dynashift.checkpoints"))
        except psycopg.errors.UndefinedTable:
            return {}


# ---------------------------------------------------------------- the target


def _terminate_mid_batch(url: str, proc: subprocess.Popen, rng: random.Random) -> bool:
    """Terminate the dynashift backend while it is inside a transaction that has written something
    (a batch: staging, merge, checkpoint); False if the process ended first."""
    database = url.rsplit("/", 1)[1].split("?")[0]
    time.sleep(rng.uniform(0.0, 0.8))
    with psycopg.connect(url, autocommit=True) as con:
        while proc.poll() is None:
            row = con.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'dynashift' AND datname = %s"
                " AND backend_xid IS NOT NULL AND query NOT ILIKE '%%dynashift.leases%%'"
                " AND query NOT ILIKE '%%dynashift.workers%%'", [database]).fetchone()  # not the lease keeper's
            if row:
                (done,) = con.execute("SELECT pg_terminate_backend(%s)", row).fetchone()
                if done:
                    return True
            time.sleep(0.002)
    return False


def test_backend_terminated_mid_batch_rolls_back_exits_clearly_and_a_restart_completes(
        moto_endpoint: str, tmp_path: Path, pg_url: str) -> None:
    rng = random.Random(71)
    stream = new_stream(moto_endpoint, 4)
    model = StreamModel(stream)
    lines, expected = stream_lines(tmp_path, 4000, seed=71)
    cmd = command(moto_endpoint, stream, pg_url, write_config(tmp_path), "--batch-size", "100", "--max-wait", "0.1s")
    replica = Replica(pg_url)
    terminated = 0
    with Watch(replica, model) as watch:
        for part in split(lines, 6):
            put_records(kinesis(moto_endpoint), stream, part)
            proc = start(cmd)
            try:
                if _terminate_mid_batch(pg_url, proc, rng):
                    terminated += 1
                    _, err = proc.communicate(timeout=60)
                    assert proc.returncode == 1, err
                    assert err.startswith("error: PostgreSQL connection failed: ") and err.count("\n") == 1, err
                    print(err.strip())
                else:
                    pytest.fail(f"dynashift ended before the fault: {proc.communicate()[1]}")
            finally:
                stop(proc)
        proc = start(cmd)
        try:
            watch.wait_for(len(lines), proc)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        finally:
            stop(proc)
    problems, totals = audit(replica, model, expected)
    assert problems == [] and watch.problems == []
    statuses = [s for (s,) in replica.rows("SELECT status FROM dynashift.runs ORDER BY run_id")]
    assert terminated == 6 and statuses[-1] == "ok" and set(statuses[:-1]) <= {"failed", "interrupted"}, statuses
    print(f"\npostgres backend terminated mid-batch {terminated} times: {totals['records_read']} of {len(lines)} "
          f"records committed once each; {watch.snapshots} snapshots, none partial")


# ---------------------------------------------------------------- the source


def test_throttling_expired_iterators_errors_an_outage_and_resharding(moto_endpoint: str, tmp_path: Path,
                                                                      pg_url: str) -> None:
    stream = new_stream(moto_endpoint, 4)
    model = StreamModel(stream)
    lines, expected = stream_lines(tmp_path, 6000, seed=72)
    client = kinesis(moto_endpoint)
    replica = Replica(pg_url)
    thirds = split(lines, 3)
    with FaultProxy(moto_endpoint, seed=72, throttle=0.3, expire=0.2, error=0.1, drop=0.1) as proxy, \
            Watch(replica, model) as watch:
        cmd = command(proxy.url, stream, pg_url, write_config(tmp_path), "--batch-size", "300", "--max-wait", "0.2s")
        proc = start(cmd)
        try:
            put_records(client, stream, thirds[0])
            watch.wait_for(len(thirds[0]) // 2, proc)
            _split(client, stream)
            put_records(client, stream, thirds[1])
            watch.wait_for(len(thirds[0]) + len(thirds[1]) // 2, proc)
            proxy.outage(OUTAGE)
            client.merge_shards(StreamName=stream, ShardToMerge="shardId-000000000002",
                                AdjacentShardToMerge="shardId-000000000003")
            put_records(client, stream, thirds[2])
            watch.wait_for(len(lines), proc, timeout=120 + OUTAGE)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        finally:
            stop(proc)
    problems, totals = audit(replica, model, expected)
    assert problems == [] and watch.problems == []
    assert all(proxy.injected[k] for k in ("throttle", "expire", "error", "drop", "outage", "held")), proxy.injected
    assert len(model.shards()) == 7  # 4, the split's 2 children, the merge's child
    print(f"\nsource faults injected {proxy.total} {dict(proxy.injected)} over {sum(proxy.forwarded.values())} "
          f"forwarded calls, a split and a merge: {totals['records_read']} of {len(lines)} records committed once "
          f"each; {watch.snapshots} snapshots, none partial")


def _split(client: Any, stream: str) -> None:
    shards = {s["ShardId"]: s for s in client.list_shards(StreamName=stream)["Shards"]}
    first = shards["shardId-000000000000"]["HashKeyRange"]
    middle = (int(first["StartingHashKey"]) + int(first["EndingHashKey"])) // 2
    client.split_shard(StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(middle))


def test_missing_permission_is_one_clear_line(moto_endpoint: str, tmp_path: Path, pg_url: str) -> None:
    stream = new_stream(moto_endpoint, 1)
    put_records(kinesis(moto_endpoint), stream, stream_lines(tmp_path, 50, seed=73)[0])
    with FaultProxy(moto_endpoint, deny=("GetRecords",)) as proxy:
        done = subprocess.run(command(proxy.url, stream, pg_url, write_config(tmp_path)), capture_output=True,
                              text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "access denied" in done.stderr and "GetRecords" in done.stderr, done.stderr


def test_a_deadlock_with_a_reader_rolls_the_batch_back_and_it_is_applied_again(tmp_path: Path, pg_url: str,
                                                                                caplog: Any) -> None:
    """A reader holds a lock the batch needs (it read table t) and then asks for one the batch
    holds (dynashift.tables, after the batch created table u): PostgreSQL breaks the deadlock by
    rolling the batch back. The connection still works, so the batch is applied again and the run
    ends "ok" (found by this suite's snapshot readers: dynashift used to exit)."""
    from dynashift import run_once

    def line(table: str, pk: str, **attrs: str) -> bytes:
        keys = {"pk": {"S": pk}}
        image = {**keys, **{k: {"S": v} for k, v in attrs.items()}}
        return orjson.dumps({"eventID": f"{table}-{pk}", "eventName": "INSERT", "tableName": table, "dynamodb": {
            "ApproximateCreationDateTime": 1_700_000_000_000_000, "Keys": keys, "NewImage": image}}) + b"\n"

    (tmp_path / "1.jsonl").write_bytes(line("T", "a", x="1"))
    run_once(f"file://{tmp_path / '1.jsonl'}", pg_url)
    (tmp_path / "2.jsonl").write_bytes(line("U", "b", y="2") + line("T", "c", new_column="3"))
    database = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url) as reader:
        reader.execute("SET deadlock_timeout = '10s'")  # dynashift's check (1 s) finds the deadlock first
        reader.execute('SELECT count(*) FROM public."t"')  # holds t: the ALTER TABLE waits
        result: list[Any] = []
        worker = threading.Thread(target=lambda: result.append(run_once(f"file://{tmp_path / '2.jsonl'}", pg_url)))
        with caplog.at_level("WARNING", logger="dynashift"):
            worker.start()
            with psycopg.connect(pg_url, autocommit=True) as watch:
                deadline = time.monotonic() + 30
                while not watch.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dynashift'"
                                        " AND datname = %s AND wait_event_type = 'Lock'", [database]).fetchone()[0]:
                    assert time.monotonic() < deadline, "the batch never waited for the reader"
                    time.sleep(0.01)
            reader.execute("LOCK TABLE dynashift.tables IN SHARE MODE")  # waits for the batch: a deadlock
            reader.rollback()
            worker.join(60)
    assert result and result[0].changes_applied == 2 and result[0].rejected == 0
    assert any("deadlock detected" in r.getMessage() and "applying the batch again" in r.getMessage()
               for r in caplog.records)
    assert Replica(pg_url).rows('SELECT count(*) FROM public."u"') == [(1,)]
    assert Replica(pg_url).rows('SELECT new_column FROM public."t" WHERE pk = %s', ["c"]) == [("3",)]
