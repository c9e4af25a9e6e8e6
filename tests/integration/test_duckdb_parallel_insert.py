"""A batch's INSERT of a table's winners runs on DuckDB's INSERT_THREADS threads with the rows'
order not kept (two threads compress its row groups at once); every other statement, the COMMIT
included, on the run's own settings. The replica equals the stream's ground truth either way."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pyarrow as pa
import pytest

from dynashift import run_once
from dynashift.model import TableStage
from dynashift.targets import make_target
from dynashift.targets import duckdb as duckdb_target
from dynashift.targets.duckdb import DuckDBTarget
from support.oracle import diff_duckdb
from support.simulated import simulate


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stream")
    simulate(out / "s", changes=4_000, tables=3, files=2, seed=11)
    return out / "s"


def _settings_seen(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, bool]]:
    """Each statement the target runs: (its first words, DuckDB's threads, insertion order kept)."""
    seen: list[tuple[str, int, bool]] = []
    execute = DuckDBTarget.execute

    def watched(self: DuckDBTarget, sql: str, params=()) -> None:
        threads, ordered = self.con.execute(
            "SELECT current_setting('threads'), current_setting('preserve_insertion_order')").fetchone()
        seen.append((" ".join(sql.split()[:3]), int(threads), bool(ordered)))
        return execute(self, sql, params)
    monkeypatch.setattr(DuckDBTarget, "execute", watched)
    return seen


def test_a_tables_insert_runs_on_two_threads_unordered_and_the_replica_equals_the_stream(
        stream: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duckdb_target, "_cores", lambda: 2)
    seen = _settings_seen(monkeypatch)
    db = tmp_path / "r.duckdb"
    run = run_once(f"file://{stream}/changes-*", f"duckdb:///{db}?threads=1", batch_size=500)
    assert run.batches > 5
    user_inserts = [s for s in seen if s[0].startswith('INSERT INTO "main".')]
    others = [s for s in seen if not s[0].startswith('INSERT INTO "main".')]
    assert len(user_inserts) >= run.batches
    assert {(threads, ordered) for _, threads, ordered in user_inserts} == {(DuckDBTarget.INSERT_THREADS, False)}
    assert {(threads, ordered) for _, threads, ordered in others} == {(1, True)}
    assert diff_duckdb(db, stream / "expected.json") == []


class _Abort(Exception):
    pass


def test_a_failed_insert_leaves_the_runs_settings_after_its_rollback(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed statement aborts its transaction, which refuses SET: the ROLLBACK restores them."""
    monkeypatch.setattr(duckdb_target, "_cores", lambda: 2)
    target = make_target(f"duckdb:///{tmp_path / 't.duckdb'}?threads=1")
    target.open()
    try:
        with target.transaction():
            target.execute("CREATE TABLE main.t (k BIGINT NOT NULL)")
        data = pa.table({"k": pa.array([1, None], pa.int64())})
        with contextlib.suppress(Exception), target.transaction():
            staged = target.stage(TableStage("t", ["k"], data))
            with target.parallel_insert():
                target.execute(f"INSERT INTO main.t SELECT k FROM {staged}")  # NOT NULL: refused
        settings = "SELECT current_setting('threads'), current_setting('preserve_insertion_order')"
        assert target.query(settings)[0] == (1, True)
        assert target.query("SELECT count(*) FROM main.t")[0][0] == 0
    finally:
        target.close()
