"""Typed mode: types inferred from values, widened safely or given a text variant, recorded in
dynashift.columns; the text mode path untouched. Pure functions first, then DuckDB and PostgreSQL.
(The conformance suite runs every recorded stream in typed mode too: tests/integration/test_conformance.py.)"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from dynashift import Config, run_once
from dynashift.planning import Modes, TypedStage, build_plan
from dynashift.records import Change, SourceBatch
from dynashift.schema import AddColumn, AddVariant, Naming, SchemaState, TableInfo, WidenColumn
from dynashift.targets import make_target
from dynashift.typing_mode import (
    Seen,
    comparable,
    fits,
    new_column_type,
    number_needs,
    plan_columns,
    render_tagged,
    stage_columns,
    table_modes_of,
    widen_decimal,
)
from support.builders import rec as change
from support.pg import pg_url  # noqa: F401 - the fixture

NAMING = Naming(255, True)
T0 = 1_700_000_000_000_000


# ---------------------------------------------------------------- pure


@pytest.mark.parametrize("text, needs", [
    ("1.50", (1, 1, "1.5")), ("-0.0001E+5", (2, 0, "-10")), ("0", (0, 0, "0")), ("-0.000", (0, 0, "0")),
    ("1E+2", (3, 0, "100")), (".5", (0, 1, "0.5")), ("007", (1, 0, "7")),
    ("123456789012345678901234567890", (30, 0, "123456789012345678901234567890")),  # no float, no 28-digit context
    ("1E-38", (0, 38, "0." + "0" * 37 + "1")), ("1E-39", None), ("1E+100", None),
])
def test_numbers_are_measured_exactly(text, needs):
    assert number_needs(text) == needs


def seen(**values: list[dict]) -> Seen:
    """What rendering these items (attribute -> list of typed values) notes."""
    out = Seen()
    for attr, avs in values.items():
        for av in avs:
            render_tagged({attr: av}, out)
    return out


def new_type(*avs: dict) -> str | None:
    s = seen(a=list(avs))
    return new_column_type(s.counts.get("a", {}), s.needs.get("a", set()))


def test_a_new_column_takes_the_most_frequent_type():
    assert new_type({"N": "1"}, {"N": "2.25"}, {"S": "x"}) == "decimal(3,2)"
    assert new_type({"N": "1"}, {"BOOL": True}) == "decimal(1,0)"  # ties: numbers first
    assert new_type({"S": "a"}, {"S": "b"}, {"N": "1"}) is None  # text
    assert new_type({"M": {}}, {"SS": ["a"]}, {"L": []}) == "json"
    assert new_type({"B": "AA=="}, {"NULL": True}) == "binary"
    assert new_type({"NULL": True}) is None
    assert new_type({"N": "1E+100"}) is None  # no DECIMAL holds it: text


def test_decimals_widen_magnitudes_first_and_never_narrow():
    assert widen_decimal(1, 1, [(30, 1), (0, 20)]) == (30, 8)
    assert widen_decimal(5, 2, [(3, 4)]) == (5, 4)
    assert widen_decimal(5, 2, [(40, 0)]) == (5, 2)  # a need no DECIMAL(38, s >= 2) meets is left out
    assert widen_decimal(10, 28, [(11, 0)]) == (10, 28)


def test_fits_by_type_not_by_text():
    assert fits("decimal(5,2)", "N", "123.45") and not fits("decimal(5,2)", "N", "1.234")
    assert not fits("decimal(5,2)", "S", "12")  # a string that looks like a number stays a string
    assert fits("boolean", "BOOL", "true") and not fits("boolean", "S", "true")
    assert fits("json", "SS", '["a"]') and fits("json", "L", "[]") and not fits("json", "S", "[1]")
    assert fits(None, "N", "1") and fits("text", "M", "{}")


def test_plan_columns_widens_adds_variants_and_lays_out_the_stage():
    info = TableInfo("t", "T", ["pk"], columns={"pk": "pk", "v": "v", "w": "w"},
                     column_types={"v": "decimal(2,1)", "w": "boolean"})
    items = [{"v": {"N": "123.25"}, "w": {"BOOL": False}, "x": {"N": "7"}}, {"v": {"S": "12"}, "w": {"N": "1"}}]
    noted = Seen()
    rows, tags = zip(*(render_tagged(item, noted) for item in items))
    changes, layouts = plan_columns(info, [AddColumn("t", "x", "x", False)], noted, True, NAMING)
    assert changes == [AddColumn("t", "x", "x", False, "decimal(1,0)"), WidenColumn("t", "v", "v", "decimal(2,1)", "decimal(5,2)"),
                       AddVariant("t", "v", "v__s"), AddVariant("t", "w", "w__s")]
    arrays, types = stage_columns(layouts, list(rows), list(tags), ["v", "w", "x"])
    assert {k: a.to_pylist() for k, a in arrays.items()} == {
        "v": ["123.25", None], "v__s": [None, "12"], "w": ["false", None], "w__s": [None, "1"], "x": ["7", None]}
    assert types == {"v": "decimal(5,2)", "w": "boolean", "x": "decimal(1,0)"}


def test_variant_names_never_collide():
    info = TableInfo("t", "T", ["pk"], columns={"pk": "pk", "v": "v", "v__s": "v__s"}, column_types={"v": "boolean"})
    changes, layouts = plan_columns(info, [], seen(v=[{"S": "x"}]), True, NAMING)
    assert changes == [AddVariant("t", "v", "v__s__2")] and layouts["v"].variant == "v__s__2"


def test_comparable_values():
    assert comparable("decimal(3,2)", Decimal("1.50")) == comparable("decimal(3,2)", "1.5")
    assert comparable("json", '{"a":[1.50]}') == comparable("json", '{"a": [1.5]}')
    assert comparable("binary", b"\x00\x01") == "AAE="
    assert comparable("boolean", "false") is False


def _change(pk: str, image: dict, t: int = 0, table: str = "T") -> Change:
    keys = {"pk": {"S": pk}}
    return Change(table, "INSERT", keys, {**keys, **image}, T0 + t, f"s{t:06d}", orjson.dumps(keys).decode())


def test_text_mode_plans_exactly_as_before():
    """Nothing configured: no TypedStage, no typed change, the original design's plan."""
    sb = SourceBatch(changes=[_change("a", {"n": {"N": "1"}, "m": {"M": {}}})], records_read=1)
    modes = Modes(tables=table_modes_of(Config()))
    assert modes.tables is None
    plan = build_plan(sb, SchemaState(), NAMING, modes)
    assert [type(s) for s in plan.stages] == [type(plan.stages[0])] and not isinstance(plan.stages[0], TypedStage)
    assert all(getattr(c, "type", None) is None for c in plan.schema_changes)
    assert plan.stages[0].data.column("n").to_pylist() == ["1"]


