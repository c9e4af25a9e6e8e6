"""A batch of new keys into a table this run created goes in without the merge's DELETE and join
(SqlTarget.made_here, merge): the tables and versions it leaves are exactly the reference merge's,
for a full load, for a stream of every kind of change on top of it, and for a stream alone."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from random import Random

import duckdb
import pytest

from dynashift import run_once
from dynashift.simulate import simulate
from dynashift.simulate_tables import bench_item
from dynashift.sources.export import write_export
from dynashift.targets.base import SqlTarget
from dynashift.targets.duckdb import DuckDBTarget

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders"
AT = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("fresh")
    r = Random(3)
    items = [{"Item": bench_item(r, {"pk": {"S": f"cust#{i % 211}"}, "sk": {"N": str(i)}})} for i in range(1500)]
    write_export(out / "export", table_arn=ARN, export_time=AT, files=[items[:700], items[700:]])
    summary = simulate(out / "stream", changes=3000, tables=4, seed=8)
    assert summary.stats["duplicates"] > 0 and summary.stats["ttl_removes"] > 0
    return out / "export", out / "stream"


def _snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every table whole, and dynashift.versions, without the apply-time clock's columns."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = [n for (n,) in con.execute("SELECT table_name FROM dynashift.tables ORDER BY 1").fetchall()]
        snap = {n: con.execute(f'SELECT * EXCLUDE (_dynashift_synced_at) FROM main."{n}" ORDER BY dist_key').fetchall()
                for n in names}
        snap["versions"] = con.execute("SELECT * EXCLUDE (written_at) FROM dynashift.versions"
                                       " ORDER BY table_name, dist_key").fetchall()
    return snap


def _load(db: Path, export: Path, stream: Path) -> None:
    run_once(f"export://{export}?keys=pk,sk", f"duckdb:///{db}", load_batch_size=400)
    run_once(f"file://{stream}", f"duckdb:///{db}", batch_size=500)


def _statements(monkeypatch) -> list[str]:
    seen: list[str] = []
    execute = DuckDBTarget.execute
    monkeypatch.setattr(DuckDBTarget, "execute", lambda self, sql, params=(): (seen.append(sql), execute(self, sql, params))[1])
    return seen


@pytest.mark.parametrize("stream_only", [False, True])
def test_the_same_tables_as_the_reference_merge(sources, tmp_path: Path, monkeypatch, stream_only: bool) -> None:
    export, stream = sources
    if stream_only:
        export = tmp_path / "none"
        write_export(export, table_arn=ARN, export_time=AT, files=[[]])
    statements = _statements(monkeypatch)
    _load(tmp_path / "fast.duckdb", export, stream)
    fast = [s for s in statements if s.startswith("INSERT INTO \"main\"")]
    # both paths ran: the stage alone, and its winners only (filtered by their verdicts, duckdb_merge.py)
    assert any("_dynashift_wins" not in s for s in fast) and any("_dynashift_wins" in s for s in fast)
    monkeypatch.setattr(SqlTarget, "made_here", lambda self, table: False)
    _load(tmp_path / "reference.duckdb", export, stream)
    assert _snapshot(tmp_path / "fast.duckdb") == _snapshot(tmp_path / "reference.duckdb")


def test_a_full_load_into_its_new_table_deletes_nothing(sources, tmp_path: Path, monkeypatch) -> None:
    export, _ = sources
    statements = _statements(monkeypatch)
    run_once(f"export://{export}?keys=pk,sk", f"duckdb:///{tmp_path / 'r.duckdb'}", load_batch_size=400)
    assert [s for s in statements if s.startswith('DELETE FROM "main"')] == []
    again = _statements(monkeypatch)  # a second run of new keys: the table was made by another
    write_export(tmp_path / "more", table_arn=ARN, export_time=AT,
                 files=[[{"Item": {"pk": {"S": "new"}, "sk": {"N": "1"}}}]])
    run_once(f"export://{tmp_path / 'more'}?keys=pk,sk", f"duckdb:///{tmp_path / 'r.duckdb'}")
    assert len([s for s in again if s.startswith('DELETE FROM "main"."orders"')]) == 1


def test_expiring_tombstones_forgets_the_tables_it_made(tmp_path: Path) -> None:
    """A soft-deleted row whose tombstone expired stays in its table without a versions row."""
    target = DuckDBTarget(f"duckdb:///{tmp_path / 'r.duckdb'}")
    target.open()
    try:
        target.created.add("orders")
        assert target.made_here("orders")
        target.expire_tombstones(0)
        assert not target.made_here("orders") and target.created == set()
    finally:
        target.close()
