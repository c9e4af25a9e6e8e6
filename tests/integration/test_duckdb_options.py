"""The DuckDB target's options: `?memory_limit=` in its URI (default 128MB, so a long run's
memory does not grow with the file; a large table's merges may want more) and `?threads=`
(default one fewer than the cores: the decode keeps a core of its own)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynashift.errors import ConfigError
from dynashift.targets import make_target
from dynashift.targets.duckdb import threads_of


def _limit(uri: str) -> str:
    target = make_target(uri)
    target.open()
    try:
        return target.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        target.close()


def test_memory_limit_defaults_to_128mb_and_the_uri_can_raise_it(tmp_path: Path) -> None:
    default = _limit(f"duckdb:///{tmp_path / 'a.duckdb'}")
    raised = _limit(f"duckdb:///{tmp_path / 'b.duckdb'}?memory_limit=1GB")
    assert default.replace(" ", "") in ("122.0MiB", "128.0MB", "122MiB")  # DuckDB shows it in binary units
    assert raised.replace(" ", "") in ("953.6MiB", "1.0GB", "953MiB")
    assert (tmp_path / "b.duckdb").exists() and not list(tmp_path.glob("*memory_limit*"))  # the option is not the path


def _setting(uri: str, name: str) -> str:
    target = make_target(uri)
    target.open()
    try:
        return target.con.execute(f"SELECT current_setting('{name}')").fetchone()[0]
    finally:
        target.close()


def test_half_the_pool_s_blocks_come_from_duckdb_s_block_allocator(tmp_path: Path) -> None:
    """A freed block is kept for the next rather than given back to the system (DuckDBTarget
    BLOCK_ALLOCATOR_SHARE): half as many blocks as the pool holds, following `?memory_limit=`."""
    assert _setting(f"duckdb:///{tmp_path / 'a.duckdb'}", "block_allocator_memory").replace(" ", "") == "61.0MiB"
    raised = f"duckdb:///{tmp_path / 'b.duckdb'}?memory_limit=256MB"
    assert _setting(raised, "block_allocator_memory").replace(" ", "") == "122.0MiB"


@pytest.mark.parametrize("query, says", [("memory_limit=lots", "give a size such as 512MB"),
                                         ("memory_limit=1GB';DROP", "give a size such as 512MB"),
                                         ("thread=4", "only memory_limit and threads"),
                                         ("threads=0", "a whole number of at least 1"),
                                         ("threads=two", "a whole number of at least 1")])
def test_a_wrong_option_is_one_clear_line(tmp_path: Path, query: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        make_target(f"duckdb:///{tmp_path / 'c.duckdb'}?{query}")


def _threads(uri: str) -> int:
    target = make_target(uri)
    target.open()
    try:
        return int(target.con.execute("SELECT current_setting('threads')").fetchone()[0])
    finally:
        target.close()


def test_duckdb_leaves_the_decode_a_core_and_the_uri_can_set_its_threads(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB's default is a worker per core; the main thread decodes on one of them, so a file
    written to gets one fewer (at least one); `?threads=N` sets it."""
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert _threads(f"duckdb:///{tmp_path / 'a.duckdb'}") == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert _threads(f"duckdb:///{tmp_path / 'a.duckdb'}") == 7
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert _threads(f"duckdb:///{tmp_path / 'a.duckdb'}") == 1
    assert _threads(f"duckdb:///{tmp_path / 'b.duckdb'}?threads=3&memory_limit=256MB") == 3
    assert (tmp_path / "b.duckdb").exists() and not list(tmp_path.glob("*threads*"))  # the option is not the path


