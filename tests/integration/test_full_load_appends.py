"""A full load into a table this target made is appended without judging (targets/full_load.py):
the tables, versions and run counters it leaves are exactly the merge's, for a full load, a stream
on top of it, a key met again in a later batch, a second export of the same table, and a table
whose name still has versions rows."""

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
from dynashift.targets.duckdb import DuckDBTarget
from dynashift.targets.full_load import LOADED

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders"
AT = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=timezone.utc)
LATER = datetime(2024, 5, 2, 12, 0, 0, tzinfo=timezone.utc)


def _items(n: int, seed: int = 3) -> list[dict]:
    r = Random(seed)
    return [{"Item": bench_item(r, {"pk": {"S": f"cust#{i % 211}"}, "sk": {"N": str(i)}})} for i in range(n)]


def _snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every table whole, dynashift.versions, and each run's counters, without the clock's columns."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = [n for (n,) in con.execute("SELECT table_name FROM dynashift.tables ORDER BY 1").fetchall()]
        snap = {n: con.execute(f'SELECT * EXCLUDE (_dynashift_synced_at) FROM main."{n}" ORDER BY dist_key').fetchall()
                for n in names}
        snap["versions"] = con.execute("SELECT * EXCLUDE (written_at) FROM dynashift.versions"
                                       " ORDER BY table_name, dist_key").fetchall()
        snap["runs"] = con.execute("SELECT records_read, changes_applied, superseded, duplicates_skipped, stale_skipped,"
                                   " batches FROM dynashift.runs ORDER BY run_id").fetchall()
    return snap


def _statements(monkeypatch) -> list[str]:
    seen: list[str] = []
    execute, query_arrow = DuckDBTarget.execute, DuckDBTarget.query_arrow
    monkeypatch.setattr(DuckDBTarget, "execute", lambda self, sql, params=(): (seen.append(sql), execute(self, sql, params))[1])
    monkeypatch.setattr(DuckDBTarget, "query_arrow", lambda self, sql: (seen.append(sql), query_arrow(self, sql))[1])
    return seen


def _both(tmp_path: Path, monkeypatch, load, statements: list[str] | None = None) -> list[str]:
    """`load(db)` with appends and without (the reference merge): the same snapshot. Returns the
    statements of the run with appends."""
    statements = _statements(monkeypatch) if statements is None else statements
    load(tmp_path / "appended.duckdb")
    ran = list(statements)
    monkeypatch.setattr(DuckDBTarget, "APPENDS_FULL_LOADS", False)
    load(tmp_path / "merged.duckdb")
    assert _snapshot(tmp_path / "appended.duckdb") == _snapshot(tmp_path / "merged.duckdb")
    return ran


def _appended(statements: list[str]) -> int:
    return sum(1 for s in statements if s.startswith(f"INSERT INTO {LOADED}"))


def _judged(statements: list[str]) -> int:
    """Batches judged: the statements creating the judged rows (the per-table merge's winners, the
    batch merge's verdicts, read back as Arrow), not those refining them (the batch merge's ties)."""
    return sum(1 for s in statements if "TABLE _dynashift_winners AS" in s or "AS _verdict, v.rowid AS _vrow" in s)


def test_a_full_load_then_a_stream(tmp_path: Path, monkeypatch) -> None:
    items = _items(1500)
    write_export(tmp_path / "export", table_arn=ARN, export_time=AT, files=[items[:700], items[700:]])
    simulate(tmp_path / "stream", changes=3000, tables=4, seed=8)

    statements = _statements(monkeypatch)

    def load(db: Path) -> None:
        run_once(f"export://{tmp_path / 'export'}?keys=pk,sk", f"duckdb:///{db}", load_batch_size=400)
        statements.append("-- the stream")
        run_once(f"file://{tmp_path / 'stream'}", f"duckdb:///{db}", batch_size=500)

    ran = _both(tmp_path, monkeypatch, load, statements)
    export_run, stream_run = ran[: ran.index("-- the stream")], ran[ran.index("-- the stream"):]
    assert _appended(export_run) == 4  # every batch of the load: no judging
    assert _judged(export_run) == 0 and not any("_dynashift_seen" in s for s in export_run)
    assert _appended(stream_run) == 0 and _judged(stream_run) > 0


def test_a_key_met_again_in_a_later_batch_is_merged(tmp_path: Path, monkeypatch) -> None:
    """The third batch holds a key of the first (its copy a duplicate): it is judged, and so is
    every batch of the table after it."""
    items = _items(1000)
    write_export(tmp_path / "export", table_arn=ARN, export_time=AT, files=[items[:800] + [items[5]] + items[800:]])
    ran = _both(tmp_path, monkeypatch, lambda db: run_once(f"export://{tmp_path / 'export'}?keys=pk,sk",
                                                         f"duckdb:///{db}", load_batch_size=400))
    assert _appended(ran) == 2 and _judged(ran) == 1


