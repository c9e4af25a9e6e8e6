"""Test helpers for typed mode, the item column and history (docs/decisions.md, "Typed mode, item
column, history, verify").

- `replica(target)`: each replicated table's rows with every attribute's value taken from its
  column or its text variant, wrapped so that it compares equal to the text of docs/reference.md §3 for the same value
  (by type: numbers as numbers, JSON parsed, binary as base64), for `support.oracle.diff_rows`.
- `TypedRedshiftOnPostgres`: tests/support/pg.py's Redshift-on-PostgreSQL seam, with the few Redshift
  types and functions typed mode uses (SUPER, VARBYTE, JSON_PARSE, TO_VARBYTE, JSON_SERIALIZE)
  played by PostgreSQL's own (jsonb, bytea, casts).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from dynashift.schema import CHANGED_AT, DELETED, DIST_KEY
from dynashift.targets.base import SqlTarget, quote
from dynashift.typing_mode import JSON, comparable, family
from support.pg import RedshiftOnPostgres


class Typed:
    """An attribute's value as the replica holds it: in its typed column (`value`, of `type`), or
    in its text variant (`variant`). Equal to the reference text (§3) of the same value; never to both."""

    def __init__(self, type_: str | None, value: Any, variant: Any = None):
        self.type, self.value, self.variant = type_, value, variant

    def __eq__(self, text: object) -> bool:
        if isinstance(text, Typed):
            return (self.type, self.value, self.variant) == (text.type, text.value, text.variant)
        if self.value is not None and self.variant is not None:
            return False  # a value is in one place only
        if text is None:
            return self.value is None and self.variant is None
        if self.variant is not None:
            return self.variant == text
        if self.value is None:
            return False
        try:
            return comparable(self.type, self.value) == comparable(self.type, text)
        except Exception:  # noqa: BLE001 - reference text that is not of this type (a string in a number column)
            return False

    def __ne__(self, text: object) -> bool:
        return not self == text

    def __repr__(self) -> str:
        where = f"variant {self.variant!r}" if self.variant is not None else f"{self.type or 'text'} {self.value!r}"
        return f"<{where}>"


def replica(target: SqlTarget) -> dict[str, tuple[dict[str, str], list[dict]]]:
    """Each replicated table: (attribute -> column, rows as column -> value), read through the
    target's own connection and mapped by dynashift.columns; text columns as they are, typed
    columns and variants as `Typed` values."""
    p, out = target.param, {}
    for (name,) in target.query("SELECT table_name FROM dynashift.tables"):
        meta = target.query("SELECT attribute_name, column_name, column_type, variant_column FROM dynashift.columns"
                            f" WHERE table_name = {p}", [name])
        mapping = {a: c for a, c, _, _ in meta if c}
        select = [quote(DIST_KEY), quote(CHANGED_AT), quote(DELETED)]
        for _, column, ctype, variant in meta:
            if not column:
                continue
            select.append(target.JSON_TO_TEXT.format(quote(column)) if family(ctype) == JSON else quote(column))
            select.append(quote(variant) if variant else "NULL")
        rows = []
        for row in target.query(f"SELECT {', '.join(select)} FROM {target.table_ref(name)}"):
            d = {DIST_KEY: row[0], CHANGED_AT: row[1], DELETED: row[2]}
            values = iter(row[3:])
            for _, column, ctype, variant in meta:
                if column:
                    value, var = next(values), next(values)
                    d[column] = value if ctype is None and variant is None else Typed(ctype, value, var)
            rows.append(d)
        out[name] = (mapping, rows)
    return out


_TYPES = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|\bSUPER\b|\bVARBYTE\(\d+\)')
_FUNCTIONS = [
    "CREATE OR REPLACE FUNCTION json_parse(text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS 'SELECT $1::jsonb'",
    "CREATE OR REPLACE FUNCTION to_varbyte(text, text) RETURNS bytea LANGUAGE sql IMMUTABLE AS 'SELECT decode($1, $2)'",
    "CREATE OR REPLACE FUNCTION json_serialize(jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT $1::text'",
]


class TypedRedshiftOnPostgres(RedshiftOnPostgres):
    """Redshift's SUPER and VARBYTE as jsonb and bytea; JSON_PARSE, TO_VARBYTE(x, 'base64') and
    JSON_SERIALIZE as SQL functions of the same names. The statements recorded are Redshift's."""

    def __init__(self, url: str, case_sensitive: bool = False):
        super().__init__(url, case_sensitive)
        for sql in _FUNCTIONS:
            self.con.execute(sql)

    def cursor(self, sql: str, params: Sequence[Any]):
        def sub(m: re.Match[str]) -> str:
            text = m.group(0)
            if text[0] in "\"'":
                return text
            return "JSONB" if text == "SUPER" else "BYTEA"

        return super().cursor(_TYPES.sub(sub, sql), params)
