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
        """rows.meta_arrays for these winners: made natively with them, else all upserts."""
        if self.rows.meta is not None:
            return dict(self.rows.meta)
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
    """A SourceBatch whose changes are held as RenderedBlocks (one per table); reading `changes`
    decodes them in Python (`expand`, which leaves out the lines already in `rejected`) and drops
    the blocks. `ttl_ignored` counts the TTL expiries left out of the blocks, which were made
    for `ttl_ignore` (whether planning ignores TTL expiries; None: the batch holds none)."""

    __slots__ = ("blocks", "_expand", "_changes", "ttl_ignored", "ttl_ignore")

    def __init__(self, block: RenderedBlock | list[RenderedBlock], expand: Callable[[], list[Change]],
                 rejected: list[Rejected], checkpoints: list[Checkpoint], records_read: int, bytes_read: int):
        # every other field of a SourceBatch at its default (the setter below takes `changes`)
        super().__init__(rejected=rejected, checkpoints=checkpoints, records_read=records_read, bytes_read=bytes_read)
        self.blocks: list[RenderedBlock] | None = list(block) if isinstance(block, list) else [block]
        self._expand = expand
        self._changes: list[Change] | None = None
        self.ttl_ignored = 0
        self.ttl_ignore: bool | None = None  # None: no change of the batch is a TTL expiry (full loads)

    @property
    def block(self) -> RenderedBlock | None:
        """The first block (a full load has one), or None once the changes were decoded."""
        return self.blocks[0] if self.blocks else None

    @property  # type: ignore[override]
    def changes(self) -> list[Change]:
        if self._changes is None:
            self._changes = self._expand()
            self.blocks = None
        return self._changes

    @changes.setter
    def changes(self, value: list[Change]) -> None:
        self._changes = value
        self.blocks = None

    def __repr__(self) -> str:
        held = (f"{len(self.blocks)} blocks of {sum(b.rows.count for b in self.blocks)}" if self.blocks is not None
                else f"{len(self.changes)} changes")
        return f"BlockBatch({held}, {len(self.rejected)} rejected, {self.records_read} read)"


def plannable_blocks(sb: SourceBatch, modes: Modes, extended: Callable[[str], TableModes] | None
                     ) -> list[RenderedBlock] | None:
    """The batch's blocks when planning takes them as they are (text columns, no routing, hard
    deletes, the TTL mode they were made for), else None."""
    if not isinstance(sb, BlockBatch) or sb.blocks is None or modes.router is not None:
        return None
    if sb.ttl_ignore is not None and sb.ttl_ignore != (modes.ttl == "ignore"):
        return None
    if "soft" in (modes.delete, modes.ttl) and any(b.rows.meta is not None for b in sb.blocks):
        return None  # changes of any op: a soft delete needs the Python planner
    if extended is not None and not all(natively_typed(extended(b.table), b) for b in sb.blocks):
        return None
    return sb.blocks


def natively_typed(modes: TableModes, block: RenderedBlock) -> bool:
    """Whether planning takes this block as it is under the table's modes: text columns, or typed
    columns rendered with their per-row facts (planning/typed_native.py), without the item column
    or history (those need every change's image in Python)."""
    return modes is PLAIN or (not modes.item_column and modes.history == "off" and block.rows.typing is not None)
