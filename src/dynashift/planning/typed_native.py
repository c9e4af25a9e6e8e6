"""Typed columns planned from a natively rendered block, without a Python object per value.

The reference is typed.py's render_extended + typing_mode.stage_columns over Python rows. The
native engine renders a typed table's winners as it renders a text one (planning/blocks.py's
RenderedBlock), each column with its per-row facts (native/src/typing.rs): the value's type tag,
and for a number the (integer digits, scale) it needs and its plain text, as typing_mode.number_needs
computes them. From those this module makes what the Python path makes: the batch's `Seen` (types
and numbers' needs per attribute, so typing_mode.plan_columns decides the same types, widenings and
variants) and the staged columns (a typed column's fitting values, normalised; the rest in its text
variant), with Arrow compute over whole columns. Only for typed columns of hard-delete tables
without the item column or history; anything else is planned by the Python path as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from ..model import BatchPlan, TypedStage
from ..overflow import overflow_array
from ..schema import OVERFLOW, TableInfo, TableModes
from ..typing_mode import BINARY, BOOLEAN, DECIMAL, JSON, NUMERIC, TEXT, Layout, Seen, decimal_parts, family
from .blocks import RenderedBlock

if TYPE_CHECKING:
    from .engine import NativeRows

TAGS = ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS")  # native/src/rendering.rs TAGS, by index
ABSENT = 255  # a row without the attribute (native/src/typing.rs)
_N = TAGS.index("N")
_KIND_TAGS = {BOOLEAN: ("BOOL",), BINARY: ("B",), JSON: ("M", "L", "SS", "NS", "BS")}  # typing_mode._FAMILY
_NULL_TEXT = pa.scalar(None, pa.string())


@dataclass(slots=True)
class ColumnTyping:
    """One rendered column's per-row facts, as Arrow arrays (chunked as its text column)."""

    tags: pa.Array | pa.ChunkedArray  # uint8: TAGS index, ABSENT where the row lacks the attribute
    ints: pa.Array | pa.ChunkedArray  # int8: a number's integer digits, -1 when none fit 38 digits
    scales: pa.Array | pa.ChunkedArray  # int8: its scale, -1 likewise
    plain: pa.Array | pa.ChunkedArray  # string: its plain text (typing_mode.number_needs' third part)


def typing_over(count: int, parts: tuple) -> ColumnTyping:
    """ColumnTyping over the native buffers (no copy): (tags, ints, scales, plain offsets, plain data)."""
    tags, ints, scales, offsets, data = parts
    return ColumnTyping(pa.Array.from_buffers(pa.uint8(), count, [None, pa.py_buffer(tags)]),
                        pa.Array.from_buffers(pa.int8(), count, [None, pa.py_buffer(ints)]),
                        pa.Array.from_buffers(pa.int8(), count, [None, pa.py_buffer(scales)]),
                        pa.Array.from_buffers(pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(data)]))


def absent_typing(count: int) -> ColumnTyping:
    """The facts of `count` rows that lack the attribute (a rendering share that never met it)."""
    return ColumnTyping(pa.repeat(pa.scalar(ABSENT, pa.uint8()), count), pa.repeat(pa.scalar(-1, pa.int8()), count),
                        pa.repeat(pa.scalar(-1, pa.int8()), count), pa.repeat(pa.scalar("", pa.string()), count))


def chunked_typing(shares: list[ColumnTyping]) -> ColumnTyping:
    """Shares' facts as one column of each, chunked as the shares' text columns are."""
    return ColumnTyping(*(pa.chunked_array([getattr(s, f) for s in shares])
                          for f in ("tags", "ints", "scales", "plain")))


@dataclass(slots=True)
class NativeExtended:
    """A typed table of a natively rendered batch (typed.Extended's part that type_columns reads)."""

    modes: TableModes
    block: RenderedBlock
    seen: Seen
    info: TableInfo | None = None  # the table as this batch leaves it (set by typed.type_columns)


def native_typed(modes: TableModes, block: RenderedBlock) -> NativeExtended:
    """The table's Seen from its columns' facts, as typing_mode.render_tagged gathers it."""
    typing = block.rows.typing
    assert typing is not None
    seen = Seen()
    for attr, t in typing.items():  # columns in the order first met, as rows meet them
        counts = pc.value_counts(t.tags)
        seen.counts[attr] = {TAGS[v]: c for v, c in zip(counts.field("values").to_pylist(),
                                                         counts.field("counts").to_pylist()) if v != ABSENT}
        if "N" in seen.counts[attr]:
            packed = pc.add(pc.multiply(t.ints.cast(pa.int16()), 128), t.scales.cast(pa.int16()))
            found = pc.unique(pc.filter(packed, pc.equal(t.tags, _N))).to_pylist()
            seen.needs[attr] = {None if k < 0 else (k // 128, k % 128) for k in found}
    return NativeExtended(modes, block, seen)


def stage_native_typed(plan: BatchPlan, ext: NativeExtended, name: str, layouts: dict[str, Layout],
                       soft: bool) -> None:
    """typed.stage_extended for a natively rendered table (no item column, no history)."""
    block = ext.block
    arrays = block.meta_arrays(soft)
    columns, types = native_stage_columns(layouts, block.rows)
    arrays.update(columns)
    plan.stages.append(TypedStage(name, list(columns), pa.table(arrays), soft, types or None))


def native_stage_columns(layouts: dict[str, Layout], rows: NativeRows) -> tuple[dict, dict[str, str]]:
    """typing_mode.stage_columns over native columns: the same arrays (chunked) and types. Rows
    rendered without their per-row facts have text columns only (typed.render_natively)."""
    typing = rows.typing
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {}
    types: dict[str, str] = {}
    overflowed: list[str] = []
    for attr, text in rows.columns.items():
        lay = layouts[attr]
        if not lay.column:
            continue
        if lay.column == OVERFLOW:
            overflowed.append(attr)
            continue
        kind = family(lay.type)
        if kind == TEXT:
            arrays[lay.column] = text
            continue
        assert typing is not None  # (a typed column's rows are rendered with their facts)
        t = typing[attr]
        fit = _fits(lay.type, kind, t)  # type: ignore[arg-type]
        arrays[lay.column] = pc.if_else(fit, t.plain if kind == DECIMAL else text, _NULL_TEXT)
        types[lay.column] = lay.type  # type: ignore[assignment]
        if lay.variant is not None:
            arrays[lay.variant] = pc.if_else(fit, _NULL_TEXT, text)
    if overflowed:  # as core._native_stage: the overflowed attributes' rows as the Python path holds them
        values = [rows.columns[a].to_pylist() for a in overflowed]
        arrays[OVERFLOW] = overflow_array([dict(zip(overflowed, row)) for row in zip(*values)], overflowed)
        types[OVERFLOW] = JSON
    return arrays, types


def _fits(column_type: str, kind: str, t: ColumnTyping) -> pa.Array | pa.ChunkedArray:
    """typing_mode.fitter per row, never null: whether the row's value goes in the typed column."""
    if kind == DECIMAL:
        ints, scale = decimal_parts(column_type)
        return pc.and_(pc.and_(pc.equal(t.tags, _N), pc.greater_equal(t.ints, 0)),
                       pc.and_(pc.less_equal(t.ints, ints), pc.less_equal(t.scales, scale)))
    if kind == NUMERIC:
        return pc.equal(t.tags, _N)
    wanted = pa.array([TAGS.index(x) for x in _KIND_TAGS[kind]], pa.uint8())
    return pc.is_in(t.tags, value_set=wanted)
