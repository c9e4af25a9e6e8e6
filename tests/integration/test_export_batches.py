"""A full load's batches: whole row groups of a dynashift DuckDB file (Config.load_batch_size), and a
batch in flight holds none of its lines: a refused one is read again from the export
(ExportSource.reader, pipeline._reread) and split, exactly as a file's (test_memory_release)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import duckdb

from dynashift import Config, pipeline, run_once
from dynashift.sources.export import write_export

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders"
AT = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def test_a_refused_export_batch_is_read_again_and_split(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "w.duckdb"
    write_export(tmp_path / "e0", table_arn=ARN, export_time=AT, files=[[{"Item": {"pk": {"S": "z"}, "qty": {"N": "0"}}}]])
    run_once(f"export://{tmp_path / 'e0'}?keys=pk", f"duckdb:///{db}")
    with duckdb.connect(str(db)) as con:
        con.execute("ALTER TABLE orders ALTER COLUMN qty TYPE INTEGER")
    held: list[object] = []
    start = pipeline._Pending.start
    monkeypatch.setattr(pipeline._Pending, "start", lambda self, *a: (held.append(self.batch), start(self, *a))[1])
    qty = [("a", "1"), ("b", "2"), ("c", "3"), ("d", "1.5e400"), ("e", "5"), ("f", "6"), ("g", "7")]
    items = [{"Item": {"pk": {"S": pk}, "qty": {"N": n}}} for pk, n in qty]
    write_export(tmp_path / "e1", table_arn=ARN, export_time=AT, files=[items[:3], items[3:]])
    counters = run_once(f"export://{tmp_path / 'e1'}?keys=pk", f"duckdb:///{db}", load_batch_size=2)
    assert held == [None] * 4
    assert (counters.records_read, counters.changes_applied, counters.rejected) == (7, 6, 1)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT dist_key, qty FROM orders ORDER BY 1").fetchall()
        (raw,), = con.execute('SELECT "raw" FROM dynashift.rejected').fetchall()
        done = con.execute("SELECT position FROM dynashift.checkpoints WHERE source LIKE '%e1' ORDER BY 1").fetchall()
    assert rows == [(f'{{"pk":{{"S":"{pk}"}}}}', q) for pk, q in
                    [("a", 1), ("b", 2), ("c", 3), ("e", 5), ("f", 6), ("g", 7), ("z", 0)]]
    assert '"S":"d"' in raw and done == [("done",), ("done",)]


def test_a_full_load_batch_is_whole_row_groups_of_a_dynashift_duckdb_file(tmp_path: Path) -> None:
    """DuckDB writes a transaction's full row groups straight to its file, compressed; a batch that
    ends in a partial one leaves it to the WAL and a checkpoint rewrites it. The default is a
    whole number of the row groups dynashift attaches its files with, as the file reports them."""
    from dynashift.targets.duckdb import DuckDBTarget

    target = DuckDBTarget(f"duckdb:///{tmp_path / 'w.duckdb'}")
    target.open()
    try:
        target.execute("CREATE TABLE t AS SELECT range AS x FROM range(40000)")
        sizes = [int(n) for (n,) in target.query("SELECT sum(count) FROM pragma_storage_info('t') WHERE segment_type"
                                                 " = 'BIGINT' GROUP BY row_group_id ORDER BY row_group_id")]
    finally:
        target.close()
    group = sizes[0]
    full = 40000 // group
    assert sizes == [group] * full + [40000 - full * group] and group == DuckDBTarget.ROW_GROUP_SIZE
    assert Config().load_batch_size % group == 0 and Config().load_batch_size >= group
