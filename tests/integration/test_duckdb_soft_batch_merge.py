"""Soft-delete mode on DuckDB's batch merge (targets/duckdb_soft_merge.py): a whole batch judged
in one join with dynashift.versions. Its tables, versions, change log and run counters must be
exactly the per-table merge's (base.py `merge` with soft_deletes.py, the reference shared with
PostgreSQL and Redshift), and the replica the oracle's soft-delete state, for every batching."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from support.snapshots import duckdb_snapshot
from support.builders import item, rec, write
from support.oracle import diff_duckdb
from support.simulated import simulate

from dynashift import run_once
from dynashift.targets import duckdb_merge
from dynashift.targets.base import SqlTarget
from dynashift.targets.duckdb_merge import DuckDBMerge


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("soft-batch-merge") / "stream"
    summary = simulate(out, changes=5000, tables=4, files=4, seed=23)
    assert summary.stats["duplicates"] > 0 and summary.stats["late"] > 0 and summary.stats["ttl_removes"] > 0
    return out, summary.expected


def _snapshot(db: Path) -> dict[str, list[tuple]]:
    return duckdb_snapshot(db, "records_read, changes_applied, duplicates_skipped, stale_skipped, superseded, ttl_ignored")


def _run(db: Path, stream: Path, **settings) -> None:
    """Two runs (the second's tables made by another), then the first file again under another
    source name: every change of it is then a duplicate or stale, or a late value."""
    files = sorted(stream.glob("changes-*"))
    for part in (files[:2], files[2:]):
        for f in part:
            run_once(f"file://{f}", f"duckdb:///{db}", change_log=True, **settings)
    run_once(f"file://{stream}/changes-0001.jsonl*", f"duckdb:///{db}", change_log=True, **settings)


@pytest.mark.parametrize("settings", [
    {"batch_size": 10_000, "delete_mode": "soft"},
    {"batch_size": 333, "delete_mode": "soft"},
    {"batch_size": 97, "delete_mode": "soft", "column_types": "typed"},
    {"batch_size": 250, "ttl_deletes": "soft"},  # hard REMOVEs, soft TTL expiries: soft stages too
])
def test_the_same_as_the_per_table_merge(stream, tmp_path: Path, monkeypatch, settings) -> None:
    folder, expected = stream
    batched: list[int] = []
    merge = duckdb_merge.merge_soft_stages
    monkeypatch.setattr(duckdb_merge, "merge_soft_stages",
                        lambda t, stages, log: (batched.append(len(stages)), merge(t, stages, log))[1])
    _run(tmp_path / "batch.duckdb", folder, **settings)
    assert max(batched) > 1  # batches of several tables were merged together
    if settings.get("delete_mode") == "soft" and "column_types" not in settings:
        assert diff_duckdb(tmp_path / "batch.duckdb", expected, mode="soft_delete") == []
    monkeypatch.setattr(DuckDBMerge, "merge_stages", SqlTarget.merge_stages)
    _run(tmp_path / "reference.duckdb", folder, **settings)
    assert _snapshot(tmp_path / "batch.duckdb") == _snapshot(tmp_path / "reference.duckdb")


def _files(tmp: Path) -> list[Path]:
    """Four batches over two tables with each of soft mode's cases (t in µs after T0):
    a: soft REMOVE without values at 5, then an upsert at 3 arrives late: its values shown, row stays marked;
    c: soft REMOVE of a key never seen (a key-only row), then a re-insert clears the mark;
    d: a REMOVE with its batch's values (3); a late upsert at 2 is older than those values: stale;
    f: shows values of 4; a batch with an upsert at 2 and a REMOVE at 6: the REMOVE wins and keeps 4's values;
    b: an upsert at 2 after one at 1; e: inserted at 10;
    then the second batch delivered again (duplicates), and the first batch's upsert of d met again (stale)."""
    batches: list[list[dict]] = [[], [], [], []]
    for table in ("Orders", "Users"):
        def put(n: int, op: str, pk: str, t: int, eid: str | None = None, **attrs: dict) -> None:
            keys, image = item(pk, **attrs)
            batches[n].append(rec(op, keys, None if op == "REMOVE" else image, t, table=table,
                                  eid=eid and f"{table}-{eid}"))
        put(0, "INSERT", "a", 1, v={"S": "a1"})
        put(0, "INSERT", "b", 1, v={"S": "b1"})
        put(0, "REMOVE", "c", 7)
        put(0, "INSERT", "d", 1, v={"S": "d1"})
        put(0, "MODIFY", "d", 3, v={"S": "d3"}, w={"N": "3"})
        put(0, "REMOVE", "d", 4)
        put(0, "INSERT", "f", 4, v={"S": "f4"})
        put(1, "REMOVE", "a", 5, eid="ra")
        put(1, "MODIFY", "b", 2, eid="mb", v={"S": "b2"})
        put(1, "MODIFY", "d", 2, eid="md", v={"S": "d2"})
        put(1, "MODIFY", "f", 2, eid="mf", v={"S": "f2"})
        put(1, "REMOVE", "f", 6, eid="rf")
        put(1, "INSERT", "e", 10, eid="ie", v={"S": "e10"})
        put(2, "MODIFY", "a", 3, v={"S": "a3"}, w={"N": "1"})
        put(2, "INSERT", "c", 8, v={"S": "c8"})
        put(3, "REMOVE", "a", 5, eid="ra")  # the second batch again
        put(3, "MODIFY", "b", 2, eid="mb", v={"S": "b2"})
        put(3, "INSERT", "e", 10, eid="ie", v={"S": "e10"})
        put(3, "INSERT", "d", 1, v={"S": "d1"})
    return [write(tmp / f"batch-{i}.jsonl", b) for i, b in enumerate(batches)]


@pytest.mark.parametrize("batch_size", [1000, 4])
def test_late_values_kept_values_and_key_only_rows(tmp_path: Path, monkeypatch, batch_size: int) -> None:
    files = _files(tmp_path)

    def run(db: Path) -> None:
        for f in files:
            run_once(f"file://{f}", f"duckdb:///{db}", change_log=True, delete_mode="soft", batch_size=batch_size)

    run(tmp_path / "batch.duckdb")
    with duckdb.connect(str(tmp_path / "batch.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT dist_key, v, w, _dynashift_deleted, epoch_us(_dynashift_changed_at) - 1700000000000000"
                           " FROM main.users ORDER BY ALL").fetchall()
    assert rows == [('{"pk":{"S":"a"}}', "a3", "1", True, 5), ('{"pk":{"S":"b"}}', "b2", None, False, 2),
                    ('{"pk":{"S":"c"}}', "c8", None, False, 8), ('{"pk":{"S":"d"}}', "d3", "3", True, 4),
                    ('{"pk":{"S":"e"}}', "e10", None, False, 10), ('{"pk":{"S":"f"}}', "f4", None, True, 6)]
    monkeypatch.setattr(DuckDBMerge, "merge_stages", SqlTarget.merge_stages)
    run(tmp_path / "reference.duckdb")
    assert _snapshot(tmp_path / "batch.duckdb") == _snapshot(tmp_path / "reference.duckdb")
