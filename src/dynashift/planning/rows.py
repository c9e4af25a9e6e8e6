"""What planning's parts share about one winner: where a soft-deleted row's values come from,
its staged op and metadata columns, and its raw record for a reject. Pure."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from ..model import HARD_DELETE, SOFT_DELETE, SOFT_DELETE_WITH_VALUES, UPSERT, Modes
from ..records import LAZY, REMOVE, Change
from ..schema import CHANGED_AT, DIST_KEY, STAGE_EVENT, STAGE_OP, STAGE_SEQ, STAGE_VALUES_SEQ, STAGE_VALUES_VERSION, STAGE_VERSION

_TS = pa.timestamp("us", tz="UTC")


def is_soft(change: Change, modes: Modes) -> bool:
    return (modes.ttl if change.ttl else modes.delete) == "soft"


@dataclass(slots=True)
class Values:
    """Where a soft-deleted row's values come from, and the version they belong to."""

    change: Change
    which: str  # "OldImage" of the REMOVE itself, or "NewImage" of the batch's last live change

    @property
    def version(self) -> tuple[int, str]:
        return self.change.version, self.change.seq


def soft_values(remove: Change, last_live: Change | None) -> Values | None:
    """The REMOVE's OldImage is the item's last live version whatever the arrival order; without
    one (NEW_IMAGE streams) the newest INSERT/MODIFY of the same batch is the best we know."""
    if remove.old_image is not None:
        return Values(remove, "OldImage")
    if last_live is not None:
        return Values(last_live, "NewImage")
    return None


def raw_record(change: Change) -> bytes:
    if change.raw is not None:
        return change.raw.rstrip(b"\n")  # the native decoder keeps a file line's own bytes object
    return orjson.dumps(record_of(change, None if change.new_image is LAZY else change.new_image), default=shown)


def shown(value: Any) -> Any:
    """orjson's fallback for a reported record: binary (boto3's bytes) as DynamoDB JSON carries it
    (base64), as sources/native_items.py dumps it for the native renderer; anything else as text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def record_of(change: Change, image: Any) -> dict[str, Any]:
    """The change record a change made from Python objects (Scan, boto3) is reported as when it is
    rejected: also the raw line such a change is rendered from natively (sources/native_items.py)."""
    return {"tableName": change.table, "eventName": change.op, "dynamodb": {"Keys": change.keys, "NewImage": image}}


def meta_arrays(pairs: list[tuple[Change, Values | None]], modes: Modes, soft: bool) -> dict[str, pa.Array]:
    ops = []
    changes = []
    for c, values in pairs:
        changes.append(c)
        if c.op != REMOVE:
            ops.append(UPSERT)
        elif not is_soft(c, modes):
            ops.append(HARD_DELETE)
        else:
            ops.append(SOFT_DELETE if values is None else SOFT_DELETE_WITH_VALUES)
    versions = pa.array([c.version for c in changes], pa.int64())
    arrays = {
        DIST_KEY: pa.array([c.dist_key for c in changes], pa.string()),
        STAGE_OP: pa.array(ops, pa.string()),
        STAGE_VERSION: versions,
        STAGE_SEQ: pa.array([c.seq for c in changes], pa.string()),
        STAGE_EVENT: pa.array([c.event_id for c in changes], pa.string()),
        CHANGED_AT: versions.cast(_TS),
    }
    if soft:
        shown = [values.version if values else (None, None) for _, values in pairs]
        arrays[STAGE_VALUES_VERSION] = pa.array([v for v, _ in shown], pa.int64())
        arrays[STAGE_VALUES_SEQ] = pa.array([q for _, q in shown], pa.string())
    return arrays
