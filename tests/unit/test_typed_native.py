"""Typed columns planned from native blocks (planning/typed_native.py) must plan exactly what the
Python path (the reference: typed.render_extended, typing_mode.stage_columns) plans: the same
column types, widenings, variant columns, staged values (numbers normalised) and counters, batch
after batch as the types a table holds change."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynashift.config import Config
from dynashift.planning import Modes, build_plan, core, engine, typed
from dynashift.schema import Naming, SchemaState
from dynashift.simulate import PROFILES, simulate
from dynashift.sources import HISTORY_BATCH_SIZE, files, make_source
from dynashift.sources.files import FileSource
from dynashift.typing_mode import table_modes_of

from test_engine_equivalence import NUMBERS, SETTINGS, VALUE, _plan_view, line  # noqa: E402

if not engine.native_available():
    if os.environ.get("CI") and shutil.which("cargo"):
        pytest.fail("the native engine is not installed (scripts/test.sh builds it where cargo exists)", pytrace=False)
    pytest.skip("the native engine is not installed: pip install ./native (needs Rust)", allow_module_level=True)

NAMING = Naming(max_bytes=63, case_insensitive=False)


def _typed_modes(budget: int | None = None, **settings) -> Modes:
    config = Config(source="file:///x", **({"column_types": "typed"} | settings))
    return Modes(delete=config.delete_mode, ttl=config.ttl_mode(), tables=table_modes_of(config),
                 budget=(lambda table: budget) if budget else None)


def _view(plan) -> dict:
    """_plan_view and the history stages."""
    return _plan_view(plan) | {"history": [
        (h.table, h.history_table, h.only, sorted(h.columns), h.types,
         {n: h.data.column(n).to_pylist() for n in sorted(h.data.column_names)}) for h in plan.history]}


def _plans(which: str, uri: str, monkeypatch: pytest.MonkeyPatch, batch_size: int, modes: Modes,
           natively: list | None = None, python_planned: bool = False) -> list:
    monkeypatch.setenv(engine.ENV, which)
    if natively is not None:
        made = core.native_typed
        monkeypatch.setattr(core, "native_typed", lambda *a: natively.append(a[1].table) or made(*a))
    state = SchemaState()
    out = []
    for sb in FileSource(uri, batch_size=batch_size, typed=not python_planned, soft=python_planned).read({}):
        plan = build_plan(sb, state, NAMING, modes)
        state.apply(plan.schema_changes)
        out.append(_view(plan))
    return out


@pytest.mark.parametrize("profile", PROFILES)
def test_simulated_profiles_plan_the_same_typed_and_natively(profile, tmp_path, monkeypatch):
    simulate(tmp_path, changes=1500, profile=profile, seed=3, expected=False)
    uri = f"file://{tmp_path}/changes-*"
    natively: list[str] = []
    py = _plans("python", uri, monkeypatch, 400, _typed_modes())
    native = _plans("native", uri, monkeypatch, 400, _typed_modes(), natively)
    assert len(py) == 4 and native == py
    assert natively  # not a fallback in disguise: the typed tables were planned from native blocks


# attribute values whose types collide per attribute: widenings, NUMERIC/text, variant columns
TYPED_VALUE = st.one_of(
    st.builds(lambda n: {"N": n}, st.sampled_from([
        "0", "1", "-1", "1E+2", "100", "1.0", "1.50", "-0", "0.0", "1e2", "-1.5e-10", "0.05", "10E-3", "123.456",
        "12345678901234567890123456789012345678", "123456789012345678901234567890123456789", "1E+37", "1E+38",
        "-9.9999999999999999999999999999999999999E+125", "0.12345678901234567890123456789012345678", "1E-130",
        "7e-38", "2.5E+3", "99999999999999999999.5", "1e0", "-0.000", "1E+99999999999999999"])),
    st.builds(lambda n: {"N": n}, NUMBERS),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.builds(lambda s: {"S": s}, st.sampled_from(["x", "", "1", "true"])),
    st.builds(lambda b: {"B": b}, st.sampled_from(["AAEC", "QUJD"])),
    st.just({"NULL": True}),
    VALUE,
)


@st.composite
def typed_line(draw) -> bytes:
    image = draw(st.dictionaries(st.sampled_from(["a", "b", "n", "q"]), TYPED_VALUE, max_size=4))
    op = draw(st.sampled_from(["INSERT", "MODIFY", "MODIFY", "REMOVE"]))
    pk = draw(st.sampled_from(["k1", "k2", "k3", "k4", "k5"]))
    ddb = {"Keys": {"pk": {"S": pk}}, "ApproximateCreationDateTime": draw(st.integers(1_700_000_000, 1_700_000_009))}
    ddb["OldImage" if op == "REMOVE" else "NewImage"] = {**image, "pk": {"S": pk}}
    table = draw(st.sampled_from(["Orders", "Orders", "Items"]))
    return json.dumps({"eventName": op, "tableName": table, "dynamodb": ddb}, separators=(",", ":")).encode()


@SETTINGS
@given(lines=st.lists(st.one_of(typed_line(), typed_line(), typed_line(), line()), max_size=16),
       batch=st.integers(1, 6), budget=st.sampled_from([None, None, 3]))
def test_generated_typed_files_plan_the_same(lines, batch, budget, tmp_path_factory, monkeypatch):
    """Types meeting per attribute across batches (a decimal widened, then NUMERIC or text, then a
    variant), awkward records among them (those take the Python path, which decides)."""
    folder = tmp_path_factory.mktemp("typed")
    path = folder / "changes.jsonl"
    path.write_bytes(b"".join(x.replace(b"\n", b" ") + b"\n" for x in lines))
    py = _plans("python", f"file://{path}", monkeypatch, batch, _typed_modes(budget))
    native = _plans("native", f"file://{path}", monkeypatch, batch, _typed_modes(budget))
    assert native == py


HISTORY = st.sampled_from([{"history": "beside", "column_types": "text"}, {"history": "only", "column_types": "text"},
                           {"history": "beside", "column_types": "text", "delete_mode": "soft"},
                           {"history": "beside", "column_types": "text", "ttl_deletes": "ignore"}])


@SETTINGS
@given(lines=st.lists(st.one_of(typed_line(), typed_line(), line()), max_size=16), again=st.lists(st.integers(0, 15), max_size=4),
       batch=st.integers(1, 6), budget=st.sampled_from([None, None, 3]), settings=HISTORY)
def test_generated_history_plans_the_same(lines, again, batch, budget, settings, tmp_path_factory, monkeypatch):
    """History with text columns: winners and every version rendered natively (typed.render_natively)
    plan what the Python path plans, redeliveries, late changes, soft deletes and budgets included."""
    lines = lines + [lines[i] for i in again if i < len(lines)]
    path = tmp_path_factory.mktemp("history") / "changes.jsonl"
    path.write_bytes(b"".join(x.replace(b"\n", b" ") + b"\n" for x in lines))
    modes = _typed_modes(budget, **settings)
    py = _plans("python", f"file://{path}", monkeypatch, batch, modes, python_planned=True)
    native = _plans("native", f"file://{path}", monkeypatch, batch, modes, python_planned=True)
    assert native == py


@pytest.mark.parametrize("profile", PROFILES)
def test_simulated_profiles_plan_the_same_with_history_natively(profile, tmp_path, monkeypatch):
    simulate(tmp_path, changes=1500, profile=profile, seed=3, expected=False)
    uri = f"file://{tmp_path}/changes-*"
    modes = _typed_modes(history="beside", column_types="text")
    rendered: list[int] = []
    made = typed.render_natively
    monkeypatch.setattr(typed, "render_natively", lambda *a: (lambda r: rendered.append(r is not None) or r)(made(*a)))
    py = _plans("python", uri, monkeypatch, 400, modes, python_planned=True)
    native = _plans("native", uri, monkeypatch, 400, modes, python_planned=True)
    assert len(py) == 4 and native == py
    assert any(p["history"] for p in native)
    assert rendered and all(rendered[len(rendered) // 2:])  # the native engine's half: every table rendered natively


def test_typed_file_runs_read_natively(tmp_path: Path) -> None:
    """Typed columns alone no longer send a file source to the Python decoder; history does, in
    smaller batches."""
    uri = f"file://{tmp_path}/changes-*"
    typed = make_source(uri, Config(source=uri, column_types="typed"))
    history = make_source(uri, Config(source=uri, column_types="typed", history="beside"))
    assert typed.typed and not typed._soft
    assert history._soft
    assert not make_source(uri, Config(source=uri)).typed
    # history stages every version: smaller batches by default (sources.HISTORY_BATCH_SIZE), as asked otherwise
    assert history._batch_size == HISTORY_BATCH_SIZE < files.BATCH_SIZE
    assert make_source(uri, Config(source=uri, history="beside", batch_size=40_000))._batch_size == 40_000
    assert typed._batch_size is None  # (FileSource's default for the pass)
