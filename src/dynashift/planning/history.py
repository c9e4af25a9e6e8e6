"""History mode: `<table>__history` holds one row per version of each item, built set-based from
the same batches as the current-state table.

Every change of a batch is staged (not only each key's winner); exact duplicates are skipped, in
the batch by (dist_key, version, eventID or seq) and against the table by the same rule SQL uses
for duplicates (targets/base.py `_DUPLICATE`). Then one window over the touched keys recomputes
`_dynashift_valid_to` as the next version's `_dynashift_valid_from`, ordered by (version, seq) like
the current state: a late change lands in its place in the timeline and closes the version
before it. Two statements per table and batch, never one per key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from ..model import HistoryStage
from ..records import REMOVE, Change
from ..schema import (
    DIST_KEY,
    ITEM,
    STAGE_EVENT,
    STAGE_OP,
    STAGE_SEQ,
    STAGE_VERSION,
    TTL,
    VALID_FROM,
    TableInfo,
)
from ..typing_mode import JSON, Layout, stage_columns
from .typed_native import native_stage_columns

if TYPE_CHECKING:
    from .engine import NativeRows

_TS = pa.timestamp("us", tz="UTC")


def history_stage(info: TableInfo, layouts: dict[str, Layout], changes: list[Change], rows: list[dict[str, str | None]],
                  tags: list[dict[str, str]], items: list[str | None] | None) -> HistoryStage:
    """Every version of one table's batch: its op (INSERT, MODIFY, REMOVE), whether a REMOVE was a
    TTL expiry, its values (a REMOVE holds its key attributes only) and its item."""
    arrays = _meta(changes)
    present = list(dict.fromkeys(a for row in rows for a in row))
    columns, types = stage_columns(layouts, rows, tags, present)
    if items is not None:
        columns[ITEM] = pa.array(items, pa.string())
        types[ITEM] = JSON
    arrays.update(columns)
    assert info.history_table is not None
    return HistoryStage(info.name, info.history_table, list(columns), pa.table(arrays), types or None,
                        only=info.history == "only")


def native_history_stage(info: TableInfo, layouts: dict[str, Layout], changes: list[Change], rows: NativeRows
                         ) -> HistoryStage:
    """history_stage for versions rendered natively (text columns, no item column: typed.render_natively)."""
    arrays = _meta(changes)
    columns, types = native_stage_columns(layouts, rows)
    arrays.update(columns)
    assert info.history_table is not None
    return HistoryStage(info.name, info.history_table, list(columns), pa.table(arrays), types or None,
                        only=info.history == "only")


def _meta(changes: list[Change]) -> dict[str, pa.Array]:
    versions = pa.array([c.version for c in changes], pa.int64())
    return {
        DIST_KEY: pa.array([c.dist_key for c in changes], pa.string()),
        STAGE_OP: pa.array([c.op for c in changes], pa.string()),
        TTL: pa.array([c.op == REMOVE and c.ttl for c in changes], pa.bool_()),
        STAGE_VERSION: versions,
        STAGE_SEQ: pa.array([c.seq for c in changes], pa.string()),
        STAGE_EVENT: pa.array([c.event_id for c in changes], pa.string()),
        VALID_FROM: versions.cast(_TS),
    }
