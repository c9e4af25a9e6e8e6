"""The item column: `_dynashift_item` holds the whole item as DynamoDB typed JSON, so every column
can be re-derived from it (and is, here, for a simulated stream of every type); attributes past a
target's column limit go to the overflow column; turning it on later adds it to the table."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from dynashift import Config, run_once
from dynashift.decode import render_item
from dynashift.pipeline import replicate
from dynashift.schema import Naming
from support.simulated import simulate
from dynashift.sources import make_source
from dynashift.targets import make_target
from dynashift.targets.duckdb import DuckDBTarget
from support.oracle import expected_tables
from support.pg import pg_url  # noqa: F401 - the fixture
from support.typed_support import replica

T0 = 1_700_000_000_000_000


@pytest.fixture(params=["duckdb", "postgresql"])
def uri(request, tmp_path) -> str:
    return f"duckdb:///{tmp_path / 'w.duckdb'}" if request.param == "duckdb" else request.getfixturevalue("pg_url")


def items(uri: str) -> dict[str, dict[str, dict]]:
    """table -> dist_key -> the item column, parsed."""
    target = make_target(uri)
    target.open()
    try:
        out = {}
        for (name,) in target.query("SELECT table_name FROM dynashift.tables"):
            rows = target.query(f'SELECT dist_key, {target.JSON_TO_TEXT.format(chr(34) + "_dynashift_item" + chr(34))}'
                                f" FROM {target.table_ref(name)}")
            out[name] = {dk: orjson.loads(item) if item else None for dk, item in rows}
        return out
    finally:
        target.close()


@pytest.mark.parametrize("column_types", ["text", "typed"])
def test_every_column_can_be_re_derived_from_the_item(uri, tmp_path, column_types):
    simulate(tmp_path / "sim", changes=800, tables=4, seed=5)
    expected = expected_tables(orjson.loads((tmp_path / "sim" / "expected.json").read_bytes()))
    (tmp_path / "sim" / "expected.json").unlink()
    run_once(f"file://{tmp_path / 'sim'}", uri, item_column=True, column_types=column_types, batch_size=300)
    held = items(uri)
    target = make_target(uri)
    target.open()
    tables = replica(target)
    target.close()
    for name, table in expected.items():
        assert held[name].keys() == table["rows"].keys()
        for dk, row in table["rows"].items():
            want = {k: v for k, v in row["values"].items() if v is not None}
            derived = {k: v for k, v in render_item(held[name][dk]).items() if v is not None}
            assert derived == want, (name, dk)
        mapping, rows = tables[name]
        for r in rows:  # and the columns agree with the item, by type
            derived = render_item(held[name][r["dist_key"]])
            assert all(r[col] == derived.get(attr) for attr, col in mapping.items()), (name, r["dist_key"])


def test_the_item_is_lossless_typed_json(tmp_path):
    image = {"pk": {"S": "a"}, "n": {"N": "1.50"}, "s": {"SS": ["b", "a"]}, "b": {"B": "AAE="}, "z": {"NULL": True},
             "m": {"M": {"y": {"L": [{"N": "007"}, {"BOOL": False}]}}}}
    record = {"eventID": "1", "eventName": "INSERT", "tableName": "T",
              "dynamodb": {"ApproximateCreationDateTime": T0, "ApproximateCreationDateTimePrecision": "MICROSECOND",
                           "Keys": {"pk": {"S": "a"}}, "NewImage": image}}
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "1.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    uri = f"duckdb:///{tmp_path / 'w.duckdb'}"
    run_once(f"file://{tmp_path / 'in'}", uri, item_column=True)
    assert items(uri)["t"]['{"pk":{"S":"a"}}'] == image  # N keeps "1.50" and "007", sets stay sets, B stays B


class NarrowDuckDB(DuckDBTarget):
    naming = Naming(max_bytes=255, case_insensitive=True, max_columns=8)  # 4 + the item column + 3 attributes


def test_attributes_past_the_column_limit_go_to_the_overflow_column(tmp_path):
    """Past the target's limit (here 8 columns), with the item column too, further attributes go to
    the overflow column as their column text (issue 14; they used to be in the item column only)."""
    image = {"pk": {"S": "a"}, **{f"a{i}": {"N": str(i)} for i in range(6)}}
    record = {"eventID": "1", "eventName": "INSERT", "tableName": "Wide",
              "dynamodb": {"ApproximateCreationDateTime": T0, "ApproximateCreationDateTimePrecision": "MICROSECOND",
                           "Keys": {"pk": {"S": "a"}}, "NewImage": image}}
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "1.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    uri = f"duckdb:///{tmp_path / 'w.duckdb'}"
    config = Config(source=f"file://{tmp_path / 'in'}", item_column=True, column_types="typed")
    target = NarrowDuckDB(uri)
    target.open()
    counters = replicate(config, make_source(config.source, config), target)
    columns = dict(target.query("SELECT attribute_name, column_name FROM dynashift.columns"))
    width = len(target.query("SELECT * FROM information_schema.columns WHERE table_name = 'wide'"))
    (overflow,), = target.query('SELECT CAST("_dynashift_overflow" AS VARCHAR) FROM wide')
    target.close()
    assert width == 8 and counters.columns_added == 3  # pk, a0 and the overflow column
    assert columns == {"pk": "pk", "a0": "a0", **{f"a{i}": "_dynashift_overflow" for i in range(1, 6)}}
    assert orjson.loads(overflow) == {f"a{i}": str(i) for i in range(1, 6)}
    assert items(uri)["wide"]['{"pk":{"S":"a"}}'] == image
    again = NarrowDuckDB(uri)  # the mapping of overflowed attributes survives a restart: nothing is added twice
    again.open()
    assert again.load_state().tables["Wide"].columns["a3"] == "_dynashift_overflow"
    again.close()


def test_the_item_column_turned_on_later(uri, tmp_path):
    def rec(pk: str, t: int) -> bytes:
        keys = {"pk": {"S": pk}}
        return orjson.dumps({"eventID": pk, "eventName": "INSERT", "tableName": "T",
                             "dynamodb": {"ApproximateCreationDateTime": T0 + t,
                                          "ApproximateCreationDateTimePrecision": "MICROSECOND",
                                          "Keys": keys, "NewImage": {**keys, "v": {"N": str(t)}}}}) + b"\n"

    for name, pk, settings in (("a", "old", {}), ("b", "new", {"item_column": True})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "1.jsonl").write_bytes(rec(pk, len(name)))
        run_once(f"file://{tmp_path / name}", uri, **settings)
    assert items(uri)["t"] == {'{"pk":{"S":"old"}}': None,
                               '{"pk":{"S":"new"}}': {"pk": {"S": "new"}, "v": {"N": "1"}}}
    target = make_target(uri)
    target.open()
    (options,), = target.query("SELECT options FROM dynashift.tables")
    target.close()
    assert orjson.loads(options)["item_column"] is True
