"""What a file run holds while a batch is planned and waits for its predecessor's commit, and the
batch size that memory allows (issue 12: a run's peak RSS decides how large a batch may be).

The native reader keeps every key's newest record (its bytes) in a LineBatch until the batch is
rendered; once rendered, the batch is Arrow columns and those records are dead weight: kept until
the generator is resumed (after the plan and the wait for the previous commit), they were ~2.2 KB
per winner on wide items, ~190 MiB of a 100,000-event batch, stacked on DuckDB's merge.
Files the native engine reads as plain lines default to larger batches than anything decoded into
Python objects (docs/decisions.md, "Stream batch sizes").
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from dynashift import Config
from dynashift.planning import engine
from dynashift.planning.blocks import BlockBatch
from dynashift.simulate import simulate
from dynashift.sources import files, files_native, make_source
from dynashift.sources.files import FileSource

native_only = pytest.mark.skipif(engine.native_engine() is None,
                                 reason="the native engine does not run here (not installed, or DYNASHIFT_ENGINE=python)")


@native_only
def test_a_yielded_batch_does_not_keep_its_records(tmp_path: Path) -> None:
    simulate(tmp_path, changes=1_200, profile="bench", seed=3, expected=False)
    source = FileSource(f"file://{tmp_path}/changes-*", batch_size=500)
    lines = files_native.NativeLines(source, ttl_ignore=False)
    batches = lines.read({})
    seen = 0
    for batch in batches:  # while the pipeline plans it and waits: the generator is suspended here
        assert isinstance(batch, BlockBatch)
        assert lines.acc is None, "the rendered batch's LineBatch (its winners' records) is still held"
        seen += batch.records_read
    assert seen == 1_200


@pytest.fixture
def sizes(monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """Small stand-ins for the two defaults, so that a small file shows which one cut it."""
    monkeypatch.setattr(files, "NATIVE_BATCH_SIZE", 300)
    monkeypatch.setattr(files, "BATCH_SIZE", 200)
    return 300, 200


def _cuts(source: FileSource) -> list[int]:
    return [b.records_read for b in source.read({})]


def test_default_batch_size_follows_what_reads_the_files(tmp_path: Path, sizes: tuple[int, int]) -> None:
    native_size, other = sizes
    simulate(tmp_path, changes=1_000, profile="bench", seed=4, expected=False)
    uri = f"file://{tmp_path}/changes-*"
    want = native_size if engine.native_engine() is not None else other
    source = FileSource(uri)
    assert _cuts(source) == [want] * (1_000 // want) + ([1_000 % want] if 1_000 % want else [])
    assert source.reader().batch_size == want  # a refused batch is read again cut where it was
    assert _cuts(FileSource(uri, soft=True))[0] == other  # soft deletes: planned from Python changes
    assert _cuts(FileSource(uri, batch_size=250))[0] == 250  # a size given is kept
    # through the configuration: only a size that was set is passed on
    assert make_source(uri, Config(source=uri))._batch_size is None  # type: ignore[attr-defined]
    assert make_source(uri, Config(source=uri, batch_size=250))._batch_size == 250  # type: ignore[attr-defined]


def test_a_gzip_file_to_read_keeps_the_smaller_default(tmp_path: Path, sizes: tuple[int, int]) -> None:
    _, other = sizes
    simulate(tmp_path, changes=1_000, profile="bench", seed=5, expected=False)
    plain = sorted(tmp_path.glob("changes-*"))[0]
    (tmp_path / "changes-9999.jsonl.gz").write_bytes(gzip.compress(plain.read_bytes()[:200_000].rsplit(b"\n", 1)[0] + b"\n"))
    source = FileSource(f"file://{tmp_path}/")
    assert _cuts(source)[0] == other
