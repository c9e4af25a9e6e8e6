"""PostgreSQL merges a batch's tables together (targets/postgres_merge.py `merge_stages`): one narrow
stage of all staged keys judged by one join with dynashift.versions, versions written once, then per
table a DELETE and a COPY of the winners' values straight into the table. Its tables, versions,
change log and counters must be exactly the per-table merge's (base.py `merge`, the reference
Redshift keeps), for every kind of change, batching and awkward value, and the statements per
batch must stay few."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from dynashift import run_once
from dynashift.simulate import simulate
from dynashift.targets.postgres import PostgresTarget
from dynashift.targets import postgres_merge
from dynashift.targets.postgres_merge import PostgresMerge
from support.builders import T0, item, rec, write
from support.pg import admin, pg_url, with_database, ADMIN_URL  # noqa: F401 - pg_url is a fixture

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pg-batch-merge") / "stream"
    summary = simulate(out, changes=3000, tables=4, seed=12)
    assert summary.stats["duplicates"] > 0 and summary.stats["ttl_removes"] > 0
    return out


@pytest.fixture
def two_databases() -> Iterator[tuple[str, str]]:
    """The batch merge's database and the reference's, dropped after."""
    names = [f"dynashift_test_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    with admin() as con:
        for name in names:
            con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(ADMIN_URL, names[0]), with_database(ADMIN_URL, names[1])
    finally:
        with admin() as con:
            for name in names:
                con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _snapshot(url: str) -> dict[str, list[tuple]]:
    """Every table whole, dynashift.versions and the change log, without the apply-time clocks."""
    with psycopg.connect(url) as con:
        snap: dict[str, list[tuple]] = {}
        for name, schema in con.execute("SELECT table_name, schema_name FROM dynashift.tables ORDER BY 1").fetchall():
            cur = con.execute(f'SELECT * FROM "{schema}"."{name}" ORDER BY dist_key')
            names = [d.name for d in cur.description]
            snap[name] = [tuple(v for n, v in zip(names, row) if n != "_dynashift_synced_at") for row in cur.fetchall()]
        snap["versions"] = con.execute("SELECT table_name, dist_key, version_us, seq, event_id, deleted, values_version_us,"
                                       " values_seq FROM dynashift.versions ORDER BY 1, 2").fetchall()
        snap["change_log"] = con.execute("SELECT table_name, dist_key, op, version_us, seq, event_id"
                                         " FROM dynashift.change_log ORDER BY 1, 2, 4, 5").fetchall()
        snap["runs"] = con.execute("SELECT changes_applied, duplicates_skipped, stale_skipped, superseded"
                                   " FROM dynashift.runs ORDER BY run_id").fetchall()
    return snap


def _run(url: str, stream: Path, **settings) -> None:
    files = sorted(stream.glob("changes-*"))
    half = len(files) // 2 or 1
    for part in (files[:half], files[half:]):  # two runs: the second's tables were made by another
        for f in part:
            run_once(f"file://{f}", url, change_log=True, **settings)


def _batched(monkeypatch) -> list[int]:
    """The number of stages of each batch the batch merge took."""
    taken: list[int] = []
    batch = PostgresMerge._judge_batch
    monkeypatch.setattr(PostgresMerge, "_judge_batch", lambda self, stages: (taken.append(len(stages)),
                                                                             batch(self, stages))[1])
    return taken


@pytest.mark.parametrize("settings", [{"batch_size": 10_000}, {"batch_size": 333}, {"batch_size": 97, "column_types": "typed"}])
def test_the_same_tables_as_the_per_table_merge(stream, two_databases, monkeypatch, settings) -> None:
    batch_url, reference_url = two_databases
    taken = _batched(monkeypatch)
    _run(batch_url, stream, **settings)
    if "column_types" not in settings:  # typed columns are cast in SQL: the per-table merge
        assert max(taken) > 1  # batches of several tables were merged together
    monkeypatch.setattr(PostgresMerge, "COPIES_WINNERS", False)
    _run(reference_url, stream, **settings)
    assert _snapshot(batch_url) == _snapshot(reference_url)


def test_awkward_values_arrive_as_they_are(tmp_path, two_databases, monkeypatch) -> None:
    """What the COPY into the table must carry exactly: '' apart from NULL (a missing attribute),
    quotes, commas, newlines, backslashes, unicode, a long value; a REMOVE, a redelivery and a
    stale change in the same batch as winners."""
    odd = ['', 'a "quoted", value', "line\nbreak\r\n", "back\\slash \\N", "ünïcødé ✓ 🙂", "x" * 5000, "NULL", ","]
    records = [rec("INSERT", *item(f"k{i}", v={"S": value}), 10 + i, eid=f"e{i}") for i, value in enumerate(odd)]
    records += [rec("INSERT", *item("gone", v={"S": "soon"}), 5), rec("REMOVE", item("gone")[0], None, 6)]
    records += [rec("INSERT", *item("n", w={"N": "1"}), 1)]  # no `v`: NULL there
    write(tmp_path / "1.jsonl", records)
    k0, v_new = item("k0", v={"S": "newer"})
    write(tmp_path / "2.jsonl", [rec("MODIFY", k0, v_new, 50), records[1], rec("MODIFY", *item("k2", v={"S": "old"}), 1)])
    batch_url, reference_url = two_databases
    taken = _batched(monkeypatch)
    for url in (batch_url, reference_url):
        for name in ("1.jsonl", "2.jsonl"):
            run_once(f"file://{tmp_path / name}", url, change_log=True)
        monkeypatch.setattr(PostgresMerge, "COPIES_WINNERS", False)
    assert len(taken) == 2
    snap = _snapshot(batch_url)
    assert snap == _snapshot(reference_url)
    with psycopg.connect(batch_url) as con:
        shown = dict(con.execute('SELECT pk, v FROM public.orders').fetchall())
    assert shown == {**{f"k{i}": value for i, value in enumerate(odd)}, "k0": "newer", "n": None}
    assert snap["runs"][-1] == (1, 1, 1, 0)


@pytest.mark.parametrize("copy_where", [True, False])
def test_rows_that_do_not_go_in_are_sent_and_left_out_by_the_copy(tmp_path, two_databases, monkeypatch, copy_where) -> None:
    """Every staged row of a table goes to its COPY, those that do not go in (a REMOVE, a redelivery,
    a stale change) without a sync time, which the COPY's WHERE leaves out, rather than the wide
    values filtered (copied) on the client; a server older than 12 (no COPY ... WHERE) gets the
    filtered rows. Either way the tables are the per-table merge's."""
    copies: list[tuple[int, bool]] = []
    copy_rows = PostgresTarget.copy_rows
    monkeypatch.setattr(PostgresTarget, "copy_rows", lambda self, ref, data, where="": (
        copies.append((data.num_rows, bool(where))), copy_rows(self, ref, data, where))[1])
    if not copy_where:
        monkeypatch.setattr(postgres_merge, "COPY_WHERE_SINCE", 10 ** 9)
    keys = [item(f"k{i}", v={"S": f"v{i}"}) for i in range(3)]
    first = [rec("INSERT", *kv, 10 + i, eid=f"e{i}") for i, kv in enumerate(keys)]
    write(tmp_path / "1.jsonl", first + [rec("INSERT", *item("gone", v={"S": "x"}), 5), rec("REMOVE", item("gone")[0], None, 6)])
    write(tmp_path / "2.jsonl", [rec("MODIFY", keys[0][0], item("k0", v={"S": "newer"})[1], 50), first[1],
                                 rec("MODIFY", *item("k2", v={"S": "old"}), 1)])
    batch_url, reference_url = two_databases
    for url in (batch_url, reference_url):
        for name in ("1.jsonl", "2.jsonl"):
            run_once(f"file://{tmp_path / name}", url, change_log=True)
        monkeypatch.setattr(PostgresMerge, "COPIES_WINNERS", False)
    assert copies == ([(4, True), (3, True)] if copy_where else [(3, False), (1, False)])
    assert _snapshot(batch_url) == _snapshot(reference_url)
    with psycopg.connect(batch_url) as con:
        assert dict(con.execute("SELECT pk, v FROM public.orders").fetchall()) == {"k0": "newer", "k1": "v1", "k2": "v2"}


