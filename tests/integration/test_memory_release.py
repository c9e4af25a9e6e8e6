"""What a batch lets go of, and when (issue 12: peak RSS of a wide run). A batch's Arrow stages
are let go once merged when the target never applies the same plan again (DuckDB), and kept
until the commit where it may (PostgreSQL retries a batch after a conflict)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from dynashift import Config, pipeline
from dynashift.memory import give_back_freed
from dynashift.planning import Modes, build_plan
from dynashift.records import Change, SourceBatch
from dynashift.schema import SchemaState
from dynashift.sources import make_source
from dynashift.targets import make_target
from dynashift.targets.postgres import PostgresTarget
from support.builders import T0, item, rec, write


def _change(pk: str, n: str, t: int) -> Change:
    keys = {"pk": {"S": pk}}
    return Change("Orders", "INSERT", keys, {**keys, "n": {"N": n}}, T0 + t, f"s{t:06d}", orjson.dumps(keys).decode())


def test_duckdb_lets_each_stage_go_once_merged_and_applies_it_whole(tmp_path: Path) -> None:
    target = make_target(f"duckdb:///{tmp_path / 'r.duckdb'}")
    target.open()
    try:
        sb = SourceBatch(changes=[_change("a", "1", 1), _change("b", "2", 2), _change("a", "3", 3)], records_read=3)
        state = target.load_state()
        plan = build_plan(sb, state, target.naming, Modes())
        schemas = [stage.data.schema for stage in plan.stages]
        assert [stage.data.num_rows for stage in plan.stages] == [2]
        target.apply(plan, target.begin_run("file://x", "p", ""))
        # the plan is still referenced here (as the pipeline holds it through the commit), its rows are not
        assert [stage.data for stage in plan.stages] == [schema.empty_table() for schema in schemas]
        rows = target.query('SELECT dist_key, "n" FROM main."Orders" ORDER BY dist_key')
        assert rows == [('{"pk":{"S":"a"}}', "3"), ('{"pk":{"S":"b"}}', "2")]
    finally:
        target.close()


def test_a_target_that_retries_a_batch_keeps_its_stages() -> None:
    """PostgreSQL's `apply` runs the same plan again after a deadlock or serialization failure."""
    assert PostgresTarget.REAPPLIES_PLANS
    assert not make_target("duckdb:///x.duckdb").REAPPLIES_PLANS


def test_an_emptied_stage_keeps_its_schema() -> None:
    data = pa.table({"a": ["x"], "b": [1]})
    assert data.schema.empty_table().schema == data.schema and data.schema.empty_table().num_rows == 0


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_lines_between_kept_objects_go_back_to_the_system() -> None:
    """A batch's 2 KB lines freed between objects that stay (as a batch's changes are) leave holes
    in glibc's heap that it keeps resident; give_back_freed returns them."""
    pairs = [(bytes(2400), bytearray(40)) for _ in range(40_000)]  # ~96 MB of lines, each beside a small object
    kept = [small for _, small in pairs]
    del pairs
    before = _rss()
    assert give_back_freed()
    assert before - _rss() > 48 << 20
    assert len(kept) == 40_000


def test_the_pipeline_gives_back_after_each_batch_is_planned_and_after_each_commit(tmp_path: Path, monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(pipeline, "give_back_freed",
                        lambda: calls.append("worker" if threading.current_thread().name.startswith("dynashift-apply")
                                             else "main"))
    src = tmp_path / "in.jsonl"
    write(src, [rec("INSERT", *item(f"k{i}", n={"N": str(i)}), t=i) for i in range(5)])
    config = Config(source=f"file://{src}", target=f"duckdb:///{tmp_path / 'r.duckdb'}", batch_size=2)
    target = make_target(config.target)
    target.open()
    try:
        run = pipeline.replicate(config, make_source(config.source, config), target)
    finally:
        target.close()
    assert run.batches == 3
    assert sorted(calls) == ["main"] * 3 + ["worker"] * 3
