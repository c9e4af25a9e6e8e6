"""The pipeline's behaviours (tests/integration/test_pipeline.py) against a real PostgreSQL server, plus what is
PostgreSQL's own: case-sensitive and 63-byte names, COPY staging, bytewise seq order under a
locale collation, NUL values, and a backend killed in the middle of a batch."""

from __future__ import annotations

import threading
import uuid

import orjson
import psycopg
import pytest

from dynashift import Config, run_once
from dynashift.errors import BadRecordError, RetryableTargetError, TargetError
from dynashift.pipeline import replicate
from dynashift.sources import make_source
from dynashift.targets import make_target
from support.builders import T0, item, rec, write
from support.pg import admin, pg_rows, pg_url, with_database, ADMIN_URL  # noqa: F401 - pg_url is a fixture

pytestmark = pytest.mark.postgres

A = '{"pk":{"S":"a"}}'
B = '{"pk":{"S":"b"}}'


def values(url: str, table: str = "orders") -> dict[str, dict]:
    """dist_key -> {column: value}, `_changed` as µs after T0, without the sync time."""
    with psycopg.connect(url) as con:
        cur = con.execute(f'SELECT * FROM public."{table}" ORDER BY dist_key')
        names = [d.name for d in cur.description]
        out = {}
        for row in cur.fetchall():
            r = dict(zip(names, row))
            key = r.pop("dist_key")
            r.pop("_dynashift_synced_at")
            r["_changed"] = int(r.pop("_dynashift_changed_at").timestamp() * 1_000_000) - T0
            out[key] = r
        return out


def test_newest_change_wins_across_batches_and_runs(tmp_path, pg_url):
    k, v1 = item("a", n={"N": "1"})
    _, v2 = item("a", n={"N": "2"})
    _, v0 = item("a", n={"N": "0"}, old={"S": "late"})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v1, 10), rec("MODIFY", k, v2, 20)])
    run_once(f"file://{tmp_path / '1.jsonl'}", pg_url, batch_size=1)
    write(tmp_path / "2.jsonl", [rec("MODIFY", k, v0, 15)])
    counters = run_once(f"file://{tmp_path / '2.jsonl'}", pg_url)
    assert counters.stale_skipped == 1 and counters.changes_applied == 0
    assert values(pg_url) == {A: {"pk": "a", "n": "2", "old": None, "_dynashift_deleted": False, "_changed": 20}}


def test_tombstone_stops_a_late_insert_and_replay_changes_nothing(tmp_path, pg_url):
    k, v = item("a", n={"N": "1"})
    kb, vb = item("b", n={"N": "9"}, e={"S": ""})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v, 10), rec("REMOVE", k, None, 30), rec("INSERT", kb, vb, 5)])
    run_once(f"file://{tmp_path / '1.jsonl'}", pg_url)
    write(tmp_path / "2.jsonl", [rec("INSERT", k, v, 20)])
    assert run_once(f"file://{tmp_path / '2.jsonl'}", pg_url).stale_skipped == 1
    expected = {B: {"pk": "b", "n": "9", "e": "", "_dynashift_deleted": False, "_changed": 5}}
    assert values(pg_url) == expected  # '' stays '', not NULL
    assert pg_rows(pg_url, "SELECT dist_key, version_us - %s FROM dynashift.tombstones", (T0,)) == [(A, 30)]
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "1.jsonl").write_bytes((tmp_path / "1.jsonl").read_bytes())
    counters = run_once(f"file://{tmp_path / 'copy'}", pg_url)
    assert counters.records_read == 3 and counters.changes_applied == 0
    assert values(pg_url) == expected


def test_equal_times_later_in_source_wins_and_redelivery_is_a_duplicate(tmp_path, pg_url):
    k, v1 = item("a", n={"N": "1"})
    _, v2 = item("a", n={"N": "2"})
    first, second = rec("INSERT", k, v1, 10, eid="x1"), rec("MODIFY", k, v2, 10, eid="x2")
    write(tmp_path / "1.jsonl", [first, second])
    run_once(f"file://{tmp_path / '1.jsonl'}", pg_url, batch_size=1)
    assert values(pg_url)[A]["n"] == "2"
    write(tmp_path / "2.jsonl", [first, second])
    counters = run_once(f"file://{tmp_path / '2.jsonl'}", pg_url)
    assert (counters.duplicates_skipped, counters.changes_applied) == (1, 0)


