"""Text-mode files read by the native engine as blocks (sources/files_native.py) plan exactly what
the Python engine plans from the same files.

Generated files (all types, awkward names, equal timestamps, records without a timestamp,
duplicates, late records, bad records, malformed JSON, Lambda-event lines of several records,
blank lines, a last line without its newline, gzip files and JSON documents among plain ones,
several files, small batches by count and by bytes, every delete and TTL mode, a run resumed
from checkpoints) go through both engines: winners, rendered values, counters, rejects,
checkpoints, and the changes a block batch decodes when asked, must be identical.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynashift.planning import Modes, build_plan, engine
from dynashift.planning.blocks import BlockBatch
from dynashift.records import Checkpoint
from dynashift.schema import SchemaState
from dynashift.simulate import simulate
from dynashift.sources import files_native
from dynashift.sources.files import FileSource

from test_engine_equivalence import GOOD_RECORD, MODES, NAMING, SETTINGS, _change, _plan_view, line  # noqa: E402

if not engine.native_available():
    pytest.skip("the native engine is not installed: pip install ./native (needs Rust)", allow_module_level=True)


def _lambda_line(records: list[dict]) -> bytes:
    return orjson.dumps({"Records": records})


FILE_LINE = st.one_of(
    st.builds(lambda r: orjson.dumps(r), GOOD_RECORD), st.builds(lambda r: orjson.dumps(r), GOOD_RECORD),
    line(), st.builds(_lambda_line, st.lists(GOOD_RECORD, min_size=1, max_size=3)),
    st.sampled_from([b"", b"   ", b"\r", b"not json", b"{", b"[]", b"{}", b'{"Records":[]}']),
)
FILE = st.fixed_dictionaries({
    "lines": st.lists(FILE_LINE, max_size=10),
    "kind": st.sampled_from(["plain"] * 4 + ["gz", "document", "bom"]),
    "newline_at_end": st.booleans(),
    "crlf": st.booleans(),
})


def _write(folder: Path, i: int, spec: dict, again: list[bytes]) -> None:
    lines = [x.replace(b"\n", b" ") for x in spec["lines"] + again]
    end = b"\r\n" if spec["crlf"] else b"\n"
    if spec["kind"] == "document":
        records = [json.loads(x) for x in lines if _is_record(x)]
        (folder / f"changes-{i}.json").write_bytes(json.dumps({"Records": records}, indent=2).encode())
        return
    data = end.join(lines) + (end if spec["newline_at_end"] else b"")
    if spec["kind"] == "gz":
        (folder / f"changes-{i}.jsonl.gz").write_bytes(gzip.compress(data))
    else:
        (folder / f"changes-{i}.jsonl").write_bytes((b"\xef\xbb\xbf" if spec["kind"] == "bom" else b"") + data)


def _is_record(x: bytes) -> bool:
    try:
        return type(json.loads(x)) is dict
    except ValueError:
        return False


def _read(which: str, uri: str, modes: Modes, flags: dict, batch: int, batch_bytes: int,
          checkpoints: dict[str, Checkpoint], monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
    """Every batch of the source planned: (views, the batches' checkpoints)."""
    monkeypatch.setenv(engine.ENV, which)
    source = FileSource(uri, batch_size=batch, batch_bytes=batch_bytes, **flags)
    state = SchemaState()
    views, cps = [], []
    for sb in source.read(checkpoints):
        try:
            plan = build_plan(sb, state, NAMING, modes)
        except Exception as exc:  # noqa: BLE001 - the same error both ways
            views.append(("raised", type(exc).__name__, str(exc)))
            continue
        state.apply(plan.schema_changes)
        views.append((_plan_view(plan), [(c.shard, c.position, c.size) for c in plan.checkpoints],
                      [_view(c) for c in sb.changes]))  # a block batch decodes its changes here
        cps.append(list(plan.checkpoints))
    return views, cps


def _view(c) -> tuple:
    """A change as compared: its raw line without the newline the native bulk decoder leaves on
    it (rows.raw_record takes it off likewise)."""
    view = _change(c)
    return (*view[:9], view[9].rstrip(b"\n") if type(view[9]) is bytes else view[9], *view[10:])


def _equal(native: list, py: list) -> None:
    """native == py, failing on the first part that differs (the whole views are long)."""
    assert len(native) == len(py)
    for i, (a, b) in enumerate(zip(native, py)):
        if a != b and isinstance(a, tuple) and len(a) == 3 and isinstance(b, tuple) and len(b) == 3:
            for k in b[0]:
                assert (i, k, a[0][k]) == (i, k, b[0][k])
            assert (i, "checkpoints", a[1]) == (i, "checkpoints", b[1])
            assert (i, "changes", a[2]) == (i, "changes", b[2])
        assert (i, a) == (i, b)


def _same(tmp: Path, modes: Modes, flags: dict, batch: int, batch_bytes: int, resume_after: int,
          monkeypatch: pytest.MonkeyPatch) -> None:
    uri = f"file://{tmp}"
    py, cps = _read("python", uri, modes, flags, batch, batch_bytes, {}, monkeypatch)
    native, _ = _read("native", uri, modes, flags, batch, batch_bytes, {}, monkeypatch)
    _equal(native, py)
    resume = {cp.shard: cp for batch_cps in cps[:resume_after] for cp in batch_cps}
    py, _ = _read("python", uri, modes, flags, batch, batch_bytes, resume, monkeypatch)
    native, _ = _read("native", uri, modes, flags, batch, batch_bytes, resume, monkeypatch)
    _equal(native, py)


def _flags(modes: Modes, matching: bool, ttl_ignore: bool, soft: bool) -> dict:
    if matching:
        return {"ttl_ignore": modes.ttl == "ignore", "soft": "soft" in (modes.delete, modes.ttl)}
    return {"ttl_ignore": ttl_ignore, "soft": soft}


@SETTINGS
@given(files=st.lists(FILE, min_size=1, max_size=3), again=st.lists(st.integers(0, 9), max_size=5),
       modes=MODES, matching=st.sampled_from([True, True, False]), ttl_ignore=st.booleans(), soft=st.booleans(),
       batch=st.integers(1, 9), batch_bytes=st.sampled_from([10**9, 10**9, 700, 3000]), resume_after=st.integers(0, 3),
       share=st.sampled_from([1, 2, 4096]))
def test_generated_files_plan_the_same_as_blocks(files, again, modes, matching, ttl_ignore, soft, batch, batch_bytes,
                                                 resume_after, share, tmp_path_factory, monkeypatch):
    monkeypatch.setattr(files_native, "SHARE", share)  # a table's winners rendered in shares on two threads
    folder = tmp_path_factory.mktemp("files")
    first = files[0]["lines"]
    for i, spec in enumerate(files):  # lines met again (duplicates, late records) in the last file
        _write(folder, i, spec, [first[j] for j in again if j < len(first)] if i == len(files) - 1 else [])
    _same(folder, modes, _flags(modes, matching, ttl_ignore, soft), batch, batch_bytes, resume_after, monkeypatch)


def _record(i: int, pk: str, ts: int | None, op: str = "MODIFY", event: str | None = None, ttl: bool = False) -> dict:
    ddb: dict = {"Keys": {"pk": {"S": pk}}, "NewImage": {"pk": {"S": pk}, "v": {"N": str(i)}, f"a{i % 3}": {"S": "x"}}}
    if ts is not None:
        ddb["ApproximateCreationDateTime"] = ts
    if op == "REMOVE":
        ddb["OldImage"] = ddb.pop("NewImage")
    rec = {"eventID": event or f"e{i}", "eventName": op, "tableName": "T" if i % 4 else "U", "dynamodb": ddb}
    if ttl:
        rec["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    return rec


@SETTINGS
@given(picks=st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from([None, 1_700_000_000_000_000, 1_700_000_000_000_001]),
                                st.sampled_from(["INSERT", "MODIFY", "REMOVE"]), st.sampled_from([None, "e1", "e2"]),
                                st.booleans(), st.sampled_from(["line", "line", "lambda", "spaced"])), min_size=1, max_size=16),
       modes=MODES, batch=st.integers(1, 20))
