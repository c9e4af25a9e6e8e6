"""Reconciliation: does the warehouse hold what DynamoDB holds? (`dynashift verify`)

Items are read from DynamoDB — all of them by Scan, or a sample: keys drawn at random from the
warehouse (read with BatchGetItem, which finds rows that should not be there and changed values)
plus a page of a randomly chosen Scan segment (which finds rows the warehouse lacks) — and compared
with the warehouse rows by key, attribute by attribute, as docs/reference.md §3 renders them (typed
columns by type, a value in a `__s` variant as text). With an item column, the item is compared too.

Changes in flight are not differences: a warehouse row changed after the DynamoDB read began is
compared with the item read again; every difference left is read again from both sides after
`settle` seconds (twice), and only those that remain are reported. Soft-deleted rows count as
absent. Rows of expired items kept by `ttl_deletes = ignore` are reported as extra, by design.
"""

from __future__ import annotations

import base64
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import orjson

from . import aws
from .decode import dist_key, render_item
from .errors import BadRecordError, ConfigError
from .schema import ITEM, OVERFLOW, name_from_stored
from .targets import replica_reads
from .targets.base import SqlTarget
from .typing_mode import JSON, comparable, family

_MARGIN_US = 2_000_000  # stream times are rounded to the second; clocks differ a little
_BATCH_GET = 100  # ref: BatchGetItem takes at most 100 keys per call


@dataclass(slots=True)
class Difference:
    kind: str  # missing (in DynamoDB only) | extra (in the warehouse only) | different
    dist_key: str
    attributes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # attribute -> (DynamoDB, warehouse)

    def line(self) -> str:
        if self.kind != "different":
            return f"{self.kind} {self.dist_key}"
        parts = ", ".join(f"{a}: {d!r} in DynamoDB, {w!r} in the warehouse" for a, (d, w) in sorted(self.attributes.items()))
        return f"different {self.dist_key}: {parts}"


@dataclass(slots=True)
class Report:
    table: str
    source_table: str
    mode: str  # scan | sample
    checked: int = 0  # keys compared
    in_flight: int = 0  # differences that went away when read again
    differences: list[Difference] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "source_table": self.source_table, "mode": self.mode, "checked": self.checked,
                "in_flight": self.in_flight, "missing": self.count("missing"), "extra": self.count("extra"),
                "different": self.count("different"),
                "differences": [{"kind": d.kind, "dist_key": d.dist_key,
                                 "attributes": {a: list(v) for a, v in d.attributes.items()}} for d in self.differences]}

    def count(self, kind: str) -> int:
        return sum(d.kind == kind for d in self.differences)


@dataclass(slots=True)
class _Column:
    attribute: str
    column: str
    type: str | None
    variant: str | None