def test_seq_order_is_bytewise_under_a_locale_collation(tmp_path):
    """File `B.jsonl` comes before `a.jsonl` (Python and byte order); ICU's en-US puts `a` first.
    The later change at an equal time must still win when the two meet in SQL."""
    name = f"dynashift_test_icu_{uuid.uuid4().hex[:8]}"
    with admin() as con:
        con.execute(f"CREATE DATABASE \"{name}\" LOCALE_PROVIDER icu ICU_LOCALE 'en-US' TEMPLATE template0")
    url = with_database(ADMIN_URL, name)
    try:
        k, v1 = item("a", n={"N": "1"})
        _, v2 = item("a", n={"N": "2"})
        write(tmp_path / "B.jsonl", [rec("INSERT", k, v1, 10)])
        write(tmp_path / "a.jsonl", [rec("MODIFY", k, v2, 10)])
        counters = run_once(f"file://{tmp_path}", url, batch_size=1)
        assert counters.changes_applied == 2
        assert values(url)[A]["n"] == "2"
    finally:
        with admin() as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_soft_delete_keeps_last_values_and_reinsert_clears_the_mark(tmp_path, pg_url):
    k, v = item("a", n={"N": "1"})
    kb, vb = item("b", n={"N": "2"})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v, 1), rec("INSERT", kb, vb, 2), rec("REMOVE", k, None, 3),
                                 rec("REMOVE", kb, None, 4)])
    run_once(f"file://{tmp_path / '1.jsonl'}", pg_url, delete_mode="soft", batch_size=2)
    write(tmp_path / "2.jsonl", [rec("INSERT", kb, vb, 5), rec("REMOVE", {"pk": {"S": "c"}}, None, 6)])
    run_once(f"file://{tmp_path / '2.jsonl'}", pg_url, delete_mode="soft")
    assert values(pg_url) == {
        A: {"pk": "a", "n": "1", "_dynashift_deleted": True, "_changed": 3},
        B: {"pk": "b", "n": "2", "_dynashift_deleted": False, "_changed": 5},
        '{"pk":{"S":"c"}}': {"pk": "c", "n": None, "_dynashift_deleted": True, "_changed": 6},
    }


@pytest.mark.parametrize(
    "settings, expected",
    [({}, {B}), ({"ttl_deletes": "ignore"}, {A, B}), ({"ttl_deletes": "soft"}, {A, B})],
)
def test_ttl_removes_follow_the_configuration(tmp_path, pg_url, settings, expected):
    k, v = item("a", n={"N": "1"})
    kb, vb = item("b", n={"N": "2"})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v, 1), rec("INSERT", kb, vb, 2), rec("REMOVE", k, None, 3, ttl=True)])
    run_once(f"file://{tmp_path / '1.jsonl'}", pg_url, **settings)
    rows = values(pg_url)
    assert set(rows) == expected
    if A in rows:
        assert rows[A]["_dynashift_deleted"] is (settings.get("ttl_deletes") != "ignore")


def test_names_are_case_sensitive_and_cut_at_63_bytes(tmp_path, pg_url):
    long1, long2 = "x" * 70, "x" * 69 + "y"
    weird = 'a"; DROP TABLE x; --'
    k, v = item("a", Name={"S": "1"}, name={"S": "2"}, NAME={"S": "3"}, dist_key={"S": "4"}, select={"S": "5"},
                **{long1: {"S": "6"}, long2: {"S": "7"}, weird: {"S": "8"}, "100%s": {"S": "9"}, "é ✓": {"S": "10"}})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v, 1)])
    run_once(f"file://{tmp_path / '1.jsonl'}", pg_url)
    mapping = dict(pg_rows(pg_url, "SELECT attribute_name, column_name FROM dynashift.columns"))
    assert {a: mapping[a] for a in ("Name", "name", "NAME", "select", weird, "100%s", "é ✓")} == {
        "Name": "Name", "name": "name", "NAME": "NAME", "select": "select", weird: weird, "100%s": "100%s",
        "é ✓": "é ✓"}
    assert mapping["dist_key"] == "dist_key__2"
    assert len(mapping[long1].encode()) == 63 and len(mapping[long2].encode()) == 63
    assert mapping[long1] != mapping[long2] and mapping[long1].startswith("x" * 50)
    row = values(pg_url)[A]
    assert [row[mapping[a]] for a in ("Name", "name", "NAME", "dist_key", long1, long2, weird, "100%s")] == [
        "1", "2", "3", "4", "6", "7", "8", "9"]
    # a later run keeps every mapping and adds new columns beside them
    _, v2 = item("a", name={"S": "x"}, Other={"S": "y"})
    write(tmp_path / "2.jsonl", [rec("MODIFY", k, v2, 5)])
    run_once(f"file://{tmp_path / '2.jsonl'}", pg_url)
    mapping2 = dict(pg_rows(pg_url, "SELECT attribute_name, column_name FROM dynashift.columns"))
    assert {a: mapping2[a] for a in mapping} == mapping and mapping2["Other"] == "Other"
    row = values(pg_url)[A]
    assert (row["name"], row["Other"], row["Name"]) == ("x", "y", None)