def test_a_batch_of_several_tables_takes_few_statements(stream, two_databases, monkeypatch) -> None:
    """At most ten statements for the batch (stage, COPY, ANALYZE, judge, count, versions UPDATE
    and INSERT, change log, now(), drop) and two per table (a DELETE and the COPY), whatever the
    number of tables: the per-table merge takes about a dozen per table."""
    per_batch: list[tuple[int, int]] = []
    run_sql, copy_rows, merge_stages = PostgresTarget.run_sql, PostgresTarget.copy_rows, PostgresMerge.merge_stages
    count, merging = [0], []  # only the merging target's statements: not the lease keeper's heartbeats

    def one(self) -> None:
        count[0] += self in merging
    monkeypatch.setattr(PostgresTarget, "run_sql", lambda self, sql, params, fetch: (
        one(self), run_sql(self, sql, params, fetch))[1])
    monkeypatch.setattr(PostgresTarget, "copy_rows", lambda self, ref, data, where="": (
        one(self), copy_rows(self, ref, data, where))[1])

    def counted(self, stages, log):
        count[0], merging[:] = 0, [self]
        try:
            return merge_stages(self, stages, log)
        finally:
            per_batch.append((len(stages), count[0]))
    monkeypatch.setattr(PostgresMerge, "merge_stages", counted)
    _run(two_databases[0], stream, batch_size=500)
    assert max(n for n, _ in per_batch) >= 4
    assert all(statements <= 10 + 2 * tables for tables, statements in per_batch), per_batch


def test_a_versions_row_changed_in_another_session_while_judging_is_judged_again(tmp_path, pg_url, monkeypatch) -> None:
    """The versions UPDATE finds its rows by the ctid judging read: a row another session rewrote
    in between has another ctid. The batch is then rolled back and applied again (judged anew),
    not committed with that row left as the other session wrote it."""
    k, v1 = item("a", n={"N": "1"})
    _, v2 = item("a", n={"N": "2"})
    write(tmp_path / "1.jsonl", [rec("INSERT", k, v1, 10)])
    write(tmp_path / "2.jsonl", [rec("MODIFY", k, v2, 20, eid="x2")])
    run_once(f"file://{tmp_path / '1.jsonl'}", pg_url)
    verdicts, meddled = PostgresMerge._verdicts, []

    def meddle(self):
        if not meddled:  # the first attempt only: another session rewrites the key's versions row
            meddled.append(True)
            with psycopg.connect(pg_url, autocommit=True) as con:
                con.execute("UPDATE dynashift.versions SET version_us = version_us - 5")
        return verdicts(self)
    monkeypatch.setattr(PostgresMerge, "_verdicts", meddle)
    counters = run_once(f"file://{tmp_path / '2.jsonl'}", pg_url)
    assert meddled and counters.changes_applied == 1
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT pk, n FROM public.orders").fetchall() == [("a", "2")]
        rows = con.execute("SELECT version_us - %s, event_id FROM dynashift.versions", (T0,)).fetchall()
    assert rows == [(20, "x2")]  # the batch's change, not the meddled row (5 µs earlier than the first)
