"""docs/reference.md §2-7 through the real file source and DuckDB: each test compares whole tables."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import pytest

from dynashift import Config, run_once
from dynashift.errors import BadRecordError, TargetError
from dynashift.pipeline import replicate
from dynashift.sources import make_source
from dynashift.targets import make_target
from support.builders import T0, item, rec, write


def table(db: Path, name: str = "orders", cols: str = "*") -> list[dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute(f'SELECT {cols} FROM main."{name}" ORDER BY dist_key')
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        con.close()


def values(db: Path, name: str = "orders") -> dict[str, dict]:
    """dist_key -> {column: value} without the time columns."""
    out = {}
    for row in table(db, name):
        key = row.pop("dist_key")
        row.pop("_dynashift_synced_at")
        row["_changed"] = int(row.pop("_dynashift_changed_at").timestamp() * 1_000_000) - T0
        out[key] = row
    return out


def sql(db: Path, query: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def run(src: Path, db: Path, **settings):
    return run_once(f"file://{src}", f"duckdb:///{db}", **settings)


A = '{"pk":{"S":"a"}}'
B = '{"pk":{"S":"b"}}'


def test_newest_change_wins_across_batches_and_runs(tmp_path):
    db = tmp_path / "w.duckdb"
    k, v1 = item("a", n={"N": "1"})
    _, v2 = item("a", n={"N": "2"})
    _, v0 = item("a", n={"N": "0"}, old={"S": "late"})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v1, 10), rec("MODIFY", k, v2, 20)])
    run(tmp_path / "1.jsonl", db, batch_size=1)
    write(tmp_path / "2.jsonl", [rec("MODIFY", k, v0, 15)])  # late: older than what was applied
    counters = run(tmp_path / "2.jsonl", db)
    assert counters.stale_skipped == 1 and counters.changes_applied == 0
    assert values(db) == {A: {"pk": "a", "n": "2", "old": None, "_dynashift_deleted": False, "_changed": 20}}


def test_tombstone_stops_a_late_insert_from_resurrecting(tmp_path):
    db = tmp_path / "w.duckdb"
    k, v = item("a", n={"N": "1"})
    kb, vb = item("b", n={"N": "9"})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v, 10), rec("REMOVE", k, None, 30), rec("INSERT", kb, vb, 5)])
    run(tmp_path / "1.jsonl", db)
    write(tmp_path / "2.jsonl", [rec("INSERT", k, v, 20)])
    assert run(tmp_path / "2.jsonl", db).stale_skipped == 1
    assert values(db) == {B: {"pk": "b", "n": "9", "_dynashift_deleted": False, "_changed": 5}}
    assert sql(db, "SELECT dist_key, version_us - 1700000000000000 FROM dynashift.tombstones") == [(A, 30)]


def test_equal_times_later_in_source_wins_and_redelivery_is_a_duplicate(tmp_path):
    db = tmp_path / "w.duckdb"
    k, v1 = item("a", n={"N": "1"})
    _, v2 = item("a", n={"N": "2"})
    first, second = rec("INSERT", k, v1, 10, eid="x1"), rec("MODIFY", k, v2, 10, eid="x2")
    write(tmp_path / "1.jsonl", [first, second])
    assert values(run(tmp_path / "1.jsonl", db) and db)[A]["n"] == "2"
    write(tmp_path / "2.jsonl", [first, second])  # the same events delivered again, elsewhere
    counters = run(tmp_path / "2.jsonl", db)
    # x1 is superseded inside the batch by x2, which the target already holds: nothing is written
    assert (counters.duplicates_skipped, counters.changes_applied) == (1, 0)
    assert values(db)[A]["n"] == "2"


def test_replaying_files_changes_nothing(tmp_path):
    db = tmp_path / "w.duckdb"
    k, v = item("a", n={"N": "1"})
    kb, vb = item("b", s={"SS": ["y", "x"]})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v, 1), rec("INSERT", kb, vb, 2), rec("REMOVE", k, None, 3)])
    run(tmp_path / "1.jsonl", db)
    before = table(db)
    # a second run over the same source reads nothing; a copy under another name replays everything
    assert run(tmp_path / "1.jsonl", db).records_read == 0
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "1.jsonl").write_bytes((tmp_path / "1.jsonl").read_bytes())
    counters = run(tmp_path / "copy", db)
    assert counters.records_read == 3 and counters.changes_applied == 0
    assert table(db) == before


def test_soft_delete_keeps_last_values_and_reinsert_clears_the_mark(tmp_path):
    db = tmp_path / "w.duckdb"
    k, v = item("a", n={"N": "1"})
    kb, vb = item("b", n={"N": "2"})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v, 1), rec("INSERT", kb, vb, 2), rec("REMOVE", k, None, 3),
                                 rec("REMOVE", kb, None, 4)])
    run(tmp_path / "1.jsonl", db, delete_mode="soft", batch_size=2)
    write(tmp_path / "2.jsonl", [rec("INSERT", kb, vb, 5), rec("REMOVE", {"pk": {"S": "c"}}, None, 6)])
    run(tmp_path / "2.jsonl", db, delete_mode="soft")
    assert values(db) == {
        A: {"pk": "a", "n": "1", "_dynashift_deleted": True, "_changed": 3},
        B: {"pk": "b", "n": "2", "_dynashift_deleted": False, "_changed": 5},
        '{"pk":{"S":"c"}}': {"pk": "c", "n": None, "_dynashift_deleted": True, "_changed": 6},
    }


@pytest.mark.parametrize(
    "settings, expected",
    [
        ({}, {B}),
        ({"ttl_deletes": "ignore"}, {A, B}),
        ({"ttl_deletes": "soft"}, {A, B}),
        ({"delete_mode": "soft"}, {A, B}),
    ],
)
def test_ttl_removes_follow_the_configuration(tmp_path, settings, expected):
    db = tmp_path / "w.duckdb"
    k, v = item("a", n={"N": "1"})
    kb, vb = item("b", n={"N": "2"})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v, 1), rec("INSERT", kb, vb, 2), rec("REMOVE", k, None, 3, ttl=True)])
    counters = run(tmp_path / "1.jsonl", db, **settings)
    rows = values(db)
    assert set(rows) == expected
    if A in rows:
        ignored = settings.get("ttl_deletes") == "ignore"
        assert rows[A]["_dynashift_deleted"] is (not ignored)
        assert rows[A]["_changed"] == (1 if ignored else 3)
        assert counters.ttl_ignored == (1 if ignored else 0)


def test_columns_are_mapped_stably_per_spec(tmp_path):
    db = tmp_path / "w.duckdb"
    long = "x" * 300
    weird = 'a"; DROP TABLE x; --'
    k, v = item("a", Name={"S": "1"}, name={"S": "2"}, dist_key={"S": "3"}, select={"S": "4"})
    kb, vb = item("b", **{long: {"S": "5"}, weird: {"S": "6"}, "NAME": {"S": "7"}, "é ✓": {"S": "8"}})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v, 1), rec("INSERT", kb, vb, 2, table="orders")])
    run(tmp_path / "1.jsonl", db)
    mapping = dict(sql(db, "SELECT attribute_name, column_name FROM dynashift.columns WHERE table_name = 'orders'"))
    assert mapping["Name"] == "Name" and mapping["name"] == "name__2" and mapping["dist_key"] == "dist_key__2"
    assert mapping["select"] == "select"
    tables = dict(sql(db, "SELECT source_table, table_name FROM dynashift.tables"))
    assert tables == {"Orders": "orders", "orders": "orders__2"}
    mapping2 = dict(sql(db, "SELECT attribute_name, column_name FROM dynashift.columns WHERE table_name = 'orders__2'"))
    assert mapping2[weird] == weird and mapping2["NAME"] == "NAME" and mapping2["é ✓"] == "é ✓"
    assert len(mapping2[long].encode()) == 255 and mapping2[long].startswith("x" * 200)
    rows = values(db, "orders__2")
    assert rows[B][mapping2[long]] == "5" and rows[B][weird] == "6"
    assert values(db)[A] | {} == {"pk": "a", "Name": "1", "name__2": "2", "dist_key__2": "3", "select": "4",
                                  "_dynashift_deleted": False, "_changed": 1}
    # a later run adds columns without renaming what exists
    _, v2 = item("a", name={"S": "x"}, NAME={"S": "y"})
    write(tmp_path / "2.jsonl", [rec("MODIFY", k, v2, 5)])
    run(tmp_path / "2.jsonl", db)
    mapping3 = dict(sql(db, "SELECT attribute_name, column_name FROM dynashift.columns WHERE table_name = 'orders'"))
    assert {a: mapping3[a] for a in mapping} == mapping and mapping3["NAME"] == "NAME__3"
    assert values(db)[A] == {"pk": "a", "Name": None, "name__2": "x", "dist_key__2": None, "select": None,
                             "NAME__3": "y", "_dynashift_deleted": False, "_changed": 5}


def test_types_seen_are_recorded(tmp_path):
    db = tmp_path / "w.duckdb"
    k, v = item("a", status={"S": "new"})
    kb, vb = item("b", status={"N": "3"})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v, 1), rec("INSERT", kb, vb, 2)])
    run(tmp_path / "1.jsonl", db)
    assert sql(db, "SELECT types_seen, is_key FROM dynashift.columns WHERE attribute_name = 'status'") == [
        ('["N","S"]', False)]
    assert sql(db, "SELECT types_seen, is_key FROM dynashift.columns WHERE attribute_name = 'pk'") == [('["S"]', True)]


def test_types_seen_and_last_seen_are_kept_per_table(tmp_path):
    """Several tables in one batch share one statement: an attribute of the same name in two
    tables keeps each table's own types, and only the attributes a batch holds are seen again."""
    db = tmp_path / "w.duckdb"
    k, v = item("a", status={"S": "new"}, only_orders={"BOOL": True})
    kc, vc = item("c", status={"N": "1"})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v, 1), rec("INSERT", kc, vc, 2, table="Customers")])
    run(tmp_path / "1.jsonl", db)
    seen = "SELECT table_name, attribute_name, types_seen FROM dynashift.columns ORDER BY 1, 2"
    assert sql(db, seen) == [("customers", "pk", '["S"]'), ("customers", "status", '["N"]'),
                             ("orders", "only_orders", '["BOOL"]'), ("orders", "pk", '["S"]'),
                             ("orders", "status", '["S"]')]
    first = dict(((t, a), s) for t, a, s in sql(db, "SELECT table_name, attribute_name, last_seen FROM dynashift.columns"))
    _, v2 = item("a", status={"N": "2"})
    _, vc2 = item("c", status={"SS": ["x"]})
    write(tmp_path / "2.jsonl", [rec("MODIFY", k, v2, 3), rec("MODIFY", kc, vc2, 4, table="Customers")])
    run(tmp_path / "2.jsonl", db)
    assert sql(db, seen) == [("customers", "pk", '["S"]'), ("customers", "status", '["N","SS"]'),
                             ("orders", "only_orders", '["BOOL"]'), ("orders", "pk", '["S"]'),
                             ("orders", "status", '["N","S"]')]
    later = dict(((t, a), s) for t, a, s in sql(db, "SELECT table_name, attribute_name, last_seen FROM dynashift.columns"))
    assert {key for key in later if later[key] > first[key]} == {("customers", "pk"), ("customers", "status"),
                                                                 ("orders", "pk"), ("orders", "status")}


