"""Soft-delete mode's part of the merge (targets/base.py `merge_staged`): a REMOVE marks the row
and keeps values, and a late INSERT/MODIFY older than the REMOVE may still become those values.
Functions of a SqlTarget, with the SQL of the shared merge: kept apart so base.py stays small."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..model import SOFT_DELETE, SOFT_DELETE_WITH_VALUES, UPSERT
from ..schema import CHANGED_AT, DELETED, DIST_KEY, STAGE_OP, STAGE_SEQ, STAGE_VALUES_SEQ, STAGE_VALUES_VERSION, \
    STAGE_VERSION, SYNCED_AT
from .metadata import META
from .quoting import quote, select_list

if TYPE_CHECKING:
    from .base import SqlTarget

# What values a soft-deleted row showed before this batch (winners columns from the old versions row).
OLD_VALUES_VERSION = "CASE WHEN _old_deleted THEN _old_values_version ELSE _old_version END"
OLD_VALUES_SEQ = "CASE WHEN _old_deleted THEN _old_values_seq ELSE _old_seq END"


def values_version_sql() -> tuple[str, str]:
    """versions.values_version_us / values_seq for each winner: a soft delete with values shows
    its last live change; a soft delete without keeps what the row showed; others need none."""
    op, vv, vs = quote(STAGE_OP), quote(STAGE_VALUES_VERSION), quote(STAGE_VALUES_SEQ)
    return (f"CASE WHEN {op} = '{SOFT_DELETE_WITH_VALUES}' THEN {vv} WHEN {op} = '{SOFT_DELETE}' THEN {OLD_VALUES_VERSION} END",
            f"CASE WHEN {op} = '{SOFT_DELETE_WITH_VALUES}' THEN {vs} WHEN {op} = '{SOFT_DELETE}' THEN {OLD_VALUES_SEQ} END")


def keep_newer_values(t: SqlTarget, winners: str) -> None:
    """A soft REMOVE carrying its batch's last live values yields to values the target row
    already shows when those are newer (a late update may have been batched with the REMOVE)."""
    vv, vs = quote(STAGE_VALUES_VERSION), quote(STAGE_VALUES_SEQ)
    old_v, old_s = OLD_VALUES_VERSION, OLD_VALUES_SEQ
    t.execute(
        f"UPDATE {winners} SET {quote(STAGE_OP)} = '{SOFT_DELETE}' WHERE {quote(STAGE_OP)} = '{SOFT_DELETE_WITH_VALUES}'"
        f" AND {old_v} IS NOT NULL AND ({old_v} > {vv} OR ({old_v} = {vv} AND {old_s} > {vs}))"
    )


def late_values(t: SqlTarget, table: str, target: str, staged: str, columns: Sequence[str], beats: str,
                casts: dict[str, str] | None = None) -> int:
    """An INSERT/MODIFY older than a soft REMOVE but newer than the values the soft-deleted row
    shows becomes its values (the row keeps the REMOVE's time and stays marked)."""
    p, dk, late = t.param, quote(DIST_KEY), "_dynashift_late"
    ver, seq = quote(STAGE_VERSION), quote(STAGE_SEQ)
    t.execute(f"DROP TABLE IF EXISTS {late}")
    t.execute(
        f"CREATE TEMP TABLE {late} AS SELECT s.*, t.{quote(CHANGED_AT)} AS _removed_at FROM {staged} s"
        f" JOIN {META}.versions v ON v.table_name = {p} AND v.dist_key = s.{dk}"
        f" JOIN {target} t ON t.{dk} = s.{dk} AND t.{quote(DELETED)}"
        f" WHERE s.{quote(STAGE_OP)} = '{UPSERT}' AND v.deleted AND NOT {beats} AND (v.values_version_us IS NULL"
        f" OR s.{ver} > v.values_version_us OR (s.{ver} = v.values_version_us AND s.{seq} > v.values_seq))",
        [table],
    )
    (n,) = t.query(f"SELECT count(*) FROM {late}")[0]
    if n:
        cols = "".join(f", {quote(c)}" for c in columns)
        t.execute(f"DELETE FROM {target} WHERE {dk} IN (SELECT {dk} FROM {late})")
        t.execute(
            f"INSERT INTO {target} ({dk}, {quote(CHANGED_AT)}, {quote(SYNCED_AT)}, {quote(DELETED)}{cols})"
            f" SELECT s.{dk}, s._removed_at, {t.NOW}, true{select_list(columns, casts)} FROM {late} s"
        )
        t.execute(
            f"UPDATE {META}.versions SET values_version_us = l.{ver}, values_seq = l.{seq} FROM {late} l"
            f" WHERE {META}.versions.table_name = {p} AND {META}.versions.dist_key = l.{dk}",
            [table],
        )
    t.execute(f"DROP TABLE IF EXISTS {late}")
    return int(n)


def soft_delete(t: SqlTarget, target: str, winners: str, staged: str, columns: Sequence[str],
                casts: dict[str, str] | None = None) -> None:
    """A soft REMOVE without values keeps the row's last values and marks it; a key never seen
    gets a row holding only its key attributes."""
    dk, op = quote(DIST_KEY), quote(STAGE_OP)
    (n,) = t.query(f"SELECT count(*) FROM {winners} WHERE {op} = '{SOFT_DELETE}'")[0]
    if not n:
        return
    t.execute(
        f"UPDATE {target} SET {quote(DELETED)} = true, {quote(CHANGED_AT)} = w.{quote(CHANGED_AT)},"
        f" {quote(SYNCED_AT)} = {t.NOW} FROM {winners} w WHERE {target}.{dk} = w.{dk} AND w.{op} = '{SOFT_DELETE}'"
    )
    cols = "".join(f", {quote(c)}" for c in columns)
    t.execute(
        f"INSERT INTO {target} ({dk}, {quote(CHANGED_AT)}, {quote(SYNCED_AT)}, {quote(DELETED)}{cols})"
        f" SELECT s.{dk}, s.{quote(CHANGED_AT)}, {t.NOW}, true{select_list(columns, casts)}"
        f" FROM {staged} s JOIN {winners} w ON w.{dk} = s.{dk} WHERE w.{op} = '{SOFT_DELETE}'"
        f" AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.{dk} = s.{dk})"
    )
