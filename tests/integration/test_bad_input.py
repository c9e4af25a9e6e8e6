"""Bad and hostile input (issue 6): each case has its expected outcome. Nothing is lost, nothing
is executed as SQL, and every reject is recorded with its reason."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import pytest

from dynashift import run_once
from dynashift.schema import stored_name
from support.builders import rec as change



def rec(image: dict | None, *, table: str = "T", op: str = "INSERT", keys: dict | None = None, t: int = 0) -> dict:
    keys = keys or {"pk": {"S": "k"}}
    return change(op, keys, None if image is None else {**keys, **image}, t, table=table)


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
               [table, stored_name(attribute)])[0]
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


# ---------------------------------------------------------------- names across batches and runs


def test_names_differing_only_in_case_across_batches_and_runs(tmp_path):
    """DuckDB compares names case-insensitively: each spelling met later gets the next suffix, in
    whichever batch or run it first appears, and a mapping once made never changes."""
    db = tmp_path / "w.duckdb"
    first = tmp_path / "1.jsonl"
    first.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in [
        rec({"Name": {"S": "a"}}, table="Orders", t=1), rec({"name": {"S": "b"}}, table="Orders", t=2)]))
    run_once(f"file://{first}", f"duckdb:///{db}", batch_size=1)  # one record per batch
    second = tmp_path / "2.jsonl"
    second.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in [
        rec({"NAME": {"S": "c"}, "Name": {"S": "d"}}, table="Orders", t=3),
        rec({"nAmE": {"S": "e"}}, table="ORDERS", t=4)]))
    run_once(f"file://{second}", f"duckdb:///{db}")
    mapping = dict(q(db, "SELECT attribute_name, column_name FROM dynashift.columns WHERE table_name = 'orders'"))
    assert mapping == {"pk": "pk", "Name": "Name", "name": "name__2", "NAME": "NAME__3"}
    assert dict(q(db, "SELECT source_table, table_name FROM dynashift.tables")) == {"Orders": "orders", "ORDERS": "orders__2"}
    assert [row(db, "orders", a) for a in ("Name", "name", "NAME")] == ["d", None, "c"]  # the row is the newest image
    assert row(db, "orders__2", "nAmE") == "e"
    again = run_once(f"file://{tmp_path}", f"duckdb:///{db}")  # everything once more, as one source
    assert again.changes_applied == 0
    assert dict(q(db, "SELECT attribute_name, column_name FROM dynashift.columns WHERE table_name = 'orders'")) == mapping


def test_64_kb_names_that_differ_only_past_the_cut_stay_apart_across_batches(tmp_path):
    """Names longer than the target allows are cut and given a hash of the whole name: two 64 KB
    names equal in their first 64 KB get two columns, and a 64 KB table name a table."""
    a, b, table = "x" * 65536 + "1", "x" * 65536 + "2", "T" * 65536
    records = [rec({a: {"S": "first"}}, table=table, t=1), rec({b: {"S": "second"}}, table=table, t=2,
                                                                keys={"pk": {"S": "k2"}})]
    db, run = apply(tmp_path, records, batch_size=1)
    assert run.rejected == 0
    ((name, source),) = q(db, "SELECT table_name, source_table FROM dynashift.tables")
    assert source == table and len(name.encode()) == 255
    columns = dict(q(db, "SELECT attribute_name, column_name FROM dynashift.columns WHERE table_name = ?", [name]))
    assert columns[a] != columns[b] and all(len(columns[x].encode()) == 255 for x in (a, b))
    assert row(db, name, a) == "first" and row(db, name, b, '{"pk":{"S":"k2"}}') == "second"


# ---------------------------------------------------------------- bad values inside nested values


@pytest.mark.parametrize("value, reason", [
    ({"M": {"inner": {"Q": "1"}}}, "unknown attribute type 'Q'"),
    ({"M": {"a": {"M": {"b": {"L": [{"S": "ok"}, {"XX": "1"}]}}}}}, "unknown attribute type 'XX'"),
    ({"L": [{"M": {"k": {"s": "lower-case tag"}}}]}, "unknown attribute type 's'"),
    ({"M": {"n": {"N": "1.2.3"}}}, "invalid number"),
    ({"M": {"two": {"S": "a", "N": "1"}}}, "not a DynamoDB attribute value"),
    ({"L": [{"SS": ["a", 5]}]}, "not a string"),
])
def test_unknown_type_tags_and_bad_values_inside_nested_values_are_rejected(tmp_path, value, reason):
    db, run = apply(tmp_path, [rec({"ok": {"S": "yes"}}, keys={"pk": {"S": "good"}}), rec({"nested": value})])
    assert run.rejected == 1 and run.changes_applied == 1
    assert reason in q(db, "SELECT reason FROM dynashift.rejected")[0][0]
    assert q(db, "SELECT count(*) FROM main.t") == [(1,)]


@pytest.mark.parametrize("batch_size", [1, 100])
def test_a_bad_newest_change_leaves_the_older_good_one_applied_whatever_the_batching(tmp_path, batch_size):
    """Only each key's newest change in a batch is rendered; when it cannot be, it is rejected and
    the batch planned again without it, so the result does not depend on where batches are cut
    (found by this suite: the older change used to be lost as 'superseded')."""
    records = [rec({"v": {"S": "good"}}, t=1), rec({"v": {"M": {"x": {"Q": "1"}}}}, op="MODIFY", t=2)]
    db, run = apply(tmp_path, records, batch_size=batch_size)
    assert (run.changes_applied, run.rejected, run.superseded) == (1, 1, 0)
    assert row(db, "t", "v") == "good"
    assert q(db, "SELECT count(*) FROM dynashift.versions") == [(1,)]


def test_a_soft_remove_whose_batch_values_are_bad_still_deletes(tmp_path):
    """Soft deletes keep the batch's last live values; when those cannot be rendered, that change is
    rejected and the REMOVE keeps the values before it."""
    records = [rec({"v": {"S": "good"}}, t=1), rec({"v": {"M": {"x": {"Q": "1"}}}}, op="MODIFY", t=2),
               rec(None, op="REMOVE", t=3)]
    db, run = apply(tmp_path, records, delete_mode="soft")
    assert run.rejected == 1 and run.changes_applied == 1
    assert q(db, "SELECT v, _dynashift_deleted FROM main.t") == [("good", True)]


# ---------------------------------------------------------------- broken files and bytes


@pytest.mark.parametrize("line, reason", [
    (b'{"eventName":"INSERT","s":"\\ud800"}', "not JSON"),  # a lone surrogate
    (b'{"eventName":"INSERT","s":"\xff\xfe"}', "not JSON"),  # not UTF-8
    (bytes(range(1, 10)) + b"\x00\x80", "not JSON"),  # binary
    (orjson.dumps(rec({"a": {"S": "1"}}, keys={"pk": {"M": {}}})), "keys are S, N or B"),
    (orjson.dumps(rec({"a": {"S": "1"}}, keys={"pk": {"Q": "1"}})), "keys are S, N or B"),
])
def test_undecodable_bytes_and_bad_key_types_are_rejected(tmp_path, line, reason):
    db, run = apply(tmp_path, [rec({"ok": {"S": "yes"}}, keys={"pk": {"S": "good"}}), line])
    assert run.rejected == 1 and run.changes_applied == 1
    assert reason in q(db, "SELECT reason FROM dynashift.rejected")[0][0]


def test_accepted_oddities_have_a_defined_outcome(tmp_path):
    """Input DynamoDB never sends, accepted as written (decisions.md): an empty attribute name
    (column `_`), a NUL in a name (`_`), a name given twice (the last wins, as JSON parsers do),
    41 digits, a B value that is not base64 (text kept as is; keys are checked), a key attribute
    missing from NewImage (its column NULL: the row is the image; dist_key comes from Keys)."""
    odd = orjson.dumps(rec({"": {"S": "empty"}, "a\x00b": {"S": "nul"}, "twice": {"S": "first"},
                            "long": {"N": "1" * 41}, "bin": {"B": "!!!"}}))
    odd = odd.replace(b'"twice":{"S":"first"}', b'"twice":{"S":"first"},"twice":{"S":"last"}')
    keyless = orjson.dumps(rec({"a": {"S": "x"}}, keys={"pk": {"S": "k2"}})).replace(
        b'"NewImage":{"pk":{"S":"k2"},', b'"NewImage":{')
    db, run = apply(tmp_path, [odd, keyless])
    assert run.rejected == 0 and run.changes_applied == 2
    columns = dict(q(db, "SELECT attribute_name, column_name FROM dynashift.columns WHERE table_name = 't'"))
    assert columns[""] == "_" and columns['"a\\u0000b"'] == "a_b"  # no target's text holds NUL: stored as JSON
    assert [row(db, "t", a) for a in ("", "a\x00b", "twice", "long", "bin")] == ["empty", "nul", "last", "1" * 41, "!!!"]
    assert row(db, "t", "pk", '{"pk":{"S":"k2"}}') is None and row(db, "t", "a", '{"pk":{"S":"k2"}}') == "x"


def test_a_truncated_or_corrupt_gzip_file_applies_what_it_can_and_the_other_files_still_apply(tmp_path):
    import gzip

    folder = tmp_path / "in"
    folder.mkdir()
    lines = b"".join(orjson.dumps(rec({"n": {"N": str(i)}}, keys={"pk": {"S": f"k{i}"}})) + b"\n" for i in range(2000))
    (folder / "a.jsonl.gz").write_bytes(gzip.compress(lines)[:-2000])  # cut short
    (folder / "b.jsonl.gz").write_bytes(b"not gzip at all")
    (folder / "c.jsonl").write_bytes(orjson.dumps(rec({"n": {"N": "-1"}}, keys={"pk": {"S": "after"}})) + b"\n")
    db = tmp_path / "w.duckdb"
    run = run_once(f"file://{folder}", f"duckdb:///{db}")
    reasons = [r for (r,) in q(db, "SELECT reason FROM dynashift.rejected ORDER BY position")]
    assert run.rejected == 2 and len(reasons) == 2
    assert reasons[0].startswith("a.jsonl.gz cannot be read past uncompressed byte ") and "b.jsonl.gz" in reasons[1]
    applied = q(db, "SELECT count(*) FROM main.t")[0][0]
    assert 1000 < applied < 2001 and run.changes_applied == applied
    assert row(db, "t", "n", '{"pk":{"S":"after"}}') == "-1"
    assert run_once(f"file://{folder}", f"duckdb:///{db}").records_read == 0  # not rejected again


def test_a_last_line_still_being_written_is_read_once_complete(tmp_path):
    """A JSON Lines file that grows may end in half a line: it is left for a later run (the
    checkpoint stays before it), not rejected, and read whole once the writer finishes it."""
    src, db = tmp_path / "in.jsonl", tmp_path / "w.duckdb"
    a, b = (orjson.dumps(rec({"n": {"N": n}}, keys={"pk": {"S": n}})) for n in ("1", "2"))
    src.write_bytes(a + b"\n" + b[:25])
    first = run_once(f"file://{src}", f"duckdb:///{db}")
    assert (first.records_read, first.rejected) == (1, 0)
    with src.open("ab") as fh:
        fh.write(b[25:] + b"\n")
    second = run_once(f"file://{src}", f"duckdb:///{db}")
    assert (second.records_read, second.changes_applied, second.rejected) == (1, 1, 0)
    assert row(db, "t", "n", '{"pk":{"S":"2"}}') == "2"
