"""A file source whose batches are all planned from Python changes (soft deletes, history, the
item column, routes; typed columns alone are planned from native blocks: test_typed_native.py)
reads them with the Python decoder at once, in the Python path's batch size: read natively
first, each batch was read a second time, 75k records at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynashift import Config, sources
from dynashift.planning import engine
from dynashift.simulate import simulate
from dynashift.sources import files, make_source


@pytest.mark.parametrize("settings", [{"history": "beside"}, {"item_column": True},
                                      {"delete_mode": "soft"}, {"ttl_deletes": "soft"},
                                      {"routes": [{"table": "Orders", "attribute": "pk", "prefix": "x", "to": "x_orders"}]}])
def test_python_planned_batches_are_read_by_the_python_decoder(tmp_path: Path, monkeypatch, settings) -> None:
    monkeypatch.setattr(files, "NATIVE_BATCH_SIZE", 300)
    monkeypatch.setattr(files, "BATCH_SIZE", 200)
    monkeypatch.setattr(sources, "HISTORY_BATCH_SIZE", 200)  # (history's own default, smaller)
    simulate(tmp_path, changes=700, profile="bench", seed=4, expected=False)
    uri = f"file://{tmp_path}/changes-*"
    read_natively = []
    monkeypatch.setattr("dynashift.sources.files_native.NativeLines.read",
                        lambda self, checkpoints: read_natively.append(1) or iter(()))
    plain = [b.records_read for b in make_source(uri, Config(source=uri)).read({})]
    python = [b.records_read for b in make_source(uri, Config(source=uri, **settings)).read({})]
    assert python == [200, 200, 200, 100]
    if engine.native_engine() is not None:
        assert plain == [] and len(read_natively) == 1  # plain text mode: the native reader (stubbed here)