def test_bad_records_are_rejected_with_reasons_and_counted(tmp_path):
    db = tmp_path / "w.duckdb"
    k, v = item("a", n={"N": "1"})
    bad_type = rec("INSERT", {"pk": {"S": "z"}}, {"pk": {"S": "z"}, "q": {"XX": "1"}}, 2)
    write(tmp_path / "1.jsonl", [b"not json {", rec("INSERT", k, v, 1), b'{"hello": 1}',
                                 {"eventName": "INSERT", "tableName": "Orders", "dynamodb": {}}, bad_type])
    counters = run(tmp_path / "1.jsonl", db)
    assert counters.rejected == 4 and counters.changes_applied == 1
    rows = sql(db, "SELECT position, reason, raw FROM dynashift.rejected")
    by_position = {p: (reason, raw) for p, reason, raw in rows}
    assert by_position["1.jsonl:0"][0].startswith("not JSON") and by_position["1.jsonl:0"][1] == "not json {"
    assert "no `dynamodb` block" in by_position["1.jsonl:" + str(len(b"not json {\n") + len(orjson.dumps(rec("INSERT", k, v, 1))) + 1) + "#0"][0]
    reasons = sorted(reason for _, reason, _ in rows if not reason.startswith("not JSON"))
    assert reasons == ["missing Keys", "not a DynamoDB change record: no `dynamodb` block",
                       "unknown attribute type 'XX'"]
    (raw,) = [raw for _, reason, raw in rows if reason.startswith("unknown attribute")]
    assert orjson.loads(raw)["dynamodb"]["NewImage"]["q"] == {"XX": "1"}
    (position,) = [p for p, reason, _ in rows if reason.startswith("unknown attribute")]
    assert position.startswith("1.jsonl:") and "\x1f" not in position
    assert set(values(db)) == {A}


