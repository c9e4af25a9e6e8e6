"""kinesis:// against moto's Kinesis (real boto3 client, 127.0.0.1), and the shared shard engine
against an in-memory fake for what moto cannot show (empty pages, expired iterators, throttling)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.stub
import duckdb
import orjson
import pytest
from support.moto_server import moto_endpoint, trim  # noqa: F401 - the fixture

from dynashift import Config
from dynashift.aws import ExpiredIterator, Throttled, call
from dynashift.errors import GapError
from dynashift.pipeline import replicate
from dynashift.records import Checkpoint
from support.simulated import simulate
from dynashift.simulate_live import partition_key, put_records
from dynashift.sources import make_source
from dynashift.sources.kinesis import KinesisApi
from dynashift.sources.shards import Page, ShardedSource, ShardInfo, Start, seq_key
from dynashift.targets import make_target
from support.oracle import diff_duckdb

_names = iter(range(1_000_000))


def kinesis(endpoint: str) -> Any:
    return boto3.client("kinesis", endpoint_url=endpoint)


def new_stream(endpoint: str, shards: int) -> str:
    name = f"changes-{next(_names)}"
    kinesis(endpoint).create_stream(StreamName=name, ShardCount=shards)
    return name


def stream_lines(tmp: Path, changes: int, seed: int = 0) -> tuple[list[bytes], Path]:
    summary = simulate(tmp / "sim", changes=changes, tables=5, seed=seed)
    lines = [line for f in summary.files for line in f.read_bytes().splitlines() if line.strip()]
    return lines, summary.expected


def replicate_once(uri: str, db: Path, endpoint: str, **settings: Any) -> Any:
    config = Config(source=uri, target=f"duckdb:///{db}", endpoint_url=endpoint, **settings)
    target = make_target(config.target)
    target.open()
    try:
        return replicate(config, make_source(uri, config), target)
    finally:
        target.close()


def checkpoints(db: Path, uri: str) -> dict[str, tuple[str, int | None]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT shard, position, size FROM dynashift.checkpoints WHERE source = ?", [uri]).fetchall()
    finally:
        con.close()
    return {shard: (pos, size) for shard, pos, size in rows}


def shard_ends(endpoint: str, stream: str) -> dict[str, tuple[bool, str | None]]:
    """shard -> (closed, sequence number of its last record) as the service holds it."""
    client = kinesis(endpoint)
    out = {}
    for s in client.list_shards(StreamName=stream)["Shards"]:
        it = client.get_shard_iterator(StreamName=stream, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON")
        records = client.get_records(ShardIterator=it["ShardIterator"], Limit=10_000)["Records"]
        closed = "EndingSequenceNumber" in s["SequenceNumberRange"]
        out[s["ShardId"]] = (closed, records[-1]["SequenceNumber"] if records else None)
    return out


def assert_checkpoints_at_ends(db: Path, uri: str, endpoint: str, stream: str) -> None:
    cps = checkpoints(db, uri)
    for shard, (closed, last) in shard_ends(endpoint, stream).items():
        if closed:
            assert cps[shard][1] == 1, f"closed shard {shard} is not marked drained: {cps.get(shard)}"
        if last is not None:
            assert cps[shard][0].split("@")[0] == last, f"shard {shard}: checkpoint {cps[shard]} is not at {last}"


# ---------------------------------------------------------------- against moto


def test_simulated_multi_table_stream_in_four_shards(moto_endpoint: str, tmp_path: Path) -> None:
    stream = new_stream(moto_endpoint, 4)
    lines, expected = stream_lines(tmp_path, 4000, seed=3)
    assert put_records(kinesis(moto_endpoint), stream, lines) == len(lines)
    db = tmp_path / "r.duckdb"
    run = replicate_once(f"kinesis://{stream}", db, moto_endpoint, batch_size=700)
    assert run.records_read == len(lines)
    assert diff_duckdb(db, expected) == []
    assert_checkpoints_at_ends(db, f"kinesis://{stream}", moto_endpoint, stream)
    again = replicate_once(f"kinesis://{stream}", db, moto_endpoint)
    assert again.records_read == 0 and diff_duckdb(db, expected) == []


def test_resharded_while_running_continuously(moto_endpoint: str, tmp_path: Path) -> None:
    """A split and a merge while records flow in and the source follows the stream."""
    stream = new_stream(moto_endpoint, 4)
    uri = f"kinesis://{stream}"
    lines, expected = stream_lines(tmp_path, 6000, seed=5)
    client = kinesis(moto_endpoint)
    db = tmp_path / "r.duckdb"
    config = Config(source=uri, target=f"duckdb:///{db}", endpoint_url=moto_endpoint, batch_size=500,
                    max_wait=0.2, poll_interval=0.1)
    target = make_target(config.target)
    target.open()
    source = make_source(uri, config)
    stop = threading.Event()
    done: list[Any] = []
    applied: list[int] = [0]
    on_batch = lambda run: applied.__setitem__(0, run.records_read)  # noqa: E731
    runner = threading.Thread(target=lambda: done.append(
        replicate(config, source, target, stop=stop, follow=True, on_batch=on_batch)))
    runner.start()
    try:
        third = len(lines) // 3
        put_records(client, stream, lines[:third])
        shards = {s["ShardId"]: s for s in client.list_shards(StreamName=stream)["Shards"]}
        first = shards["shardId-000000000000"]["HashKeyRange"]
        middle = (int(first["StartingHashKey"]) + int(first["EndingHashKey"])) // 2
        client.split_shard(StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(middle))
        put_records(client, stream, lines[third:2 * third])
        client.merge_shards(StreamName=stream, ShardToMerge="shardId-000000000002",
                            AdjacentShardToMerge="shardId-000000000003")
        put_records(client, stream, lines[2 * third:])
        _wait_until_caught_up(source, applied, len(lines))
    finally:
        stop.set()
        runner.join(30)
        target.close()
    assert done, "the continuous run did not end after stop"
    assert diff_duckdb(db, expected) == []
    ends = shard_ends(moto_endpoint, stream)
    assert sum(closed for closed, _ in ends.values()) == 3 and len(ends) == 7  # 4 + 2 children + 1 merged
    assert_checkpoints_at_ends(db, uri, moto_endpoint, stream)


def _wait_until_caught_up(source: Any, applied: list[int], records: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if applied[0] >= records and source.lag and not any(source.lag.values()):
            return
        time.sleep(0.2)
    raise AssertionError(f"not caught up after {timeout}s: lag {source.lag}")


def test_lineage_parent_drained_before_children(moto_endpoint: str, tmp_path: Path) -> None:
    """Newer versions of the same items in a child shard never lose against the parent's."""
    stream = new_stream(moto_endpoint, 1)
    client = kinesis(moto_endpoint)
    rec = lambda t, v: orjson.dumps({"eventID": f"e{t}", "eventName": "MODIFY", "tableName": "Items",  # noqa: E731
                                     "dynamodb": {"ApproximateCreationDateTime": 1_700_000_000_000 + t,
                                                  "Keys": {"pk": {"S": "a"}},
                                                  "NewImage": {"pk": {"S": "a"}, "v": {"N": str(v)}}}})
    put_records(client, stream, [rec(1, 1), rec(2, 2)])
    client.split_shard(StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2 ** 127))
    put_records(client, stream, [rec(3, 3)])
    db = tmp_path / "r.duckdb"
    replicate_once(f"kinesis://{stream}", db, moto_endpoint, batch_size=1)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute('SELECT v FROM main."items"').fetchall() == [("3",)]
    con.close()
    cps = checkpoints(db, f"kinesis://{stream}")
    assert cps["shardId-000000000000"][1] == 1 and len(cps) == 3


