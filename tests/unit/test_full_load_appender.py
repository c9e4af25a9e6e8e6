"""Which targets take full loads appended (targets/full_load.py): those its SQL is written for,
declared by the `Appender` Protocol, not probed for by name."""

from __future__ import annotations

from dynashift.targets.duckdb import DuckDBTarget
from dynashift.targets.full_load import Appender
from dynashift.targets.postgres import PostgresTarget


def test_duckdb_appends_and_postgres_merges() -> None:
    duck = DuckDBTarget("duckdb:///:memory:")
    pg = PostgresTarget("postgresql://postgres@127.0.0.1:5432/test")
    assert isinstance(duck, Appender) and duck.APPENDS_FULL_LOADS
    assert not isinstance(pg, Appender)