def test_on_bad_record_fail_stops_before_anything_of_the_batch_commits(tmp_path):
    db = tmp_path / "w.duckdb"
    k, v = item("a", n={"N": "1"})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v, 1), b"garbage"])
    with pytest.raises(BadRecordError, match="not JSON"):
        run(tmp_path / "1.jsonl", db, on_bad_record="fail")
    assert sql(db, "SELECT count(*) FROM dynashift.tables") == [(0,)]
    assert sql(db, "SELECT status FROM dynashift.runs") == [("failed",)]
    assert sql(db, "SELECT count(*) FROM dynashift.checkpoints") == [(0,)]


def test_a_failure_inside_the_transaction_leaves_data_and_checkpoints_together(tmp_path, monkeypatch):
    db = tmp_path / "w.duckdb"
    src = write(tmp_path / "1.jsonl", [rec("INSERT", *item("a", n={"N": "1"}), 1),
                                        rec("INSERT", *item("b", n={"N": "2"}), 2)])
    config = Config(source=f"file://{src}", target=f"duckdb:///{db}", batch_size=1)
    target = make_target(config.target)
    target.open()
    real = target.write_checkpoints
    calls = []

    def crash_on_second(cps):
        calls.append(cps)
        if len(calls) == 2:
            real(cps)
            raise TargetError("simulated crash after the merge and the checkpoint, before commit")
        real(cps)

    monkeypatch.setattr(target, "write_checkpoints", crash_on_second)
    with pytest.raises(TargetError):
        replicate(config, make_source(config.source, config), target)
    target.close()
    assert set(values(db)) == {A}  # the first batch committed, the second rolled back whole
    assert sql(db, "SELECT position, size FROM dynashift.checkpoints") != []
    counters = run(src, db)
    assert counters.records_read == 1 and set(values(db)) == {A, B}


