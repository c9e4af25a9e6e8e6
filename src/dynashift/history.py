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

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from .records import REMOVE, Change
from .schema import (
    DIST_KEY,
    ITEM,
    STAGE_EVENT,
    STAGE_OP,
    STAGE_SEQ,
    STAGE_VERSION,
    SYNCED_AT,
    TTL,
    VALID_FROM,
    VALID_TO,
    TableInfo,
)
from .typing_mode import JSON, Layout, stage_columns

if TYPE_CHECKING:
    from .targets.base import SqlTarget

_TS = pa.timestamp("us", tz="UTC")


@dataclass(slots=True)
class HistoryStage:
    """One table's versions in a batch, ready to stage (the attribute columns as text)."""

    table: str  # the replicated table, as dynashift.tables names it
    history_table: str
    columns: list[str]
    data: pa.Table
    types: dict[str, str] | None = None
    only: bool = False  # history only: these rows are the table's only data (and its counts)


def history_stage(info: TableInfo, layouts: dict[str, Layout], changes: list[Change], rows: list[dict[str, str | None]],
                  tags: list[dict[str, str]], items: list[str | None] | None) -> HistoryStage:
    """Every version of one table's batch: its op (INSERT, MODIFY, REMOVE), whether a REMOVE was a
    TTL expiry, its values (a REMOVE holds its key attributes only) and its item."""
    versions = pa.array([c.version for c in changes], pa.int64())
    arrays: dict[str, pa.Array] = {
        DIST_KEY: pa.array([c.dist_key for c in changes], pa.string()),
        STAGE_OP: pa.array([c.op for c in changes], pa.string()),
        TTL: pa.array([c.op == REMOVE and c.ttl for c in changes], pa.bool_()),
        STAGE_VERSION: versions,
        STAGE_SEQ: pa.array([c.seq for c in changes], pa.string()),
        STAGE_EVENT: pa.array([c.event_id for c in changes], pa.string()),
        VALID_FROM: versions.cast(_TS),
    }
    present = list(dict.fromkeys(a for row in rows for a in row))
    columns, types = stage_columns(layouts, rows, tags, present)
    if items is not None:
        columns[ITEM] = pa.array(items, pa.string())
        types[ITEM] = JSON
    arrays.update(columns)
    assert info.history_table is not None
    return HistoryStage(info.name, info.history_table, list(columns), pa.table(arrays), types or None,
                        only=info.history == "only")


def merge_history(t: SqlTarget, stage: HistoryStage) -> int:
    """Insert the batch's new versions, then recompute valid-to over the keys they touch.
    Returns how many versions were new."""
    from .targets.base import _select_list, quote

    hist, dk = t.table_ref(stage.history_table), quote(DIST_KEY)
    ver, seq, ev, start = quote(STAGE_VERSION), quote(STAGE_SEQ), quote(STAGE_EVENT), quote(VALID_FROM)
    own = [DIST_KEY, VALID_FROM, STAGE_OP, TTL, STAGE_VERSION, STAGE_SEQ, STAGE_EVENT]
    casts = {c: t.cast_sql(quote(c), ty) for c, ty in stage.types.items()} if stage.types else None
    staged = t.stage_rows("_dynashift_history_stage", stage.data)
    try:
        # The duplicate rule as two plain correlated NOT EXISTS (no OR: Redshift decorrelates these).
        same = f"SELECT 1 FROM {hist} h WHERE h.{dk} = s.{dk} AND h.{ver} = s.{ver}"
        fresh = f"NOT EXISTS ({same} AND h.{seq} = s.{seq}) AND NOT EXISTS ({same} AND h.{ev} = s.{ev} AND h.{ev} <> '')"
        (new,) = t.query(f"SELECT count(*) FROM {staged} s WHERE {fresh}")[0]
        if not new:
            return 0
        names = "".join(f", {quote(c)}" for c in stage.columns)
        t.execute(
            f"INSERT INTO {hist} ({', '.join(quote(c) for c in own)}, {quote(VALID_TO)}, {quote(SYNCED_AT)}{names})"
            f" SELECT {', '.join(quote(c) for c in own)}, NULL, {t.NOW}{_select_list(stage.columns, casts)}"
            f" FROM {staged} s WHERE {fresh}"
        )
        t.execute(
            f"UPDATE {hist} SET {quote(VALID_TO)} = n.next_from FROM (SELECT {dk}, {ver}, {seq}, LEAD({start})"
            f" OVER (PARTITION BY {dk} ORDER BY {ver}, {seq}) AS next_from FROM {hist}"
            f" WHERE {dk} IN (SELECT {dk} FROM {staged})) n"
            f" WHERE {hist}.{dk} = n.{dk} AND {hist}.{ver} = n.{ver} AND {hist}.{seq} = n.{seq}"
        )
        return int(new)
    finally:
        t.drop_stage(staged)

