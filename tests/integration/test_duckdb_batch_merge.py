"""DuckDB merges a batch's tables together (targets/duckdb_merge.py `merge_stages`): one join of
all staged keys with dynashift.versions, one DELETE and one INSERT of versions rows, then a DELETE
and an INSERT per table. Its tables, versions and change log must be exactly the per-table
merge's (base.py `merge`, the reference shared with PostgreSQL and Redshift), for every kind of
change and batching, and the statements per batch must stay few."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from support.snapshots import duckdb_snapshot

from dynashift import run_once
from dynashift.simulate import simulate
from dynashift.targets.base import SqlTarget
from dynashift.targets.duckdb import DuckDBTarget
from dynashift.targets.duckdb_merge import DuckDBMerge


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("batch-merge") / "stream"
    summary = simulate(out, changes=4000, tables=4, seed=11)
    assert summary.stats["duplicates"] > 0 and summary.stats["ttl_removes"] > 0
    return out


def _snapshot(db: Path) -> dict[str, list[tuple]]:
    return duckdb_snapshot(db, "changes_applied, duplicates_skipped, stale_skipped, superseded")


def _run(db: Path, stream: Path, **settings) -> None:
    files = sorted(stream.glob("changes-*"))
    half = len(files) // 2 or 1
    for part in (files[:half], files[half:]):  # two runs: the second's tables were made by another
        for f in part:
            run_once(f"file://{f}", f"duckdb:///{db}", change_log=True, **settings)


@pytest.mark.parametrize("settings", [{"batch_size": 10_000}, {"batch_size": 333}, {"batch_size": 97, "column_types": "typed"}])
def test_the_same_tables_as_the_per_table_merge(stream, tmp_path: Path, monkeypatch, settings) -> None:
    batched: list[int] = []
    merge_stages = DuckDBMerge.merge_stages
    monkeypatch.setattr(DuckDBMerge, "merge_stages", lambda self, stages, log: (batched.append(len(stages)),
                                                                                   merge_stages(self, stages, log))[1])
    _run(tmp_path / "batch.duckdb", stream, **settings)
    assert max(batched) > 1  # batches of several tables were merged together
    monkeypatch.setattr(DuckDBMerge, "merge_stages", SqlTarget.merge_stages)
    _run(tmp_path / "reference.duckdb", stream, **settings)
    assert _snapshot(tmp_path / "batch.duckdb") == _snapshot(tmp_path / "reference.duckdb")


def test_a_batch_of_several_tables_takes_few_statements(stream, tmp_path: Path, monkeypatch) -> None:
    """Six statements for the batch (the judging's second step, the rows of a tied version,
    among them), two per table (a table made here whose winners are all new keys: one),
    whatever the number of tables: was about ten per table."""
    per_batch: list[tuple[int, int]] = []
    execute, merge_stages = DuckDBTarget.execute, DuckDBMerge.merge_stages
    count = [0]
    monkeypatch.setattr(DuckDBTarget, "execute", lambda self, sql, params=(): (count.__setitem__(0, count[0] + 1),
                                                                               execute(self, sql, params))[1])

    def counted(self, stages, log):
        count[0] = 0
        try:
            return merge_stages(self, stages, log)
        finally:
            per_batch.append((len(stages), count[0]))
    monkeypatch.setattr(DuckDBMerge, "merge_stages", counted)
    _run(tmp_path / "r.duckdb", stream, batch_size=500)
    assert max(n for n, _ in per_batch) >= 4
    assert all(statements <= 6 + 2 * tables for tables, statements in per_batch), per_batch


def test_the_verdicts_stay_in_arrow(stream, tmp_path: Path, monkeypatch) -> None:
    """The batch merge makes no table of its own in DuckDB, and updates none: the verdicts come
    back to Arrow beside the staged batch and the stages, which they filter (duckdb_merge.py
    `_judge_batch`), and the statements that write are the versions DELETE and INSERT, and a
    DELETE and an INSERT per table. Redelivered keys (moved to a later seq) are among the rows,
    and the tables stay the per-table merge's (the first test)."""
    statements: list[str] = []
    moves: list[bool] = []
    merging = [False]
    execute, merge_stages, write_versions = DuckDBTarget.execute, DuckDBMerge.merge_stages, DuckDBMerge._write_versions

    def kept(self, sql, params=()):
        if merging[0]:
            statements.append(sql)
        return execute(self, sql, params)

    def merged(self, stages, log):
        merging[0] = len({s.table for s in stages}) == len(stages)
        try:
            return merge_stages(self, stages, log)
        finally:
            merging[0] = False

    def written(self, wins, replaces, moved):
        moves.append(moved)
        return write_versions(self, wins, replaces, moved)
    monkeypatch.setattr(DuckDBTarget, "execute", kept)
    monkeypatch.setattr(DuckDBMerge, "merge_stages", merged)
    monkeypatch.setattr(DuckDBMerge, "_write_versions", written)
    _run(tmp_path / "r.duckdb", stream, batch_size=500)
    kinds = {" ".join(sql.split()[:3]) for sql in statements}
    assert statements and not {k for k in kinds if not k.startswith(("DELETE FROM", "INSERT INTO"))}, kinds
    assert any(moves)  # redeliveries that move their versions row to a later seq were judged here


