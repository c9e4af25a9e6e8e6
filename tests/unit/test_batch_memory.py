"""What a file run holds while a batch is planned and waits for its predecessor's commit (issue 12:
a run's peak RSS decides how large a batch may be).

The native reader keeps every key's newest record (its bytes) in a LineBatch until the batch is
rendered; once rendered, the batch is Arrow columns and those records are dead weight: kept until
the generator is resumed (after the plan and the wait for the previous commit), they were ~2.2 KB
per winner on wide items, ~190 MiB of a 100,000-event batch, stacked on DuckDB's merge.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dynashift.planning import engine
from dynashift.planning.blocks import BlockBatch
from dynashift.simulate import simulate
from dynashift.sources import files_native
from dynashift.sources.files import FileSource

if engine.native_engine() is None:  # not installed, or DYNASHIFT_ENGINE=python: files are read by the Python code
    pytest.skip("the native engine does not run here", allow_module_level=True)


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
