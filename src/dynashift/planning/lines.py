"""Reading one JSON line of change records cheaply.

A 2 KB change record parsed whole costs ~10 µs and ~20 KB of Python objects, yet only the newest
change per key is ever rendered. So a line holding one change record is read lazily with simdjson:
the envelope (table, op, keys, time, identity) is materialised, the NewImage stays in the raw line
(`LAZY`) and is parsed only if the change wins its key. Anything else (Lambda events, GetRecords
documents, odd values) takes the general orjson path with identical results.
"""

from __future__ import annotations

from typing import Any, Iterator

import orjson
import simdjson

from ..decode import decode_change, expand
from ..errors import BadRecordError
from ..records import LAZY, Change



class LineDecoder:
    """Decodes lines into Changes (or BadRecordErrors), remembering attribute names already met so
    that a lazy change carries its names only when one is new (schema evolution needs them)."""

    def __init__(self, default_table: str | None = None):
        self.default_table = default_table
        self.last_version = 0
        self._parser = simdjson.Parser()
        self._names: dict[str, set[str]] = {}

    def decode_lines(self, lines: list[bytes], start: int, prefix: str, offset: int) -> tuple[list[Change], int]:
        """Bulk decoding of whole file lines from `start` (at byte `offset`; seq = `prefix` +
        15-digit offset + separator + 000000): the changes of the lines decoded and the index of
        the first line left for `decode`. The Python engine has no bulk path: none decoded."""
        return [], start

    def decode(self, line: bytes, seq_base: str) -> Iterator[Change | BadRecordError]:
        """Every change of one line; `seq_base` + a 6-digit index is each change's seq."""
        try:
            change = self._lazy(line, seq_base + "000000")
        except (ValueError, RuntimeError, KeyError, TypeError):
            change = None  # not one plain change record, or simdjson refused it: the general path
        except BadRecordError as exc:
            yield exc
            return
        if change is not None:
            self.last_version = change.version
            yield change
            return
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield BadRecordError(f"not JSON: {exc}")
            return
        single = not (type(obj) is dict and "Records" in obj and "dynamodb" not in obj)
        for i, rec in expand(obj):
            if isinstance(rec, BadRecordError):
                yield rec
                continue
            try:
                change = decode_change(rec, f"{seq_base}{i:06d}", default_table=self.default_table,
                                       fallback_version=self.last_version, raw=line if single else None)
            except BadRecordError as exc:
                exc.record = rec  # type: ignore[attr-defined]
                yield exc
                continue
            self.last_version = change.version
            yield change

    def _lazy(self, line: bytes, seq: str) -> Change | None:
        # Each lookup on a lazy object scans its keys; ask only for what decoding needs.
        doc = self._parser.parse(line)
        try:
            if not isinstance(doc, simdjson.Object):
                return None
            ddb = doc["dynamodb"]
            if not isinstance(ddb, simdjson.Object):
                return None
            table, op = doc.get("tableName"), doc.get("eventName")
            rec: dict[str, Any] = {
                "eventName": op,
                "tableName": table,
                "eventID": doc.get("eventID"),
                "userIdentity": _plain(doc.get("userIdentity")),
            }
            if not table:
                rec["eventSourceARN"] = doc.get("eventSourceARN")
            block: dict[str, Any] = {
                "ApproximateCreationDateTime": ddb.get("ApproximateCreationDateTime"),
                "ApproximateCreationDateTimePrecision": ddb.get("ApproximateCreationDateTimePrecision"),
                "Keys": _plain(ddb.get("Keys")),
            }
            names = None
            # A REMOVE needs only its OldImage (soft deletes); INSERT/MODIFY only their NewImage.
            image = ddb.get("OldImage" if op == "REMOVE" else "NewImage")
            if isinstance(image, simdjson.Object):
                block["OldImage" if op == "REMOVE" else "NewImage"] = LAZY
                if op != "REMOVE":
                    names = list(image.keys())
            elif image is not None:
                return None
            elif op != "REMOVE":
                block["StreamViewType"] = ddb.get("StreamViewType")
            rec["dynamodb"] = block
        finally:
            doc = ddb = image = None  # simdjson refuses to parse again while proxies are alive
        change = decode_change(rec, seq, default_table=self.default_table,
                               fallback_version=self.last_version, raw=line)
        if names is not None and change.new_image is LAZY:
            known = self._names.get(change.table)
            if known is None:
                known = self._names[change.table] = set()
            if not known.issuperset(names):
                known.update(names)
                change.names = names
        return change


def _plain(value: Any) -> Any:
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    if isinstance(value, simdjson.Array):
        return value.as_list()
    return value
