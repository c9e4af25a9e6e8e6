"""A large batch's COMMIT checkpoints instead of writing the WAL (its rows are compressed into the
file once, not written to the WAL and again by a later checkpoint); a small one goes to the WAL.
Either way the replica equals the stream's ground truth, and every VACUUM_EVERY-th checkpoint
vacuums."""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from dynashift import run_once
from dynashift.targets import make_target
from dynashift.targets.duckdb import DuckDBTarget
from support.oracle import diff_duckdb
from support.simulated import simulate


def _wal(path: Path) -> int:
    wal = Path(f"{path}.wal")
    return wal.stat().st_size if wal.exists() else 0


def _commits(path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, int, int]]:
    """Each COMMIT: (large, WAL bytes before, WAL bytes after)."""
    seen: list[tuple[bool, int, int]] = []
    commit = DuckDBTarget._commit

    def watched(self: DuckDBTarget) -> None:
        large, before = self._staged_bytes >= self.CHECKPOINT_AT_COMMIT_BYTES, _wal(path)
        commit(self)
        seen.append((large, before, _wal(path)))
    monkeypatch.setattr(DuckDBTarget, "_commit", watched)
    return seen


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stream")
    simulate(out / "s", changes=6_000, tables=4, files=2, seed=5)
    return out / "s"


def _tables(target, tables: int) -> None:
    with target.transaction():
        for t in range(tables):
            target.execute(f"CREATE TABLE main.t{t} (k BIGINT, v VARCHAR)")


def _rewrite(target, tables: int, deleted: str, part: pa.Table) -> None:
    """One transaction over tables t0..t{tables-1}: each loses the rows `deleted` selects and
    takes `part` again (a stream's batch: deletes from its row groups, new rows)."""
    with target.transaction():
        for t in range(tables):
            target.execute(f"DELETE FROM main.t{t} WHERE {deleted}")
            staged = target.stage_rows(f"_part{t}", part)
            target.execute(f"INSERT INTO main.t{t} SELECT k, v FROM {staged}")
            target.drop_stage(staged)


@pytest.mark.parametrize("threshold", [1, 1 << 62])
def test_batches_commit_through_a_checkpoint_or_the_wal_and_equal_the_stream(stream: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          threshold: int) -> None:
    """threshold 1: every batch is large and its commit leaves no WAL (a checkpoint, the WAL
    skipped); 1 << 62: every batch goes to the WAL, folded at close. Same tables."""
    monkeypatch.setattr(DuckDBTarget, "CHECKPOINT_AT_COMMIT_BYTES", threshold)
    db = tmp_path / "r.duckdb"
    commits = _commits(db, monkeypatch)
    run = run_once(f"file://{stream}/changes-*", f"duckdb:///{db}", batch_size=700)
    assert run.batches > 5
    batches = [c for c in commits if c[0]]
    if threshold == 1:
        assert len(batches) >= run.batches and all(after == 0 for _, _, after in batches)
    else:
        assert not batches and max(after for _, _, after in commits) > 0
    assert diff_duckdb(db, stream / "expected.json") == []
    assert not Path(f"{db}.wal").exists()  # the close folded what the WAL held


@pytest.mark.parametrize("per_threshold, vacuums", [(1, [0, 0, 0, 100, 0, 0, 0, 100, 0]), (4, [0] * 9)])
def test_large_commits_count_as_their_share_of_a_checkpoint_for_the_vacuum(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, per_threshold: int, vacuums: list[int]) -> None:
    """A large commit checkpoints though the WAL it found was empty (the previous one checkpointed
    too), and counts as the share of CHECKPOINT_THRESHOLD it staged: the run's first checkpoint
    vacuums, then the one that brings VACUUM_EVERY thresholds' worth of data since (here each
    commit stages one threshold's worth, or a quarter). max_vacuum_tasks is DuckDB's default
    before a checkpoint that vacuums, 0 otherwise. A small commit writes the WAL."""
    big = pa.table({"k": pa.array(range(10_000), pa.int64()), "v": pa.array(["x" * 20] * 10_000)})
    monkeypatch.setattr(DuckDBTarget, "CHECKPOINT_AT_COMMIT_BYTES", 64 * 1024)
    monkeypatch.setattr(DuckDBTarget, "CHECKPOINT_THRESHOLD", f"{big.nbytes * per_threshold}B")
    path = tmp_path / "c.duckdb"
    target = make_target(f"duckdb:///{path}")
    target.open()
    try:
        assert DuckDBTarget.VACUUM_EVERY == 4
        with target.transaction():
            target.execute("CREATE TABLE main.t (k BIGINT, v VARCHAR)")
        tasks, wal = [], []
        for i in range(9):
            with target.transaction():
                target.execute(f"DELETE FROM main.t WHERE k % 10 = {i}")
                staged = target.stage_rows("_big", big)
                target.execute(f"INSERT INTO main.t SELECT k, v FROM {staged}")
                target.drop_stage(staged)
            wal.append(_wal(path))
            tasks.append(target.query("SELECT current_setting('max_vacuum_tasks')")[0][0])
        assert wal == [0] * 9
        assert tasks == vacuums
        with target.transaction():
            target.execute("INSERT INTO main.t VALUES (1, 'small')")
        assert _wal(path) > 0
        assert target.query("SELECT current_setting('checkpoint_threshold')")[0][0] != "0 bytes"  # set back
    finally:
        target.close()
    assert target._vacuuming is False  # the close folded a WAL of one small commit: no vacuum for that
    with duckdb.connect(str(path), read_only=True) as plain:
        # each commit deleted a tenth (k % 10 = i) of every earlier commit's rows
        assert plain.execute("SELECT count(*) FROM t").fetchone() == (sum(10_000 - 1_000 * (8 - j) for j in range(9)) + 1,)


