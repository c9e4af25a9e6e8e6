"""Named pipelines and many workers on one pipeline (leases with fencing), as users run them:
`dynashift run` subprocesses on a real PostgreSQL, Kinesis on the local moto server. Every test
ends by comparing whole tables with the simulator's expected state; waits are for conditions,
with generous deadlines (a loaded 2-core machine), never fixed sleeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import boto3
import orjson
import psycopg
import pytest
from support.moto_server import RECORDS_SERVED, moto_endpoint  # noqa: F401 - the fixture
from support.pg import pg_rows, pg_url  # noqa: F401 - the fixture

from dynashift.config import Config
from dynashift.errors import LeaseLost
from dynashift.records import Checkpoint
from support.simulated import simulate
from dynashift.simulate_live import put_records
from dynashift.targets import make_target
from support.oracle import diff_rows, expected_tables, load_expected

_names = iter(range(1_000_000))
DEADLINE = 240.0  # seconds for a condition on a loaded machine


def new_stream(endpoint: str, shards: int) -> tuple[Any, str]:
    client = boto3.client("kinesis", endpoint_url=endpoint)
    name = f"workers-{next(_names)}"
    client.create_stream(StreamName=name, ShardCount=shards)
    return client, name


def sim(tmp: Path, changes: int, seed: int, files: int = 1) -> tuple[list[Path], Path]:
    summary = simulate(tmp / "sim", changes=changes, tables=5, seed=seed, files=files)
    return list(summary.files), summary.expected


def lines_of(files: list[Path]) -> list[bytes]:
    return [x for f in files for x in f.read_bytes().splitlines() if x.strip()]


def diff_pg(url: str, expected: Path, only: set[str] | None = None, check_changed_at: bool = True) -> list[str]:
    """Differences between the replica's tables in PostgreSQL and the expected state."""
    diffs: list[str] = []
    with psycopg.connect(url, autocommit=True) as con:
        for name, table in expected_tables(load_expected(expected)).items():
            if only is not None and table["source_table"] not in only:
                continue
            exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                                 " AND table_name = %s", [name]).fetchone()[0]
            if not exists:
                diffs.append(f"{name}: no table")
                continue
            column_map = dict(con.execute("SELECT attribute_name, column_name FROM dynashift.columns WHERE table_name = %s",
                                          [name]).fetchall())
            cur = con.execute('SELECT * FROM public."' + name.replace('"', '""') + '"')
            cols = [d.name for d in cur.description]
            diffs += diff_rows(table, column_map, [dict(zip(cols, r)) for r in cur.fetchall()],
                               check_changed_at=check_changed_at)
    return diffs