def test_a_nul_character_goes_to_rejected_with_its_key(tmp_path, pg_url):
    k, v = item("a", n={"N": "1"})
    kb, vb = item("b", s={"S": "a\x00b"})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v, 1), rec("INSERT", kb, vb, 2)])
    counters = run_once(f"file://{tmp_path / '1.jsonl'}", pg_url)
    assert (counters.changes_applied, counters.rejected) == (1, 1)
    ((reason, raw),) = pg_rows(pg_url, 'SELECT reason, "raw" FROM dynashift.rejected')
    assert "NUL" in reason and orjson.loads(raw)["dist_key"] == B
    assert set(values(pg_url)) == {A}


def test_on_bad_record_fail_stops_before_anything_of_the_batch_commits(tmp_path, pg_url):
    write(tmp_path / "1.jsonl", [rec("INSERT", *item("a", n={"N": "1"}), 1), b"garbage"])
    with pytest.raises(BadRecordError, match="not JSON"):
        run_once(f"file://{tmp_path / '1.jsonl'}", pg_url, on_bad_record="fail")
    assert pg_rows(pg_url, "SELECT count(*) FROM dynashift.tables") == [(0,)]
    assert pg_rows(pg_url, "SELECT status FROM dynashift.runs") == [("failed",)]


def test_a_failure_inside_the_transaction_leaves_data_and_checkpoints_together(tmp_path, pg_url, monkeypatch):
    src = write(tmp_path / "1.jsonl", [rec("INSERT", *item("a", n={"N": "1"}), 1),
                                        rec("INSERT", *item("b", n={"N": "2"}), 2)])
    config = Config(source=f"file://{src}", target=pg_url, batch_size=1)
    target = make_target(config.target)
    target.open()
    real, calls = target.write_checkpoints, []

    def crash_on_second(cps):
        calls.append(cps)
        real(cps)
        if len(calls) == 2:
            raise TargetError("simulated crash after the merge and the checkpoint, before commit")

    monkeypatch.setattr(target, "write_checkpoints", crash_on_second)
    with pytest.raises(TargetError):
        replicate(config, make_source(config.source, config), target)
    target.close()
    assert set(values(pg_url)) == {A}
    counters = run_once(f"file://{src}", pg_url)
    assert counters.records_read == 1 and set(values(pg_url)) == {A, B}


def test_a_killed_backend_fails_the_batch_cleanly_and_a_restart_completes(tmp_path, pg_url, monkeypatch):
    """pg_terminate_backend from another connection while the batch is being merged: the run fails
    with a retryable error, nothing of the batch is visible, and the next run finishes the job."""
    records = [rec("INSERT", *item(f"k{i}", n={"N": str(i)}), i) for i in range(6)]
    src = write(tmp_path / "1.jsonl", records)
    config = Config(source=f"file://{src}", target=pg_url, batch_size=3)
    target = make_target(config.target)
    target.open()
    pid = target.query("SELECT pg_backend_pid()")[0][0]
    real, merges = target._merge_winners, []  # a table's winners written (the batch merge, postgres_merge.py)

    def kill_during_second_batch(stage, *args):
        merges.append(stage.table)
        if len(merges) == 2:
            killer = threading.Thread(target=lambda: pg_rows(pg_url, "SELECT pg_terminate_backend(%s)", (pid,)))
            killer.start()
            killer.join()
        return real(stage, *args)

    monkeypatch.setattr(target, "_merge_winners", kill_during_second_batch)
    with pytest.raises(RetryableTargetError, match="PostgreSQL connection failed"):
        replicate(config, make_source(config.source, config), target)
    target.close()
    first = {orjson.dumps({"pk": {"S": f"k{i}"}}).decode() for i in range(3)}
    assert set(values(pg_url)) == first  # batch 1 committed, batch 2 not at all
    assert pg_rows(pg_url, "SELECT count(*) FROM dynashift.versions") == [(3,)]
    counters = run_once(f"file://{src}", pg_url, batch_size=3)
    assert counters.records_read == 3 and len(values(pg_url)) == 6
    assert pg_rows(pg_url, "SELECT status FROM dynashift.runs ORDER BY run_id") == [("interrupted",), ("ok",)]


def test_an_unreachable_server_is_one_clear_line():
    target = make_target("postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=2")
    with pytest.raises(TargetError, match=r"^cannot connect to PostgreSQL at 127\.0\.0\.1:1: ") as info:
        target.open()
    assert "\n" not in str(info.value)


