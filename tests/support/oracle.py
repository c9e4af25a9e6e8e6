"""Compare a replica with the `expected.json` that support.simulated writes (test tooling,
used by the tests and bench/soak.py; not part of the dynashift package).

`diff_rows` is the comparison itself, a pure function that any target can feed with its rows;
`diff_duckdb` is the thin DuckDB wrapper. Both return human-readable differences: empty = equal.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

DIST_KEY = "dist_key"
CHANGED_AT = "_dynashift_changed_at"
SYNCED_AT = "_dynashift_synced_at"
DELETED = "_dynashift_deleted"
META_COLUMNS = (DIST_KEY, CHANGED_AT, SYNCED_AT, DELETED)
MODES = ("tables", "soft_delete", "ttl_ignored")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def load_expected(path: str | Path) -> dict[str, Any]:
    return orjson.loads(Path(path).read_bytes())


def expected_tables(expected: dict[str, Any], mode: str = "tables") -> dict[str, dict[str, Any]]:
    """Each expected table (keyed by its replica name) with `rows` as the given mode leaves them."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
    out = {}
    for name, table in expected["tables"].items():
        rows = table["rows"] if mode == "tables" else expected[mode][name]
        out[name] = {**table, "table": name, "rows": rows}
    return out


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 160 else text[:150] + f"...({len(text)} chars)"


def _micros(v: Any) -> Any:
    """A timestamp as epoch microseconds: ints pass, datetimes (naive = UTC) are converted."""
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=timezone.utc)
        delta = v - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return v


def _diff_schema(name: str, table: dict[str, Any], column_map: dict[str, str], columns: set[str] | None,
                 check_changed_at: bool) -> list[str]:
    attributes = set(table["attributes"])
    diffs = [f"{name}: attribute {a!r} has no column" for a in sorted(attributes - column_map.keys())]
    diffs += [f"{name}: column {column_map[a]!r} is mapped from attribute {a!r}, which never appeared"
              for a in sorted(column_map.keys() - attributes)]
    if columns is None:
        return diffs
    needed = [DIST_KEY, DELETED] + ([CHANGED_AT] if check_changed_at else [])
    diffs += [f"{name}: column {c!r} is missing" for c in needed if c not in columns]
    diffs += [f"{name}: column {column_map[a]!r} (attribute {a!r}) is missing"
              for a in sorted(column_map) if column_map[a] not in columns]
    extra = columns - set(column_map.values()) - set(META_COLUMNS)
    diffs += [f"{name}: column {c!r} is not in dynashift.columns" for c in sorted(extra)]
    return diffs


def _diff_row(name: str, dk: str, want: dict[str, Any], row: dict[str, Any], column_map: dict[str, str],
              check_changed_at: bool) -> list[str]:
    diffs = []
    values = want["values"]
    for attr, col in column_map.items():
        if col not in row:
            continue  # reported once by _diff_schema
        expected, got = values.get(attr), row[col]
        if got != expected:
            diffs.append(f"{name}: row {dk}: attribute {attr!r} (column {col!r}) is {_short(got)}, "
                         f"expected {_short(expected)}")
    if check_changed_at and CHANGED_AT in row and _micros(row[CHANGED_AT]) != want["changed_at_us"]:
        diffs.append(f"{name}: row {dk}: {CHANGED_AT} is {_micros(row[CHANGED_AT])!r} µs, "
                     f"expected {want['changed_at_us']}")
    deleted = want.get("deleted", False)
    if DELETED in row and bool(row[DELETED]) != deleted:
        diffs.append(f"{name}: row {dk}: {DELETED} is {row[DELETED]!r}, expected {deleted}")
    return diffs


def diff_rows(expected_table: dict[str, Any], column_map: dict[str, str], rows: list[dict[str, Any]], *,
              check_changed_at: bool = True) -> list[str]:
    """Differences between one expected table and a replica's rows (column name -> value).

    `expected_table` is an entry of expected.json's `tables` (with `rows` of the mode compared, see
    `expected_tables`); `column_map` maps attribute name -> column name (dynashift.columns). Every
    row and every column is compared: a mapped column absent from a row's `values` must be NULL.
    `_dynashift_changed_at` may be epoch microseconds or a datetime.
    """
    name = expected_table.get("table") or expected_table["source_table"].lower()
    columns = set(rows[0]) if rows else None
    diffs = _diff_schema(name, expected_table, column_map, columns, check_changed_at)
    if columns is not None and DIST_KEY not in columns:
        return diffs
    want_rows = expected_table["rows"]
    seen: set[str] = set()
    for row in rows:
        dk = row[DIST_KEY]
        if dk in seen:
            diffs.append(f"{name}: row {dk} appears more than once")
            continue
        seen.add(dk)
        if dk not in want_rows:
            diffs.append(f"{name}: extra row {dk}")
            continue
        diffs += _diff_row(name, dk, want_rows[dk], row, column_map, check_changed_at)
    diffs += [f"{name}: missing row {dk}" for dk in want_rows if dk not in seen]
    return diffs


# ---------------------------------------------------------------- DuckDB


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _duckdb_rows(con: Any, schema: str, table: str) -> list[dict[str, Any]]:
    names = [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
        "ORDER BY ordinal_position", [schema, table]).fetchall()]
    select = ", ".join(f"epoch_us({_quote(c)})" if c == CHANGED_AT else _quote(c) for c in names)
    result = con.execute(f"SELECT {select} FROM {_quote(schema)}.{_quote(table)}").fetchall()
    return [dict(zip(names, row)) for row in result]


def _duckdb_has_table(con: Any, schema: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
                            "AND table_name = ?", [schema, table]).fetchone()[0])


def diff_duckdb(db_path_or_connection: Any, expected_path: str | Path, *, mode: str = "tables",
                schema: str = "main", check_changed_at: bool = True) -> list[str]:
    """Differences between a DuckDB replica (a path or an open connection) and expected.json."""
    import duckdb

    tables = expected_tables(load_expected(expected_path), mode)
    con = db_path_or_connection
    if isinstance(con, (str, Path)):
        con = duckdb.connect(str(con))
    try:
        if not _duckdb_has_table(con, "dynashift", "columns"):
            return ["dynashift.columns does not exist"]
        diffs = []
        for name, table in tables.items():
            if not _duckdb_has_table(con, schema, name):
                diffs.append(f"{name}: table {schema}.{name} does not exist")
                continue
            column_map = dict(con.execute("SELECT attribute_name, column_name FROM dynashift.columns "
                                          "WHERE table_name = ?", [name]).fetchall())
            rows = _duckdb_rows(con, schema, name)
            diffs += diff_rows(table, column_map, rows, check_changed_at=check_changed_at)
        return diffs
    finally:
        if con is not db_path_or_connection:
            con.close()