def test_checkpoint_behind_trim_horizon_is_a_gap(moto_endpoint: str, tmp_path: Path) -> None:
    stream = new_stream(moto_endpoint, 1)
    uri = f"kinesis://{stream}"
    lines, _ = stream_lines(tmp_path, 50, seed=9)
    put_records(kinesis(moto_endpoint), stream, lines)
    db = tmp_path / "r.duckdb"
    replicate_once(uri, db, moto_endpoint)
    ((closed, last),) = shard_ends(moto_endpoint, stream).values()
    con = duckdb.connect(str(db))
    con.execute("UPDATE dynashift.checkpoints SET position = ? WHERE source = ?", [str(int(last) - 40), uri])
    con.close()
    trim(stream, "shardId-000000000000", 20)  # 20 records expired: some were never applied
    cmd = [sys.executable, "-m", "dynashift.cli", "run", "--once", "-q", "--source", uri, "--target",
           f"duckdb:///{db}", "--endpoint-url", moto_endpoint]
    failed = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1, failed.stderr
    message = " ".join(failed.stderr.split())
    assert "gap in" in message and "shardId-000000000000" in message
    assert "full load" in message and "--accept-gap" in message and "Traceback" not in message
    accepted = subprocess.run([*cmd, "--accept-gap"], capture_output=True, text=True, timeout=60)
    assert accepted.returncode == 0, accepted.stderr
    assert checkpoints(db, uri)["shardId-000000000000"][0].split("@")[0] == last


