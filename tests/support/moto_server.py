"""A local AWS for the live-source tests: moto's server on 127.0.0.1 (a free port), talked to with
the real boto3 client, plus the few places where moto differs from AWS made to behave like AWS.

Use: `from support.moto_server import moto_endpoint` in a test module (the fixture yields the endpoint URL
and sets dummy credentials in the environment for the tests and any subprocess they start).

Where moto differs from the services (moto 5.x), patched here, for tests only:
- SplitShard / MergeShards move the parents' records into the children; AWS keeps them in the
  closed parents until they expire, and children start empty.
- A closed shard read to its end never returns a null NextShardIterator; AWS does, and that is
  how a reader knows the shard is drained.
- Sequence numbers restart at 1 in each shard; in AWS they grow over time across the stream.
- MillisBehindLatest is computed from arrival times and is 0 for records written in the same
  millisecond; AWS says 0 only when the page reached the tip.
- DynamoDB Streams' ApproximateCreationDateTime is exact; AWS rounds it to the second.
- Records never expire: `trim` drops a shard's oldest records as the retention period would.

`GET_RECORDS_CALLS` and `served_to_end` let a test see a reader at work, and done reading.
"""

from __future__ import annotations

import contextlib
import logging
import datetime as dt
import itertools
import os
import socket
from collections import OrderedDict
from typing import Any, Iterator

import pytest
from moto.dynamodb.models import table as ddb_table
from moto.kinesis import models as kinesis_models
from moto.kinesis.models import Shard, Stream, kinesis_backends
from moto.kinesis.utils import decompose_shard_iterator
from moto.server import ThreadedMotoServer

ACCOUNT = "123456789012"
REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": "/nonexistent/dynashift-tests", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/dynashift-tests",
    "AWS_EC2_METADATA_DISABLED": "true",
}

_SEQ = itertools.count(49_600_000_000_000_000_000_000)  # stream-wide, growing, AWS-sized


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- moto made to behave like AWS


def _put_record(self: Shard, partition_key: str, data: str, explicit_hash_key: str) -> str:
    seq = next(_SEQ)
    self.records[seq] = kinesis_models.Record(partition_key, data, seq, explicit_hash_key)
    return str(seq)


def _get_records(self: Shard, last_sequence_id: str, limit: int | None) -> tuple[list, int, int]:
    after = int(last_sequence_id)
    results = [r for seq, r in list(self.records.items()) if seq > after][: limit or 10_000]
    last = results[-1].sequence_number if results else after
    newest = self.get_max_sequence_number()
    behind = 0
    if results and last < newest:
        behind = max(1, int((self.records[newest].created_at - results[-1].created_at) * 1000))
    return results, last, behind


def _split_shard(self: Stream, shard_to_split: str, new_starting_hash_key: str) -> None:
    shard = self.shards[shard_to_split]
    split = int(new_starting_hash_key)
    assert shard.is_open and shard.starting_hash < split < shard.ending_hash
    last = max(s._shard_id for s in self.shards.values())
    for i, (lo, hi) in enumerate(((shard.starting_hash, split - 1), (split, shard.ending_hash))):
        child = Shard(last + 1 + i, lo, hi, parent=shard.shard_id)
        self.shards[child.shard_id] = child
    shard.is_open = False


def _merge_shards(self: Stream, shard_to_merge: str, adjacent_shard_to_merge: str) -> None:
    a, b = self.shards[shard_to_merge], self.shards[adjacent_shard_to_merge]
    assert a.is_open and b.is_open and a.ending_hash + 1 == b.starting_hash
    last = max(s._shard_id for s in self.shards.values())
    child = Shard(last + 1, a.starting_hash, b.ending_hash, parent=a.shard_id, adjacent_parent=b.shard_id)
    self.shards[child.shard_id] = child
    a.is_open = b.is_open = False


def _shard_for_key(self: Stream, partition_key: str, explicit_hash_key: str) -> Shard | None:
    """Among open shards only (moto also picks closed ones), inclusive of the ending hash."""
    from moto.utilities.utils import md5_hash

    key = int(explicit_hash_key) if explicit_hash_key else int(md5_hash(partition_key.encode()).hexdigest(), 16)
    for shard in self.shards.values():
        if shard.is_open and shard.starting_hash <= key <= shard.ending_hash:
            return shard
    return None


_original_backend_get_records = kinesis_models.KinesisBackend.get_records


GET_RECORDS_CALLS: dict[str, int] = {}  # stream -> GetRecords calls served, to see a reader at work
RECORDS_SERVED: dict[str, int] = {}  # stream -> records handed out over all readers (re-reads included)
SERVED: dict[tuple[str, str], int] = {}  # (stream, shard) -> last sequence number served


def served_to_end(stream: str) -> bool:
    """Every record of every shard of `stream` has been handed to some reader."""
    shards = kinesis_backends[ACCOUNT][REGION].streams[stream].shards.values()
    return all(SERVED.get((stream, s.shard_id), 0) >= s.get_max_sequence_number() for s in shards if s.records)


def _backend_get_records(self: Any, stream_arn: str | None, shard_iterator: str, limit: int | None):
    next_iterator, records, behind = _original_backend_get_records(self, stream_arn, shard_iterator, limit)
    stream_name, shard_id, _ = decompose_shard_iterator(shard_iterator)
    GET_RECORDS_CALLS[stream_name] = GET_RECORDS_CALLS.get(stream_name, 0) + 1
    RECORDS_SERVED[stream_name] = RECORDS_SERVED.get(stream_name, 0) + len(records)
    if records:
        SERVED[(stream_name, shard_id)] = records[-1].sequence_number
    shard = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name).get_shard(shard_id)
    _, _, last = decompose_shard_iterator(next_iterator)
    if not shard.is_open and int(last) >= shard.get_max_sequence_number():
        next_iterator = None  # drained: AWS ends a closed shard with a null iterator
    return next_iterator, records, behind


_original_stream_record_init = ddb_table.StreamRecord.__init__


def _stream_record_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_stream_record_init(self, *args, **kwargs)
    at = self.record["dynamodb"]["ApproximateCreationDateTime"]
    if isinstance(at, dt.datetime):
        self.record["dynamodb"]["ApproximateCreationDateTime"] = at.replace(microsecond=0)


@contextlib.contextmanager
def aws_like() -> Iterator[None]:
    patches = [
        (Shard, "put_record", _put_record), (Shard, "get_records", _get_records),
        (Stream, "split_shard", _split_shard), (Stream, "merge_shards", _merge_shards),
        (Stream, "get_shard_for_key", _shard_for_key),
        (kinesis_models.KinesisBackend, "get_records", _backend_get_records),
        (ddb_table.StreamRecord, "__init__", _stream_record_init),
    ]
    saved = [(cls, name, cls.__dict__[name]) for cls, name, _ in patches]
    for cls, name, fn in patches:
        setattr(cls, name, fn)
    try:
        yield
    finally:
        for cls, name, fn in saved:
            setattr(cls, name, fn)


def trim(stream: str, shard_id: str, count: int) -> None:
    """Drop a shard's `count` oldest records, as the stream's retention period would."""
    shard = kinesis_backends[ACCOUNT][REGION].streams[stream].shards[shard_id]
    keep = list(shard.records.items())[count:]
    shard.records = OrderedDict(keep)


# ---------------------------------------------------------------- the fixture


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    saved = {k: os.environ.get(k) for k in [*CREDENTIALS, "AWS_PROFILE"]}
    os.environ.update(CREDENTIALS)
    os.environ.pop("AWS_PROFILE", None)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    with aws_like():
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
