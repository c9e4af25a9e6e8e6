"""A batch's new columns, and what dynashift.columns records of the batch: its new attributes' rows, and the DynamoDB types
and last-seen time of the attributes it holds. Set-based: a batch with 2,000 new attributes
writes their rows in a few statements, never one per attribute (issue 14 measured 185 records/s
for that in DuckDB). Targets whose staging is cheap (`STAGE_METADATA_ROWS`) join a staged
relation; the others bind VALUES, CHUNK rows per statement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import orjson
import pyarrow as pa

from ..schema import AddColumn, stored_name
from .metadata import META

if TYPE_CHECKING:
    from ..model import BatchPlan
    from .base import SqlTarget

CHUNK = 200  # rows per statement (Redshift's Data API takes statements up to 100 KB)


def add_columns(t: SqlTarget, adds: dict[str, list[str]]) -> None:
    """New columns, `{table: ['"a" TYPE', …]}`: `ALTER TABLE t ADD COLUMN a T, ADD COLUMN b T, …` per
    table where the target allows it (`MULTI_ADD_COLUMN`), else one ALTER per column (DuckDB,
    Redshift). `adds` is emptied."""
    for table, columns in adds.items():
        ref = t.table_ref(table)
        if t.MULTI_ADD_COLUMN:
            t.execute(f"ALTER TABLE {ref} " + ", ".join(f"ADD COLUMN {c}" for c in columns))
        else:
            for c in columns:
                t.execute(f"ALTER TABLE {ref} ADD COLUMN {c}")
    adds.clear()


def record_columns(t: SqlTarget, changes: list[AddColumn]) -> None:
    """The new attributes' rows of dynashift.columns. `changes` is emptied (apply_schema flushes
    it before each change that may concern them)."""
    rows, changes[:] = list(changes), []
    if not rows:
        return
    into = (f"INSERT INTO {META}.columns (table_name, attribute_name, column_name, types_seen, is_key, first_seen,"
            " last_seen, column_type)")
    if t.STAGE_METADATA_ROWS and len(rows) > 1:
        staged = t.stage_rows("_dynashift_new_columns", pa.table({
            "table_name": pa.array([ch.table for ch in rows], pa.string()),
            "attribute_name": pa.array([stored_name(ch.attribute) for ch in rows], pa.string()),
            "column_name": pa.array([ch.column or None for ch in rows], pa.string()),
            "is_key": pa.array([ch.is_key for ch in rows], pa.bool_()),
            "column_type": pa.array([ch.type for ch in rows], pa.string()),
        }))
        t.execute(f"{into} SELECT table_name, attribute_name, column_name, '[]', is_key, {t.NOW}, {t.NOW}, column_type"
                  f" FROM {staged}")
        t.drop_stage(staged)
        return
    p = t.param
    one = f"({p}, {p}, {p}, '[]', {p}, {t.NOW}, {t.NOW}, {p})"
    for i in range(0, len(rows), CHUNK):
        part = rows[i:i + CHUNK]
        t.execute(f"{into} VALUES " + ", ".join([one] * len(part)),
                  [v for ch in part for v in (ch.table, stored_name(ch.attribute), ch.column or None, ch.is_key, ch.type)])


def record_types(t: SqlTarget, plan: BatchPlan) -> None:
    """Keep types_seen and last_seen current: per table and CHUNK of attributes one UPDATE and one
    SELECT, plus one UPDATE of those whose set of types grew. Where staging is cheap, one UPDATE
    and one SELECT for all the batch's tables (DuckDB takes ~1 ms to plan a statement, and the
    batch's commit waits for them)."""
    if t.STAGE_METADATA_ROWS:
        _record_staged(t, plan.types_seen)
        return
    for table, types in plan.types_seen.items():
        stored = {stored_name(a): a for a in types}
        names = list(stored)
        known = []
        for i in range(0, len(names), CHUNK):
            known += _seen(t, table, names[i:i + CHUNK])
        grown = []
        for name, before in known:
            text = orjson.dumps(sorted(set(orjson.loads(before or "[]")) | types[stored[name]])).decode()
            if text != before:
                grown.append((name, text))
        _set_types_seen(t, table, grown)


def _record_staged(t: SqlTarget, seen: dict[str, dict[str, set[str]]]) -> None:
    """record_types for every table at once, through one staged relation of (table, attribute)."""
    stored = {table: {stored_name(a): a for a in types} for table, types in seen.items()}
    pairs = [(table, name) for table, names in stored.items() for name in names]
    if not pairs:
        return
    cols = f"{META}.columns"
    staged = t.stage_rows("_dynashift_attributes_seen", pa.table({
        "table_name": pa.array([table for table, _ in pairs], pa.string()),
        "attribute_name": pa.array([name for _, name in pairs], pa.string())}))
    t.execute(f"UPDATE {cols} SET last_seen = {t.NOW} FROM {staged} s WHERE {cols}.table_name = s.table_name"
              f" AND {cols}.attribute_name = s.attribute_name")
    rows = t.query(f"SELECT c.table_name, c.attribute_name, c.types_seen FROM {cols} c JOIN {staged} s"
                   " ON c.table_name = s.table_name AND c.attribute_name = s.attribute_name")
    t.drop_stage(staged)
    grown: dict[str, list[tuple[str, str]]] = {}
    for table, name, before in rows:
        text = orjson.dumps(sorted(set(orjson.loads(before or "[]")) | seen[table][stored[table][name]])).decode()
        if text != before:
            grown.setdefault(table, []).append((name, text))
    for table, changed in grown.items():
        _set_types_seen(t, table, changed)


def _seen(t: SqlTarget, table: str, names: Sequence[str]) -> list[tuple]:
    p = t.param
    marks = ", ".join([p] * len(names))
    t.execute(f"UPDATE {META}.columns SET last_seen = {t.NOW} WHERE table_name = {p} AND attribute_name IN ({marks})",
              [table, *names])
    return t.query(f"SELECT attribute_name, types_seen FROM {META}.columns WHERE table_name = {p}"
                   f" AND attribute_name IN ({marks})", [table, *names])


def _set_types_seen(t: SqlTarget, table: str, grown: list[tuple[str, str]]) -> None:
    """types_seen of many attributes: one UPDATE (a join, or a CASE per CHUNK of them)."""
    p, cols = t.param, f"{META}.columns"
    if t.STAGE_METADATA_ROWS and len(grown) > 1:
        staged = t.stage_rows("_dynashift_types_seen", pa.table({
            "attribute_name": pa.array([n for n, _ in grown], pa.string()),
            "types_seen": pa.array([x for _, x in grown], pa.string())}))
        t.execute(f"UPDATE {cols} SET types_seen = g.types_seen FROM {staged} g WHERE {cols}.table_name = {p}"
                  f" AND {cols}.attribute_name = g.attribute_name", [table])
        t.drop_stage(staged)
        return
    for i in range(0, len(grown), CHUNK):
        part = grown[i:i + CHUNK]
        cases = " ".join([f"WHEN {p} THEN {p}"] * len(part))
        marks = ", ".join([p] * len(part))
        t.execute(f"UPDATE {cols} SET types_seen = CASE attribute_name {cases} END"
                  f" WHERE table_name = {p} AND attribute_name IN ({marks})",
                  [*(v for pair in part for v in pair), table, *(name for name, _ in part)])