def test_competing_changes_plan_the_same(picks, modes, batch, tmp_path_factory, monkeypatch):
    """Few keys, equal timestamps, repeated event ids, TTL expiries, records without a timestamp:
    native lines and lines the Python decoder makes (Lambda events, spaced JSON) compete per key."""
    lines = []
    for i, (pk, ts, op, event, ttl, style) in enumerate(picks):
        rec = _record(i, pk, ts, op, event, ttl and op == "REMOVE")
        if style == "lambda":
            lines.append(_lambda_line([rec, _record(i + 100, pk, ts, "MODIFY", event)]))
        else:
            lines.append(json.dumps(rec, separators=(", ", ": ")).encode() if style == "spaced" else orjson.dumps(rec))
    folder = tmp_path_factory.mktemp("compete")
    (folder / "changes.jsonl").write_bytes(b"\n".join(lines + lines[: len(lines) // 2]) + b"\n")
    _same(folder, modes, _flags(modes, True, False, False), batch, 10**9, 1, monkeypatch)


def test_plain_files_are_planned_from_blocks(tmp_path, monkeypatch):
    """Not a fallback in disguise: the simulator's files, with bad and Lambda-event lines among
    them, are planned from native blocks (and the counters are those of the Python engine)."""
    simulate(tmp_path, changes=600, profile="wide", seed=5, expected=False)
    (path,) = tmp_path.glob("changes-*")
    data = path.read_bytes().splitlines(keepends=True)
    data[10:10] = [b"not json\n", _lambda_line([_record(1, "a", 5), _record(2, "a", 6)]) + b"\n", b"\n"]
    path.write_bytes(b"".join(data))
    uri = f"file://{tmp_path}/changes-*"
    monkeypatch.setenv(engine.ENV, "native")
    batches = list(FileSource(uri, batch_size=200).read({}))
    assert [type(sb) for sb in batches] == [BlockBatch] * 4
    plans = [build_plan(sb, SchemaState(), NAMING, Modes()) for sb in batches]
    assert all(sb.blocks is not None for sb in batches)  # planned as blocks, not decoded
    monkeypatch.setenv(engine.ENV, "python")
    expected = [build_plan(sb, SchemaState(), NAMING, Modes()) for sb in FileSource(uri, batch_size=200).read({})]
    assert [_plan_view(p) for p in plans] == [_plan_view(p) for p in expected]
    assert plans[0].rejected and plans[0].rejected[0].reason.startswith("not JSON")
