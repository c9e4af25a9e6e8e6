"""Items that arrive as Python objects (Scan pages, DynamoDB Streams records from boto3), handed
to the native renderer.

The native engine renders raw JSON. A change whose image is a dict is serialised once (orjson,
~1 µs per KB) into exactly the record `planning.rows.raw_record` would make of it (binary, which
boto3 hands over as bytes, as base64, as DynamoDB JSON carries it), and its image left LAZY: the
winners of a batch are then rendered natively, about ten times faster than `decode.render_item`
walks the dict. Since the raw record is the one the Python engine reports, a value the native
renderer leaves to the Python code is rejected alike. A REMOVE gets that record too (its Keys, no
image; its OldImage stays a dict): a hard delete is rendered natively from its Keys. Anything JSON
has no type for keeps its dict: the Python renderer takes it.
"""

from __future__ import annotations

import base64
from typing import Any, Callable

import orjson

from ..planning.engine import engine_name
from ..planning.rows import record_of
from ..records import LAZY, REMOVE, Change


class _Binary(Exception):
    pass


def _refuse(value: Any) -> Any:
    raise _Binary  # anything JSON has no type for: the Python renderer judges it (files_native.py's too)


def _wire(value: Any) -> Any:
    """bytes as base64 (planning.rows.shown writes them alike); anything else: the Python renderer's."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise _Binary


def lazy_images() -> Callable[[Change], Change]:
    """What a source passes each change it built from Python objects through: with the native
    engine, `to_lazy`; with the Python engine, nothing."""
    return to_lazy if engine_name() == "native" else _same


def _same(change: Change) -> Change:
    return change


def to_lazy(change: Change) -> Change:
    """An INSERT/MODIFY with a dict image -> the same change, its image in `raw` (LAZY); a REMOVE
    -> the same change with its record in `raw` (keys only, as the Python engine reports it)."""
    if change.raw is not None:
        return change
    image = change.new_image
    if change.op == REMOVE:
        try:
            change.raw = orjson.dumps(record_of(change, None), default=_wire)
        except (_Binary, TypeError, orjson.JSONEncodeError):
            pass
        return change
    if type(image) is not dict:
        return change
    try:
        change.raw = orjson.dumps(record_of(change, image), default=_wire)
    except (_Binary, TypeError, orjson.JSONEncodeError):
        return change
    change.names = list(image)  # every attribute met counts for the schema, superseded ones too
    change.new_image = LAZY
    return change
