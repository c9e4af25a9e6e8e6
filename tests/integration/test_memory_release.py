"""What a batch lets go of, and when (issue 12: peak RSS of a wide run). A batch's Arrow stages
are let go once merged when the target never applies the same plan again (DuckDB), and kept
until the commit where it may (PostgreSQL retries a batch after a conflict)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pytest

from dynashift import Config, pipeline, run_once
from dynashift.errors import SourceError
from dynashift.memory import give_back_freed
from dynashift.planning import Modes, build_plan
from dynashift.records import Change, Checkpoint, SourceBatch
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


_HOLES = """
import os
from pathlib import Path
from dynashift.memory import give_back_freed

def rss():
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

lines, kept = [], []
for i in range(40_000):  # ~96 MB of lines; after every 1,000 a small object that stays
    lines.append(bytes(2400))
    if i % 1000 == 999:
        kept.append(bytearray(1024))  # over pymalloc's 512 bytes: glibc's, above the lines before it
del lines
before = rss()
assert give_back_freed()
print(before - rss(), len(kept))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_lines_between_kept_objects_go_back_to_the_system() -> None:
    """A batch's 2 KB lines freed between objects that stay (as a batch's changes are) leave holes
    in glibc's heap that it keeps resident; give_back_freed returns them. In a process of its own:
    the test process's heap, shaped by every test before, could hold free space the lines reuse."""
    out = subprocess.run([sys.executable, "-c", _HOLES], capture_output=True, text=True, check=True).stdout
    returned, kept = map(int, out.split())
    assert returned > 48 << 20
    assert kept == 40


def test_the_pipeline_gives_back_after_each_batch_is_planned_and_once_the_next_is_handed_over(tmp_path: Path,
                                                                                            monkeypatch) -> None:
    """On the main thread only: after planning a batch, and after handing it to the worker (what
    the worker let go at its predecessor's commit). The worker's work is the run's critical path."""
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
    assert calls == ["main"] * 6


def _orders(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT dist_key, qty FROM orders ORDER BY 1").fetchall()


def test_a_file_batch_is_not_held_through_its_commit_and_a_refused_one_is_read_again(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    """A file source reads a refused batch again from its checkpoints (pipeline._reread), so a
    batch in flight holds none of its changes; the split then rejects only the refused record,
    and the batches before and after it commit whole (nothing lost, nothing twice)."""
    db = tmp_path / "w.duckdb"
    run_once(f"file://{write(tmp_path / '0.jsonl', [rec('INSERT', *item('z', qty={'N': '0'}))])}", f"duckdb:///{db}")
    with duckdb.connect(str(db)) as con:
        con.execute("ALTER TABLE orders ALTER COLUMN qty TYPE INTEGER")
    held: list[object] = []
    start = pipeline._Pending.start
    monkeypatch.setattr(pipeline._Pending, "start", lambda self, *a: (held.append(self.batch), start(self, *a))[1])
    records = [rec("INSERT", *item(pk, qty={"N": n}), t=i + 1)
               for i, (pk, n) in enumerate([("a", "1"), ("b", "2"), ("c", "3"), ("d", "1.5e400"), ("e", "5"),
                                            ("f", "6"), ("g", "7")])]
    counters = run_once(f"file://{write(tmp_path / '1.jsonl', records)}", f"duckdb:///{db}", batch_size=2)
    assert held == [None] * 4
    assert (counters.records_read, counters.changes_applied, counters.rejected) == (7, 6, 1)
    assert _orders(db) == [(f'{{"pk":{{"S":"{pk}"}}}}', q) for pk, q in
                           [("a", 1), ("b", 2), ("c", 3), ("e", 5), ("f", 6), ("g", 7), ("z", 0)]]
    with duckdb.connect(str(db), read_only=True) as con:
        (raw,), = con.execute('SELECT "raw" FROM dynashift.rejected').fetchall()
    assert orjson.loads(raw)["dynamodb"]["Keys"] == {"pk": {"S": "d"}}


def test_a_refused_batch_the_source_no_longer_cuts_the_same_way_fails_the_run(tmp_path: Path) -> None:
    src = write(tmp_path / "1.jsonl", [rec("INSERT", *item(pk), t=i) for i, pk in enumerate("abc")])
    config = Config(source=f"file://{src}", target=f"duckdb:///{tmp_path / 'w.duckdb'}", batch_size=2)
    target = make_target(config.target)
    target.open()
    try:
        source = make_source(config.source, config)
        first = next(iter(source.read({})))
        again = pipeline._reread(config, source, target, "p", None, first.checkpoints)
        assert [(c.seq, c.raw) for c in again.changes] == [(c.seq, c.raw) for c in first.changes]
        moved = [Checkpoint(cp.source, cp.shard, str(int(cp.position) + 1), cp.size) for cp in first.checkpoints]
        with pytest.raises(SourceError, match="changed since its refused batch was read"):
            pipeline._reread(config, source, target, "p", None, moved)
    finally:
        target.close()


def test_reading_a_refused_batch_again_leaves_the_reading_ahead_untouched(tmp_path: Path) -> None:
    """The refused batch is read again while the pipeline's own read is suspended a batch ahead,
    near the file's end: it reads with a reader of its own (FileSource.reader), so the checkpoint
    the read ahead ends the file with is still the file's end (a shared reader left it where the
    re-read stopped, with the file's size: a grown file would have been read from the wrong place)."""
    db = tmp_path / "w.duckdb"
    run_once(f"file://{write(tmp_path / '0.jsonl', [rec('INSERT', *item('z', qty={'N': '0'}))])}", f"duckdb:///{db}")
    with duckdb.connect(str(db)) as con:
        con.execute("ALTER TABLE orders ALTER COLUMN qty TYPE INTEGER")
    qty = ["1", "2", "1.5e400", "4", "5", "6", "7"]  # batches of 2; the second is refused, the read is at g
    path = write(tmp_path / "1.jsonl", [rec("INSERT", *item(pk, qty={"N": n}), t=i + 1)
                                        for i, (pk, n) in enumerate(zip("abcdefg", qty))])
    counters = run_once(f"file://{path}", f"duckdb:///{db}", batch_size=2)
    assert (counters.records_read, counters.changes_applied, counters.rejected) == (7, 6, 1)
    with duckdb.connect(str(db), read_only=True) as con:
        kept = con.execute("SELECT shard, position, size FROM dynashift.checkpoints WHERE shard = '1.jsonl'").fetchall()
    assert kept == [("1.jsonl", str(path.stat().st_size), path.stat().st_size)]
