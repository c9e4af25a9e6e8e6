"""The DDL beyond the original design, shared by every SQL target: typed columns widened or given a
text variant, the item column, history tables (and, for history-only tables, the current-state
view), and what `dynashift.tables` and `dynashift.columns` record of them.

Kept out of base.py so that the original design's path reads as it did; base.py calls in here only
for schema changes it does not know (schema.WidenColumn, AddVariant, AddItemColumn, AddHistory).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Sequence

import orjson

from ..schema import (
    DELETED,
    DIST_KEY,
    ITEM,
    OVERFLOW,
    STAGE_EVENT,
    STAGE_OP,
    STAGE_SEQ,
    STAGE_VERSION,
    SYNCED_AT,
    TTL,
    VALID_FROM,
    VALID_TO,
    AddColumn,
    AddHistory,
    AddItemColumn,
    AddLiveView,
    AddOverflow,
    AddTable,
    AddVariant,
    SchemaChange,
    WidenColumn,
    stored_name,
)
from ..typing_mode import JSON
from .metadata import META
from .quoting import quote

if TYPE_CHECKING:
    from .base import SqlTarget

def options_json(ch: AddTable) -> str | None:
    """dynashift.tables.options: NULL for a table of the original design."""
    if not ch.item_column and ch.history == "off":
        return None
    return orjson.dumps({"item_column": ch.item_column, "history": ch.history, "history_table": ch.history_table}).decode()


# ---------------------------------------------------------------- soft deletes: the live-rows view


def live_view_sql(t: SqlTarget, table: str, view: str) -> str:
    return (f"CREATE VIEW {t.table_ref(view)} AS SELECT * FROM {t.table_ref(table)}"
            f" WHERE NOT {quote(DELETED)}{t.VIEW_OPTIONS}")


def drop_live_views(t: SqlTarget, changes: Sequence[SchemaChange]) -> dict[str, str]:
    """Where a view's `*` is fixed when it is made (PostgreSQL) and pins its columns' types, the
    live views of the tables whose columns this batch changes are dropped before the changes and
    made again after them (`remake_live_views`), in the batch's transaction."""
    touched = {ch.table for ch in changes if isinstance(ch, (AddColumn, WidenColumn, AddVariant, AddItemColumn,
                                                             AddOverflow)) and not _only(ch)}
    if not t.VIEWS_FIX_COLUMNS or not touched:
        return {}
    p = t.param
    marks = ", ".join([p] * len(touched))
    views = {}
    for table, options in t.query(f"SELECT table_name, options FROM {META}.tables WHERE table_name IN ({marks})",
                                  sorted(touched)):
        view = orjson.loads(options).get("live_view") if options else None
        if view:
            t.execute(f"DROP VIEW IF EXISTS {t.table_ref(view)}")
            views[table] = view
    return views


def remake_live_views(t: SqlTarget, views: dict[str, str]) -> None:
    for table, view in views.items():
        t.execute(live_view_sql(t, table, view))


# ---------------------------------------------------------------- tables


def history_columns_sql(t: SqlTarget) -> str:
    """The history table's own columns: one row per version, valid from its change time until the
    next version's (NULL: still current); op, whether a REMOVE was a TTL expiry, and the version."""
    ts = t.TIMESTAMP
    return (f"{quote(DIST_KEY)} {t.TEXT}, {quote(VALID_FROM)} {ts}, {quote(VALID_TO)} {ts}, {quote(STAGE_OP)} {t.TEXT},"
            f" {quote(TTL)} BOOLEAN, {quote(STAGE_VERSION)} BIGINT, {quote(STAGE_SEQ)} {t.SEQ_TYPE},"
            f" {quote(STAGE_EVENT)} {t.TEXT}, {quote(SYNCED_AT)} {ts}")


def create_extended(t: SqlTarget, ch: AddTable) -> None:
    """A new table with an item column and/or history: the current-state table (unless history
    only), its history table, or for history only the view of the current state over it."""
    if ch.history != "only":
        t.execute(t.create_table_sql(ch))
        if ch.item_column:
            t.execute(f"ALTER TABLE {t.table_ref(ch.table)} ADD COLUMN {quote(ITEM)} {t.JSON}")
    if ch.history != "off" and ch.history_table:
        item = [(ITEM, JSON)] if ch.item_column else []
        t.execute(t.history_table_sql(ch.history_table, _columns_sql(t, item)))
    if ch.history == "only" and ch.history_table:
        t.execute(view_sql(t, ch.table, ch.history_table))


def view_sql(t: SqlTarget, table: str, history_table: str) -> str:
    """History only: the table's name is a view of each key's current version (live items)."""
    return (f"CREATE VIEW {t.table_ref(table)} AS SELECT h.*, h.{quote(VALID_FROM)} AS \"_dynashift_changed_at\","
            f" false AS \"_dynashift_deleted\" FROM {t.table_ref(history_table)} h"
            f" WHERE h.{quote(VALID_TO)} IS NULL AND h.{quote(STAGE_OP)} <> 'REMOVE'")


