"""The first batches of a file pass are rendered on both cores (sources/files_native.py
FIRST_SPLIT, FIRST_BATCHES): the applying thread waits for them, so their tables are rendered in
small shares; later batches are rendered on the main thread alone, in one share per table
(LATER_THREADS: the applying thread has the other core); the plans are those of the Python engine
either way."""

from __future__ import annotations

import pyarrow as pa
import pytest

from dynashift.planning import Modes, build_plan, engine
from dynashift.schema import SchemaState
from dynashift.simulate import simulate
from dynashift.sources import files_native
from dynashift.sources.files import FileSource

from test_engine_equivalence import NAMING, _plan_view  # noqa: E402

if not engine.native_available():
    pytest.skip("the native engine is not installed: pip install ./native (needs Rust)", allow_module_level=True)


def _shares(sb) -> dict[str, int]:
    """Each table's number of rendering shares (its text columns' chunks)."""
    out = {}
    for block in sb.blocks:
        cols = list(block.rows.columns.values())
        out[block.table] = cols[0].num_chunks if isinstance(cols[0], pa.ChunkedArray) else 1
    return out


def test_first_batches_rendered_in_smaller_shares(tmp_path, monkeypatch):
    simulate(tmp_path, changes=1200, profile="wide", seed=3, expected=False)
    uri = f"file://{tmp_path}/changes-*"
    monkeypatch.setattr(files_native, "SHARE", 16)  # the first two batches' shares: 4 winners at least
    monkeypatch.setenv(engine.ENV, "native")
    batches = list(FileSource(uri, batch_size=300).read({}))
    counts = [{b.table: b.rows.count for b in sb.blocks} for sb in batches]
    shares = [_shares(sb) for sb in batches]
    first = 2  # files_native.FIRST_BATCHES
    for early, n in zip(shares[:first], counts[:first]):
        assert early == {t: 2 if c >= 8 else 1 for t, c in n.items()}
        assert 2 in early.values()
    for later, n in zip(shares[first:], counts[first:]):
        assert later == {t: 1 for t in n}  # one thread: one share, however many winners
    assert any(8 <= c < 32 for n in counts[first:] for c in n.values())  # split only when early
    assert any(c >= 32 for n in counts[first:] for c in n.values())  # two shares' worth at SHARE, rendered as one
    plans = [_plan_view(build_plan(sb, SchemaState(), NAMING, Modes())) for sb in batches]
    monkeypatch.setenv(engine.ENV, "python")
    expected = [_plan_view(build_plan(sb, SchemaState(), NAMING, Modes())) for sb in FileSource(uri, batch_size=300).read({})]
    assert plans == expected
