"""COPY into PostgreSQL in binary format (native) and in CSV (Arrow) store the same values: every
table generated is copied both ways and read back whole; each must equal the values that went in.
A NUL character is refused by the server either way, as a data error (the rows holding one are
screened out before the COPY: test_postgres.py)."""

from __future__ import annotations

from typing import Any, Iterator

import psycopg
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynashift.errors import DataTargetError
from dynashift.targets import pg_copy
from dynashift.targets.postgres import PostgresTarget
from support.pg import pg_url  # noqa: F401 - a fixture

native = pytest.importorskip("dynashift_native")
if getattr(native, "API", 0) < 6:
    pytest.skip("the installed native engine predates copy_rows", allow_module_level=True)

COLUMNS = '"s" TEXT, "seq" TEXT COLLATE "C", "ls" TEXT, "i" BIGINT, "i32" BIGINT, "t" TIMESTAMPTZ, "b" BOOLEAN, "nothing" TEXT'
# what the tables hold: every character PostgreSQL text stores (not NUL), CSV's and COPY text's
# special spellings, long values, int64's extremes, timestamps from year 1 to 9999
texts = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
                  st.sampled_from(["", '"', ",", "\n", "\r\n", "\\", "\\N", "\\.", "NULL", ' a"b,c\nd ', "é€😀",
                                   "x" * 100_000]))
ints = st.one_of(st.none(), st.integers(-2 ** 63, 2 ** 63 - 1), st.sampled_from([-2 ** 63, 2 ** 63 - 1, 0]))
micros = st.one_of(st.none(), st.integers(-62_135_596_800_000_000, 253_402_300_799_999_999),
                   st.sampled_from([0, -1, 946_684_800_000_000, 946_684_799_999_999]))


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(0, 12))
    rows = draw(st.lists(st.tuples(texts, texts, texts, ints, st.one_of(st.none(), st.integers(-2 ** 31, 2 ** 31 - 1)),
                                   micros, st.one_of(st.none(), st.booleans())), min_size=n, max_size=n))
    values = list(zip(*rows)) or [[]] * 7
    table = pa.table({
        "s": pa.array(values[0], pa.string()),
        "seq": pa.array(values[1], pa.string()),
        "ls": pa.array(values[2], pa.large_string()),
        "i": pa.array(values[3], pa.int64()),
        "i32": pa.array(values[4], pa.int32()),
        "t": pa.array(values[5], pa.timestamp("us", tz="UTC")),
        "b": pa.array(values[6], pa.bool_()),
        "nothing": pa.nulls(n),
    })
    cut = draw(st.integers(0, n))
    return pa.concat_tables([table.slice(0, cut), table.slice(cut)]).slice(draw(st.integers(0, cut)))


@pytest.fixture
def con(pg_url: str) -> Iterator[psycopg.Connection]:  # noqa: F811 - pg_url is a fixture
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("SET TIME ZONE 'UTC'")
        yield c


def copied(con: psycopg.Connection, data: pa.Table, monkeypatch: pytest.MonkeyPatch, binary: bool) -> list[tuple]:
    """`data` COPYed (binary or CSV) into a fresh temp table, read back whole, in order."""
    monkeypatch.setattr(pg_copy, "native_engine", lambda: native if binary else None)
    con.execute("DROP TABLE IF EXISTS pg_temp.t")
    con.execute(f"CREATE TEMP TABLE t (row_no SERIAL, {COLUMNS})")
    pg_copy.copy_table(con, "pg_temp.t", data)
    return con.execute('SELECT "s", "seq", "ls", "i", "i32", "t", "b", "nothing" FROM pg_temp.t ORDER BY row_no').fetchall()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tables())
def test_binary_and_csv_copies_store_the_values_that_went_in(con: psycopg.Connection, monkeypatch: pytest.MonkeyPatch,
                                                             data: pa.Table) -> None:
    expected = [tuple(row.values()) for row in data.to_pylist()]
    with monkeypatch.context() as m:
        assert copied(con, data, m, binary=True) == expected
    with monkeypatch.context() as m:
        assert copied(con, data, m, binary=False) == expected


def test_a_chunked_copy_is_one_table(con: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_copy, "CHUNK_BYTES", 64)  # a few rows per chunk
    data = pa.table({"s": [f"row {i}" for i in range(100)], "seq": [None] * 100, "ls": pa.array(["x"] * 100, pa.large_string()),
                     "i": list(range(100)), "i32": pa.array(range(100), pa.int32()), "t": pa.array([0] * 100, pa.timestamp("us")),
                     "b": [i % 2 == 0 for i in range(100)], "nothing": pa.nulls(100)})
    rows = copied(con, data, monkeypatch, binary=True)
    assert rows == [tuple(r.values()) for r in data.cast(data.schema.set(5, pa.field("t", pa.timestamp("us", "UTC")))).to_pylist()]


@pytest.mark.parametrize("binary", [True, False])
def test_a_nul_character_is_a_data_error_in_either_format(pg_url: str, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                          binary: bool) -> None:
    monkeypatch.setattr(pg_copy, "native_engine", lambda: native if binary else None)
    target: Any = PostgresTarget(pg_url)
    target.con = target.connect()
    try:
        with pytest.raises(DataTargetError, match="0x00"), target.transaction():
            target.stage_rows("_nul", pa.table({"s": ["fine", "a\x00b"]}))
    finally:
        target.close()


@pytest.mark.parametrize("engine, column, form", [
    ("native", pa.array(["a"]), "binary"),
    ("native", pa.array([1], pa.uint32()), "binary"),
    ("native", pa.array([1.5]), "csv"),  # a float staged as text: Arrow's CSV spells it
    ("native", pa.array(["a"]).dictionary_encode(), "csv"),
    ("native", pa.array([0], pa.timestamp("ms", tz="UTC")), "csv"),
    ("native", pa.array([1], pa.uint64()), "csv"),
    ("python", pa.array(["a"]), "csv"),  # the Python engine stays on Arrow's CSV
])
def test_binary_only_with_the_native_engine_and_types_it_writes(monkeypatch: pytest.MonkeyPatch, engine: str,
                                                                column: pa.Array, form: str) -> None:
    monkeypatch.setattr(pg_copy, "native_engine", lambda: native if engine == "native" else None)
    assert pg_copy.copy_format(pa.table({"c": column}).schema) == form


def test_a_column_binary_does_not_write_goes_as_csv_into_text(con: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_copy, "native_engine", lambda: native)
    con.execute('CREATE TEMP TABLE f ("s" TEXT, "x" TEXT)')
    pg_copy.copy_table(con, "pg_temp.f", pa.table({"s": ["a", None], "x": [1.5, None]}))
    assert con.execute('SELECT "s", "x" FROM pg_temp.f ORDER BY "s"').fetchall() == [("a", "1.5"), (None, None)]