def test_versions_keys_seqs_and_event_ids_are_stored_uncompressed(stream, tmp_path: Path) -> None:
    """dynashift.versions' dist_key, seq and event_id are written uncompressed (DuckDBTarget.RAW),
    through the batches' INSERTs, the checkpoints at commit and the vacuums; its other columns
    keep DuckDB's choice. The tables stay the per-table merge's (the first test); here they also
    equal a file whose versions table compresses everything."""
    db = tmp_path / "r.duckdb"
    _run(db, stream, batch_size=10_000)
    with duckdb.connect(str(db), read_only=True) as con:
        kinds = con.execute("SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info('dynashift.versions')"
                            " WHERE segment_type <> 'VALIDITY' GROUP BY ALL").fetchall()
    kinds = {name: set(kind) for name, kind in kinds}
    assert {name for name, kind in kinds.items() if kind == {"Uncompressed"}} == {"dist_key", "seq", "event_id"}, kinds
    assert kinds["table_name"] != {"Uncompressed"}
    plain = tmp_path / "plain.duckdb"
    with pytest.MonkeyPatch.context() as m:
        m.setattr(DuckDBTarget, "RAW", "")
        _run(plain, stream, batch_size=10_000)
    assert _snapshot(db) == _snapshot(plain)


def test_a_table_s_delete_joins_the_replaced_keys_alone(stream, tmp_path: Path, monkeypatch) -> None:
    """Each table's DELETE takes its keys from a one-column relation of the keys its winners
    replace, picked in Arrow (duckdb_merge.py `_delete_replaced`), not from a filter over the
    staged table; in a table made here those are keys with a versions row. The tables stay the
    per-table merge's (the first test)."""
    seen: list[tuple[list[str], int, int, bool]] = []
    execute = DuckDBTarget.execute

    def kept(self, sql, params=()):
        if sql.startswith('DELETE FROM "main".'):
            assert "_dynashift_replaced_keys" in sql and "_dynashift_stage" not in sql, sql
            table = sql.split('"')[3]
            names = self.con.sql("SELECT * FROM _dynashift_replaced_keys").columns
            rows, known = self.con.execute(
                "SELECT count(*), count(v.dist_key) FROM _dynashift_replaced_keys k LEFT JOIN dynashift.versions v"
                " ON v.table_name = ? AND v.dist_key = k.dist_key", [table]).fetchall()[0]
            seen.append((names, rows, known, self.made_here(table)))
        return execute(self, sql, params)
    monkeypatch.setattr(DuckDBTarget, "execute", kept)
    _run(tmp_path / "r.duckdb", stream, batch_size=500)
    assert seen and all(names == ["dist_key"] and rows > 0 for names, rows, _, _ in seen), seen
    assert all(known == rows for _, rows, known, here in seen if here), seen
