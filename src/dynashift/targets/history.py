"""History mode's SQL: merge a batch's versions into `<table>__history` (planning/history.py
stages them). Two statements per table and batch, never one per key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..model import HistoryStage
from ..schema import DIST_KEY, STAGE_EVENT, STAGE_OP, STAGE_SEQ, STAGE_VERSION, SYNCED_AT, TTL, VALID_FROM, VALID_TO
from .quoting import quote, select_list

if TYPE_CHECKING:
    from .base import SqlTarget


def merge_history(t: SqlTarget, stage: HistoryStage) -> int:
    """Insert the batch's new versions, then recompute valid-to over the keys they touch.
    Returns how many versions were new."""
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
            f" SELECT {', '.join(quote(c) for c in own)}, NULL, {t.NOW}{select_list(stage.columns, casts)}"
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

