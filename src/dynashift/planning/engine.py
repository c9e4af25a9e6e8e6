"""The engine behind planning: the pure-Python reference, or the native one (Rust, `native/`).

Both sit behind one small interface, used at two points of the hot path:

- `line_decoder(default_table)`: what sources decode each line (file line, Kinesis payload) with;
- `render_rows(pairs)`: one table's winners rendered into Arrow text columns, or None when the
  Python path renders them (the Python engine always answers None).

The native engine is the Python one with its per-record work done in Rust: whatever it is not sure
about (a malformed or unusual record, a table with typed columns, the item column or history) it
hands back to the Python code, which decides, so the two agree by construction on every record
the native engine accepts; tests/unit/test_engine_equivalence.py checks it. `DYNASHIFT_ENGINE=python|native`
forces one; unset, the native engine runs when installed (`pip install ./native`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

import pyarrow as pa

from ..engine_choice import (  # noqa: F401  (re-exported: the engine's interface)
    ENV, NATIVE_API, _native, engine_description, engine_name, native_available, native_engine, stale_native,
)
from ..model import HARD_DELETE, SOFT_DELETE, SOFT_DELETE_WITH_VALUES, UPSERT, Modes
from ..records import LAZY, Change
from ..schema import CHANGED_AT, DIST_KEY, STAGE_EVENT, STAGE_OP, STAGE_SEQ, STAGE_VALUES_SEQ, STAGE_VALUES_VERSION, STAGE_VERSION
from .lines import LineDecoder
from .typed_native import typing_over

if TYPE_CHECKING:
    from .rows import Values

_log = logging.getLogger("dynashift.engine")

class Decoder(Protocol):
    last_version: int

    def decode(self, line: bytes, seq_base: str) -> Iterator[Any]: ...


def line_decoder(default_table: str | None = None) -> LineDecoder:
    """The decoder a source reads change-record lines with (each source keeps one)."""
    if engine_name() == "native":
        return NativeLineDecoder(default_table)
    return LineDecoder(default_table)


class NativeLineDecoder(LineDecoder):
    """LineDecoder whose plain records are decoded in Rust; every other record (and every record
    the native decoder is not sure about) takes the Python code, which decides."""

    def __init__(self, default_table: str | None = None):
        super().__init__(default_table)
        self._fast = _native.Decoder(default_table, Change, LAZY)

    def decode_lines(self, lines: list[bytes], start: int, prefix: str, offset: int) -> tuple[list[Change], int]:
        changes, stop, self.last_version = self._fast.decode_lines(lines, start, prefix, offset, self.last_version)
        for change in changes:
            if change.names is not None:
                self._learned(change.table, change.names)
        return changes, stop

    def _learned(self, table: str, names: list[str]) -> None:
        known = self._names.get(table)
        if known is None:
            known = self._names[table] = set()
        known.update(names)

    def decode(self, line: bytes, seq_base: str) -> Iterator[Any]:
        out = self._fast.decode(line) if type(line) is bytes else None
        if out is None:
            for item in super().decode(line, seq_base):
                if isinstance(item, Change) and item.names is not None:
                    self._fast.learn(item.table, item.names)
                yield item
            return
        table, op, keys, version, dist_key, event_id, ttl, new_lazy, old_lazy, names = out
        if version is None:
            version = self.last_version
        if names is not None:
            self._learned(table, names)
        self.last_version = version
        yield Change(table, op, keys, LAZY if new_lazy else None, version, seq_base + "000000", dist_key, event_id,
                     ttl, line, LAZY if old_lazy else None, names)


def export_keys_reader() -> Callable[[bytes, list[str]], tuple[dict, str] | None] | None:
    """The native reader of a full export line's keys ((keys, dist_key), or None for the Python
    code to decide), or None with the Python engine."""
    return _native.export_keys if engine_name() == "native" else None


@dataclass(slots=True)
class NativeRows:
    """One table's winners rendered natively: `columns` maps each attribute met to its Arrow text
    column (in the order first met, as the Python path meets them), `types` to its type tags;
    `meta` holds the metadata columns, as rows.meta_arrays makes them, when made natively too;
    `typing` each column's per-row facts when rendered for typed columns (planning/typed_native.py)."""

    count: int
    columns: dict[str, pa.Array]
    types: dict[str, list[str]]
    meta: dict[str, pa.Array] | None = None
    typing: dict[str, Any] | None = None


_logged: set[str] = set()


def log_fallback_once(table: str, reason: str) -> None:
    """A table the native engine hands to the Python path: said once per table and reason."""
    if (table, reason) not in _logged and engine_name() == "native":
        _logged.add((table, reason))  # type: ignore[arg-type]
        _log.info("table %s: planned by the Python engine (%s)", table, reason)


def render_rows(pairs: list[tuple[Change, Values | None]], modes: Modes | None = None, soft: bool = False
                ) -> NativeRows | None:
    """One text-mode table's winners rendered by the native engine (the GIL released meanwhile),
    with their metadata columns (`soft`: with the values' version, as rows.meta_arrays), or None
    when the Python path must render them (Python engine, or a record it must judge)."""
    if _native is None or engine_name() != "native" or not pairs:
        return None
    out = _native.render_winners(pairs, LAZY, (UPSERT, HARD_DELETE, SOFT_DELETE, SOFT_DELETE_WITH_VALUES),
                                 modes is not None and modes.delete == "soft", modes is not None and modes.ttl == "soft",
                                 soft)
    if out is None:
        return None
    count, cols, meta = out
    return native_rows(count, cols, meta, soft)


def native_rows(count: int, cols: list, meta: tuple, soft: bool = False) -> NativeRows:
    """Natively rendered columns and metadata columns (dist_key, op, version, seq, event and, with
    `soft`, the values' version and seq) as NativeRows over the native buffers."""
    columns: dict[str, pa.Array] = {}
    types: dict[str, list[str]] = {}
    typing: dict[str, Any] | None = None
    for name, tags, offsets, data, validity, nulls, *typed in cols:
        columns[name] = strings_over(count, (offsets, data, validity, nulls))
        types[name] = tags
        if typed:  # rendered for typed columns: the column's per-row facts too
            typing = typing if typing is not None else {}
            typing[name] = typing_over(count, typed[0])
    dist, op, version, seq, event, *values = meta
    versions = ints_over(count, version)
    arrays = {
        DIST_KEY: strings_over(count, dist),
        STAGE_OP: strings_over(count, op),
        STAGE_VERSION: versions,
        STAGE_SEQ: strings_over(count, seq),
        STAGE_EVENT: strings_over(count, event),
        CHANGED_AT: versions.cast(_TS),
    }
    if soft:
        arrays[STAGE_VALUES_VERSION] = ints_over(count, values[0])
        arrays[STAGE_VALUES_SEQ] = strings_over(count, values[1])
    return NativeRows(count, columns, types, arrays, typing)


_TS = pa.timestamp("us", tz="UTC")


def strings_over(count: int, parts: tuple) -> pa.Array:
    """A string array over native buffers (no copy): (offsets, data, validity or None, nulls)."""
    offsets, data, validity, nulls = parts
    buffers = [None if validity is None else pa.py_buffer(validity), pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), count, buffers, null_count=nulls)


def ints_over(count: int, parts: tuple) -> pa.Array:
    """An int64 array over native buffers (no copy): (values, validity or None, nulls)."""
    values, validity, nulls = parts
    buffers = [None if validity is None else pa.py_buffer(validity), pa.py_buffer(values)]
    return pa.Array.from_buffers(pa.int64(), count, buffers, null_count=nulls)