class Replica:
    """One replicated table as verify reads it: its columns and, per key, its live row (the SQL
    is targets/replica_reads.py's)."""

    def __init__(self, target: SqlTarget, table: str):
        found = replica_reads.find_table(target, table)
        if found is None:
            raise ConfigError(f"no replicated table {table!r} in {target.uri} (see `dynashift status`)")
        self.target = target
        self.name, self.source_table, keys, options = found
        self.keys: list[str] = orjson.loads(keys)
        self.item = bool(options and orjson.loads(options).get("item_column"))
        meta = replica_reads.column_mapping(target, self.name)
        self.columns = [_Column(name_from_stored(a), c or "", t, v) for a, c, t, v in meta]

    def rows(self, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """dist_key -> {"_changed_us": µs, attribute: (type, value, variant), ITEM: item JSON} for live rows."""
        mapped = [c for c in self.columns if c.column and c.column != OVERFLOW]
        overflowed = [c for c in self.columns if c.column == OVERFLOW]  # past the column budget: text in one JSON object
        selected = [(c.column, family(c.type) == JSON, c.variant) for c in mapped]
        selected += [(OVERFLOW, True, None)] if overflowed else []
        wanted = None if keys is None else list(keys)
        out: dict[str, dict[str, Any]] = {}
        for row in replica_reads.rows_by_key(self.target, self.name, selected, self.item, wanted):
            if row[2]:
                continue  # soft-deleted: not in DynamoDB any more
            values = iter(row[3:])
            d: dict[str, Any] = {"_changed_us": _micros(row[1])}
            for c in mapped:
                d[c.attribute] = (c.type, next(values), next(values))
            if overflowed:
                held, _ = next(values), next(values)
                held = orjson.loads(held) if isinstance(held, (str, bytes)) else held or {}
                for c in overflowed:
                    d[c.attribute] = (None, held.get(c.attribute), None)
            if self.item:
                d[ITEM] = next(values)
            out[row[0]] = d
        return out

    def sample_keys(self, n: int) -> list[str]:
        return replica_reads.sample_keys(self.target, self.name, n)


class Source:
    """DynamoDB, read for verify: Scan (all of it, or one random segment's first items) and
    BatchGetItem, strongly consistent."""

    def __init__(self, client: Any, table: str, key_names: list[str]):
        self.client, self.table, self.key_names = client, table, key_names

    def scan(self, limit: int | None = None) -> dict[str, dict]:
        out: dict[str, dict] = {}
        params: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        if limit:
            # A segment of about `limit` items, chosen at random (ItemCount is DynamoDB's estimate).
            desc = aws.call(self.client.describe_table, f"DynamoDB DescribeTable {self.table}", TableName=self.table)
            segments = max(1, min(1_000_000, int(desc["Table"].get("ItemCount") or 0) // limit))
            params.update(Segment=random.randrange(segments), TotalSegments=segments, Limit=limit)
        while True:
            page = aws.call(self.client.scan, f"DynamoDB Scan {self.table}", **params)
            for item in page.get("Items", []):
                if limit and len(out) >= limit:
                    return out
                out[self.key(item)] = item
            if (limit and len(out) >= limit) or "LastEvaluatedKey" not in page:
                return out
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, keys: list[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        wire = [_wire_key(k) for k in keys]
        for i in range(0, len(wire), _BATCH_GET):
            request = {self.table: {"Keys": wire[i:i + _BATCH_GET], "ConsistentRead": True}}
            while request:
                page = aws.call(self.client.batch_get_item, f"DynamoDB BatchGetItem {self.table}", RequestItems=request)
                for item in page.get("Responses", {}).get(self.table, []):
                    out[self.key(item)] = item
                request = page.get("UnprocessedKeys") or {}
        return out

    def key(self, item: dict) -> str:
        return dist_key({k: item[k] for k in self.key_names})


def verify(target: SqlTarget, client: Any, table: str, sample: int | None = None, settle: float = 5.0,
           rounds: int = 2, sleep: Callable[[float], None] = time.sleep) -> Report:
    """Compare a replicated table with its DynamoDB table; see the module docstring."""
    replica = Replica(target, table)
    source = Source(client, replica.source_table, replica.keys)
    report = Report(replica.name, replica.source_table, "sample" if sample else "scan")
    started = time.time_ns() // 1000
    if sample:
        keys = replica.sample_keys((sample + 1) // 2)
        items = source.get(keys)
        scanned = source.scan(limit=max(1, sample // 2))
        items.update(scanned)
        rows = replica.rows(set(keys) | set(scanned))
        considered = set(keys) | set(scanned)
    else:
        items = source.scan()
        rows = replica.rows()
        considered = set(items) | set(rows)
    report.checked = len(considered)
    diffs = {d.dist_key: d for d in (compare(k, items.get(k), rows.get(k), replica) for k in sorted(considered)) if d}
    # A warehouse row changed after the read began: compare it with the item as it is now.
    newer = [k for k, d in diffs.items() if k in rows and rows[k]["_changed_us"] >= started - _MARGIN_US]
    diffs = _recheck(diffs, newer, replica, source, report)
    for _ in range(rounds):
        if not diffs:
            break
        sleep(settle)
        diffs = _recheck(diffs, list(diffs), replica, source, report)
    report.differences = sorted(diffs.values(), key=lambda d: (d.kind, d.dist_key))
    return report


def _recheck(diffs: dict[str, Difference], keys: list[str], replica: Replica, source: Source,
             report: Report) -> dict[str, Difference]:
    if not keys:
        return diffs
    items, rows = source.get(keys), replica.rows(keys)
    out = dict(diffs)
    for k in keys:
        again = compare(k, items.get(k), rows.get(k), replica)
        if again is None:
            out.pop(k, None)
            report.in_flight += 1
        else:
            out[k] = again
    return out


def compare(key: str, item: dict | None, row: dict | None, replica: Replica) -> Difference | None:
    """One key: missing, extra, or the attributes whose values differ (by the column's type)."""
    if item is None and row is None:
        return None
    if row is None:
        return Difference("missing", key)
    if item is None:
        return Difference("extra", key)
    try:
        want = render_item(item)
    except BadRecordError as exc:
        return Difference("different", key, {"(item)": (f"cannot be rendered: {exc}", None)})
    found: dict[str, tuple[Any, Any]] = {}
    mapped = set()
    for c in replica.columns:
        if not c.column:
            continue
        mapped.add(c.attribute)
        ctype, value, variant = row[c.attribute]
        expected = want.get(c.attribute)
        if not _same(ctype, expected, value, variant):
            found[c.attribute] = (expected, variant if variant is not None else _shown(ctype, value))
    if replica.item:
        have = render_item(orjson.loads(row[ITEM])) if row.get(ITEM) else {}
        if have != want:
            found[ITEM] = (orjson.dumps(want, option=orjson.OPT_SORT_KEYS).decode(),
                           orjson.dumps(have, option=orjson.OPT_SORT_KEYS).decode())
    else:
        for attr in sorted(set(want) - mapped):
            if want[attr] is not None:
                found[attr] = (want[attr], None)  # an attribute the warehouse has no column for
    return Difference("different", key, found) if found else None


def _same(ctype: str | None, expected: str | None, value: Any, variant: Any) -> bool:
    if value is not None and variant is not None:
        return False
    if expected is None:
        return value is None and variant is None
    if variant is not None:
        return variant == expected
    if value is None:
        return False
    try:
        return comparable(ctype, value) == comparable(ctype, expected)
    except Exception:  # noqa: BLE001 - text that is not of the column's type (a string vs a number column)
        return False


def _shown(ctype: str | None, value: Any) -> Any:
    if value is None:
        return None
    shown = comparable(ctype, value)
    return str(shown) if not isinstance(shown, (str, bool)) else shown


def _wire_key(key: str) -> dict[str, Any]:
    """dist_key text -> a key for boto3's low-level client (B values as bytes)."""
    return {k: ({"B": base64.b64decode(v["B"])} if "B" in v else v) for k, v in orjson.loads(key).items()}


def _micros(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return int(value.timestamp() * 1_000_000)
    return int(value)