def test_per_table_settings_override_the_global_ones():
    config = Config(column_types="typed", tables={"Audit*": {"column_types": "text", "history": "beside"},
                                                  "Orders": {"item_column": True}})
    assert config.table_modes("Orders") == ("typed", True, "off")
    assert config.table_modes("AuditLog") == ("text", False, "beside")
    assert config.table_modes("Other") == ("typed", False, "off")
    with pytest.raises(Exception):
        Config(tables={"X": {"column_types": "float"}})


# ---------------------------------------------------------------- DuckDB and PostgreSQL


def write(path: Path, records: list[dict]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "1.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def rec(pk: str, image: dict, t: int, table: str = "Orders") -> dict:
    keys = {"pk": {"S": pk}}
    return change("INSERT", keys, {**keys, **image}, t, table=table, eid=f"{pk}{t}")


@pytest.fixture(params=["duckdb", "postgresql"])
def uri(request, tmp_path) -> str:
    return f"duckdb:///{tmp_path / 'w.duckdb'}" if request.param == "duckdb" else request.getfixturevalue("pg_url")


def query(uri: str, sql: str, params: list | None = None) -> list[tuple]:
    target = make_target(uri)
    target.open()
    try:
        return target.query(sql, params or [])
    finally:
        target.close()


def sql_types(uri: str, table: str) -> dict[str, str]:
    schema = "main" if uri.startswith("duckdb") else "public"
    p = "?" if uri.startswith("duckdb") else "%s"
    rows = query(uri, "SELECT column_name, data_type, numeric_scale FROM information_schema.columns"
                 f" WHERE table_schema = {p} AND table_name = {p}", [schema, table])
    return {c: f"{t.upper()}{'' if s is None or not t.upper().startswith(('DECIMAL', 'NUMERIC')) else f',{s}'}"
            for c, t, s in rows}


def test_widening_across_batches_is_recorded_and_loses_nothing(uri, tmp_path):
    """A number past 38 digits (1E+99) widens the column instead of going to `price__s`, where a
    SUM would silently miss it (issue 14): PostgreSQL's unconstrained NUMERIC holds it exactly;
    DuckDB has no wider exact type, so the column becomes text. A string still goes to the
    variant where the column stays numeric."""
    run_once(f"file://{write(tmp_path / 'a', [rec('a', {'price': {'N': '10'}}, 1)])}", uri, column_types="typed")
    run_once(f"file://{write(tmp_path / 'b', [rec('b', {'price': {'N': '10.25'}}, 2)])}", uri, column_types="typed")
    run_once(f"file://{write(tmp_path / 'c', [rec('c', {'price': {'S': 'n/a'}}, 3), rec('d', {'price': {'N': '1E+99'}}, 4)])}",
             uri, column_types="typed")
    duck = uri.startswith("duckdb")
    types = sql_types(uri, "orders")
    (column_type, variant, changes), = query(uri, "SELECT column_type, variant_column, type_changes FROM dynashift.columns"
                                                  " WHERE attribute_name = 'price'")
    history = [{k: v for k, v in c.items() if k != "at"} for c in orjson.loads(changes)]
    schema = "main" if duck else "public"
    if duck:
        assert types["price"] == "VARCHAR" and "price__s" not in types
        assert (column_type, variant) == ("text", None)
        assert history == [{"widened": "decimal(2,0)", "to": "decimal(4,2)"}, {"widened": "decimal(4,2)", "to": "text"}]
        rows = dict(query(uri, f"SELECT pk, price FROM {schema}.orders"))
        assert rows == {"a": "10.00", "b": "10.25", "c": "n/a", "d": "1E+99"}
    else:
        assert types["price"] == "NUMERIC" and types["price__s"] == "TEXT"
        assert (column_type, variant) == ("numeric", "price__s")
        assert history == [{"widened": "decimal(2,0)", "to": "decimal(4,2)"}, {"widened": "decimal(4,2)", "to": "numeric"},
                           {"variant": "price__s"}]
        rows = dict((pk, (p, s)) for pk, p, s in query(uri, f"SELECT pk, price, price__s FROM {schema}.orders"))
        assert rows == {"a": (Decimal("10.00"), None), "b": (Decimal("10.25"), None), "c": (None, "n/a"),
                        "d": (Decimal("1E+99"), None)}
        (total,), = query(uri, f"SELECT sum(price) FROM {schema}.orders")
        assert str(total) == "1" + "0" * 97 + "20.25"  # the SUM misses nothing


def test_typed_columns_stay_typed_when_the_setting_goes_back_to_text(uri, tmp_path):
    run_once(f"file://{write(tmp_path / 'a', [rec('a', {'n': {'N': '1'}, 'ok': {'BOOL': True}}, 1)])}", uri,
             column_types="typed")
    run_once(f"file://{write(tmp_path / 'b', [rec('b', {'n': {'N': '2.5'}, 'ok': {'S': 'yes'}, 'new': {'N': '3'}}, 2)])}", uri)
    types = sql_types(uri, "orders")
    assert types["ok"] == "BOOLEAN" and types["new"] in ("VARCHAR", "TEXT")  # a new column in text mode is text
    schema = "main" if "duckdb" in uri else "public"
    assert sorted(query(uri, f"SELECT pk, n, ok, ok__s, new FROM {schema}.orders")) == [
        ("a", Decimal("1.0"), True, None, None), ("b", Decimal("2.5"), None, "yes", "3")]


def test_a_text_table_turned_typed_keeps_its_text_columns(uri, tmp_path):
    run_once(f"file://{write(tmp_path / 'a', [rec('a', {'n': {'N': '1'}}, 1)])}", uri)
    run_once(f"file://{write(tmp_path / 'b', [rec('b', {'n': {'N': '2'}, 'm': {'N': '3'}}, 2)])}", uri, column_types="typed")
    types = sql_types(uri, "orders")
    assert types["n"] in ("VARCHAR", "TEXT") and types["m"].startswith(("DECIMAL", "NUMERIC"))


def test_typed_soft_deletes_and_late_values(uri, tmp_path):
    """The soft-delete paths (values kept, late values) cast like the plain merge."""
    remove = {"eventID": "r", "eventName": "REMOVE", "tableName": "Orders",
              "dynamodb": {"ApproximateCreationDateTime": T0 + 5, "ApproximateCreationDateTimePrecision": "MICROSECOND",
                           "Keys": {"pk": {"S": "a"}}}}
    run_once(f"file://{write(tmp_path / 'a', [rec('a', {'n': {'N': '1'}, 'b': {'B': 'AAE='}}, 1), remove])}", uri,
             column_types="typed", delete_mode="soft")
    run_once(f"file://{write(tmp_path / 'b', [rec('a', {'n': {'N': '2.5'}, 'b': {'B': 'AQI='}}, 3)])}", uri,
             column_types="typed", delete_mode="soft")
    schema = "main" if "duckdb" in uri else "public"
    (n, b, deleted), = query(uri, f"SELECT n, b, _dynashift_deleted FROM {schema}.orders")
    assert (n, bytes(b), deleted) == (Decimal("2.5"), b"\x01\x02", True)


def test_postgresql_jsonb_cannot_hold_an_escaped_nul_so_the_change_is_rejected(pg_url, tmp_path):  # noqa: F811
    records = [rec("a", {"m": {"M": {"k": {"S": "x\u0000y"}}}}, 1), rec("b", {"m": {"M": {"k": {"S": "fine"}}}}, 2)]
    counters = run_once(f"file://{write(tmp_path / 'a', records)}", pg_url, column_types="typed")
    assert (counters.changes_applied, counters.rejected) == (1, 1)
    (reason,), = query(pg_url, "SELECT reason FROM dynashift.rejected")
    assert "jsonb" in reason


def test_a_database_made_before_typed_mode_gets_the_new_metadata_columns(tmp_path):
    import duckdb

    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA dynashift")
    con.execute("CREATE TABLE dynashift.tables (table_name VARCHAR, source_table VARCHAR, key_attributes VARCHAR,"
                " created_at TIMESTAMPTZ)")
    con.execute("CREATE TABLE dynashift.columns (table_name VARCHAR, attribute_name VARCHAR, column_name VARCHAR,"
                " types_seen VARCHAR, is_key BOOLEAN, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ)")
    con.execute("CREATE TABLE main.orders (dist_key VARCHAR, _dynashift_changed_at TIMESTAMPTZ,"
                " _dynashift_synced_at TIMESTAMPTZ, _dynashift_deleted BOOLEAN, pk VARCHAR)")
    con.execute("INSERT INTO dynashift.tables VALUES ('orders', 'Orders', '[\"pk\"]', now())")
    con.execute("INSERT INTO dynashift.columns VALUES ('orders', 'pk', 'pk', '[\"S\"]', true, now(), now())")
    con.close()
    counters = run_once(f"file://{write(tmp_path / 'a', [rec('a', {'n': {'N': '1.5'}}, 1)])}", f"duckdb:///{db}",
                        column_types="typed", history="beside")
    assert counters.changes_applied == 1
    con = duckdb.connect(str(db))
    assert con.execute("SELECT column_type FROM dynashift.columns WHERE attribute_name = 'n'").fetchall() == [("decimal(2,1)",)]
    assert con.execute("SELECT count(*) FROM main.orders__history").fetchall() == [(1,)]
    con.close()