def test_a_file_written_to_has_small_row_groups_and_spills_beside_it(tmp_path: Path) -> None:
    """The settings dynashift sizes for a long stream, applied: WAL checkpointed every 256MB,
    row groups of 8,192 rows (a table's share of a batch fills one: written at its INSERT, not
    appended again at COMMIT), one DuckDB thread while writing (a run keeps two of its own busy), spills in PATH.tmp
    as with a plain connection. Read back by a plain connection."""
    path = tmp_path / "r.duckdb"
    target = make_target(f"duckdb:///{path}")
    target.open()
    try:
        con = target.con
        threshold = con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0]
        assert threshold.replace(" ", "") == "244.1MiB"  # 256MB, in binary units
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == threads_of(f"duckdb:///{path}")
        assert con.execute("SELECT current_setting('temp_directory')").fetchone()[0] == f"{path}.tmp"
        con.execute("CREATE TABLE main.t AS SELECT range AS x FROM range(40000)")
        con.execute("CHECKPOINT")
        groups = con.execute("SELECT DISTINCT row_group_id FROM pragma_storage_info('main.t') ORDER BY 1").fetchall()
        assert groups == [(0,), (1,), (2,), (3,), (4,)]  # 4 x 8,192 + 7,232 rows
    finally:
        target.close()
    import duckdb

    with duckdb.connect(str(path), read_only=True) as plain:
        assert plain.execute("SELECT count(*), sum(x) FROM t").fetchone() == (40000, sum(range(40000)))


def test_a_duckdb_that_refuses_the_row_group_size_opens_the_file_with_its_own(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """duckdb>=1.1 is allowed; ATTACH's ROW_GROUP_SIZE came later. Refused (here: a size DuckDB
    rejects), the file is attached without it: default row groups, same data."""
    from dynashift.targets.duckdb import DuckDBTarget

    monkeypatch.setattr(DuckDBTarget, "ROW_GROUP_SIZE", 1000)  # not a multiple of 2048: refused
    target = make_target(f"duckdb:///{tmp_path / 'o.duckdb'}")
    target.open()
    try:
        target.con.execute("CREATE TABLE main.t AS SELECT range AS x FROM range(40000)")
        target.con.execute("CHECKPOINT")
        con = target.con
        assert con.execute("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('main.t')").fetchone() == (1,)
        assert con.execute("SELECT current_setting('temp_directory')").fetchone()[0] == f"{tmp_path / 'o.duckdb'}.tmp"
    finally:
        target.close()


def test_a_runs_first_checkpoint_vacuums_then_every_fourth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint's vacuum rewrites the row groups of the tables written since the last one
    that lost rows: done at a run's first checkpoint and then every VACUUM_EVERY-th, so deleted
    rows are reclaimed, some later. Here each commit deletes a sixteenth of t and passes a small
    WAL threshold: a checkpoint (seen as the WAL removed) every other commit."""
    from dynashift.targets.duckdb import DuckDBTarget

    monkeypatch.setattr(DuckDBTarget, "CHECKPOINT_THRESHOLD", "256KB")
    path = tmp_path / "v.duckdb"
    target = make_target(f"duckdb:///{path}")
    target.open()
    con = target.con
    try:
        assert DuckDBTarget.VACUUM_EVERY == 4
        with target.transaction():
            con.execute(f"CREATE TABLE main.t AS SELECT range AS x FROM range({DuckDBTarget.ROW_GROUP_SIZE * 8})")
            con.execute("CREATE TABLE main.pad (s VARCHAR)")
        seen, checkpoints = [], []
        for i in range(11):
            with target.transaction():
                con.execute(f"DELETE FROM main.t WHERE x % 16 = {i}")
                con.execute("INSERT INTO main.pad SELECT repeat('p', 100) FROM range(5000)")  # past the threshold
            if not Path(f"{path}.wal").exists():
                checkpoints.append(i + 1)
            seen.append(con.execute("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('main.t')").fetchone()[0])
        assert checkpoints == [2, 4, 6, 8, 10]
        # 8 row groups: the 1st checkpoint vacuums but 2/16 deleted is too few to merge; the 2nd to
        # 4th do not vacuum; the 5th merges them into 4
        assert seen == [8] * 9 + [4, 4]  # vacuuming at each: [8, 8, 8, 6, 6, 6, 6, 4, 4, 3, 3]
    finally:
        target.close()
    import duckdb

    with duckdb.connect(str(path), read_only=True) as plain:
        assert plain.execute("SELECT count(*), sum(x) FROM t").fetchone() == (
            DuckDBTarget.ROW_GROUP_SIZE * 8 * 5 // 16, sum(x for x in range(DuckDBTarget.ROW_GROUP_SIZE * 8) if x % 16 >= 11))
