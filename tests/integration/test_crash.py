"""Crash safety (docs/reference.md §6): `dynashift run` following a Kinesis stream on moto, into DuckDB
and into PostgreSQL, killed with SIGKILL again and again and restarted each time.

Each incarnation gets a new slice of the stream, then dies one of four ways, in a shuffled order:
killed from outside at a random moment (reading, planning, merging, committing or idle), or
killing itself (DYNASHIFT_FAULT, tests/support/faults.py) in the middle of a merge, after the
batch's checkpoints were written but before its commit, or right after the commit, before
anything that follows it. A last `run --once` finishes the stream.

What proves that nothing was lost and nothing applied twice (tests/support/faultkit.py has the details):
the sum of `records_read` over all runs equals the stream's length exactly (runs rows commit with
their batches, so a batch applied twice would count its records twice, a lost one not at all); the
counters account for every record; each shard's checkpoint is at its last record; every live row
has exactly one version, its `_dynashift_changed_at`; no change appears twice in `change_log`;
and the replica equals the oracle's expected state. Against PostgreSQL a reader also checks, in
snapshots taken throughout, that checkpoints and counters agree and data and versions agree: no
partial batch is ever visible.

A third test does the same to `run --once` over files, whose planning of the next batch overlaps
the commit of the last (8 kills, the same checks after each).

`DYNASHIFT_CRASH_KILLS` sets the kills per target (default 20; scripts/long-tests.sh uses 100).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import psycopg
import pytest
from support.faultkit import (DYNASHIFT, FileModel, Replica, StreamModel, audit, command, committed_problems, kinesis,
                      new_stream, reading, split, start, stop, stream_lines, write_config)
from support.moto_server import GET_RECORDS_CALLS, moto_endpoint  # noqa: F401 - the fixture
from support.pg import pg_url  # noqa: F401 - the fixture

from support.simulated import simulate
from dynashift.simulate_live import put_records

KILLS = int(os.environ.get("DYNASHIFT_CRASH_KILLS", "20"))
POINTS = ("external", "mid_merge", "before_commit", "after_commit")


def crash_and_restart(endpoint: str, tmp: Path, replica: Replica, seed: int,
                      on_stream: Callable[[StreamModel], None] = lambda model: None) -> dict[str, Any]:
    """The kill loop; after each death the committed state must be exactly a prefix of the stream.
    Returns what happened, for the assertions and the report."""
    rng = random.Random(seed)
    stream = new_stream(endpoint, 4)
    model = StreamModel(stream)
    on_stream(model)
    lines, expected = stream_lines(tmp, 200 * KILLS, seed=seed)
    config = write_config(tmp)
    cmd = command(endpoint, stream, replica.uri, config, "--batch-size", "40", "--max-wait", "0.1s")
    plan = [POINTS[i % len(POINTS)] for i in range(KILLS)]
    rng.shuffle(plan)
    kills: Counter[str] = Counter()
    client = kinesis(endpoint)
    for part, point in zip(split(lines, KILLS), plan):
        put_records(client, stream, part)
        fault = {} if point == "external" else {"DYNASHIFT_FAULT": f"{point}:{rng.randint(1, 3)}"}
        proc = start(cmd, **fault)
        try:
            kills[_die(proc, stream, point, rng)] += 1
        finally:
            stop(proc)
        assert committed_problems(replica, model) == [], f"after a kill at {point}"
    last = subprocess.run([*cmd, "--once"], capture_output=True, text=True, timeout=300)
    assert last.returncode == 0, last.stderr
    return {"model": model, "records": len(lines), "expected": expected, "kills": kills}


def _die(proc: subprocess.Popen, stream: str, point: str, rng: random.Random) -> str:
    """Wait for the process to kill itself at its fault point, or kill it from outside; return
    where it died."""
    if point == "external":
        if reading(stream, proc, GET_RECORDS_CALLS.get(stream, 0)):
            time.sleep(rng.uniform(0.0, 1.2))
        proc.kill()
    else:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:  # the point was not reached (nothing left to apply)
            proc.kill()
            point = "external"
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"exit {proc.returncode}: {err}"
    if point != "external":
        assert f"SIGKILL at {point}" in err, err
    return point


def check(replica: Replica, outcome: dict[str, Any]) -> dict[str, int]:
    problems, totals = audit(replica, outcome["model"], outcome["expected"])
    assert problems == []
    assert totals["records_read"] == outcome["records"]
    kills = outcome["kills"]
    assert sum(kills.values()) == KILLS and all(kills[p] for p in POINTS), kills
    statuses = [s for (s,) in replica.rows("SELECT status FROM dynashift.runs ORDER BY run_id")]
    assert statuses == ["interrupted"] * KILLS + ["ok"], statuses
    print(f"\n{replica.uri.split(':')[0]}: {KILLS} kills survived {dict(kills)}; {outcome['records']} records, "
          f"{totals['records_read']} committed once each, 0 lost, 0 applied twice; {totals}")
    return totals


def test_sigkill_anywhere_into_duckdb(moto_endpoint: str, tmp_path: Path) -> None:
    replica = Replica(f"duckdb:///{tmp_path / 'crash.duckdb'}")
    check(replica, crash_and_restart(moto_endpoint, tmp_path, replica, seed=61))


@pytest.mark.postgres
def test_sigkill_anywhere_into_postgres_and_no_partial_batch_is_ever_visible(moto_endpoint: str, tmp_path: Path,
                                                                              pg_url: str) -> None:
    done = threading.Event()
    seen: dict[str, Any] = {"snapshots": 0, "problems": []}
    models: list[StreamModel] = []
    replica = Replica(pg_url)

    def reader() -> None:  # reads committed snapshots the whole time dynashift runs and dies
        while not done.is_set():
            if models:
                try:
                    seen["problems"] += committed_problems(replica, models[0])
                    seen["snapshots"] += 1
                except psycopg.errors.TransactionRollback:
                    pass  # this reader lost a deadlock with dynashift's DDL (so may dynashift: it retries)
                except Exception as exc:  # noqa: BLE001 - reported, not raised, from this thread
                    seen["problems"].append(repr(exc))
            time.sleep(0.1)

    watcher = threading.Thread(target=reader, daemon=True)
    watcher.start()
    try:
        outcome = crash_and_restart(moto_endpoint, tmp_path, replica, seed=62, on_stream=models.append)
    finally:
        done.set()
        watcher.join(30)
    check(replica, outcome)
    assert seen["problems"] == []
    assert seen["snapshots"] >= 20
    print(f"postgres: {seen['snapshots']} snapshots read while it ran, each exactly a prefix of the stream")


def test_sigkill_anywhere_in_a_file_run_whose_planning_overlaps_the_commit(tmp_path: Path) -> None:
    """`run --once` on files plans batch N+1 while batch N commits on a worker thread: killed at
    any of the points (or from outside), the next run still commits every record exactly once."""
    # Enough records that no run before the last can read them all: a run killed from outside
    # after 0.8-1.6 s may commit thousands (100-record batches); with 3,000 one such run left too
    # little for the next fault point to be reached, and that run ended ok instead of being killed.
    summary = simulate(tmp_path / "in", changes=20000, tables=5, files=3, seed=63)
    expected = summary.expected.rename(tmp_path / "expected.json")  # out of the folder read
    records = sum(1 for f in summary.files for line in f.read_bytes().splitlines() if line.strip())
    replica = Replica(f"duckdb:///{tmp_path / 'files.duckdb'}")
    model = FileModel(f"file://{tmp_path / 'in'}", summary.files)
    cmd = [*DYNASHIFT, "run", "--once", "-q", "--source", model.uri,
           "--target", replica.uri, "--batch-size", "100"]
    rng = random.Random(63)
    kills: Counter[str] = Counter()
    for point in [p for p in POINTS for _ in range(2)]:
        fault = {} if point == "external" else {"DYNASHIFT_FAULT": f"{point}:{rng.randint(1, 3)}"}
        proc = start(cmd, **fault)
        try:
            if point == "external":
                time.sleep(rng.uniform(0.8, 1.6))  # startup, then somewhere in the run
                proc.kill()
            _, err = proc.communicate(timeout=120)
        finally:
            stop(proc)
        assert proc.returncode == -signal.SIGKILL, err
        assert point == "external" or f"SIGKILL at {point}" in err, err
        kills[point] += 1
        if (tmp_path / "files.duckdb").exists():
            assert committed_problems(replica, model) == [], f"after a kill at {point}"
    last = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert last.returncode == 0, last.stderr
    assert replica.diff(expected) == []
    assert int(replica.rows("SELECT sum(records_read) FROM dynashift.runs")[0][0]) == records, \
        "a record was committed twice or never"
    statuses = [s for (s,) in replica.rows("SELECT status FROM dynashift.runs ORDER BY run_id")]
    assert statuses[-1] == "ok" and set(statuses[:-1]) == {"interrupted"} and len(statuses) >= 7, statuses