def dynashift(*args: str) -> list[str]:
    return [sys.executable, "-m", "dynashift.cli", *args]


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(dynashift("run", "-q", *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy())


def wait_for(condition: Callable[[], bool], what: str, procs: list[subprocess.Popen] = (), timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for p in procs:
            assert p.poll() is None, f"a worker exited while waiting for {what}: {p.stderr.read() if p.stderr else ''}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def runs(url: str) -> list[tuple]:
    return pg_rows(url, "SELECT pipeline, status, records_read, commits_refused, worker FROM dynashift.runs ORDER BY run_id")


def owners(url: str) -> dict[str, str | None]:
    """shard -> the worker holding its lease now (None: free or expired)."""
    if not pg_rows(url, "SELECT 1 FROM information_schema.tables WHERE table_schema = 'dynashift' AND table_name = 'leases'"):
        return {}
    return dict(pg_rows(url, "SELECT shard, CASE WHEN expires_at > now() THEN owner END FROM dynashift.leases"))


# ---------------------------------------------------------------- named pipelines


def test_two_pipelines_with_different_filters_share_a_stream_and_a_target(moto_endpoint, pg_url, tmp_path):
    client, stream = new_stream(moto_endpoint, 2)
    files, expected = sim(tmp_path, 1500, seed=31)
    put_records(client, stream, lines_of(files))
    tables = {t["source_table"] for t in expected_tables(load_expected(expected)).values()}
    first = sorted(tables)[:2]
    common = ["--once", "--source", f"kinesis://{stream}", "--target", pg_url, "--endpoint-url", moto_endpoint]
    a = subprocess.run(dynashift("run", "-q", *common, *[x for t in first for x in ("--include", t)]),
                       capture_output=True, text=True, timeout=300)
    assert a.returncode == 0, a.stderr
    assert diff_pg(pg_url, expected, only=set(first)) == []
    b = subprocess.run(dynashift("run", "-q", *common, *[x for t in first for x in ("--exclude", t)]),
                       capture_output=True, text=True, timeout=300)
    assert b.returncode == 0, b.stderr
    assert diff_pg(pg_url, expected) == []  # the second pipeline read the stream from its start
    pipelines = {p for p, *_ in runs(pg_url)}
    assert len(pipelines) == 2
    assert len({p for p, in pg_rows(pg_url, "SELECT DISTINCT pipeline FROM dynashift.checkpoints")}) == 2


def test_a_named_pipeline_refuses_filters_that_would_skip_what_it_passed(pg_url, tmp_path):
    files, expected = sim(tmp_path, 300, seed=32)
    tables = sorted({t["source_table"] for t in expected_tables(load_expected(expected)).values()})
    common = ["--once", "--source", f"file://{files[0]}", "--target", pg_url, "--pipeline", "orders-feed"]
    ok = subprocess.run(dynashift("run", "-q", *common, "--include", tables[0]), capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    widened = subprocess.run(dynashift("run", "-q", *common, "--include", f"{tables[0]},{tables[1]}"),
                             capture_output=True, text=True, timeout=120)
    assert widened.returncode == 2
    assert "full load" in widened.stderr and "--accept-filter-change" in widened.stderr
    assert "Traceback" not in widened.stderr and len(widened.stderr.strip().splitlines()) == 1
    narrowed = subprocess.run(dynashift("run", "-q", *common, "--include", tables[0], "--exclude", tables[1]),
                              capture_output=True, text=True, timeout=120)
    assert narrowed.returncode == 0, narrowed.stderr


# ---------------------------------------------------------------- several runs of one pipeline


def test_two_run_once_of_one_pipeline_started_together_share_the_work(pg_url, tmp_path):
    files, expected = sim(tmp_path, 2500, seed=33, files=5)
    src = tmp_path / "in"
    src.mkdir()
    for round_, f in enumerate(files, 1):
        (src / f.name).write_bytes(f.read_bytes())  # one more file per round
        procs = [subprocess.Popen(dynashift("run", "--once", "-q", "--source", f"file://{src}", "--target", pg_url,
                                            "--batch-size", "200"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]
        for p, (_, err) in zip(procs, outs):
            assert p.returncode == 0, f"round {round_}: {err}"
            assert "error" not in err.lower(), err
        read = sum(r[2] for r in runs(pg_url)[-2:])
        assert read == len(lines_of([f])), f"round {round_}: the two runs read {read} records of {len(lines_of([f]))}"
    assert diff_pg(pg_url, expected) == []
    assert all(status == "ok" for _, status, *_ in runs(pg_url))


# ---------------------------------------------------------------- the fence, deterministically


def test_a_zombie_batch_is_refused_whole_and_counted(pg_url, tmp_path):
    """Worker A read shard S under lease counter 1; B took the lease over (counter 2). A's batch
    finds its lease gone in the commit's transaction: nothing of it is applied."""
    target = make_target(pg_url)
    target.open()
    try:
        with target.transaction():
            target.add_leases("p", ["S"])
            target.take_lease("p", "S", 0, "A", 8.0)
        target.take_lease("p", "S", 1, "B", 8.0)  # B's takeover (A was frozen past its lease)
        assert target.held_leases("p", "A") == {} and target.held_leases("p", "B") == {"S": 2}
        with pytest.raises(LeaseLost, match="S"):
            with target.transaction():
                target.write_checkpoints([Checkpoint("kinesis://x", "S", "5", None, "p", ("A", 1, "S"))])
        assert target.read_checkpoints("p") == {}
        with target.transaction():  # the new owner's batch commits
            target.write_checkpoints([Checkpoint("kinesis://x", "S", "9", None, "p", ("B", 2, "S"))])
        assert target.read_checkpoints("p")["S"].position == "9"
    finally:
        target.close()


def test_two_workers_adding_the_same_table_and_columns_both_succeed(pg_url, tmp_path):
    """The DDL lock: both plan the same new table and columns from an empty schema; the second
    re-reads the schema under the lock and skips what the first made."""
    from dynashift.pipeline import replicate
    from dynashift.sources import make_source

    files, expected = sim(tmp_path, 400, seed=34)
    config = Config(source=f"file://{files[0]}", target=pg_url, pipeline="p1")
    t1, t2 = make_target(pg_url), make_target(pg_url)
    t1.open()
    t2.open()
    try:
        state = t2.load_state()  # planned before the first worker's tables exist
        replicate(config, make_source(config.source, config), t1)
        t2.load_state = lambda: state  # type: ignore[method-assign]
        replicate(config.model_copy(update={"pipeline": "p2"}), make_source(config.source, config), t2)
    finally:
        t1.close()
        t2.close()
    assert diff_pg(pg_url, expected) == []
    assert pg_rows(pg_url, "SELECT count(*) FROM dynashift.tables")[0][0] == len(expected_tables(load_expected(expected)))


# ---------------------------------------------------------------- continuous workers on one stream


class Filler(threading.Thread):
    """Puts `lines` into the stream in small steps, so the stream keeps filling while workers run."""

    def __init__(self, client: Any, stream: str, lines: list[bytes], steps: int):
        super().__init__(daemon=True)
        self.client, self.stream, self.lines, self.steps = client, stream, lines, steps
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            n = len(self.lines)
            for i in range(self.steps):
                self.sent += put_records(self.client, self.stream, self.lines[i * n // self.steps:(i + 1) * n // self.steps])
                time.sleep(0.05)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def worker_of(url: str, pid: int) -> str | None:
    if not pg_rows(url, "SELECT 1 FROM information_schema.tables WHERE table_schema = 'dynashift' AND table_name = 'workers'"):
        return None
    rows = pg_rows(url, "SELECT owner FROM dynashift.workers WHERE pid = %s", (pid,))
    return rows[0][0] if rows else None


def test_three_workers_one_killed_one_frozen_past_its_lease(moto_endpoint, pg_url, tmp_path):
    client, stream = new_stream(moto_endpoint, 8)
    files, expected = sim(tmp_path, 6000, seed=35)
    lines = lines_of(files)
    args = ["--source", f"kinesis://{stream}", "--target", pg_url, "--endpoint-url", moto_endpoint,
            "--batch-size", "300"]
    workers = [start(*args) for _ in range(3)]
    filler = Filler(client, stream, lines[: len(lines) // 2], steps=20)
    filler.start()
    try:
        wait_for(lambda: len({o for o in owners(pg_url).values() if o}) == 3 and
                 len([o for o in owners(pg_url).values() if o]) == 8, "three workers sharing 8 shards", workers)
        killed, frozen, steady = workers
        frozen_owner = worker_of(pg_url, frozen.pid)
        held_before = {s for s, o in owners(pg_url).items() if o == frozen_owner}
        assert held_before
        killed.kill()
        killed.wait(30)
        killed_at = time.monotonic()
        wait_for(lambda: all(o != worker_of(pg_url, killed.pid) for o in owners(pg_url).values()) and
                 all(owners(pg_url).values()), "the killed worker's shards to move", [frozen, steady])
        failover = time.monotonic() - killed_at
        frozen.send_signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        wait_for(lambda: not any(o == frozen_owner for o in owners(pg_url).values()) and all(owners(pg_url).values()),
                 "the frozen worker's shards to move", [steady])
        frozen_failover = time.monotonic() - frozen_at
        filler.join()
        filler = Filler(client, stream, lines[len(lines) // 2:], steps=20)
        filler.start()
        time.sleep(0)  # the zombie resumes while the stream fills
        frozen.send_signal(signal.SIGCONT)
        filler.join()
        assert filler.error is None
        wait_for(lambda: diff_pg(pg_url, expected) == [], "the replica to equal the expected state", [frozen, steady])
    finally:
        for p in workers:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
    codes = []
    for p in (frozen, steady):
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=120)
        codes.append((p.returncode, err))
    for code, err in codes:
        assert code == 0, err
        assert "error" not in err.lower(), err
    history = runs(pg_url)
    read = RECORDS_SERVED[stream]  # over all workers, re-reads and refused batches included
    refused = sum(r[3] or 0 for r in history)
    print(f"\nfailover after SIGKILL: {failover:.1f}s, after SIGSTOP: {frozen_failover:.1f}s; records read {read}"
          f" for {len(lines)} in the stream ({read / len(lines):.2f}x); commits refused {refused}")
    assert read < 2 * len(lines)  # shards shared: each record read about once, re-reads only after a move
    assert diff_pg(pg_url, expected) == []
    # The zombie's leases were taken over (counters moved on), and it gave them up, not fought back.
    counters = dict(pg_rows(pg_url, "SELECT shard, counter FROM dynashift.leases"))
    assert all(counters[s] >= 2 for s in held_before)


def test_split_merge_and_workers_joining_and_leaving_lose_nothing(moto_endpoint, pg_url, tmp_path):
    client, stream = new_stream(moto_endpoint, 4)
    files, expected = sim(tmp_path, 4000, seed=36)
    lines = lines_of(files)
    third = len(lines) // 3
    args = ["--source", f"kinesis://{stream}", "--target", pg_url, "--endpoint-url", moto_endpoint, "--batch-size", "200"]
    workers = [start(*args) for _ in range(3)]
    try:
        # the three share the shards before records arrive: a worker started late (a loaded machine)
        # steals its share from an empty stream, not from a backlog read ahead by the others
        wait_for(lambda: len({o for o in owners(pg_url).values() if o}) == 3, "three workers holding leases", workers)
        put_records(client, stream, lines[:third])
        shards = {s["ShardId"]: s for s in client.list_shards(StreamName=stream)["Shards"]}
        first = shards["shardId-000000000000"]["HashKeyRange"]
        middle = (int(first["StartingHashKey"]) + int(first["EndingHashKey"])) // 2
        client.split_shard(StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(middle))
        joined = start(*args)  # a fourth worker joins midway
        workers.append(joined)
        put_records(client, stream, lines[third:2 * third])
        client.merge_shards(StreamName=stream, ShardToMerge="shardId-000000000002",
                            AdjacentShardToMerge="shardId-000000000003")
        leaving = workers.pop(0)  # one leaves midway: SIGTERM gives its leases up at once
        leaving.send_signal(signal.SIGTERM)
        _, err = leaving.communicate(timeout=120)
        assert leaving.returncode == 0, err
        put_records(client, stream, lines[2 * third:])
        wait_for(lambda: diff_pg(pg_url, expected) == [], "the replica to equal the expected state", workers)
        assert worker_of(pg_url, joined.pid) is not None
    finally:
        for p in workers:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
    for p in workers:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "error" not in err.lower(), err
    assert diff_pg(pg_url, expected) == []
    # each record read about once; re-reads only after a lease moved (what its old owner had read
    # ahead, uncommitted). A lease stolen back and forth read everything again: 8,207 for 4,000
    moves = pg_rows(pg_url, "SELECT shard, counter FROM dynashift.leases ORDER BY shard")
    refused = sum(r[3] or 0 for r in runs(pg_url))
    assert RECORDS_SERVED[stream] < 2 * len(lines), f"{RECORDS_SERVED[stream]} read; leases taken {moves}; refused {refused}"


def test_two_run_once_on_a_dynamodb_stream_together(moto_endpoint, pg_url, tmp_path):
    from support.dynamo import scan_as_expected
    from test_dynamodb_streams import new_table

    from dynashift.simulate_live import simulate_live

    table = new_table(moto_endpoint)
    simulate_live(f"dynamodb://{table}", Config(endpoint_url=moto_endpoint), changes=600, tables=1, seed=37,
                  profile="mixed")
    procs = [subprocess.Popen(dynashift("run", "--once", "-q", "--source", f"dynamodb-streams://{table}", "--target",
                                        pg_url, "--endpoint-url", moto_endpoint, "--batch-size", "100"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "error" not in err.lower(), err
    oracle = scan_as_expected(moto_endpoint, table, tmp_path / "scan.json")
    assert diff_pg(pg_url, oracle, check_changed_at=False) == []


def test_a_second_process_on_one_duckdb_file_is_told_which_pipeline_holds_it(moto_endpoint, tmp_path):
    client, stream = new_stream(moto_endpoint, 1)
    db = tmp_path / "one.duckdb"
    holder = start("--source", f"kinesis://{stream}", "--target", f"duckdb:///{db}", "--endpoint-url", moto_endpoint,
                   "--pipeline", "the-holder")
    try:
        wait_for(lambda: Path(f"{db}.owner").exists(), "the first process to hold the file", [holder])
        second = subprocess.run(dynashift("run", "--once", "-q", "--source", f"kinesis://{stream}", "--target",
                                          f"duckdb:///{db}", "--endpoint-url", moto_endpoint),
                                capture_output=True, text=True, timeout=120)
    finally:
        holder.send_signal(signal.SIGTERM)
        _, err = holder.communicate(timeout=120)
    assert second.returncode == 1
    assert len(second.stderr.strip().splitlines()) == 1, second.stderr
    assert "'the-holder'" in second.stderr and "one writing process" in second.stderr
    assert holder.returncode == 0, err
