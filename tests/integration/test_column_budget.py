"""The column budget (issue 14): a table never has more columns than `max_columns` (global or per
`[tables.NAME]`, capped at the target's limit); further attributes go, as their column text, into
one JSON column `_dynashift_overflow`, recorded in dynashift.columns; one wide table never stops
the others. New columns of a batch are added in as few statements as the target allows.
Whole tables compared, on DuckDB and a real PostgreSQL."""

from __future__ import annotations


import orjson
import pytest

from dynashift import run_once
from dynashift.targets import make_target
from dynashift.targets.postgres import PostgresTarget
from support.builders import item, write, rec as change
from support.pg import pg_url  # noqa: F401 - the fixture

OVERFLOW = "_dynashift_overflow"
META = ["dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted"]


@pytest.fixture(params=["duckdb", "postgresql"])
def uri(request, tmp_path) -> str:
    return f"duckdb:///{tmp_path / 'w.duckdb'}" if request.param == "duckdb" else request.getfixturevalue("pg_url")


def rec(pk: str, t: int, table: str = "Metrics", **attrs: dict) -> dict:
    return change("INSERT", *item(pk, **attrs), t, table=table)


def read(uri: str, table: str) -> tuple[list[str], dict[str, dict]]:
    """(the table's columns in order, dist_key -> {column: value}) with the overflow parsed, without times."""
    t = make_target(uri)
    t.open()
    try:
        columns = [c for (c,) in t.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = " + t.param + " ORDER BY ordinal_position",
            [table])]
        select = ", ".join(t.JSON_TO_TEXT.format(f'"{c}"') if c == OVERFLOW else f'"{c}"' for c in columns)
        rows = {}
        for row in t.query(f"SELECT {select} FROM {t.table_ref(table)}"):
            d = dict(zip(columns, row))
            for c in ("_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted"):
                d.pop(c)
            if d.get(OVERFLOW) is not None:
                d[OVERFLOW] = orjson.loads(d[OVERFLOW])
            rows[d.pop("dist_key")] = d
        return columns, rows
    finally:
        t.close()


def mapping(uri: str, table: str) -> dict[str, str]:
    t = make_target(uri)
    t.open()
    try:
        return dict(t.query(f"SELECT attribute_name, column_name FROM dynashift.columns WHERE table_name = {t.param}",
                            [table]))
    finally:
        t.close()


def test_attributes_past_a_tables_budget_go_to_the_overflow_column(tmp_path, uri):
    """Metrics has a budget of 16 columns ([tables.Metrics]); Orders, beside it, keeps the global one.
    Dynamic attribute names (metric_<n>), one per item: 4 of dynashift's own, pk, metric_0..9 as
    columns (15), then the overflow column (16) holding every further attribute as its column text."""
    records = [rec(f"k{i:02}", i, **{f"metric_{i}": {"N": f"{i}.50"}}) for i in range(14)]
    records.insert(3, rec("o1", 100, "Orders", **{f"a{i}": {"S": str(i)} for i in range(20)}))
    records.append(rec("k99", 99, tags={"SS": ["b", "a"]}, metric_3={"N": "3"}, metric_12={"N": "-0"}))
    counters = run_once(f"file://{write(tmp_path / '1.jsonl', records)}", uri, batch_size=7,
                        tables={"Metrics": {"max_columns": 16}})
    assert counters.rejected == 0 and counters.changes_applied == 16
    columns, rows = read(uri, "metrics")
    metrics = [f"metric_{i}" for i in range(10)]
    assert columns == META + ["pk", *metrics, OVERFLOW]
    expected = {}
    for i in range(14):
        row = {"pk": f"k{i:02}", **dict.fromkeys(metrics), OVERFLOW: None}
        if i < 10:
            row[f"metric_{i}"] = f"{i}.50"
        else:
            row[OVERFLOW] = {f"metric_{i}": f"{i}.50"}
        expected[f'{{"pk":{{"S":"k{i:02}"}}}}'] = row
    expected['{"pk":{"S":"k99"}}'] = {"pk": "k99", **dict.fromkeys(metrics), "metric_3": "3",
                                     OVERFLOW: {"metric_12": "-0", "tags": '["a","b"]'}}
    assert rows == expected
    assert mapping(uri, "metrics") == {"pk": "pk", **{m: m for m in metrics},
                                       **{f"metric_{i}": OVERFLOW for i in (10, 11, 12, 13)}, "tags": OVERFLOW}
    columns, rows = read(uri, "orders")  # the other table: every attribute a column
    assert columns == META + ["pk", *[f"a{i}" for i in range(20)]]
    assert rows == {'{"pk":{"S":"o1"}}': {"pk": "o1", **{f"a{i}": str(i) for i in range(20)}}}
    # a later run: known overflowed attributes stay there; new ones follow them; nothing is added twice
    again = [rec("k00", 200, metric_11={"N": "7"}, metric_0={"N": "1"}, fresh={"BOOL": True})]
    counters = run_once(f"file://{write(tmp_path / '2.jsonl', again)}", uri, tables={"Metrics": {"max_columns": 16}})
    assert counters.columns_added == 0 and counters.changes_applied == 1
    columns, rows = read(uri, "metrics")
    assert len(columns) == 16
    assert rows['{"pk":{"S":"k00"}}'] == {"pk": "k00", **dict.fromkeys(metrics), "metric_0": "1",
                                          OVERFLOW: {"fresh": "true", "metric_11": "7"}}
    assert mapping(uri, "metrics")["fresh"] == OVERFLOW


