"""A batch of full-load items planned without a Change per item.

A full export is one INSERT per key, ~1 KB each, millions of them: a Python object per item costs
more than all the native work on it. The native engine (sources/export_native.py) hands planning
one `RenderedBlock` per batch instead: each key's newest item, found and rendered in Rust, with the
counters batching.Batch would have kept. Planning takes it as it is when the table has text columns
only and no routing; otherwise the batch's `changes` are decoded by the Python path on first use,
so every other consumer of a SourceBatch (filters, splitting, dry runs) sees ordinary changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import pyarrow as pa

from ..model import PLAIN, UPSERT, Modes
from ..records import Change, Checkpoint, Rejected, SourceBatch
from ..schema import CHANGED_AT, DIST_KEY, STAGE_EVENT, STAGE_OP, STAGE_SEQ, STAGE_VALUES_SEQ, STAGE_VALUES_VERSION, STAGE_VERSION, TableModes

if TYPE_CHECKING:
    from .engine import NativeRows

_TS = pa.timestamp("us", tz="UTC")


@dataclass(slots=True)
class RenderedBlock:
    """One table's winners of a batch of INSERTs (all of seq `seq`, no event ids), rendered."""

    table: str
    key_names: list[str]
    rows: NativeRows
    dist_keys: pa.Array
    versions: pa.Array  # int64
    seq: str = ""
    names: dict[str, None] = field(default_factory=dict)  # attributes of items the Python decoder parsed
    duplicates: int = 0
    stale: int = 0
    superseded: int = 0

    def meta_arrays(self, soft: bool) -> dict[str, pa.Array]:
        """rows.meta_arrays for these winners: all upserts."""
        n = self.rows.count
        arrays = {
            DIST_KEY: self.dist_keys,
            STAGE_OP: pa.repeat(pa.scalar(UPSERT, pa.string()), n),
            STAGE_VERSION: self.versions,
            STAGE_SEQ: pa.repeat(pa.scalar(self.seq, pa.string()), n),
            STAGE_EVENT: pa.repeat(pa.scalar("", pa.string()), n),
            CHANGED_AT: self.versions.cast(_TS),
        }
        if soft:
            arrays[STAGE_VALUES_VERSION] = pa.nulls(n, pa.int64())
            arrays[STAGE_VALUES_SEQ] = pa.nulls(n, pa.string())
        return arrays


class BlockBatch(SourceBatch):
    """A SourceBatch whose changes are held as a RenderedBlock; reading `changes` decodes them in
    Python (`expand`, which leaves out the lines already in `rejected`) and drops the block."""

    __slots__ = ("block", "_expand", "_changes")

    def __init__(self, block: RenderedBlock, expand: Callable[[], list[Change]], rejected: list[Rejected],
                 checkpoints: list[Checkpoint], records_read: int, bytes_read: int):
        # every other field of a SourceBatch at its default (the setter below takes `changes`)
        super().__init__(rejected=rejected, checkpoints=checkpoints, records_read=records_read, bytes_read=bytes_read)
        self.block: RenderedBlock | None = block
        self._expand = expand
        self._changes: list[Change] | None = None

    @property  # type: ignore[override]
    def changes(self) -> list[Change]:
        if self._changes is None:
            self._changes = self._expand()
            self.block = None
        return self._changes

    @changes.setter
    def changes(self, value: list[Change]) -> None:
        self._changes = value
        self.block = None

    def __repr__(self) -> str:
        held = f"block of {self.block.rows.count}" if self.block is not None else f"{len(self.changes)} changes"
        return f"BlockBatch({held}, {len(self.rejected)} rejected, {self.records_read} read)"


def plannable_block(sb: SourceBatch, modes: Modes, extended: Callable[[str], TableModes] | None) -> RenderedBlock | None:
    """The batch's block when planning takes it as it is (text columns, no routing), else None."""
    if not isinstance(sb, BlockBatch) or sb.block is None or modes.router is not None:
        return None
    if extended is not None and extended(sb.block.table) is not PLAIN:
        return None
    return sb.block
