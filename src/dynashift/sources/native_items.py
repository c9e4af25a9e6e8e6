"""Items that arrive as Python objects (Scan pages, DynamoDB Streams records from boto3), handed
to the native renderer.

The native engine renders raw JSON. A change whose image is a dict is serialised once (orjson,
~1 µs per KB) into exactly the record `planning.rows.raw_record` would make of it, and its image
left LAZY: the winners of a batch are then rendered natively, about ten times faster than
`decode.render_item` walks the dict. Since the raw record is the one the Python engine reports,
a value the native renderer leaves to the Python code is rejected alike. An item holding binary
(bytes, which that record shows as Python's repr, not base64), or anything else JSON has no
type for, and a REMOVE (whose OldImage that
record leaves out) keep their dict: the Python renderer takes them.
"""

from __future__ import annotations

from typing import Any, Callable

import orjson

from ..planning.engine import engine_name
from ..planning.rows import record_of
from ..records import LAZY, REMOVE, Change


class _Binary(Exception):
    pass


def _refuse(value: Any) -> Any:
    raise _Binary  # bytes, or anything else JSON has no type for: the Python renderer judges it


def lazy_images() -> Callable[[Change], Change]:
    """What a source passes each change it built from Python objects through: with the native
    engine, `to_lazy`; with the Python engine, nothing."""
    return to_lazy if engine_name() == "native" else _same


def _same(change: Change) -> Change:
    return change


def to_lazy(change: Change) -> Change:
    """An INSERT/MODIFY with a dict image -> the same change, its image in `raw` (LAZY)."""
    image = change.new_image
    if change.op == REMOVE or type(image) is not dict or change.raw is not None:
        return change
    try:
        change.raw = orjson.dumps(record_of(change, image), default=_refuse)
    except (_Binary, TypeError, orjson.JSONEncodeError):
        return change
    change.names = list(image)  # every attribute met counts for the schema, superseded ones too
    change.new_image = LAZY
    return change