def test_an_expired_checkpointed_record_is_no_gap_when_the_shard_was_at_its_tip(moto_endpoint: str, tmp_path: Path) -> None:
    stream = new_stream(moto_endpoint, 1)
    uri = f"kinesis://{stream}"
    lines, expected = stream_lines(tmp_path, 30, seed=2)
    put_records(kinesis(moto_endpoint), stream, lines)
    db = tmp_path / "r.duckdb"
    replicate_once(uri, db, moto_endpoint)
    assert "@" in checkpoints(db, uri)["shardId-000000000000"][0]  # read to the tip just now
    trim(stream, "shardId-000000000000", 30)  # everything expired, nothing unread
    assert replicate_once(uri, db, moto_endpoint).records_read == 0
    assert diff_duckdb(db, expected) == []
    more, _ = stream_lines(tmp_path / "more", 10, seed=8)
    put_records(kinesis(moto_endpoint), stream, more)  # resumed at the horizon, not after the lost record
    assert replicate_once(uri, db, moto_endpoint).records_read == 10


def test_a_checkpointed_shard_that_expired_unfinished_is_a_gap(moto_endpoint: str, tmp_path: Path) -> None:
    stream = new_stream(moto_endpoint, 1)
    uri = f"kinesis://{stream}"
    db = tmp_path / "r.duckdb"
    replicate_once(uri, db, moto_endpoint)
    target = make_target(f"duckdb:///{db}")
    target.open()
    with target.transaction():
        target.write_checkpoints([Checkpoint(uri, "shardId-000000000099", "12345", None)])
    with pytest.raises(GapError, match="shardId-000000000099"):
        replicate(Config(endpoint_url=moto_endpoint), make_source(uri, Config(endpoint_url=moto_endpoint)), target)
    target.close()


def test_include_and_exclude_tables(moto_endpoint: str, tmp_path: Path) -> None:
    stream = new_stream(moto_endpoint, 2)
    lines, _ = stream_lines(tmp_path, 800, seed=4)
    put_records(kinesis(moto_endpoint), stream, lines)
    tables = sorted({orjson.loads(x)["tableName"] for x in lines})
    db = tmp_path / "r.duckdb"
    replicate_once(f"kinesis://{stream}", db, moto_endpoint, include=tables[:3], exclude=[tables[0]])
    con = duckdb.connect(str(db), read_only=True)
    got = sorted(r[0] for r in con.execute("SELECT source_table FROM dynashift.tables").fetchall())
    con.close()
    assert got == tables[1:3]


