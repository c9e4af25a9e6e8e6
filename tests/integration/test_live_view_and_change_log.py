"""Soft-delete mode offers `<table>_live`, the view of the rows not marked deleted, kept current as
columns come and widen; dynashift.change_log exists only when `change_log = true` (issue 14).
Whole tables compared, on DuckDB and a real PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from dynashift import run_once
from dynashift.targets import make_target
from support.builders import T0, item, write, rec as change
from support.pg import pg_url  # noqa: F401 - the fixture



@pytest.fixture(params=["duckdb", "postgresql"])
def uri(request, tmp_path) -> str:
    return f"duckdb:///{tmp_path / 'w.duckdb'}" if request.param == "duckdb" else request.getfixturevalue("pg_url")


def rec(op: str, pk: str, t: int, table: str = "Orders", **attrs: dict) -> dict:
    keys, image = item(pk, **attrs)
    return change(op, keys, None if op == "REMOVE" else image, t, table=table)


def query(uri: str, sql: str) -> list[tuple]:
    t = make_target(uri)
    t.open()
    try:
        return t.query(sql)
    finally:
        t.close()


def schema(uri: str) -> str:
    return "main" if uri.startswith("duckdb") else "public"


def test_soft_delete_offers_a_view_of_live_rows(tmp_path, uri):
    s = schema(uri)
    first = [rec("INSERT", "a", 1, n={"N": "1"}), rec("INSERT", "b", 2, n={"N": "2"}), rec("REMOVE", "b", 3),
             rec("INSERT", "x", 4, "Orders_live", v={"S": "a table whose name the view would take"})]
    run_once(f"file://{write(tmp_path / '1.jsonl', first)}", uri, delete_mode="soft", column_types="typed")
    assert query(uri, f'SELECT pk, n, "_dynashift_deleted" FROM {s}.orders ORDER BY pk') == [
        ("a", Decimal("1"), False), ("b", Decimal("2"), True)]
    assert query(uri, f"SELECT pk, n FROM {s}.orders_live") == [("a", Decimal("1"))]
    # a table named Orders_live came after Orders in the batch: the view took the name first, so the
    # table is orders_live__2 (named apart as tables are), with its own view
    names = dict(query(uri, "SELECT table_name, options FROM dynashift.tables ORDER BY 1"))
    views = {t: orjson.loads(o)["live_view"] for t, o in names.items()}
    assert views == {"orders": "orders_live", "orders_live__2": "orders_live__2_live"}
    # a new attribute, a number past 38 digits (the column widens) and a deleted key coming back
    second = [rec("MODIFY", "a", 5, n={"N": "1E+60"}, tag={"S": "new"}), rec("INSERT", "b", 6, n={"N": "3"})]
    run_once(f"file://{write(tmp_path / '2.jsonl', second)}", uri, delete_mode="soft", column_types="typed")
    view = views["orders"]
    rows = query(uri, f'SELECT pk, CAST(n AS VARCHAR(200)), tag FROM {s}."{view}" ORDER BY pk')
    big = "1" + "0" * 60
    assert rows in ([("a", big, "new"), ("b", "3", None)], [("a", "1E+60", "new"), ("b", "3", None)])


def test_hard_delete_mode_makes_no_view(tmp_path, uri):
    run_once(f"file://{write(tmp_path / '1.jsonl', [rec('INSERT', 'a', 1, n={'N': '1'})])}", uri)
    (options,), = query(uri, "SELECT options FROM dynashift.tables")
    assert options is None
    assert query(uri, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'orders_live'") == [(0,)]


def test_change_log_exists_only_when_it_is_on(tmp_path, uri):
    """Before: every target got an empty dynashift.change_log whatever the setting."""
    def tables() -> list[str]:
        return sorted(t for (t,) in query(uri, "SELECT table_name FROM information_schema.tables"
                                               " WHERE table_schema = 'dynashift'"))

    run_once(f"file://{write(tmp_path / '1.jsonl', [rec('INSERT', 'a', 1, n={'N': '1'})])}", uri)
    assert "change_log" not in tables()
    run_once(f"file://{write(tmp_path / '2.jsonl', [rec('MODIFY', 'a', 2, n={'N': '2'}), rec('REMOVE', 'a', 3)])}",
             uri, change_log=True)
    assert "change_log" in tables()
    assert query(uri, "SELECT table_name, dist_key, op, version_us FROM dynashift.change_log") == [
        ("orders", '{"pk":{"S":"a"}}', "D", T0 + 3)]