def test_file_source_reads_only_what_is_new(tmp_path):
    db = tmp_path / "w.duckdb"
    src = tmp_path / "1.jsonl"
    write(src, [rec("INSERT", *item("a", n={"N": "1"}), 1)])
    assert run(src, db).records_read == 1
    with src.open("ab") as fh:
        fh.write(orjson.dumps(rec("INSERT", *item("b", n={"N": "2"}), 2)) + b"\n")
    assert run(src, db).records_read == 1
    assert run(src, db).records_read == 0
    assert set(values(db)) == {A, B}
    assert sql(db, "SELECT shard, position::BIGINT = size FROM dynashift.checkpoints") == [("1.jsonl", True)]


def test_gzip_and_lambda_documents(tmp_path):
    import gzip

    db = tmp_path / "w.duckdb"
    k, v = item("a", n={"N": "1"})
    doc = {"Records": [rec("INSERT", k, v, 1), rec("MODIFY", k, {**v, "n": {"N": "2"}}, 2)]}
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(orjson.dumps(doc, option=orjson.OPT_INDENT_2)))
    counters = run(tmp_path, db)
    assert counters.records_read == 2
    assert values(db)[A]["n"] == "2"


def test_expired_tombstones_are_forgotten_by_the_apply_clock(tmp_path):
    db = tmp_path / "w.duckdb"
    k, v = item("a", n={"N": "1"})
    write(tmp_path / "1.jsonl", [rec("REMOVE", k, None, 30)])
    run(tmp_path / "1.jsonl", db)
    assert sql(db, "SELECT count(*) FROM dynashift.tombstones") == [(1,)]
    write(tmp_path / "2.jsonl", [rec("INSERT", k, v, 20)])
    run(tmp_path / "2.jsonl", db, tombstone_retention=0)  # expired before this run's batches
    assert sql(db, "SELECT count(*) FROM dynashift.tombstones") == [(0,)]
    assert values(db)[A]["n"] == "1"


def test_records_without_time_keep_their_stream_order(tmp_path):
    db = tmp_path / "w.duckdb"
    k, v1 = item("a", n={"N": "1"})
    _, v2 = item("a", n={"N": "2"})
    first, second = rec("INSERT", k, v1, 10), rec("MODIFY", k, v2, 0)
    del second["dynamodb"]["ApproximateCreationDateTime"]
    write(tmp_path / "1.jsonl", [first, second])
    run(tmp_path / "1.jsonl", db)
    assert values(db)[A]["n"] == "2"


def test_the_default_file_name_works_although_duckdb_names_its_catalog_after_it(tmp_path):
    db = tmp_path / "dynashift.duckdb"
    write(tmp_path / "1.jsonl", [rec("INSERT", *item("a", n={"N": "1"}), 1)])
    run(tmp_path / "1.jsonl", db)
    assert run(tmp_path / "1.jsonl", db).records_read == 0  # reopened: checkpoints read back
    con = duckdb.connect(":memory:")
    con.execute(f"ATTACH '{db}' AS w (READ_ONLY)")
    assert con.execute('SELECT n FROM w.main."orders"').fetchall() == [("1",)]
