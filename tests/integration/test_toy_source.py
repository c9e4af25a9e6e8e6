"""A new source is one file and one registry line (docs/architecture.md, "Adding a source").

The toy below is a complete source: its URI, and `read(checkpoints)` yielding batches of decoded
changes (bad records as rejects) with the checkpoint each batch reaches. The target writes that
checkpoint in the batch's transaction, so the toy keeps no state of its own: a second run
resumes after the last committed batch and replays nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest

from dynashift import run_once, sources
from dynashift.config import Config
from dynashift.decode import decode_change
from dynashift.errors import BadRecordError
from dynashift.records import Checkpoint, Rejected, SourceBatch
from support.builders import item, rec

STREAMS: dict[str, list[Any]] = {}  # what the toy reads: stream name -> records (dicts), in order


class ToySource:
    """`toy://NAME`: the records of STREAMS[NAME]; its checkpoint is the index of the next record."""

    def __init__(self, uri: str, config: Config):
        self.uri = uri
        self.records = STREAMS[uri.removeprefix("toy://")]
        self.batch_size = config.batch_size

    def read(self, checkpoints: dict[str, Checkpoint]) -> Iterator[SourceBatch]:
        done = checkpoints.get("all")
        start = int(done.position) if done else 0
        for first in range(start, len(self.records), self.batch_size):
            batch = SourceBatch()
            for i in range(first, min(first + self.batch_size, len(self.records))):
                try:  # seq: fixed width, so that string order is stream order
                    batch.changes.append(decode_change(self.records[i], f"{i:012d}"))
                except BadRecordError as exc:
                    batch.rejected.append(Rejected(exc.reason, repr(self.records[i]).encode(), str(i)))
                batch.records_read += 1
            batch.checkpoints.append(Checkpoint(self.uri, "all", str(first + batch.records_read)))
            yield batch


def rows(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute('SELECT dist_key, "n", "note" FROM main."orders" ORDER BY dist_key').fetchall()
    finally:
        con.close()


def test_a_toy_source_in_one_file_and_one_registry_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sources.SOURCES, "toy", lambda uri, config, **_: ToySource(uri, config))  # the one line
    STREAMS["orders"] = [
        rec("INSERT", *item("a", n={"N": "1"}), 10),
        rec("INSERT", *item("b", n={"N": "2"}), 20),
        rec("MODIFY", *item("a", n={"N": "3"}, note={"S": "late"}), 5),  # older than the INSERT: stale
        {"eventName": "INSERT", "dynamodb": {}},  # no Keys: rejected, never lost
        rec("MODIFY", *item("b", n={"N": "4"}), 30),
        rec("REMOVE", {"pk": {"S": "c"}}, None, 40),
        rec("INSERT", *item("c", n={"N": "5"}, note={"S": "deleted later"}), 35),  # older than the REMOVE
    ]
    db = tmp_path / "w.duckdb"
    first = run_once("toy://orders", f"duckdb:///{db}", batch_size=2)
    assert (first.records_read, first.rejected, first.stale_skipped, first.batches) == (7, 1, 2, 4)
    assert rows(db) == [('{"pk":{"S":"a"}}', "1", None), ('{"pk":{"S":"b"}}', "4", None)]

    STREAMS["orders"].append(rec("MODIFY", *item("a", n={"N": "6"}), 50))
    second = run_once("toy://orders", f"duckdb:///{db}", batch_size=2)
    assert (second.records_read, second.changes_applied) == (1, 1)  # only what came after the checkpoint
    assert rows(db) == [('{"pk":{"S":"a"}}', "6", None), ('{"pk":{"S":"b"}}', "4", None)]
