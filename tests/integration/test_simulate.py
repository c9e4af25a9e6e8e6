"""The simulator and its oracle (no replication here), and the replica comparison helpers."""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import orjson
import pytest

from support.simulated import render_item, render_value, simulate
from support.oracle import diff_duckdb, diff_rows, expected_tables

TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def read_lines(paths) -> list[bytes]:
    out = []
    for p in paths:
        data = gzip.decompress(Path(p).read_bytes()) if str(p).endswith(".gz") else Path(p).read_bytes()
        out += data.splitlines(keepends=True)
    return out


def version_us(rec: dict) -> int:
    d = rec["dynamodb"]
    ts, precision = d["ApproximateCreationDateTime"], d.get("ApproximateCreationDateTimePrecision")
    return ts * 1000 if precision == "MILLISECOND" or (precision is None and ts < 10**14) else ts


def dist_key(keys: dict) -> str:
    return json.dumps(keys, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def key_of(rec: dict) -> tuple[str, str]:
    return rec["tableName"].lower(), dist_key(rec["dynamodb"]["Keys"])


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    out = tmp_path_factory.mktemp("mixed")
    summary = simulate(out, changes=20_000, files=3, seed=7)
    lines = read_lines(summary.files)
    return summary, lines, [orjson.loads(x) for x in lines], orjson.loads(summary.expected.read_bytes())


# ---------------------------------------------------------------- files


def test_same_seed_same_stream_other_seed_other_stream(tmp_path):
    a, b, c = (simulate(tmp_path / name, changes=1500, seed=seed)
               for name, seed in (("a", 3), ("b", 3), ("c", 4)))
    assert read_lines(a.files) == read_lines(b.files)
    assert a.expected.read_bytes() == b.expected.read_bytes()
    assert read_lines(a.files) != read_lines(c.files)


def test_files_split_the_stream_in_order(tmp_path):
    one = simulate(tmp_path / "one", changes=1000, seed=5, files=1)
    three = simulate(tmp_path / "three", changes=1000, seed=5, files=3)
    assert [p.name for p in three.files] == ["changes-0001.jsonl", "changes-0002.jsonl", "changes-0003.jsonl"]
    assert [len(read_lines([p])) for p in three.files] == [333, 333, 334]
    assert read_lines(three.files) == read_lines(one.files)
    tiny = simulate(tmp_path / "tiny", changes=2, files=3, seed=5)
    assert len(tiny.files) == 3 and all(p.exists() for p in tiny.files) and len(read_lines(tiny.files)) == 2


def test_gzip_output_is_the_same_stream(tmp_path):
    plain = simulate(tmp_path / "plain", changes=800, seed=9, files=2)
    packed = simulate(tmp_path / "gz", changes=800, seed=9, files=2, gzip=True)
    assert all(p.name.endswith(".jsonl.gz") for p in packed.files)
    assert read_lines(packed.files) == read_lines(plain.files)


def test_summary_and_no_expected(tmp_path):
    calls = []
    s = simulate(tmp_path, changes=12_345, profile="bench", expected=False, progress=calls.append)
    assert s.expected is None and not (tmp_path / "expected.json").exists()
    assert s.changes == 12_345 and s.bytes == sum(p.stat().st_size for p in s.files)
    assert calls == [10_000, 12_345]
    assert s.tables == ("Orders", "Customers", "Events", "Products", "Payments")


# ---------------------------------------------------------------- the oracle


def replay(records: list[dict], *, soft: bool = False, ignore_ttl: bool = False) -> dict:
    """An independent model: distinct records in (time, arrival) order applied to a dict."""
    first: dict[str, int] = {}
    for pos, rec in enumerate(records):
        first.setdefault(rec["eventID"], pos)
    ordered = sorted(first.values(), key=lambda pos: (version_us(records[pos]), pos))
    state: dict[tuple[str, str], tuple[int, dict, bool]] = {}
    for pos in ordered:
        rec = records[pos]
        k, version, d = key_of(rec), version_us(rec), rec["dynamodb"]
        if not soft and not ignore_ttl:  # the stream itself is consistent: OldImage is what was there
            if rec["eventName"] == "INSERT":
                assert k not in state, rec["eventID"]
            else:
                assert state[k][1] == d["OldImage"], rec["eventID"]
        if rec["eventName"] == "REMOVE":
            if ignore_ttl and rec["userIdentity"] == TTL:
                continue
            if soft:
                state[k] = (version, state[k][1], True)
            else:
                del state[k]
        else:
            state[k] = (version, d["NewImage"], False)
    tables: dict[str, dict] = defaultdict(dict)
    for (table, dk), (version, image, deleted) in state.items():
        row = {"changed_at_us": version, "values": render_item(image)}
        tables[table][dk] = {**row, "deleted": deleted} if soft else row
    return tables


@pytest.mark.parametrize("mode", ["tables", "soft_delete", "ttl_ignored"])
def test_oracle_agrees_with_a_replay_of_the_records(mixed, mode):
    _, _, records, expected = mixed
    model = replay(records, soft=mode == "soft_delete", ignore_ttl=mode == "ttl_ignored")
    for name, table in expected_tables(expected, mode).items():
        assert table["rows"] == model.get(name, {}), name
    assert set(model) <= set(expected["tables"])


def test_oracle_lists_every_attribute_and_key(mixed):
    _, _, records, expected = mixed
    names: dict[str, set] = defaultdict(set)
    for rec in records:
        for part in ("Keys", "NewImage", "OldImage"):
            names[rec["tableName"].lower()].update(rec["dynamodb"].get(part, {}))
    assert {t: set(v["attributes"]) for t, v in expected["tables"].items()} == names
    assert expected["tables"]["orders"]["key_attributes"] == ["pk", "sk"]
    assert expected["tables"]["orders"]["source_table"] == "Orders"
    assert set(expected["tables"]) == {"orders", "user-profiles", "audit.log", "sessions", "inventory"}


def test_stats_count_the_stream(mixed):
    summary, _, records, expected = mixed
    stats = expected["stats"]
    ops = Counter(r["eventName"] for r in {r["eventID"]: r for r in records}.values())
    assert stats["records"] == len(records) == summary.changes == 20_000
    assert stats["changes"] == len({r["eventID"] for r in records}) == sum(ops.values())
    assert [stats["inserts"], stats["modifies"], stats["removes"]] == [ops["INSERT"], ops["MODIFY"],
                                                                       ops["REMOVE"]]
    assert stats["ttl_removes"] == len({r["eventID"] for r in records if r["userIdentity"] == TTL}) > 0
    assert stats["reinserts"] > 0


# ---------------------------------------------------------------- content


def walk(av: dict, depth: int = 1):
    """Yield (type, value, depth) for a typed value and everything nested in it."""
    ((tag, v),) = av.items()
    yield tag, v, depth
    if tag == "M":
        for x in v.values():
            yield from walk(x, depth + 1)
    elif tag == "L":
        for x in v:
            yield from walk(x, depth + 1)


def test_values_cover_every_type_and_edge(mixed):
    _, _, records, _ = mixed
    tags, numbers, strings, depth = Counter(), set(), set(), 0
    for rec in records:
        for av in rec["dynamodb"].get("NewImage", {}).values():
            for tag, v, d in walk(av):
                tags[tag] += 1
                depth = max(depth, d if tag in ("M", "L") else 0)
                numbers.update([v] if tag == "N" else v if tag == "NS" else [])
                strings.update([v] if tag == "S" else [])
                if tag in ("M", "L") and not v:
                    tags["empty " + tag] += 1
    assert set(tags) >= {"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS", "empty M", "empty L"}
    assert depth == 32
    assert {"1E+2", "-1.5e-10", "1.50"} <= numbers and "" in strings
    assert any(n.startswith("-") for n in numbers)
    assert any(len(n.lstrip("-").replace(".", "").split("E")[0]) == 38 for n in numbers)
    assert all(Decimal(n).is_finite() and json.loads(n) is not None for n in numbers)  # valid JSON numbers


def test_awkward_names_keys_and_types(mixed):
    _, _, records, expected = mixed
    attrs = {t: set(v["attributes"]) for t, v in expected["tables"].items()}
    everything = set().union(*attrs.values())
    assert {"Name", "name"} <= attrs["orders"] and {"select", "order", "group"} <= attrs["orders"]
    assert {'a"; DROP TABLE x; --', "dist_key", "_dynashift_changed_at", "first name", "semi;colon",
            "😀 mood", 'he said "hi"'} <= everything
    assert sum(len(a.encode()) > 130 for a in everything) >= 3
    def key_schema(table):
        return {tuple((k, next(iter(v))) for k, v in sorted(r["dynamodb"]["Keys"].items()))
                for r in records if r["tableName"] == table}

    assert key_schema("Orders") == {(("pk", "S"), ("sk", "N"))}
    assert key_schema("Sessions") == {(("sid", "B"),)}
    assert key_schema("Audit.Log") == {(("seq", "S"), ("stream", "S"))}
    assert key_schema("user-profiles") == {(("id", "N"),)} and key_schema("Inventory") == {(("sku", "S"),)}
    status_types = {next(iter(r["dynamodb"]["NewImage"]["status"])) for r in records
                    if r["tableName"] == "Orders" and "status" in r["dynamodb"].get("NewImage", {})}
    assert {"S", "N"} <= status_types


def test_attributes_appear_over_time(mixed):
    _, _, records, _ = mixed
    first = {}
    for pos, rec in enumerate(records):
        if rec["tableName"] == "Orders":
            for a in rec["dynamodb"].get("NewImage", {}):
                first.setdefault(a, pos)
    assert first["pk"] < 100
    assert first["discount"] > 0.25 * len(records) and first["shipping"] > 0.55 * len(records)


def test_timestamps_and_record_shape(mixed):
    _, _, records, _ = mixed
    seen = defaultdict(set)
    images = {"INSERT": {"NewImage"}, "MODIFY": {"NewImage", "OldImage"}, "REMOVE": {"OldImage"}}
    for rec in records:
        d = rec["dynamodb"]
        precision = d.get("ApproximateCreationDateTimePrecision")
        seen[rec["tableName"]].add((len(str(d["ApproximateCreationDateTime"])), precision))
        assert rec["eventSource"] == "aws:dynamodb" and rec["awsRegion"] == "us-east-1"
        assert set(d) - {"ApproximateCreationDateTimePrecision"} == {
            "ApproximateCreationDateTime", "Keys", "SizeBytes", *images[rec["eventName"]]}
        assert rec["userIdentity"] is None or (rec["userIdentity"] == TTL and rec["eventName"] == "REMOVE")
    assert seen["Orders"] == {(16, "MICROSECOND")} and seen["user-profiles"] == {(13, "MILLISECOND")}
    assert seen["Sessions"] == {(13, None)} and seen["Audit.Log"] == {(16, None)}


# ---------------------------------------------------------------- delivery faults


def test_duplicates_and_late_records_follow_the_rule(mixed):
    _, lines, records, expected = mixed
    first: dict[str, int] = {}
    newest: dict[tuple, int] = {}
    versions: dict[tuple, dict[int, str]] = defaultdict(dict)
    dup_gaps, late_gaps, last_pos = [], [], {}
    for pos, rec in enumerate(records):
        k, v = key_of(rec), version_us(rec)
        if rec["eventID"] in first:
            assert lines[first[rec["eventID"]]] == lines[pos]  # a duplicate is the very same record
            dup_gaps.append(pos - first[rec["eventID"]])
            continue
        first[rec["eventID"]] = pos
        assert versions[k].setdefault(v, rec["eventID"]) == rec["eventID"]  # one change per key and time
        if k in newest and v < newest[k]:
            late_gaps.append(pos - last_pos[k])
        newest[k] = max(newest.get(k, v), v)
        last_pos[k] = pos
    n = len(records)
    all_versions = [v for by_time in versions.values() for v in by_time]
    assert len(set(all_versions)) == len(all_versions)  # the clock never stands still, across keys too
    assert 0.01 * n <= len(dup_gaps) == expected["stats"]["duplicates"] <= 0.05 * n
    assert 0.01 * n <= len(late_gaps) == expected["stats"]["late"] <= 0.05 * n
    assert min(dup_gaps) <= 3 and max(dup_gaps) > 1000
    assert min(late_gaps) <= 3 and max(late_gaps) > 200


# ---------------------------------------------------------------- bench profile


def test_bench_profile_records(tmp_path):
    s = simulate(tmp_path, changes=4000, profile="bench", seed=2)
    records = [orjson.loads(x) for x in read_lines(s.files)]
    assert 1500 <= s.bytes / s.changes <= 2500
    ops = Counter(r["eventName"] for r in records)
    assert 0.6 < ops["MODIFY"] / len(records) < 0.8 and 0.14 < ops["INSERT"] / len(records) < 0.26
    assert all(len(str(r["dynamodb"]["ApproximateCreationDateTime"])) == 16 for r in records)
    sizes = [len(r["dynamodb"]["NewImage"]) for r in records if r["eventName"] == "INSERT"]
    assert 18 <= sum(sizes) / len(sizes) <= 26
    assert s.stats["duplicates"] > 0 and s.stats["late"] > 0
    modified = Counter(key_of(r) for r in records if r["eventName"] == "MODIFY")
    assert max(modified.values()) >= 4
    model = replay(records)
    for name, table in orjson.loads(s.expected.read_bytes())["tables"].items():
        assert table["rows"] == model.get(name, {})


# ---------------------------------------------------------------- rendering


def test_render_value_follows_the_spec_table():
    assert render_value({"S": "ü"}) == "ü" and render_value({"N": "1E+2"}) == "1E+2"
    assert render_value({"BOOL": False}) == "false" and render_value({"NULL": True}) is None
    assert render_value({"B": "AAE="}) == "AAE="
    assert render_value({"SS": ["b", "a", "ü"]}) == '["a","b","ü"]'
    assert render_value({"NS": ["10", "-1.5e-10", "2", "1E+2"]}) == "[-1.5e-10,2,10,1E+2]"
    assert render_value({"BS": ["Yg==", "YQ=="]}) == '["YQ==","Yg=="]'
    nested = {"M": {"b": {"L": [{"N": "1.50"}, {"NULL": True}, {"BOOL": True}, {"B": "AA=="}]},
                    "a": {"M": {}}, "c": {"SS": ["y", "x"]}, "d": {"S": 'q"\n'}}}
    assert render_value(nested) == '{"a":{},"b":[1.50,null,true,"AA=="],"c":["x","y"],"d":"q\\"\\n"}'


# ---------------------------------------------------------------- diff helpers


def test_diff_rows_catches_every_kind_of_difference():
    table = {"source_table": "T", "key_attributes": ["id"], "attributes": ["id", "a", "b"], "rows": {
        '{"id":{"S":"1"}}': {"changed_at_us": 10, "values": {"id": "1", "a": "x", "b": None}},
        '{"id":{"S":"2"}}': {"changed_at_us": 20, "values": {"id": "2"}},
    }}
    cmap = {"id": "id", "a": "A", "b": "b"}
    meta = {"_dynashift_synced_at": 99, "_dynashift_deleted": False}
    good = [{"dist_key": '{"id":{"S":"1"}}', "id": "1", "A": "x", "b": None,
             "_dynashift_changed_at": 10, **meta},
            {"dist_key": '{"id":{"S":"2"}}', "id": "2", "A": None, "b": None,
             "_dynashift_changed_at": datetime(1970, 1, 1, 0, 0, 0, 20, tzinfo=timezone.utc), **meta}]
    assert diff_rows(table, cmap, good) == []

    def one(rows, cmap=cmap, **kw):
        diffs = diff_rows(table, cmap, rows, **kw)
        assert len(diffs) == 1, diffs
        return diffs[0]

    wrong = one([{**good[0], "A": "y"}, good[1]])
    assert "'a'" in wrong and "is 'y', expected 'x'" in wrong
    assert "missing row" in one([good[0]])
    assert "extra row" in one(good + [{**good[1], "dist_key": '{"id":{"S":"3"}}'}])
    assert "expected None" in one([good[0], {**good[1], "b": "z"}])  # absent from values -> must be NULL
    assert "_dynashift_changed_at" in one([good[0], {**good[1], "_dynashift_changed_at": 21}])
    later = [good[0], {**good[1], "_dynashift_changed_at": 21}]
    assert diff_rows(table, cmap, later, check_changed_at=False) == []
    assert "_dynashift_deleted" in one([good[0], {**good[1], "_dynashift_deleted": True}])
    assert "more than once" in one(good + [good[1]])
    without_b = [{k: v for k, v in r.items() if k != "b"} for r in good]
    assert "no column" in one(without_b, cmap={"id": "id", "a": "A"})
    soft = {**table, "rows": {**table["rows"], '{"id":{"S":"2"}}': {"changed_at_us": 20, "deleted": True,
                                                                  "values": {"id": "2"}}}}
    assert "_dynashift_deleted" in diff_rows(soft, cmap, good)[0]


def fake_replica(con, expected: dict, mode: str = "tables") -> None:
    """What a correct replica holds, written straight from expected.json (names folded like DuckDB)."""
    con.execute("CREATE SCHEMA dynashift")
    con.execute("CREATE TABLE dynashift.columns (table_name VARCHAR, attribute_name VARCHAR,"
                " column_name VARCHAR, types_seen VARCHAR, is_key BOOLEAN, first_seen TIMESTAMPTZ,"
                " last_seen TIMESTAMPTZ)")
    for name, table in expected_tables(expected, mode).items():
        taken, cmap = {"dist_key", "_dynashift_changed_at", "_dynashift_synced_at", "_dynashift_deleted"}, {}
        for attr in table["attributes"]:
            col, i = attr, 1
            while col.lower() in taken:
                i += 1
                col = f"{attr}__{i}"
            taken.add(col.lower())
            cmap[attr] = col
            con.execute("INSERT INTO dynashift.columns (table_name, attribute_name, column_name)"
                        " VALUES (?, ?, ?)", [name, attr, col])
        q = lambda s: '"' + s.replace('"', '""') + '"'
        cols = ", ".join(q(c) + " VARCHAR" for c in cmap.values())
        con.execute(f"CREATE TABLE {q(name)} (dist_key VARCHAR, {cols}, _dynashift_changed_at TIMESTAMPTZ,"
                    " _dynashift_synced_at TIMESTAMPTZ, _dynashift_deleted BOOLEAN)")
        rows = [[dk, *(row["values"].get(a) for a in cmap),
                 datetime.fromtimestamp(0, timezone.utc) + timedelta(microseconds=row["changed_at_us"]),
                 None, row.get("deleted", False)] for dk, row in table["rows"].items()]
        if rows:
            con.executemany(f"INSERT INTO {q(name)} VALUES ({', '.join('?' * len(rows[0]))})", rows)


@pytest.mark.parametrize("mode", ["tables", "soft_delete"])
def test_diff_duckdb_reads_a_replica(tmp_path, mode):
    s = simulate(tmp_path, changes=400, seed=11)
    expected = orjson.loads(s.expected.read_bytes())
    con = duckdb.connect()
    fake_replica(con, expected, mode)
    assert diff_duckdb(con, s.expected, mode=mode) == []
    dk, row = next(iter(expected["tables"]["orders"]["rows"].items()))
    con.execute("UPDATE orders SET total = 'wrong' WHERE dist_key = ?", [dk])
    con.execute('DROP TABLE "audit.log"')
    diffs = diff_duckdb(con, s.expected, mode=mode)
    assert any("orders" in d and "'total'" in d and "wrong" in d for d in diffs)
    assert "audit.log: table main.audit.log does not exist" in diffs
    db = tmp_path / "replica.duckdb"
    with duckdb.connect(str(db)) as other:
        fake_replica(other, expected, mode)
    assert diff_duckdb(db, s.expected, mode=mode) == []
