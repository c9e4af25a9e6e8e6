"""A new target is one file and one registry line (docs/architecture.md, "Adding a target").

The toy below is a complete target: a class with the connection primitives of
`dynashift.targets.base.SqlTarget` (open, close, execute, query, transaction, staging), its
naming rules and nothing else; the shared SQL does the rest. It keeps its tables in a DuckDB
file but is not the DuckDB target: it stages each batch by copying it into a temporary table
rather than by registering the Arrow data. Registered with one line, it replicates a simulated
stream (awkward names, every type, duplicates and late records) to exactly the oracle's state.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Sequence

import duckdb
import pyarrow as pa
import pytest

from dynashift import run_once, targets
from dynashift.errors import DataTargetError, TargetError
from dynashift.schema import Naming
from support.simulated import simulate
from dynashift.targets.base import Nesting, SqlTarget
from dynashift.targets.quoting import quote
from support.oracle import diff_duckdb


class ToyTarget(SqlTarget):
    """`toy:///PATH`: a DuckDB file, staged through temporary tables."""

    naming = Naming(max_bytes=255, case_insensitive=True)  # DuckDB folds case when comparing names
    default_schema = "main"

    def __init__(self, uri: str, schema: str | None = None):
        super().__init__(uri, schema)
        self.path = uri.removeprefix("toy:///")
        self.con: Any = None
        self._tx = Nesting()

    def open(self) -> None:
        self.con = duckdb.connect(self.path)
        self.ensure_metadata()

    def close(self) -> None:
        self.con.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.query(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            return self.con.execute(sql, list(params)).fetchall()
        except (duckdb.DataError, duckdb.IntegrityError) as exc:
            raise DataTargetError(f"toy: {exc}") from None
        except duckdb.Error as exc:
            raise TargetError(f"toy: {exc}") from None

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        return self._tx.enter(lambda: self.con.execute("BEGIN TRANSACTION"), lambda: self.con.execute("COMMIT"),
                              lambda: self.con.execute("ROLLBACK"))

    def stage_rows(self, name: str, data: pa.Table) -> str:
        self.con.register("_toy_arrow", data)
        try:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {quote(name)} AS SELECT * FROM _toy_arrow")
        finally:
            self.con.unregister("_toy_arrow")
        return name

    def drop_stage(self, name: str) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS temp.{quote(name)}")


@pytest.mark.parametrize("mode", ["tables", "soft_delete"])
def test_a_toy_target_in_one_file_and_one_registry_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        mode: str) -> None:
    monkeypatch.setitem(targets.TARGETS, "toy", lambda: ToyTarget)  # the one registry line
    summary = simulate(tmp_path / "stream", changes=4000, tables=5, files=2, seed=15)
    expected = summary.expected.rename(tmp_path / "expected.json")  # out of the folder read
    db = tmp_path / "toy.duckdb"
    settings = {"delete_mode": "soft"} if mode == "soft_delete" else {}
    counters = run_once(f"file://{tmp_path / 'stream'}", f"toy:///{db}", batch_size=700, **settings)
    assert counters.records_read == summary.changes and counters.batches > 1
    assert diff_duckdb(db, expected, mode=mode) == []