def test_a_short_runs_close_is_its_first_checkpoint_and_vacuums(tmp_path: Path) -> None:
    """No large commit, no WAL threshold reached: the close's checkpoint is the run's first and
    vacuums, as before."""
    target = make_target(f"duckdb:///{tmp_path / 's.duckdb'}")
    target.open()
    with target.transaction():
        target.execute("CREATE TABLE main.t AS SELECT range AS k FROM range(1000)")
    with target.transaction():
        target.execute("DELETE FROM main.t WHERE k % 2 = 0")
    target.close()
    assert target._vacuuming is True


def test_large_commits_of_many_tables_vacuum_before_their_row_groups_pile_up(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint at commit leaves each table it wrote a new row group, and DuckDB pins a block
    per row group with deletes until a vacuum merges them: commits that wrote many tables count
    as their tables' share of NEW_ROW_GROUPS_PER_VACUUM, whatever their bytes (a run of 40 tables
    ran DuckDB's pool out of memory without it). Here 8 tables a commit, 32 row groups a vacuum:
    every VACUUM_EVERY x 8 / 32 = each commit counts 1, so every 4th checkpoint vacuums (by bytes,
    a sixteenth each, none would)."""
    monkeypatch.setattr(DuckDBTarget, "CHECKPOINT_AT_COMMIT_BYTES", 1024)
    monkeypatch.setattr(DuckDBTarget, "NEW_ROW_GROUPS_PER_VACUUM", 32)
    part = pa.table({"k": pa.array(range(1_000), pa.int64()), "v": pa.array(["x" * 20] * 1_000)})
    monkeypatch.setattr(DuckDBTarget, "CHECKPOINT_THRESHOLD", f"{part.nbytes * 8 * 16}B")
    path = tmp_path / "m.duckdb"
    target = make_target(f"duckdb:///{path}")
    target.open()
    try:
        _tables(target, 8)
        tasks = []
        for i in range(9):
            _rewrite(target, 8, f"k % 10 = {i}", part)
            assert _wal(path) == 0  # checkpointed at commit
            tasks.append(target.query("SELECT current_setting('max_vacuum_tasks')")[0][0])
        assert tasks == [0, 0, 0, 100, 0, 0, 0, 100, 0]
    finally:
        target.close()
    with duckdb.connect(str(path), read_only=True) as plain:
        counts = {plain.execute(f"SELECT count(*) FROM t{t}").fetchone()[0] for t in range(8)}
        assert counts == {sum(1_000 - 100 * (8 - j) for j in range(9))}


class _SeesThreads:
    """A DuckDB connection that notes DuckDB's thread count whenever a COMMIT is sent."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con, self.at_commit = con, []

    def execute(self, sql: str, *args):
        if sql == "COMMIT":
            self.at_commit.append(int(self._con.execute("SELECT current_setting('threads')").fetchone()[0]))
        return self._con.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def _on_one_thread(uri: str, columns: str):
    """An open DuckDB target writing on 1 thread as on a 2-core machine whose DuckDB counted 3,
    with an empty table main.t of `columns`."""
    target = make_target(uri)
    target.open()
    target.threads, target._threads = 1, 3
    target.con.execute("SET threads = 1")
    with target.transaction():
        target.execute(f"CREATE TABLE main.t ({columns})")
    return target


def test_a_checkpoint_at_commit_runs_on_the_runs_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large commit's checkpoint and a small commit (WAL) both run on the run's writing count
    (1), not DuckDB's own (3 here): its worker compressed the row groups while the applying
    thread waited for it (duckdb.py, `threads`)."""
    monkeypatch.setattr(DuckDBTarget, "CHECKPOINT_AT_COMMIT_BYTES", 64 * 1024)
    big = pa.table({"k": pa.array(range(10_000), pa.int64()), "v": pa.array(["x" * 20] * 10_000)})
    path = tmp_path / "t.duckdb"
    target = _on_one_thread(f"duckdb:///{path}", "k BIGINT, v VARCHAR")
    try:
        seen = target.con = _SeesThreads(target.con)
        with target.transaction():
            staged = target.stage_rows("_big", big)
            target.execute(f"INSERT INTO main.t SELECT k, v FROM {staged}")
            target.drop_stage(staged)
        assert _wal(path) == 0  # checkpointed at commit
        with target.transaction():
            target.execute("INSERT INTO main.t VALUES (-1, 'small')")
        assert _wal(path) > 0
        assert seen.at_commit[-2:] == [1, 1]
    finally:
        target.close()
    with duckdb.connect(str(path), read_only=True) as plain:
        assert plain.execute("SELECT count(*), sum(k) FROM t").fetchone() == (10_001, sum(range(10_000)) - 1)


class _Abort(Exception):
    pass


@pytest.mark.parametrize("rows", [DuckDBTarget.ROW_GROUP_SIZE, DuckDBTarget.ROW_GROUP_SIZE - 1])
def test_a_table_stage_of_a_row_group_is_inserted_on_the_runs_threads(tmp_path: Path, rows: int) -> None:
    """A table's stage of a row group or more is inserted on the run's writing count (1), as a
    smaller one, not DuckDB's own (3 here), committed or rolled back; the rows are the stage's."""
    from dynashift.model import TableStage

    target = _on_one_thread(f"duckdb:///{tmp_path / 't.duckdb'}", "k BIGINT")
    try:
        data = pa.table({"k": pa.array(range(rows), pa.int64())})
        for rolled_back in (True, False):
            with contextlib.suppress(_Abort), target.transaction():
                staged = target.stage(TableStage("t", ["k"], data))
                seen = target.query("SELECT current_setting('threads')")[0][0]
                target.execute(f"INSERT INTO main.t SELECT k FROM {staged}")
                target.drop_stage(staged)
                if rolled_back:
                    raise _Abort
            assert seen == 1
            assert target.query("SELECT current_setting('threads')")[0][0] == 1
        assert target.query("SELECT count(*), sum(k) FROM main.t")[0] == (rows, sum(range(rows)))
    finally:
        target.close()


def _row_groups(con: duckdb.DuckDBPyConnection) -> int:
    """The file's row groups, every table's (pragma_storage_info: slow, but exact)."""
    tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'warehouse'").fetchall()
    return sum(con.execute(f"SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('{s}.{t}')").fetchone()[0]
               for s, t in tables)


def test_a_checkpoint_vacuums_before_the_row_groups_pin_more_than_the_pool_holds(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """40 tables, each commit deleting from every row group of each and adding one (1,000 rows a
    table): by bytes and tables alone a vacuum comes every third or fourth commit, and the 160
    row groups a commit then deleted from (256 KiB each) ran a 40MB pool out of memory. Counted
    from DuckDB's checkpoint log (as pragma_storage_info counts them), a checkpoint also vacuums
    when the row groups plus the last checkpoint's growth (40) would pass 80% of the pool, 122:
    never more than 120. Every row is right."""
    monkeypatch.setattr(DuckDBTarget, "CHECKPOINT_AT_COMMIT_BYTES", 1024)
    part = pa.table({"k": pa.array(range(1_000), pa.int64()), "v": pa.array(["x" * 20] * 1_000)})
    path = tmp_path / "m.duckdb"
    target = make_target(f"duckdb:///{path}?memory_limit=40MB")
    target.open()
    try:
        assert target._budget == int(0.8 * 40e6 / 2**18) == 122
        _tables(target, 40)
        counted = []
        for i in range(12):
            _rewrite(target, 40, f"k % 12 = {i}", part)
            assert _wal(path) == 0  # checkpointed at commit
            assert target._row_groups == _row_groups(target.con)
            counted.append(target._row_groups)
        assert max(counted) == 120 and counted[:4] == [40, 80, 120, 40]
    finally:
        target.close()
    with duckdb.connect(str(path), read_only=True) as plain:
        for t in range(40):  # commit j's rows with k % 12 = r are kept if r <= j
            assert plain.execute(f"SELECT k % 12, count(*) FROM t{t} GROUP BY ALL ORDER BY 1").fetchall() == [
                (r, (84 if r < 4 else 83) * (12 - r)) for r in range(12)]