def test_expired_tombstones_and_status(tmp_path, pg_url):
    k, v = item("a", n={"N": "1"})
    write(tmp_path / "1.jsonl", [rec("REMOVE", k, None, 30), rec("INSERT", *item("b", s={"SS": ["y", "x"]}), 1)])
    run_once(f"file://{tmp_path / '1.jsonl'}", pg_url)
    write(tmp_path / "2.jsonl", [rec("INSERT", k, v, 20)])
    run_once(f"file://{tmp_path / '2.jsonl'}", pg_url, tombstone_retention=0)
    assert pg_rows(pg_url, "SELECT count(*) FROM dynashift.tombstones") == [(0,)]
    assert values(pg_url)[A]["n"] == "1" and values(pg_url)[B]["s"] == '["x","y"]'
    target = make_target(pg_url)
    target.open()
    try:
        info = target.status()
    finally:
        target.close()
    assert [(t["table"], t["rows"], t["columns"]) for t in info["tables"]] == [("orders", 2, 3)]
    assert [r["status"] for r in info["runs"]] == ["ok", "ok"]
    assert pg_rows(pg_url, "SELECT types_seen FROM dynashift.columns WHERE attribute_name = 's'") == [('["SS"]',)]


def test_the_lease_keeper_connection_names_itself_apart_from_the_batch_connection(pg_url):
    """Operators (and tests that terminate a backend) tell a worker's two connections apart."""
    target = make_target(pg_url)
    target.open()
    keeper = target.sibling()
    try:
        dbname = target.con.info.dbname
        with admin() as con:
            names = sorted(r[0] for r in con.execute(
                "SELECT application_name FROM pg_stat_activity WHERE datname = %s AND application_name LIKE 'dynashift%%'",
                [dbname]).fetchall())
        assert names == ["dynashift", "dynashift-leases"]
    finally:
        keeper.close()
        target.close()


def test_versions_pages_keep_room_for_hot_updates_and_a_users_fillfactor_stays(tmp_path, pg_url):
    """dynashift.versions gets fillfactor 70 (postgres.py index_ddl), on a new database and on one
    made before; rewriting a key's versions row is then a HOT update; a fillfactor the user set
    is left alone."""
    options = "SELECT reloptions FROM pg_class WHERE oid = 'dynashift.versions'::regclass"
    write(tmp_path / "1.jsonl", [rec("INSERT", *item(f"k{i}", n={"N": "1"}), 1) for i in range(50)])
    run_once(f"file://{tmp_path / '1.jsonl'}", pg_url)
    assert pg_rows(pg_url, options) == [(["fillfactor=70"],)]
    write(tmp_path / "2.jsonl", [rec("MODIFY", *item(f"k{i}", n={"N": "2"}), 2) for i in range(50)])
    run_once(f"file://{tmp_path / '2.jsonl'}", pg_url)
    (updated, hot), = pg_rows(pg_url, "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
                                      " WHERE relid = 'dynashift.versions'::regclass")
    assert updated == 50 and hot >= 15  # at fillfactor 100 the first page is full: a handful
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("ALTER TABLE dynashift.versions RESET (fillfactor)")  # a database made before
    run_once(f"file://{tmp_path / '1.jsonl'}", pg_url)
    assert pg_rows(pg_url, options) == [(["fillfactor=70"],)]
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("ALTER TABLE dynashift.versions SET (fillfactor = 90)")
    run_once(f"file://{tmp_path / '1.jsonl'}", pg_url)
    assert pg_rows(pg_url, options) == [(["fillfactor=90"],)]
    assert len(values(pg_url)) == 50


def test_a_session_judges_in_memory_and_keeps_a_larger_server_setting(pg_url):
    """A dynashift session's work_mem and temp_buffers are at least SESSION_MEMORY (a batch's hash
    join with versions and its temp tables stay in memory); a larger setting of the server stays.
    Its ANALYZE of a stage samples 3,000 rows (STAGE_STATISTICS), not 30,000."""
    sizes = "SELECT pg_size_bytes(current_setting('work_mem')), pg_size_bytes(current_setting('temp_buffers'))"
    target = make_target(pg_url)
    target.open()
    try:
        assert target.query(sizes) == [(64 << 20, 64 << 20)]
        assert target.query("SHOW default_statistics_target") == [("10",)]
    finally:
        target.close()
    name = pg_url.rsplit("/", 1)[1]
    with admin() as con:
        con.execute(f"ALTER DATABASE \"{name}\" SET work_mem = '1GB'")
    target = make_target(pg_url)
    target.open()
    try:
        assert target.query(sizes) == [(1 << 30, 64 << 20)]
    finally:
        target.close()
