"""Bad and hostile input (issue 6): each case has its expected outcome. Nothing is lost, nothing
is executed as SQL, and every reject is recorded with its reason."""

from __future__ import annotations

import itertools
from pathlib import Path

import duckdb
import orjson
import pytest

from dynashift import run_once

_ids = itertools.count()
T0 = 1_700_000_000_000_000


def rec(image: dict | None, *, table: str = "T", op: str = "INSERT", keys: dict | None = None, t: int = 0) -> dict:
    keys = keys or {"pk": {"S": "k"}}
    ddb = {"ApproximateCreationDateTime": T0 + t, "ApproximateCreationDateTimePrecision": "MICROSECOND", "Keys": keys}
    if image is not None:
        ddb["NewImage"] = {**keys, **image}
    return {"eventID": f"b{next(_ids)}", "eventName": op, "tableName": table, "dynamodb": ddb}


def apply(tmp_path: Path, records: list, **settings) -> tuple[Path, object]:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records))
    db = tmp_path / "w.duckdb"
    return db, run_once(f"file://{src}", f"duckdb:///{db}", **settings)


def q(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def row(db: Path, table: str, attribute: str, dist_key: str = '{"pk":{"S":"k"}}'):
    (col,) = q(db, "SELECT column_name FROM dynashift.columns WHERE table_name = ? AND attribute_name = ?",
               [table, attribute])[0]
    return q(db, f"SELECT {_quote(col)} FROM main.{_quote(table)} WHERE dist_key = ?", [dist_key])[0][0]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


HOSTILE_NAMES = [
    "select", "order", "group", "from", 'say "hi"', "semi;colon", "new\nline", "emoji 🎉", "tab\tname",
    'a"; DROP TABLE x; --', "'; DROP TABLE dynashift.runs; --", "Name", "NAME", "name", "x" * 65536,
    "dist_key", "_dynashift_deleted", "back\\slash", "percent %s %(x)s", "question ?",
]


def test_hostile_attribute_names_become_columns_and_nothing_runs_as_sql(tmp_path):
    image = {name: {"S": f"v{i}"} for i, name in enumerate(HOSTILE_NAMES)}
    db, run = apply(tmp_path, [rec(image)])
    assert run.rejected == 0
    for i, name in enumerate(HOSTILE_NAMES):
        assert row(db, "t", name) == f"v{i}"
    columns = [c for (c,) in q(db, "SELECT column_name FROM dynashift.columns WHERE table_name = 't'")]
    assert len(columns) == len(set(c.lower() for c in columns)) == len(HOSTILE_NAMES) + 1  # + pk
    assert max(len(c.encode()) for c in columns) == 255
    assert q(db, "SELECT count(*) FROM dynashift.runs") == [(1,)]  # nothing dropped


@pytest.mark.parametrize("table, expected", [("orders.v2-prod", "orders.v2-prod"), ("Audit.Log", "audit.log"),
                                             ('x"; DROP TABLE y; --', 'x"; drop table y; --')])
def test_table_names_with_dots_dashes_and_quotes(tmp_path, table, expected):
    db, _ = apply(tmp_path, [rec({"a": {"S": "1"}}, table=table)])
    assert q(db, "SELECT table_name, source_table FROM dynashift.tables") == [(expected, table)]
    assert row(db, expected, "a") == "1"


def test_numbers_at_dynamodb_limits_stay_exact(tmp_path):
    numbers = {"max": "9.9999999999999999999999999999999999999E+125", "min": "-9.9999999999999999999999999999999999999E+125",
               "tiny": "1E-130", "digits": "12345678901234567890123456789012345678", "neg": "-0.000001"}
    image = {k: {"N": v} for k, v in numbers.items()}
    image["inside"] = {"M": {k: {"N": v} for k, v in numbers.items()}}
    image["set"] = {"NS": list(numbers.values())}
    db, run = apply(tmp_path, [rec(image)])
    assert run.rejected == 0
    for k, v in numbers.items():
        assert row(db, "t", k) == v
    inside = row(db, "t", "inside")
    for v in numbers.values():
        assert v in inside
    assert row(db, "t", "set") == ("[-9.9999999999999999999999999999999999999E+125,-0.000001,1E-130,"
                                   "12345678901234567890123456789012345678,9.9999999999999999999999999999999999999E+125]")


def test_empty_values(tmp_path):
    image = {"s": {"S": ""}, "ss": {"SS": []}, "m": {"M": {}}, "l": {"L": []}, "b": {"B": ""}}
    db, run = apply(tmp_path, [rec(image)])
    assert run.rejected == 0
    assert [row(db, "t", a) for a in ("s", "ss", "m", "l", "b")] == ["", "[]", "{}", "[]", ""]


def test_nesting_32_deep_renders_and_absurd_nesting_is_rejected(tmp_path):
    def nest(levels: int) -> str:  # typed JSON text: orjson itself refuses to write 400 levels
        value = '{"S":"leaf"}'
        for i in range(levels):
            value = f'{{"M":{{"n":{value}}}}}' if i % 2 else f'{{"L":[{value}]}}'
        return value

    def deep(levels: int, pk: str) -> bytes:
        line = orjson.dumps(rec({"deep": {"NULL": True}}, keys={"pk": {"S": pk}}))
        return line.replace(b'{"NULL":true}', nest(levels).encode())

    db, run = apply(tmp_path, [deep(32, "k"), deep(400, "z")])
    assert run.rejected == 1
    text = row(db, "t", "deep")
    assert text.count("[") + text.count("{") == 32 and '"leaf"' in text
    assert "nested too deeply" in q(db, "SELECT reason FROM dynashift.rejected")[0][0] or \
        "cannot be rendered" in q(db, "SELECT reason FROM dynashift.rejected")[0][0]


def test_a_400_kb_item_with_both_images(tmp_path):
    big = "x" * 200_000
    r = rec({"blob": {"S": big}, "n": {"N": "1"}}, op="MODIFY")
    r["dynamodb"]["OldImage"] = {"pk": {"S": "k"}, "blob": {"S": big[:-1]}}
    db, run = apply(tmp_path, [r])
    assert run.rejected == 0 and row(db, "t", "blob") == big


def test_an_attribute_changing_type_keeps_one_text_column_and_records_both_types(tmp_path):
    records = [rec({"status": {"S": "new"}}), rec({"status": {"N": "3"}}, keys={"pk": {"S": "b"}}),
               rec({"status": {"M": {"a": {"BOOL": True}}}}, keys={"pk": {"S": "c"}})]
    db, _ = apply(tmp_path, records)
    assert row(db, "t", "status") == "new"
    assert row(db, "t", "status", '{"pk":{"S":"b"}}') == "3"
    assert row(db, "t", "status", '{"pk":{"S":"c"}}') == '{"a":true}'
    assert q(db, "SELECT types_seen FROM dynashift.columns WHERE attribute_name = 'status'") == [('["M","N","S"]',)]


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"{not json", "not JSON"),
        (b"[1, 2, 3]", "not a DynamoDB change record"),
        (b'"just a string"', "not a DynamoDB change record"),
        (orjson.dumps({"eventName": "INSERT", "tableName": "T", "dynamodb": {"NewImage": {}}}), "missing Keys"),
        (orjson.dumps(rec({"a": {"Q": "1"}})), "unknown attribute type 'Q'"),
        (orjson.dumps(rec({"a": {"S": "1", "N": "2"}})), "not a DynamoDB attribute value"),
        (orjson.dumps(rec({"a": {"N": "12abc"}})), "invalid number"),
        (orjson.dumps(rec({"a": {"S": 5}})), "S value is not a string"),
        (orjson.dumps(rec(None)), "without NewImage"),
        (orjson.dumps({**rec({"a": {"S": "1"}}), "eventName": "UPSERT"}), "eventName 'UPSERT'"),
        (orjson.dumps({**rec({"a": {"S": "1"}}), "dynamodb": {**rec({})["dynamodb"], "ApproximateCreationDateTime": "soon"}}),
         "not a time"),
        (orjson.dumps({**rec({"a": {"S": "1"}}), "tableName": None}), "no table name"),
    ],
)
def test_each_bad_record_is_rejected_with_its_reason_and_the_rest_applies(tmp_path, line, reason):
    db, run = apply(tmp_path, [rec({"ok": {"S": "yes"}}, keys={"pk": {"S": "good"}}), line])
    assert run.rejected == 1 and run.changes_applied == 1
    (got, raw) = q(db, "SELECT reason, raw FROM dynashift.rejected")[0]
    assert reason in got
    assert orjson.loads(raw) == orjson.loads(line) if not line.startswith(b"{not") else raw == line.decode()
    assert row(db, "t", "ok", '{"pk":{"S":"good"}}') == "yes"
