"""DynamoDB change records -> Change values, and typed attribute values -> column text.

Pure functions, no I/O. Rendering follows docs/reference.md §3: numbers are never parsed into floats
(their text is kept, 38 digits stay exact), maps are compact JSON with sorted names, sets are
sorted arrays. Only the newest change per key is rendered, so `decode_change` leaves images in
typed JSON and `render_item` is called later on the winners.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime, timezone
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, Iterator

import orjson

from .errors import BadRecordError
from .records import INSERT, LAZY, MODIFY, OPS, REMOVE, Change

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_ANY_NUMBER = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,255}")
_SORT = orjson.OPT_SORT_KEYS
_TTL_PRINCIPAL = "dynamodb.amazonaws.com"


def _bytes_default(value: Any) -> Any:
    """orjson fallback: boto3 hands binary values over as bytes; DynamoDB JSON carries base64."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot render {type(value).__name__}")


# ---------------------------------------------------------------- numbers


def number_text(text: Any) -> str:
    """A DynamoDB number as column text: exactly as written, once checked to be a number."""
    if type(text) is not str:
        raise BadRecordError(f"N value is not a string: {text!r}"[:200])
    if _JSON_NUMBER.fullmatch(text) or _loose_number(text) is not None:
        return text
    raise BadRecordError(f"invalid number {text!r}"[:200])


def _loose_number(text: str) -> str | None:
    """Rewrite a valid number that JSON cannot hold as written (`+5`, `.5`, `5.`, `007`) into
    JSON number syntax with the same digits; None when it is no number at all."""
    m = _ANY_NUMBER.fullmatch(text)
    if m is None:
        return None
    sign, whole, frac, exp = m.groups()
    if not whole and not frac:
        return None
    whole = whole.lstrip("0") or "0"
    out = ("-" if sign == "-" else "") + whole
    if frac:
        out += "." + frac
    if exp is not None:
        out += "e" + exp
    return out


def json_number(text: Any) -> orjson.Fragment:
    """A DynamoDB number as a JSON number token with its exact digits (never via float)."""
    if type(text) is not str:
        raise BadRecordError(f"N value is not a string: {text!r}"[:200])
    if _JSON_NUMBER.fullmatch(text):
        return orjson.Fragment(text)
    fixed = _loose_number(text)
    if fixed is None:
        raise BadRecordError(f"invalid number {text!r}"[:200])
    return orjson.Fragment(fixed)