def test_typed_mode_past_the_budget(tmp_path, uri):
    """Typed columns up to the budget; past it the attribute's text in the overflow (never typed)."""
    records = [rec("a", 1, **{f"n{i}": {"N": str(i)} for i in range(14)})]
    run_once(f"file://{write(tmp_path / '1.jsonl', records)}", uri, column_types="typed", max_columns=16)
    columns, rows = read(uri, "metrics")
    assert columns == META + ["pk", *[f"n{i}" for i in range(10)], OVERFLOW]
    row = rows['{"pk":{"S":"a"}}']
    assert row.pop(OVERFLOW) == {f"n{i}": str(i) for i in range(10, 14)}
    assert {k: str(v) for k, v in row.items()} == {"pk": "a", **{f"n{i}": str(i) for i in range(10)}}


def test_a_table_wider_than_postgres_allows_no_longer_stops_the_stream(tmp_path, pg_url):
    """The issue's finding: 1,700 items, each with its own attribute, into PostgreSQL failed with
    "tables can have at most 1600 columns" (retried as a lost connection), and so did every later
    run and every other table. Now: 1,000 columns (the default budget), the rest in the overflow."""
    records = [rec(f"k{i}", i, **{f"metric_{i}": {"N": str(i)}}) for i in range(1700)]
    records.append(rec("o", 5000, "Orders", status={"S": "new"}))
    counters = run_once(f"file://{write(tmp_path / '1.jsonl', records)}", pg_url)
    assert (counters.changes_applied, counters.rejected) == (1701, 0)
    columns, rows = read(pg_url, "metrics")
    assert len(columns) == 1000 and columns[-1] == OVERFLOW
    as_columns = {c for c in columns if c.startswith("metric_")}
    assert len(as_columns) == 1000 - 4 - 2  # dynashift's own 4, pk, the overflow column
    expected = {}
    for i in range(1700):
        name = f"metric_{i}"
        row = {c: None for c in columns if c not in META}
        row["pk"] = f"k{i}"
        if name in as_columns:
            row[name] = str(i)
        else:
            row[OVERFLOW] = {name: str(i)}
        expected[f'{{"pk":{{"S":"k{i}"}}}}'] = row
    assert rows == expected
    assert read(pg_url, "orders")[1] == {'{"pk":{"S":"o"}}': {"pk": "o", "status": "new"}}


class CountingPostgres(PostgresTarget):
    """The real target, counting the statements that change a table's columns."""

    alters: list[str]

    def execute(self, sql, params=()):
        if sql.startswith(("ALTER TABLE", "CREATE TABLE", "INSERT INTO dynashift.columns")):
            self.alters.append(sql.split(" (")[0][:41])
        return super().execute(sql, params)


def test_new_columns_of_a_batch_are_added_in_one_statement_in_postgres(tmp_path, pg_url):
    from dynashift import Config
    from dynashift.pipeline import replicate
    from dynashift.sources import make_source

    def run(records: list[dict], name: str) -> list[str]:
        config = Config(source=f"file://{write(tmp_path / name, records)}", target=pg_url)
        target = CountingPostgres(pg_url)
        target.alters = []
        target.open()
        try:
            replicate(config, make_source(config.source, config), target)
        finally:
            target.close()
        return [a for a in target.alters if not a.startswith("CREATE TABLE IF NOT EXISTS")]

    # a new table is created with its columns; their rows of dynashift.columns in one INSERT
    first = run([rec(f"k{i}", i, **{f"m{i}": {"S": "x"}}) for i in range(50)], "1.jsonl")
    assert first == ['CREATE TABLE "public"."metrics"', "INSERT INTO dynashift.columns"]
    # 50 new attributes of a table that exists: one ALTER TABLE
    second = run([rec(f"k{i}", 100 + i, **{f"n{i}": {"S": "x"}}) for i in range(50)], "2.jsonl")
    assert second == ['ALTER TABLE "public"."metrics" ADD COLUMN', "INSERT INTO dynashift.columns"]
    columns, rows = read(pg_url, "metrics")
    assert columns == META + ["pk", *[f"m{i}" for i in range(50)], *[f"n{i}" for i in range(50)]]
    assert rows['{"pk":{"S":"k7"}}'] == {"pk": "k7", **{c: None for c in columns[5:]}, "n7": "x"}