def test_status_shows_lag_per_shard(moto_endpoint: str, tmp_path: Path) -> None:
    stream = new_stream(moto_endpoint, 2)
    put_records(kinesis(moto_endpoint), stream, stream_lines(tmp_path, 100)[0])
    db = tmp_path / "r.duckdb"
    replicate_once(f"kinesis://{stream}", db, moto_endpoint)
    out = subprocess.run([sys.executable, "-m", "dynashift.cli", "status", "--json", "--target", f"duckdb:///{db}"],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    cps = [c for c in orjson.loads(out.stdout)["checkpoints"] if c["source"] == f"kinesis://{stream}"]
    assert len(cps) == 2 and all(c["lag_ms"] == 0 for c in cps)


def test_first_start_at_latest_skips_older_records(moto_endpoint: str, tmp_path: Path) -> None:
    stream = new_stream(moto_endpoint, 1)
    uri = f"kinesis://{stream}"
    old, _ = stream_lines(tmp_path / "old", 40, seed=1)
    put_records(kinesis(moto_endpoint), stream, old)
    db = tmp_path / "r.duckdb"
    assert replicate_once(uri, db, moto_endpoint, start_position="LATEST").records_read == 0
    new, _ = stream_lines(tmp_path / "new", 30, seed=2)
    put_records(kinesis(moto_endpoint), stream, new)
    assert replicate_once(uri, db, moto_endpoint, start_position="LATEST").records_read == 30


def test_missing_stream_is_one_clear_line(moto_endpoint: str, tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "dynashift.cli", "run", "--once", "--source", "kinesis://nope",
                          "--target", f"duckdb:///{tmp_path / 'r.duckdb'}", "--endpoint-url", moto_endpoint],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "nope" in out.stderr and "not found" in out.stderr and "Traceback" not in out.stderr


# ---------------------------------------------------------------- the engine, with a fake service


class FakeApi:
    """Scripted GetRecords answers per shard: lists of (records, millis_behind), then the end."""

    min_interval = 0.0
    empty_pages_at_tip = 1
    timestamps = True

    def __init__(self, shards: list[ShardInfo], pages: dict[str, list[tuple[list[int], int | None]]],
                 expire_at: set[tuple[str, int]] = frozenset(), closed_end: bool = True):
        self.shards, self.pages, self.expire_at, self.closed_end = shards, pages, set(expire_at), closed_end
        self.calls: list[tuple[str, Any]] = []

    def list_shards(self) -> list[ShardInfo]:
        return self.shards

    def retention_ms(self) -> int:
        return 24 * 3_600_000

    def iterator(self, shard: str, start: Start) -> str:
        self.calls.append(("iterator", shard, start.kind, start.seq))
        if start.kind == "AFTER_SEQUENCE_NUMBER":
            idx = next(i + 1 for i, (recs, _) in enumerate(self.pages[shard]) if recs and recs[-1] == int(start.seq))
            return f"{shard}|{idx}"
        return f"{shard}|0"

    def get_records(self, iterator: str) -> Page:
        shard, idx = iterator.split("|")
        i = int(idx)
        self.calls.append(("get", shard, i))
        if (shard, i) in self.expire_at:
            self.expire_at.discard((shard, i))
            raise ExpiredIterator("expired", "ExpiredIteratorException")
        records, behind = self.pages[shard][i]
        last = i + 1 == len(self.pages[shard])
        info = next(s for s in self.shards if s.id == shard)
        nxt = None if (last and info.ending is not None) else f"{shard}|{min(i + 1, len(self.pages[shard]) - 1)}"
        return Page([{"seq": str(n)} for n in records], nxt, behind)

    def still_holds(self, shard: str, seq: str) -> bool:
        return True

    def decoder(self):
        from dynashift.decode import decode_change

        def decode(record: dict):
            seq = record["seq"]
            rec = {"eventName": "MODIFY", "tableName": "T", "dynamodb": {
                "ApproximateCreationDateTime": 1_700_000_000_000 + int(seq), "Keys": {"pk": {"S": "k"}},
                "NewImage": {"pk": {"S": "k"}, "seq": {"N": seq}}}}
            return seq, [decode_change(rec, seq_key(seq))], 10

        return decode

    def record_time_ms(self, record: dict) -> int | None:
        return None


def read_all(api: FakeApi, checkpoints: dict[str, Checkpoint] | None = None, batch_size: int = 100) -> list:
    src = ShardedSource("fake://s", api, start=Start("TRIM_HORIZON"), batch_size=batch_size, batch_bytes=1 << 30,
                        max_wait=1, poll=0.01)
    return list(src.read(checkpoints or {}))


def test_empty_pages_are_not_the_end_of_a_shard() -> None:
    api = FakeApi([ShardInfo("s0")], {"s0": [([], 5000), ([], 4000), ([1, 2], 100), ([], 50), ([3], 0)]})
    batches = read_all(api)
    seqs = [c.new_image["seq"]["N"] for b in batches for c in b.changes]
    assert seqs == ["1", "2", "3"]
    (cp,) = batches[-1].checkpoints
    assert cp.position.startswith("3@") and cp.size is None


def test_expired_iterator_is_renewed_after_the_last_record_read() -> None:
    api = FakeApi([ShardInfo("s0")], {"s0": [([1], 900), ([2], 800), ([3], 0)]}, expire_at={("s0", 2)})
    seqs = [c.new_image["seq"]["N"] for b in read_all(api) for c in b.changes]
    assert seqs == ["1", "2", "3"]
    assert ("iterator", "s0", "AFTER_SEQUENCE_NUMBER", "2") in api.calls


def test_children_start_only_after_their_parents_end() -> None:
    shards = [ShardInfo("p", ending="3"), ShardInfo("q", ending="4"), ShardInfo("c", ("p", "q"))]
    api = FakeApi(shards, {"p": [([1], 10), ([2, 3], 0)], "q": [([4], 0)], "c": [([5], 0)]})
    batches = read_all(api, batch_size=1)
    order = [c.new_image["seq"]["N"] for b in batches for c in b.changes]
    assert order.index("5") > max(order.index("3"), order.index("4"))
    first_child_call = next(i for i, c in enumerate(api.calls) if c[1] == "c")
    assert all(c[1] != "p" and c[1] != "q" for c in api.calls[first_child_call:])
    finished = {cp.shard for b in batches for cp in b.checkpoints if cp.size == 1}
    assert finished == {"p", "q"}


def test_resume_after_a_checkpoint_and_skip_finished_shards() -> None:
    shards = [ShardInfo("p", ending="3"), ShardInfo("c", ("p",))]
    api = FakeApi(shards, {"p": [([1], 10), ([2, 3], 0)], "c": [([5], 10), ([6], 0)]})
    cps = {"p": Checkpoint("fake://s", "p", "3", 1), "c": Checkpoint("fake://s", "c", "5", None)}
    seqs = [c.new_image["seq"]["N"] for b in read_all(api, cps) for c in b.changes]
    assert seqs == ["6"]
    assert not any(c[1] == "p" for c in api.calls)


def test_throttling_is_retried_with_backoff() -> None:
    client = boto3.client("kinesis", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with botocore.stub.Stubber(client) as stub:
        for _ in range(2):
            stub.add_client_error("list_shards", "ProvisionedThroughputExceededException", http_status_code=400)
        stub.add_response("list_shards", {"Shards": []})
        assert call(client.list_shards, "ListShards", base=0.001, StreamName="s")["Shards"] == []
        stub.add_client_error("list_shards", "LimitExceededException", http_status_code=400)
        with pytest.raises(Throttled):
            call(client.list_shards, "ListShards", attempts=1, StreamName="s")


def test_list_shards_is_paged_to_the_end() -> None:
    client = boto3.client("kinesis", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    shard = lambda i, **extra: {"ShardId": f"s{i}", "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "1"},  # noqa: E731
                                "SequenceNumberRange": {"StartingSequenceNumber": "1", **extra}}
    with botocore.stub.Stubber(client) as stub:
        stub.add_response("list_shards", {"Shards": [shard(0, EndingSequenceNumber="9")], "NextToken": "t1"},
                          {"StreamName": "s"})
        stub.add_response("list_shards", {"Shards": [{**shard(1), "ParentShardId": "s0"}]}, {"NextToken": "t1"})
        got = KinesisApi(client, {"StreamName": "s"}).list_shards()
    assert got == [ShardInfo("s0", (), "9"), ShardInfo("s1", ("s0",), None)]


def test_partition_key_follows_table_and_item_keys() -> None:
    a = {"tableName": "T", "dynamodb": {"Keys": {"pk": {"S": "1"}, "sk": {"N": "2"}}}}
    b = {"tableName": "T", "dynamodb": {"Keys": {"sk": {"N": "2"}, "pk": {"S": "1"}}}}
    assert partition_key(a) == partition_key(b) != partition_key({**a, "tableName": "U"})
    assert len(partition_key(a)) <= 256


def test_aws_errors_are_mapped_at_the_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.exceptions as bx

    from dynashift.aws import AwsError, Unavailable, client, map_error
    from dynashift.errors import ConfigError

    assert isinstance(map_error(bx.NoCredentialsError(), "GetRecords"), ConfigError)
    denied = map_error(bx.ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetRecords"),
                       "Kinesis GetRecords on s")
    assert isinstance(denied, AwsError) and not denied.retryable and "access denied" in str(denied)
    assert isinstance(map_error(bx.EndpointConnectionError(endpoint_url="http://x"), "ListShards"), Unavailable)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/dynashift-tests")
    with pytest.raises(ConfigError, match="profile 'nope'"):
        client(Config(profile="nope"), "kinesis")
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match="no AWS region"):
        client(Config(), "kinesis")
