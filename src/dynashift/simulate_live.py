"""`dynashift simulate --to kinesis://STREAM | dynamodb://TABLE`: feed a live stream, against AWS or
a local endpoint (`--endpoint-url`), for demos, tests and benchmarks.

- `kinesis://` sends the records of a simulated stream (simulate.py: many tables, duplicates, late
  records) with PutRecords, 500 per call, partition key derived from table and item keys (so one
  item always lands in one shard, in order, as DynamoDB's Kinesis destination does); records the
  service refuses (throttling) are sent again.
- `dynamodb://` makes real PutItem / UpdateItem / DeleteItem calls, so DynamoDB itself produces
  the stream records; the table (created with a NEW_AND_OLD_IMAGES stream when missing) is then
  the oracle: a Scan of it is what the replica must equal.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
import time
from dataclasses import dataclass
from random import Random
from typing import Any, Callable, Iterable, Iterator

import orjson

from . import aws
from .config import Config
from .errors import ConfigError
from .simulate_tables import value
from .simulate import simulate as write_stream

PUT_RECORDS_MAX = 500  # records per PutRecords call
PUT_RECORDS_BYTES = 5 << 20  # bytes per PutRecords call
_SORT = orjson.OPT_SORT_KEYS


@dataclass(frozen=True)
class LiveSummary:
    target: str
    records: int
    seconds: float


def partition_key(record: dict[str, Any]) -> str:
    """Table and item keys -> a partition key (<= 256 chars): one item, one shard."""
    keys = orjson.dumps((record.get("dynamodb") or {}).get("Keys"), option=_SORT)
    return hashlib.sha256(str(record.get("tableName", "")).encode() + b"\0" + keys).hexdigest()


# ---------------------------------------------------------------- Kinesis


def put_records(client: Any, stream: str, lines: Iterable[bytes], *, progress: Callable[[int], None] | None = None) -> int:
    """Send JSON change records (one per line) to a Kinesis stream; returns how many were sent."""
    sent = 0
    batch: list[dict[str, Any]] = []
    size = 0
    for line in lines:
        data = line.strip()
        if not data:
            continue
        entry = {"Data": data, "PartitionKey": partition_key(orjson.loads(data))}
        if len(batch) == PUT_RECORDS_MAX or size + len(data) + 64 > PUT_RECORDS_BYTES:
            sent += _put_all(client, stream, batch)
            batch, size = [], 0
            if progress:
                progress(sent)
        batch.append(entry)
        size += len(data) + 64
    if batch:
        sent += _put_all(client, stream, batch)
    return sent


def _put_all(client: Any, stream: str, entries: list[dict[str, Any]]) -> int:
    """PutRecords, re-sending only the entries that failed (throttled), with backoff."""
    pending = entries
    for attempt in range(12):
        out = aws.call(client.put_records, f"Kinesis PutRecords to {stream}", StreamName=stream, Records=pending)
        if not out.get("FailedRecordCount"):
            return len(entries)
        pending = [e for e, r in zip(pending, out["Records"]) if r.get("ErrorCode")]
        time.sleep(min(2.0, 0.05 * 2 ** attempt))
    raise aws.Throttled(f"Kinesis PutRecords to {stream}: {len(pending)} records still refused after retries")


def simulate_kinesis(config: Config, stream: str, *, changes: int, tables: int, seed: int, profile: str,
                     progress: Callable[[int], None] | None = None) -> LiveSummary:
    client = aws.client(config, "kinesis")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dynashift-sim-") as tmp:
        summary = write_stream(tmp, changes=changes, tables=tables, seed=seed, profile=profile)
        sent = 0
        for path in summary.files:
            with open(path, "rb") as fh:
                sent += put_records(client, stream, fh, progress=progress)
    return LiveSummary(f"kinesis://{stream}", sent, time.monotonic() - started)


# ---------------------------------------------------------------- DynamoDB


def ensure_table(client: Any, table: str) -> list[tuple[str, str]]:
    """The table's key schema [(name, type)], creating it (pk S, sk N, NEW_AND_OLD_IMAGES stream)
    when it does not exist."""
    try:
        desc = aws.call(client.describe_table, f"DynamoDB DescribeTable {table}", TableName=table)["Table"]
    except aws.NotFound:
        aws.call(client.create_table, f"DynamoDB CreateTable {table}", TableName=table,
                 KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                       {"AttributeName": "sk", "AttributeType": "N"}],
                 BillingMode="PAY_PER_REQUEST",
                 StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        desc = aws.call(client.describe_table, f"DynamoDB DescribeTable {table}", TableName=table)["Table"]
    types = {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]}
    hash_first = sorted(desc["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
    return [(k["AttributeName"], types[k["AttributeName"]]) for k in hash_first]


def wire(av: dict[str, Any]) -> dict[str, Any]:
    """Typed JSON as written in files (B as base64 text) -> what boto3's client sends (B as bytes)."""
    ((tag, v),) = av.items()
    if tag == "B":
        return {"B": base64.b64decode(v)}
    if tag == "BS":
        return {"BS": [base64.b64decode(x) for x in v]}
    if tag == "M":
        return {"M": {k: wire(x) for k, x in v.items()}}
    if tag == "L":
        return {"L": [wire(x) for x in v]}
    return av