def _number_sort_key(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise BadRecordError(f"invalid number {text!r}"[:200]) from None


# ---------------------------------------------------------------- values


def _string(value: Any) -> str:
    if type(value) is not str:
        raise BadRecordError(f"S value is not a string: {value!r}"[:200])
    return value


def _binary(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise BadRecordError(f"B value is not base64 text: {value!r}"[:200])


def _bool(value: Any) -> bool:
    if value is True or value is False:
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadRecordError(f"BOOL value is not a boolean: {value!r}"[:200])


def _list(value: Any, tag: str) -> list:
    if type(value) is not list:
        raise BadRecordError(f"{tag} value is not a list"[:200])
    return value


def _string_set(value: Any, tag: str) -> list[str]:
    conv = _string if tag == "SS" else _binary
    return sorted({conv(v) for v in _list(value, tag)})


def _number_set(value: Any) -> list[orjson.Fragment]:
    by_value: dict[Decimal, str] = {}
    for text in _list(value, "NS"):
        by_value.setdefault(_number_sort_key(number_text(text)), text)
    return [json_number(by_value[k]) for k in sorted(by_value)]


def _unwrap(av: Any) -> tuple[str, Any]:
    if type(av) is not dict or len(av) != 1:
        raise BadRecordError(f"not a DynamoDB attribute value: {av!r}"[:200])
    ((tag, v),) = av.items()
    return tag, v


_FRAGMENT = orjson.Fragment
_is_json_number = _JSON_NUMBER.fullmatch


def plain(av: Any) -> Any:
    """Typed JSON -> plain JSON-ready value (numbers as exact JSON tokens), per the M/L row of docs/reference.md §3.
    The hot path of rendering: the common types are tested first and checked inline."""
    if type(av) is not dict or len(av) != 1:
        raise BadRecordError(f"not a DynamoDB attribute value: {av!r}"[:200])
    ((tag, v),) = av.items()
    if tag == "S":
        if type(v) is str:
            return v
        raise BadRecordError(f"S value is not a string: {v!r}"[:200])
    if tag == "N":
        if type(v) is str and _is_json_number(v):
            return _FRAGMENT(v)
        return json_number(v)
    if tag == "M":
        if type(v) is not dict:
            raise BadRecordError("M value is not an object")
        return {k: plain(x) for k, x in v.items()}
    if tag == "L":
        if type(v) is not list:
            raise BadRecordError("L value is not a list")
        return [plain(x) for x in v]
    if tag == "BOOL":
        return v if (v is True or v is False) else _bool(v)
    if tag == "NULL":
        return None
    if tag == "B":
        return _binary(v)
    if tag == "SS" or tag == "BS":
        return _string_set(v, tag)
    if tag == "NS":
        return _number_set(v)
    raise BadRecordError(f"unknown attribute type {tag!r}"[:200])


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=_SORT).decode()


def render_value(av: Any) -> tuple[str, str | None]:
    """One attribute value -> (its type tag, its column text) per the table in docs/reference.md §3."""
    try:
        return _render_value(av)
    except RecursionError:
        raise BadRecordError("attribute value nested too deeply (DynamoDB allows 32 levels)") from None
    except orjson.JSONEncodeError as exc:  # orjson stops at 255 levels
        raise BadRecordError(f"attribute value cannot be rendered: {exc}"[:200]) from None


def _render_value(av: Any) -> tuple[str, str | None]:
    if type(av) is not dict or len(av) != 1:
        raise BadRecordError(f"not a DynamoDB attribute value: {av!r}"[:200])
    ((tag, v),) = av.items()
    if tag == "S":
        if type(v) is str:
            return tag, v
        raise BadRecordError(f"S value is not a string: {v!r}"[:200])
    if tag == "N":
        if type(v) is str and _is_json_number(v):
            return tag, v
        return tag, number_text(v)
    if tag == "M":
        if type(v) is not dict:
            raise BadRecordError("M value is not an object")
        return tag, orjson.dumps({k: plain(x) for k, x in v.items()}, option=_SORT).decode()
    if tag == "BOOL":
        return tag, "true" if _bool(v) else "false"
    if tag == "NULL":
        return tag, None
    if tag == "L":
        if type(v) is not list:
            raise BadRecordError("L value is not a list")
        return tag, orjson.dumps([plain(x) for x in v], option=_SORT).decode()
    if tag == "B":
        return tag, _binary(v)
    if tag == "SS" or tag == "BS":
        return tag, _dumps(_string_set(v, tag))
    if tag == "NS":
        return tag, _dumps(_number_set(v))
    raise BadRecordError(f"unknown attribute type {tag!r}"[:200])


def render_item(image: dict[str, Any], types_seen: dict[str, set[str]] | None = None) -> dict[str, str | None]:
    """An item (NewImage or Keys) -> {attribute name: column text}; records each type seen."""
    if type(image) is not dict:
        raise BadRecordError("image is not an object")
    out: dict[str, str | None] = {}
    for name, av in image.items():
        tag, text = render_value(av)
        out[name] = text
        if types_seen is not None:
            seen = types_seen.get(name)
            if seen is None:
                types_seen[name] = {tag}
            else:
                seen.add(tag)
    return out


def dist_key(keys: Any) -> str:
    """The row identity: Keys as compact typed JSON with sorted names (docs/reference.md §2)."""
    if type(keys) is not dict or not keys:
        raise BadRecordError("missing Keys")
    for av in keys.values():
        tag, v = _unwrap(av)
        if tag not in ("S", "N", "B"):
            raise BadRecordError(f"key attribute of type {tag!r}: keys are S, N or B")
        if tag == "N":
            number_text(v)
        elif tag == "S":
            _string(v)
        else:
            _binary(v)
    try:
        return orjson.dumps(keys, option=_SORT, default=_bytes_default).decode()
    except TypeError as exc:
        raise BadRecordError(f"Keys cannot be rendered: {exc}") from None


# ---------------------------------------------------------------- times


def parse_time(value: Any, precision: Any = None) -> int | None:
    """ApproximateCreationDateTime in any form seen in the wild -> microseconds since the epoch.

    Integers, floats, exponent notation and strings; seconds, milliseconds or microseconds, told
    apart by `precision` when the record says, else by magnitude (seconds below 1e11, i.e. before
    the year 5138; milliseconds below 1e14). Floats go through their shortest repr, not binary.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    if type(value) is int:
        number: int | Decimal = value
    elif type(value) is float:
        number = Decimal(repr(value))
        if not number.is_finite():
            raise BadRecordError(f"ApproximateCreationDateTime is not a time: {value!r}"[:200])
    elif type(value) is str:
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise BadRecordError(f"ApproximateCreationDateTime is not a time: {value!r}"[:200]) from None
        if not number.is_finite():
            raise BadRecordError(f"ApproximateCreationDateTime is not a time: {value!r}"[:200])
    else:
        raise BadRecordError(f"ApproximateCreationDateTime is not a time: {value!r}"[:200])
    if not -_MAX_RAW < number < _MAX_RAW:  # before any arithmetic: 1E999999999 must not be computed
        raise BadRecordError(f"ApproximateCreationDateTime out of range: {value!r}"[:200])
    factor = _factor(number, precision)
    if type(number) is int:
        micros = number * factor
    else:
        micros = int((number * factor).to_integral_value(ROUND_FLOOR))
    if not _MIN_MICROS <= micros < _MAX_MICROS:
        raise BadRecordError(f"ApproximateCreationDateTime out of range: {value!r}"[:200])
    return micros


_MIN_MICROS = -62135596800 * 1_000_000  # 0001-01-01
_MAX_MICROS = 253402300800 * 1_000_000  # 10000-01-01
_MAX_RAW = Decimal(_MAX_MICROS)


def _factor(number: int | Decimal, precision: Any) -> int:
    if isinstance(precision, str):
        p = precision.upper()
        if p.startswith("MICRO"):
            return 1
        if p.startswith("MILLI"):
            return 1000
        if p.startswith("SEC"):
            return 1_000_000
    size = abs(number)
    if size < 100_000_000_000:
        return 1_000_000
    if size < 100_000_000_000_000:
        return 1000
    return 1


# ---------------------------------------------------------------- records


def table_from_arn(arn: Any) -> str | None:
    """`arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL` -> NAME (None for placeholders)."""
    if not isinstance(arn, str) or ":table/" not in arn:
        return None
    name = arn.split(":table/", 1)[1].split("/", 1)[0]
    return name if _TABLE_NAME.fullmatch(name) else None


def is_ttl_identity(identity: Any) -> bool:
    """TTL expiries are REMOVEs by the DynamoDB service principal (Streams API capitalises keys)."""
    if type(identity) is not dict:
        return False
    kind = identity.get("type", identity.get("Type"))
    principal = identity.get("principalId", identity.get("PrincipalId"))
    return kind == "Service" and principal == _TTL_PRINCIPAL


def decode_change(
    rec: Any,
    seq: str,
    *,
    default_table: str | None = None,
    fallback_version: int = 0,
    raw: bytes | None = None,
) -> Change:
    """One change record (Kinesis payload or DynamoDB Streams record) -> Change.

    A record without a time takes `fallback_version` (the caller passes the last version seen in
    the same input), so an in-order stream keeps its order through `seq`. Raises BadRecordError
    with the reason the record goes to `rejected` for.
    """
    if type(rec) is not dict:
        raise BadRecordError("not a DynamoDB change record: not a JSON object")
    ddb = rec.get("dynamodb")
    if type(ddb) is not dict:
        raise BadRecordError("not a DynamoDB change record: no `dynamodb` block")
    op = rec.get("eventName")
    if op not in OPS:
        raise BadRecordError(f"not a DynamoDB change record: eventName {op!r}"[:200])
    keys = ddb.get("Keys")
    if type(keys) is not dict or not keys:
        raise BadRecordError("missing Keys")
    table = rec.get("tableName") or table_from_arn(rec.get("eventSourceARN")) or default_table
    if not isinstance(table, str) or not table:
        raise BadRecordError("no table name: the record carries none; name it with --table")
    new_image = ddb.get("NewImage")
    if op != REMOVE:
        if new_image is None:
            view = ddb.get("StreamViewType") or "KEYS_ONLY or OLD_IMAGE"
            raise BadRecordError(
                f"{op} without NewImage ({view} stream view type) cannot be replicated: "
                "use NEW_IMAGE or NEW_AND_OLD_IMAGES"
            )
        if type(new_image) is not dict and new_image is not LAZY:
            raise BadRecordError("NewImage is not an object")
        old_image = None
    else:
        new_image = None
        old_image = ddb.get("OldImage")
        if type(old_image) is not dict and old_image is not LAZY:
            old_image = None
    precision = ddb.get("ApproximateCreationDateTimePrecision") or rec.get(
        "approximateCreationDateTimePrecision"
    )
    version = parse_time(ddb.get("ApproximateCreationDateTime"), precision)
    event_id = rec.get("eventID")
    return Change(
        table=table,
        op=op,
        keys=keys,
        new_image=new_image,
        version=fallback_version if version is None else version,
        seq=seq,
        dist_key=dist_key(keys),
        event_id=event_id if isinstance(event_id, str) else "",
        ttl=op == REMOVE and is_ttl_identity(rec.get("userIdentity")),
        raw=raw,
        old_image=old_image,
    )


def image_of(change: Change, which: str = "NewImage") -> dict[str, Any] | None:
    """The change's NewImage (or a REMOVE's OldImage), parsed from the raw record if left lazy."""
    image = change.new_image if which == "NewImage" else change.old_image
    if image is not LAZY:
        return image
    try:
        image = orjson.loads(change.raw)["dynamodb"][which]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise BadRecordError(f"NewImage cannot be read: {exc}"[:200]) from None
    if type(image) is not dict:
        raise BadRecordError("NewImage is not an object")
    return image


def expand(obj: Any) -> Iterator[tuple[int, Any]]:
    """Envelopes -> change records: a Lambda or GetRecords `{"Records": [...]}` document, a Lambda
    Kinesis record (base64 `kinesis.data`), or a bare record. Yields (index, record); a Kinesis
    payload that does not decode is yielded as a BadRecordError for the caller to reject."""
    records = obj.get("Records") if type(obj) is dict and "dynamodb" not in obj else None
    items = records if type(records) is list else [obj]
    for i, rec in enumerate(items):
        if type(rec) is dict and type(rec.get("kinesis")) is dict and "dynamodb" not in rec:
            yield i, _kinesis_payload(rec["kinesis"])
        else:
            yield i, rec


def _kinesis_payload(kinesis: dict) -> Any:
    data = kinesis.get("data")
    try:
        return orjson.loads(base64.b64decode(data, validate=True))
    except (TypeError, ValueError, orjson.JSONDecodeError) as exc:
        return BadRecordError(f"Kinesis data is not base64 JSON: {exc}"[:200])


__all__ = [
    "INSERT",
    "MODIFY",
    "REMOVE",
    "decode_change",
    "dist_key",
    "expand",
    "json_number",
    "number_text",
    "parse_time",
    "plain",
    "render_item",
    "render_value",
    "table_from_arn",
]