def _columns_sql(t: SqlTarget, columns: Sequence[tuple[str, str | None]]) -> str:
    return "".join(f", {quote(c)} {t.sql_type(ty)}" for c, ty in columns)


def _only(ch: Any) -> bool:
    """A change of a history-only table: its one physical table is the history table."""
    return len(ch.tables) == 1 and ch.tables[0] != ch.table


# ---------------------------------------------------------------- changes


def apply_extended(t: SqlTarget, ch: SchemaChange) -> None:
    if isinstance(ch, WidenColumn):
        if t.sql_type(ch.old) != t.sql_type(ch.new):
            if _only(ch):
                t.execute(f"DROP VIEW IF EXISTS {t.table_ref(ch.table)}")  # recreated by refresh_views
            for table in ch.tables or (ch.table,):
                t.widen_column(t.table_ref(table), ch.column, t.sql_type(ch.new))
        _record(t, ch.table, ch.attribute, {"widened": ch.old, "to": ch.new}, column_type=ch.new)
    elif isinstance(ch, AddVariant):
        for table in ch.tables or (ch.table,):
            t.execute(f"ALTER TABLE {t.table_ref(table)} ADD COLUMN {quote(ch.column)} {t.TEXT}")
        _record(t, ch.table, ch.attribute, {"variant": ch.column}, variant=ch.column)
    elif isinstance(ch, AddItemColumn):
        for table in ch.tables or (ch.table,):
            t.execute(f"ALTER TABLE {t.table_ref(table)} ADD COLUMN {quote(ITEM)} {t.JSON}")
        _set_options(t, ch.table, item_column=True)
    elif isinstance(ch, AddOverflow):  # the attributes past the column budget: one JSON column
        for table in ch.tables or (ch.table,):
            t.execute(f"ALTER TABLE {t.table_ref(table)} ADD COLUMN {quote(OVERFLOW)} {t.JSON}")
    elif isinstance(ch, AddLiveView):
        t.execute(live_view_sql(t, ch.table, ch.view))
        _set_options(t, ch.table, live_view=ch.view)
    elif isinstance(ch, AddHistory):
        item = [(ITEM, JSON)] if ch.item_column else []
        t.execute(t.history_table_sql(ch.history_table, _columns_sql(t, [*ch.columns, *item])))
        _set_options(t, ch.table, history="beside", history_table=ch.history_table)
    else:  # pragma: no cover - every change type is handled above or in base.apply_schema
        raise TypeError(f"unknown schema change {ch!r}")


def refresh_views(t: SqlTarget, changes: Sequence[SchemaChange]) -> None:
    """History only: the view is made again over its history table's new columns (a view's `h.*`
    is expanded when it is created)."""
    seen: dict[str, str] = {}
    for ch in changes:
        if isinstance(ch, (AddColumn, WidenColumn, AddVariant, AddItemColumn, AddOverflow)) and ch.tables \
                and _only(ch) and (not isinstance(ch, AddColumn) or ch.column and ch.column != OVERFLOW):
            seen[ch.table] = ch.tables[0]
    for table, history_table in seen.items():
        t.execute(f"DROP VIEW IF EXISTS {t.table_ref(table)}")
        t.execute(view_sql(t, table, history_table))


def _record(t: SqlTarget, table: str, attribute: str, entry: dict[str, Any], column_type: str | None = None,
            variant: str | None = None) -> None:
    """A widening or variant in dynashift.columns: the current type or variant column, and the
    change appended (with its time) to the column's `type_changes`."""
    p, attribute = t.param, stored_name(attribute)
    rows = t.query(f"SELECT type_changes FROM {META}.columns WHERE table_name = {p} AND attribute_name = {p}",
                   [table, attribute])
    changes = orjson.loads(rows[0][0]) if rows and rows[0][0] else []
    changes.append({**entry, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    sets, params = [f"type_changes = {p}"], [orjson.dumps(changes).decode()]
    if column_type is not None:
        sets.append(f"column_type = {p}")
        params.append(column_type)
    if variant is not None:
        sets.append(f"variant_column = {p}")
        params.append(variant)
    t.execute(f"UPDATE {META}.columns SET {', '.join(sets)} WHERE table_name = {p} AND attribute_name = {p}",
              [*params, table, attribute])


def _set_options(t: SqlTarget, table: str, **changed: Any) -> None:
    p = t.param
    rows = t.query(f"SELECT options FROM {META}.tables WHERE table_name = {p}", [table])
    options = orjson.loads(rows[0][0]) if rows and rows[0][0] else {"item_column": False, "history": "off",
                                                                     "history_table": None}
    options.update(changed)
    t.execute(f"UPDATE {META}.tables SET options = {p} WHERE table_name = {p}", [orjson.dumps(options).decode(), table])