def _key(schema: list[tuple[str, str]], i: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n, (name, kind) in enumerate(schema):
        text = f"item-{i:06d}" if n == 0 else str(i % 7)
        out[name] = {"B": text.encode()} if kind == "B" else {"N": str(i if n == 0 else i % 7)} if kind == "N" else {"S": text}
    return out


def item_operations(schema: list[tuple[str, str]], changes: int, seed: int, keys: int | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """A random workload of ("put" | "update" | "delete", request) over a bounded key space, so
    items are written, changed, deleted and written again, often within the same second."""
    r = Random(seed)
    space = keys or max(10, changes // 4)
    names = [f"a{i}" for i in range(12)] + ["Name", "name", "status", "payload"]
    for _ in range(changes):
        key = _key(schema, r.randrange(space))
        k = r.random()
        if k < 0.45:
            attrs = {a: wire(value(r)) for a in r.sample(names, r.randint(1, 6))}
            yield "put", {"Item": {**attrs, **key}}
        elif k < 0.85:
            sets = {a: wire(value(r)) for a in r.sample(names, r.randint(1, 3))}
            removes = [a for a in r.sample(names, r.randint(0, 2)) if a not in sets]
            placeholders = {f"#n{i}": a for i, a in enumerate([*sets, *removes])}
            values = {f":v{i}": v for i, v in enumerate(sets.values())}
            expr = "SET " + ", ".join(f"#n{i} = :v{i}" for i in range(len(sets)))
            if removes:
                expr += " REMOVE " + ", ".join(f"#n{len(sets) + i}" for i in range(len(removes)))
            yield "update", {"Key": key, "UpdateExpression": expr, "ExpressionAttributeNames": placeholders,
                             "ExpressionAttributeValues": values}
        else:
            yield "delete", {"Key": key}


def simulate_dynamodb(config: Config, table: str, *, changes: int, seed: int,
                      progress: Callable[[int], None] | None = None) -> LiveSummary:
    client = aws.client(config, "dynamodb")
    schema = ensure_table(client, table)
    calls = {"put": client.put_item, "update": client.update_item, "delete": client.delete_item}
    started = time.monotonic()
    done = 0
    for op, request in item_operations(schema, changes, seed):
        aws.call(calls[op], f"DynamoDB {op} on {table}", TableName=table, **request)
        done += 1
        if progress and done % 1000 == 0:
            progress(done)
    return LiveSummary(f"dynamodb://{table}", done, time.monotonic() - started)


def simulate_live(to: str, config: Config, *, changes: int, tables: int, seed: int, profile: str,
                  progress: Callable[[int], None] | None = None) -> LiveSummary:
    scheme, _, name = to.partition("://")
    name = name.rstrip("/")
    if not name or scheme not in ("kinesis", "dynamodb"):
        raise ConfigError(f"--to {to!r}: use kinesis://STREAM or dynamodb://TABLE")
    if scheme == "kinesis":
        return simulate_kinesis(config, name, changes=changes, tables=tables, seed=seed, profile=profile,
                                progress=progress)
    return simulate_dynamodb(config, name, changes=changes, seed=seed, progress=progress)


__all__ = ["LiveSummary", "item_operations", "partition_key", "put_records", "simulate_live"]
