"""A DuckDB replica whole, for tests that compare two ways of applying the same stream: every
table, dynashift.versions, the change log and the runs' counters, without the apply-time clocks."""

from __future__ import annotations

from pathlib import Path

import duckdb


def duckdb_snapshot(db: Path, runs_columns: str) -> dict[str, list[tuple]]:
    """`runs_columns`: the dynashift.runs counters to compare, comma-separated."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = [n for (n,) in con.execute("SELECT table_name FROM dynashift.tables ORDER BY 1").fetchall()]
        snap = {n: con.execute(f'SELECT * EXCLUDE (_dynashift_synced_at) FROM main."{n}" ORDER BY ALL').fetchall()
                for n in names}
        snap["versions"] = con.execute("SELECT * EXCLUDE (written_at) FROM dynashift.versions ORDER BY ALL").fetchall()
        snap["change_log"] = con.execute("SELECT * EXCLUDE (applied_at) FROM dynashift.change_log ORDER BY ALL").fetchall()
        snap["runs"] = con.execute(f"SELECT {runs_columns} FROM dynashift.runs ORDER BY run_id").fetchall()
    return snap
