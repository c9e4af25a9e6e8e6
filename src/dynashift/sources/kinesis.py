"""`kinesis://STREAM`: the Kinesis data stream DynamoDB writes its changes into (one JSON change
record per Kinesis record; one stream may carry many tables), read with boto3.

Only the service calls live here; lineage, concurrency, batching, checkpoints and gap detection
are the shared engine's (shards.py, whose docstring has the checkpoint format). A stream ARN works
too: `kinesis://arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`.

Service limits honoured: GetRecords at most 5 calls/s per shard and 10,000 records per call,
ListShards paged to its end (NextToken alone on later pages), iterators renewed when they expire.
ref: https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html
ref: https://docs.aws.amazon.com/kinesis/latest/APIReference/API_ListShards.html
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from .. import aws
from ..config import Config
from ..decode import parse_time
from ..errors import BadRecordError, ConfigError
from ..planning.engine import line_decoder
from ..records import Change, Rejected
from .shards import Page, ShardedSource, ShardInfo, Start, parse_start, seq_key

GET_RECORDS_LIMIT = 10_000  # records per GetRecords call (the service maximum)


def stream_from_uri(uri: str) -> dict[str, str]:
    """`kinesis://NAME` or `kinesis://arn:…` -> the StreamName or StreamARN request parameter."""
    rest = uri[len("kinesis://"):] if uri.startswith("kinesis://") else ""
    rest = rest.rstrip("/")
    if not rest:
        raise ConfigError(f"no stream in {uri!r}: use kinesis://STREAM-NAME or kinesis://STREAM-ARN")
    return {"StreamARN": rest} if rest.startswith("arn:") else {"StreamName": rest}


class KinesisApi:
    min_interval = 0.2  # 5 GetRecords calls per second per shard
    empty_pages_at_tip = 1  # unused: Kinesis says MillisBehindLatest
    timestamps = True

    def __init__(self, client: Any, stream: dict[str, str], default_table: str | None = None):
        self.client, self.stream, self.default_table = client, stream, default_table
        self.name = next(iter(stream.values()))

    def list_shards(self) -> list[ShardInfo]:
        shards: list[ShardInfo] = []
        params: dict[str, Any] = dict(self.stream)
        while True:
            page = aws.call(self.client.list_shards, f"Kinesis ListShards on {self.name}", **params)
            for s in page.get("Shards", []):
                parents = tuple(p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p)
                ending = s.get("SequenceNumberRange", {}).get("EndingSequenceNumber")
                shards.append(ShardInfo(s["ShardId"], parents, ending))
            token = page.get("NextToken")
            if not token:
                return shards
            params = {"NextToken": token}  # the stream may not be named again on later pages

    def retention_ms(self) -> int:
        desc = aws.call(self.client.describe_stream_summary, f"Kinesis DescribeStreamSummary on {self.name}",
                        **self.stream)
        return int(desc["StreamDescriptionSummary"].get("RetentionPeriodHours", 24)) * 3_600_000

    def iterator(self, shard: str, start: Start) -> str:
        params: dict[str, Any] = {**self.stream, "ShardId": shard, "ShardIteratorType": start.kind}
        if start.kind in ("AFTER_SEQUENCE_NUMBER", "AT_SEQUENCE_NUMBER"):
            params["StartingSequenceNumber"] = start.seq
        elif start.kind == "AT_TIMESTAMP":
            params["Timestamp"] = datetime.fromtimestamp((start.at_ms or 0) / 1000, timezone.utc)
        out = aws.call(self.client.get_shard_iterator, f"Kinesis GetShardIterator on {self.name}/{shard}", **params)
        return out["ShardIterator"]

    def get_records(self, iterator: str, limit: int = GET_RECORDS_LIMIT) -> Page:
        out = aws.call(self.client.get_records, f"Kinesis GetRecords on {self.name}", ShardIterator=iterator,
                       Limit=limit)
        return Page(out.get("Records", []), out.get("NextShardIterator"), out.get("MillisBehindLatest"))

    def still_holds(self, shard: str, seq: str) -> bool:
        """The first record at the trim horizon is at or before `seq`. Empty pages at the horizon
        are skipped while the service says records lie ahead (MillisBehindLatest > 0)."""
        iterator: str | None = self.iterator(shard, Start("TRIM_HORIZON"))
        for _ in range(20):
            if iterator is None:
                return False
            page = self.get_records(iterator, limit=1)
            if page.records:
                return int(page.records[0]["SequenceNumber"]) <= int(seq)
            if not page.millis_behind:
                return False
            iterator = page.next_iterator
        return False

    def decoder(self) -> Callable[[dict[str, Any]], tuple[str, list[Change | Rejected], int]]:
        """Each record's data is one change record, decoded lazily (planning/lines.py, or natively): the NewImage stays
        in the raw bytes until the change wins its key."""
        lines = line_decoder(self.default_table)

        def decode(record: dict[str, Any]) -> tuple[str, list[Change | Rejected], int]:
            seq, data = record["SequenceNumber"], record["Data"]
            out: list[Change | Rejected] = [
                Rejected(item.reason, data, seq) if isinstance(item, BadRecordError) else item
                for item in lines.decode(data, seq_key(seq))
            ]
            return seq, out, len(data)

        return decode

    def record_time_ms(self, record: dict[str, Any]) -> int | None:
        at = record.get("ApproximateArrivalTimestamp")
        return int(at.timestamp() * 1000) if isinstance(at, datetime) else None


def make(uri: str, config: Config) -> ShardedSource:
    api = KinesisApi(aws.client(config, "kinesis"), stream_from_uri(uri), config.table)
    return ShardedSource(
        uri, api, start=parse_start(config.start_position, config.start_timestamp, parse_time),
        batch_size=config.batch_size, batch_bytes=config.batch_bytes, max_wait=config.max_wait,
        accept_gap=config.accept_gap, poll=config.poll_interval,
    )