def test_a_second_export_of_the_table_is_merged(tmp_path: Path, monkeypatch) -> None:
    """Two full exports in one folder: the later one's items are newer versions of the same keys."""
    items = _items(600)
    write_export(tmp_path / "exports" / "a", table_arn=ARN, export_time=AT, files=[items])
    changed = _items(600, seed=4)
    write_export(tmp_path / "exports" / "b", table_arn=ARN, export_time=LATER, files=[changed[:300]])
    ran = _both(tmp_path, monkeypatch, lambda db: run_once(f"export://{tmp_path / 'exports'}?keys=pk,sk",
                                                         f"duckdb:///{db}", load_batch_size=400))
    assert _appended(ran) == 1 and _judged(ran) == 2  # the second batch holds the second export's first items


def test_a_table_whose_name_has_versions_rows_is_merged(tmp_path: Path, monkeypatch) -> None:
    """The table dropped by hand (and forgotten by dynashift.tables) while its versions rows stayed:
    the load made again finds them, as the merge would."""
    items = _items(500)
    write_export(tmp_path / "export", table_arn=ARN, export_time=AT, files=[items])
    source = f"export://{tmp_path / 'export'}?keys=pk,sk"

    def load(db: Path) -> None:
        run_once(source, f"duckdb:///{db}")
        with duckdb.connect(str(db)) as con:
            con.execute('DROP TABLE main."orders"')
            con.execute("DELETE FROM dynashift.tables")
            con.execute("DELETE FROM dynashift.columns")
            con.execute("DELETE FROM dynashift.checkpoints")
        run_once(source, f"duckdb:///{db}")

    ran = _both(tmp_path, monkeypatch, load)
    assert _appended(ran) == 1 and _judged(ran) == 1
    with duckdb.connect(str(tmp_path / "appended.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT dist_key) FROM dynashift.versions").fetchone() == (500, 500)


@pytest.mark.parametrize("batch", [None, 300])
def test_a_load_interrupted_and_run_again_is_merged(tmp_path: Path, monkeypatch, batch: int | None) -> None:
    """A second run into the table the first made (made_here is false): merged, no rows twice."""
    items = _items(900)
    write_export(tmp_path / "export", table_arn=ARN, export_time=AT, files=[items[:450], items[450:]])
    settings = {"load_batch_size": batch} if batch else {}

    def load(db: Path) -> None:
        run_once(f"export://{tmp_path / 'export'}?keys=pk,sk", f"duckdb:///{db}", **settings)
        with duckdb.connect(str(db)) as con:  # as if the second file had not been loaded
            con.execute("DELETE FROM dynashift.checkpoints WHERE shard = (SELECT max(shard) FROM dynashift.checkpoints)")
        run_once(f"export://{tmp_path / 'export'}?keys=pk,sk", f"duckdb:///{db}", **settings)

    _both(tmp_path, monkeypatch, load)


def test_the_user_table_insert_runs_on_two_threads_and_equals_the_merge(tmp_path: Path, monkeypatch) -> None:
    """The user table's INSERT of an appended batch runs on DuckDB's INSERT_THREADS threads with
    insertion order not kept (its stage in several record batches, as a real load's 16,384-row
    chunks: here 128), the run's own count again for the versions INSERT and the rest; the tables
    equal the merge's."""
    from dynashift.sources import export_native

    monkeypatch.setattr(export_native, "CHUNK", 128)
    items = _items(1500)
    write_export(tmp_path / "export", table_arn=ARN, export_time=AT, files=[items[:700], items[700:]])
    ran = _both(tmp_path, monkeypatch, lambda db: run_once(f"export://{tmp_path / 'export'}?keys=pk,sk",
                                                           f"duckdb:///{db}?threads=1", load_batch_size=512))
    inserts = [i for i, s in enumerate(ran) if s.startswith('INSERT INTO "main"."orders"')]
    assert len(inserts) == 3
    for i in inserts:
        assert ran[i - 2:i] == ["SET threads = 2", "SET preserve_insertion_order = false"]
        assert ran[i + 1:i + 3] == ["SET threads = 1", "RESET preserve_insertion_order"]
        assert ran[i + 3].startswith("INSERT INTO dynashift.versions")


def test_settings_left_by_a_failed_insert_are_restored_by_the_next_batch(tmp_path: Path) -> None:
    """An INSERT that fails leaves its transaction aborted, which refuses SET: the next batch puts
    the run's thread count and insertion order back before anything else."""
    from dynashift.errors import TargetError
    from dynashift.model import BatchPlan
    from dynashift.targets import full_load

    target = DuckDBTarget(f"duckdb:///{tmp_path / 'x.duckdb'}?threads=1")
    target.open()
    setting = lambda name: target.query(f"SELECT current_setting('{name}')")[0][0]  # noqa: E731
    try:
        with pytest.raises(TargetError), target.transaction(), full_load._in_parallel(target):
            assert (setting("threads"), setting("preserve_insertion_order")) == (2, False)
            target.execute("SELECT CAST('x' AS INTEGER)")
        assert (setting("threads"), setting("preserve_insertion_order")) == (2, False)
        with target.transaction():
            full_load.appended_or_merged(target, BatchPlan(stages=[]), change_log=False)
        assert (setting("threads"), setting("preserve_insertion_order")) == (1, True)
    finally:
        target.close()
