"""`dynamodb-streams://TABLE` (or `dynamodb-streams://STREAM-ARN`): a table's own DynamoDB Stream.

The stream's records carry no table name (it is the stream's table) and their time is rounded to
the second, so several changes of one item often share a version: the sequence number, padded to
a fixed width, breaks those ties (records of one item stay in order within the stream).
Only NEW_IMAGE and NEW_AND_OLD_IMAGES streams can be replicated; KEYS_ONLY and OLD_IMAGE are
refused before anything is read (docs/reference.md §4). DynamoDB Streams keep records for 24 hours and
close each shard after a few hours; lineage, checkpoints and gaps are the shared engine's
(shards.py). Iterators last 15 minutes; GetRecords returns at most 1,000 records.
ref: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html
ref: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html#Streams.Processing
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Callable

import orjson

from .. import aws
from ..config import Config
from ..decode import decode_change, parse_time
from ..errors import BadRecordError, ConfigError, SourceError
from ..records import Change, Rejected
from .native_items import lazy_images
from .shards import Page, ShardedSource, ShardInfo, Start, parse_start, seq_key

RETENTION_MS = 24 * 3_600_000
_REPLICABLE = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")


def target_from_uri(uri: str) -> str:
    rest = uri[len("dynamodb-streams://"):] if uri.startswith("dynamodb-streams://") else ""
    rest = rest.rstrip("/")
    if not rest:
        raise ConfigError(f"no table in {uri!r}: use dynamodb-streams://TABLE or dynamodb-streams://STREAM-ARN")
    return rest


class DynamoDBStreamsApi:
    min_interval = 0.25  # ref: "no more than 2 processes reading the same shard"; stay well under 5/s
    empty_pages_at_tip = 3  # no MillisBehindLatest here: a few empty pages in a row are taken as the tip
    timestamps = False

    def __init__(self, client: Any, table_or_arn: str):
        self.client = client
        self.arn = table_or_arn if table_or_arn.startswith("arn:") else self._latest_arn(table_or_arn)
        desc = self._describe()
        self.table: str = desc["TableName"]
        self.view_type: str = desc.get("StreamViewType", "")
        if self.view_type not in _REPLICABLE:
            raise SourceError(
                f"the stream of table {self.table} has view type {self.view_type or 'unknown'}: its records carry no "
                "new item image, so changes cannot be replicated. Set the table's stream to NEW_AND_OLD_IMAGES "
                "(or NEW_IMAGE) and run a full load"
            )

    def _latest_arn(self, table: str) -> str:
        out = aws.call(self.client.list_streams, f"DynamoDB Streams ListStreams for table {table}", TableName=table)
        streams = [s for s in out.get("Streams", []) if s.get("TableName") == table]
        if not streams:
            raise SourceError(f"table {table} has no DynamoDB stream: enable one (NEW_AND_OLD_IMAGES) on the table")
        return max(streams, key=lambda s: s.get("StreamLabel", ""))["StreamArn"]

    def _describe(self, exclusive_start: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"StreamArn": self.arn}
        if exclusive_start:
            params["ExclusiveStartShardId"] = exclusive_start
        out = aws.call(self.client.describe_stream, f"DynamoDB Streams DescribeStream on {self.arn}", **params)
        return out["StreamDescription"]

    def list_shards(self) -> list[ShardInfo]:
        shards: list[ShardInfo] = []
        start: str | None = None
        while True:
            desc = self._describe(start)
            for s in desc.get("Shards", []):
                parent = s.get("ParentShardId")
                ending = s.get("SequenceNumberRange", {}).get("EndingSequenceNumber")
                shards.append(ShardInfo(s["ShardId"], (parent,) if parent else (), ending))
            start = desc.get("LastEvaluatedShardId")
            if not start:
                return shards

    def retention_ms(self) -> int:
        return RETENTION_MS

    def iterator(self, shard: str, start: Start) -> str:
        params: dict[str, Any] = {"StreamArn": self.arn, "ShardId": shard, "ShardIteratorType": start.kind}
        if start.kind == "AT_TIMESTAMP":  # not offered by DynamoDB Streams: the oldest is the safe side
            params["ShardIteratorType"] = "TRIM_HORIZON"
        if start.kind in ("AFTER_SEQUENCE_NUMBER", "AT_SEQUENCE_NUMBER"):
            params["SequenceNumber"] = start.seq
        out = aws.call(self.client.get_shard_iterator, f"DynamoDB Streams GetShardIterator on {shard}", **params)
        return out["ShardIterator"]

    def get_records(self, iterator: str) -> Page:
        out = aws.call(self.client.get_records, "DynamoDB Streams GetRecords", ShardIterator=iterator, Limit=1000)
        return Page(out.get("Records", []), out.get("NextShardIterator"), None)

    def still_holds(self, shard: str, seq: str) -> bool:
        """Asking for the record itself answers: a trimmed one raises TrimmedDataAccessException."""
        try:
            self.iterator(shard, Start("AT_SEQUENCE_NUMBER", seq))
        except aws.TrimmedData:
            return False
        return True

    def decoder(self) -> Callable[[dict[str, Any]], tuple[str, list[Change | Rejected], int]]:
        last_version = 0
        lazy = lazy_images()  # the native engine renders the images from one orjson dump each

        def decode(record: dict[str, Any]) -> tuple[str, list[Change | Rejected], int]:
            nonlocal last_version
            ddb = record.get("dynamodb") or {}
            seq = str(ddb.get("SequenceNumber", ""))
            size = int(ddb.get("SizeBytes") or 0)
            try:
                change = decode_change(record, seq_key(seq), default_table=self.table, fallback_version=last_version)
            except BadRecordError as exc:
                return seq, [Rejected(exc.reason, orjson.dumps(record, default=_json_default), seq)], size
            last_version = change.version
            return seq, [lazy(change)], size

        return decode

    def record_time_ms(self, record: dict[str, Any]) -> int | None:
        at = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
        return int(at.timestamp() * 1000) if isinstance(at, datetime) else None


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    return str(value)


def make(uri: str, config: Config) -> ShardedSource:
    api = DynamoDBStreamsApi(aws.client(config, "dynamodbstreams"), target_from_uri(uri))
    start = parse_start(config.start_position, config.start_timestamp, parse_time)
    return ShardedSource(
        uri, api, start=start, batch_size=config.batch_size, batch_bytes=config.batch_bytes,
        max_wait=config.max_wait, accept_gap=config.accept_gap, poll=config.poll_interval,
    )
