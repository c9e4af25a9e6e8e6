"""Change records as DynamoDB's Kinesis destination writes them, and files of them: the one
builder the tests share (a record's time is `t` microseconds after T0)."""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson

T0 = 1_700_000_000_000_000  # µs
T0_MS = T0 // 1000  # the same instant in ms, for records without a precision (read as milliseconds)
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
_ids = itertools.count()


def rec(op: str, keys: dict, image: dict | None = None, t: int = 0, *, table: str = "Orders",
        eid: str | None = None, ttl: bool = False, millis: bool = False) -> dict:
    """A Kinesis-format change record; `t` is µs after T0 (ms after T0_MS, with no precision field,
    when `millis`); a fresh eventID unless `eid` is given."""
    ddb: dict = ({"ApproximateCreationDateTime": T0_MS + t} if millis else
                 {"ApproximateCreationDateTime": T0 + t, "ApproximateCreationDateTimePrecision": "MICROSECOND"})
    ddb.update({"Keys": keys, "SizeBytes": 1})
    if image is not None:
        ddb["NewImage"] = image
    return {"eventID": eid or f"e{next(_ids)}", "eventName": op, "tableName": table,
            "userIdentity": TTL_IDENTITY if ttl else None, "dynamodb": ddb, "eventSource": "aws:dynamodb"}


def item(pk: str, **attrs: dict) -> tuple[dict, dict]:
    """(Keys, NewImage) of an item keyed `pk` (S) with `attrs` (typed values)."""
    keys = {"pk": {"S": pk}}
    return keys, {**keys, **attrs}


def write(path: Path, records: list) -> Path:
    """JSON Lines of `records` (dicts, or bytes written as they are) into `path`."""
    path.write_bytes(b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records))
    return path
