"""Reads of one replicated table for `dynashift verify`: its entry in dynashift.tables, its
column mapping, its live rows by key, and a random sample of its keys. Read-only; every
identifier quoted, every value bound."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..schema import CHANGED_AT, DELETED, DIST_KEY, ITEM
from .metadata import META
from .quoting import quote

if TYPE_CHECKING:
    from .base import SqlTarget

KEYS_PER_QUERY = 500  # dist_keys bound in one `IN (...)`


def find_table(target: SqlTarget, table: str) -> tuple[str, str, str, str | None] | None:
    """(table name, DynamoDB table, key attributes JSON, options JSON) of the table replicated
    under that name or from that DynamoDB table; None when there is none."""
    p = target.param
    found = target.query(f"SELECT table_name, source_table, key_attributes, options FROM {META}.tables"
                         f" WHERE table_name = {p} OR source_table = {p} ORDER BY table_name", [table, table])
    return tuple(found[0]) if found else None  # type: ignore[return-value]


def column_mapping(target: SqlTarget, table: str) -> list[tuple[str, str | None, str | None, str | None]]:
    """(attribute, column, column type, variant column) of every attribute of the table."""
    return [tuple(r) for r in target.query(  # type: ignore[misc]
        f"SELECT attribute_name, column_name, column_type, variant_column FROM {META}.columns"
        f" WHERE table_name = {target.param}", [table])]


def rows_by_key(target: SqlTarget, table: str, columns: Sequence[tuple[str, bool, str | None]], item: bool,
                keys: Sequence[str] | None) -> list[tuple]:
    """Rows of the table (all, or those of `keys`): dist_key, changed at, deleted, then per column
    (name, is JSON, variant) its value (JSON as text) and its variant's (NULL without one), then
    the item column's JSON text when `item`."""
    select = [quote(DIST_KEY), quote(CHANGED_AT), quote(DELETED)]
    for column, is_json, variant in columns:
        select.append(target.JSON_TO_TEXT.format(quote(column)) if is_json else quote(column))
        select.append(quote(variant) if variant else "NULL")
    if item:
        select.append(target.JSON_TO_TEXT.format(quote(ITEM)))
    sql = f"SELECT {', '.join(select)} FROM {target.table_ref(table)}"
    if keys is None:
        return target.query(sql)
    wanted = sorted(set(keys))
    out: list[tuple] = []
    for i in range(0, len(wanted), KEYS_PER_QUERY):
        batch = wanted[i:i + KEYS_PER_QUERY]
        out += target.query(f"{sql} WHERE {quote(DIST_KEY)} IN ({', '.join([target.param] * len(batch))})", batch)
    return out


def sample_keys(target: SqlTarget, table: str, n: int) -> list[str]:
    """About `n` dist_keys of live rows, drawn at random by the target."""
    rows = target.query(f"SELECT {quote(DIST_KEY)} FROM {target.table_ref(table)}"
                        f" WHERE NOT {quote(DELETED)} OR {quote(DELETED)} IS NULL ORDER BY random() LIMIT {int(n)}")
    return [r[0] for r in rows]
