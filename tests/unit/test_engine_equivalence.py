"""The native engine must plan exactly what the Python engine (the reference) plans.

The same records, generated (all types, awkward names, escapes, equal timestamps, duplicates, late
records, bad records, malformed JSON, hostile bytes), from the real-world fixtures and from every
simulator profile, go through both engines: decoded changes, rejects and their reasons, counters,
schema changes, and every staged value must be identical.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynashift.config import Config
from dynashift.errors import BadRecordError
from dynashift.planning import Modes, build_plan, engine
from dynashift.records import LAZY, Change, Checkpoint, Rejected, SourceBatch
from dynashift.schema import Naming, SchemaState
from dynashift.simulate import PROFILES, simulate
from dynashift.sources.export import ExportSource, write_export
from dynashift.sources.files import FileSource

if not engine.native_available():
    if os.environ.get("CI") and shutil.which("cargo"):
        pytest.fail("the native engine is not installed (scripts/test.sh builds it where cargo exists)",
                    pytrace=False)
    pytest.skip("the native engine is not installed: pip install ./native (needs Rust)", allow_module_level=True)

NAMING = Naming(max_bytes=63, case_insensitive=False)
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                             HealthCheck.function_scoped_fixture])

# ---------------------------------------------------------------- generated records

NAMES = st.one_of(st.sampled_from(["a", "b", "Name", "name", "x.y", "key with space", "ключ", "🔑", "$ref",
                                   'quo"te', "back\\slash", "tab\tnl\n", "ctl\x01\x1f", "", "\x7f"]),
                  st.text(max_size=6))
NUMBERS = st.sampled_from(["0", "1", "-1", "1E+2", "100", "1.0", "1.50", "1.5", "-0", "0.0", "1e2", "-1.5e-10",
                           "12345678901234567890123456789012345678", "-9.9999999999999999999999999999999999999E+125",
                           "0.12345678901234567890123456789012345678", "1E-130", "+5", ".5", "5.", "007", "1e",
                           "abc", "", " 1", "NaN", "Infinity", "0x10", "1_000"])
TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["", "null", "true", "é\u2028\U0001F600", "a\"b\\c", "\x00\x1f"]))


def _scalar() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(lambda s: {"S": s}, TEXT),
        st.builds(lambda n: {"N": n}, NUMBERS),
        st.builds(lambda b: {"B": b}, st.sampled_from(["AAEC", "", "not base64!", "QUJD"])),
        st.builds(lambda b: {"BOOL": b}, st.sampled_from([True, False, "TRUE", "false", 1, None])),
        st.builds(lambda b: {"NULL": b}, st.sampled_from([True, False, "x"])),
        st.builds(lambda xs: {"SS": xs}, st.lists(TEXT, max_size=4)),
        st.builds(lambda xs: {"NS": xs}, st.lists(NUMBERS, max_size=4)),
        st.builds(lambda xs: {"BS": xs}, st.lists(st.sampled_from(["AA==", "AQ==", "AA=="]), max_size=3)),
        st.sampled_from([{"S": 5}, {"N": 1}, {"X": "1"}, {}, {"S": "a", "N": "1"}, {"SS": ["a", 1]}, {"NS": "1"},
                         {"M": []}, {"L": {}}, "plain", None]),
    )


VALUE = st.recursive(_scalar(), lambda kids: st.one_of(
    st.builds(lambda d: {"M": d}, st.dictionaries(NAMES, kids, max_size=4)),
    st.builds(lambda xs: {"L": xs}, st.lists(kids, max_size=4))), max_leaves=12)
KEYS = st.one_of(
    st.fixed_dictionaries({"pk": st.sampled_from([{"S": "a"}, {"S": "b"}, {"N": "1"}, {"N": "1.0"}, {"B": "AA=="},
                                                  {"S": "é\"\\"}])},
                          optional={"sk": st.sampled_from([{"N": "1"}, {"N": "2"}, {"S": "x"}, {"N": "007"}])}),
    st.sampled_from([{}, {"pk": {"M": {}}}, {"pk": {"S": 1}}, {"pk": "x"}, {"pk": {"N": "x"}}, None]),
)
TIMES = st.one_of(st.sampled_from([1_700_000_000, 1_700_000_000_000, 1_700_000_000_000_000, 1_700_000_001]),
                  st.integers(-10**18, 10**18), st.floats(allow_nan=True), st.sampled_from(["1700000000", "x", "1e999999999"]),
                  st.none())
RECORD = st.fixed_dictionaries(
    {
        "eventName": st.sampled_from(["INSERT", "MODIFY", "REMOVE", "MODIFY", "BOGUS", None]),
        "dynamodb": st.one_of(st.fixed_dictionaries(
            {"Keys": KEYS},
            optional={
                "ApproximateCreationDateTime": TIMES,
                "ApproximateCreationDateTimePrecision": st.sampled_from(
                    ["MILLISECOND", "MICROSECOND", "second", "", None, 5, "ÉPOQUE"]),
                "NewImage": st.one_of(st.none(), st.dictionaries(NAMES, VALUE, max_size=5), st.just("x")),
                "OldImage": st.one_of(st.none(), st.dictionaries(NAMES, VALUE, max_size=3)),
                "StreamViewType": st.sampled_from(["KEYS_ONLY", "NEW_IMAGE"]),
            },
        ), st.sampled_from([None, [], "x"])),
    },
    optional={
        "tableName": st.sampled_from(["Orders", "t.x-y", "", None, 5]),
        "eventID": st.one_of(st.sampled_from(["e1", "e2"]), st.none(), st.integers()),
        "userIdentity": st.sampled_from([None, {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
                                         {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"},
                                         {"type": None, "Type": "Service", "principalId": "dynamodb.amazonaws.com"}]),
        "eventSourceARN": st.sampled_from(["arn:aws:dynamodb:us-east-1:1:table/FromArn/stream/x", "arn:bad", 7]),
        "approximateCreationDateTimePrecision": st.sampled_from(["MILLISECOND", "SECOND"]),
    },
)


GOOD_KEYS = st.fixed_dictionaries({"pk": st.sampled_from([{"S": "a"}, {"S": "b"}, {"N": "1"}, {"N": "-2.50"},
                                                          {"B": "AA=="}, {"S": "é\"\\\n"}])},
                                  optional={"sk": st.sampled_from([{"N": "1"}, {"N": "2"}, {"S": "x"}])})
GOOD_RECORD = st.fixed_dictionaries(
    {
        "eventName": st.sampled_from(["INSERT", "MODIFY", "REMOVE"]),
        "tableName": st.sampled_from(["Orders", "t.x-y", "Orders"]),
        "dynamodb": st.fixed_dictionaries(
            {"Keys": GOOD_KEYS, "NewImage": st.dictionaries(NAMES, VALUE, max_size=6)},
            optional={
                "ApproximateCreationDateTime": st.sampled_from([1_700_000_000, 1_700_000_000_000, 1_700_000_000_000_000,
                                                                1_700_000_000_000_001, None, 0, -5]),
                "ApproximateCreationDateTimePrecision": st.sampled_from(["MILLISECOND", "MICROSECOND", "second", ""]),
                "OldImage": st.dictionaries(NAMES, VALUE, max_size=4),
                "SizeBytes": st.integers(0, 10**6),
            },
        ),
    },
    optional={
        "eventID": st.sampled_from(["e1", "e2", "e3"]),
        "userIdentity": st.sampled_from([None, {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
                                         {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}]),
        "eventSourceARN": st.just("arn:aws:dynamodb:us-east-1:1:table/FromArn/stream/x"),
    },
)


@st.composite
def line(draw) -> bytes:
    rec = draw(st.one_of(GOOD_RECORD, GOOD_RECORD, RECORD))
    style = draw(st.sampled_from(["compact"] * 6 + ["ascii", "spaced", "truncated", "garbage", "utf8", "surrogate",
                                                    "records", "dupkey"]))
    text = json.dumps(rec, ensure_ascii=style == "ascii", separators=(", ", ": ") if style == "spaced" else (",", ":"))
    data = text.encode("utf-8", "surrogatepass")
    if style == "truncated":
        data = data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    elif style == "garbage":
        data += draw(st.sampled_from([b"x", b"}", b" ", b",{}"]))
    elif style == "utf8":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\xff\xfe" + data[at:]
    elif style == "surrogate":
        data = data.replace(b'"S":"', b'"S":"\\ud800', 1)
    elif style == "records":
        data = b'{"Records":[' + data + b"," + data + b"]}"
    elif style == "dupkey":
        data = data.replace(b'"dynamodb":', b'"eventName":"INSERT","dynamodb":', 1)
    return data


# ---------------------------------------------------------------- running both engines


def _change(c: Change) -> tuple:
    return (c.table, c.op, c.keys, "LAZY" if c.new_image is LAZY else c.new_image, c.version, c.seq, c.dist_key,
            c.event_id, c.ttl, c.raw, "LAZY" if c.old_image is LAZY else c.old_image, c.names)


def _plan_view(plan) -> dict:
    return {
        "schema": [repr(ch) for ch in plan.schema_changes],
        "stages": [(s.table, s.soft, sorted(s.columns),
                    {name: s.data.column(name).to_pylist() for name in sorted(s.data.column_names)},
                    {name: str(s.data.schema.field(name).type) for name in s.data.column_names})
                   for s in plan.stages],
        "rejected": [(r.reason, r.raw, r.position) for r in plan.rejected],
        "counts": (plan.records_read, plan.bytes_read, plan.duplicates, plan.stale, plan.superseded, plan.ttl_ignored),
        "types": {t: {a: sorted(v) for a, v in seen.items()} for t, seen in plan.types_seen.items()},
    }


def run_lines(which: str, batches: list[list[bytes]], modes: Modes, default_table: str | None,
              monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
    """Decode and plan `batches` of lines with one engine, as a file source would."""
    monkeypatch.setenv(engine.ENV, which)
    decoder = engine.line_decoder(default_table)
    assert type(decoder).__name__ == ("NativeLineDecoder" if which == "native" else "LineDecoder")
    state = SchemaState()
    decoded: list = []
    plans: list = []
    n = 0
    for lines in batches:
        sb = SourceBatch()
        for raw in lines:
            n += 1
            body = raw.strip()
            sb.records_read += 1
            sb.bytes_read += len(raw)
            if not body:
                continue
            for item in decoder.decode(body, f"f\x1f{n:015d}\x1f"):
                if isinstance(item, BadRecordError):
                    decoded.append(("rejected", item.reason))
                    sb.rejected.append(Rejected(item.reason, body, f"f:{n}"))
                else:
                    decoded.append(_change(item))
                    sb.changes.append(item)
        try:
            plan = build_plan(sb, state, NAMING, modes)
        except BadRecordError as exc:
            plans.append(("raised", exc.reason))
            continue
        state.apply(plan.schema_changes)
        plans.append(_plan_view(plan))
    return decoded, plans


def assert_same(batches: list[list[bytes]], monkeypatch: pytest.MonkeyPatch, modes: Modes | None = None,
                default_table: str | None = None) -> None:
    modes = modes or Modes()
    py = run_lines("python", batches, modes, default_table, monkeypatch)
    native = run_lines("native", batches, modes, default_table, monkeypatch)
    assert native[0] == py[0]
    assert native[1] == py[1]


def _budget(n: int):
    return lambda table: n


# small column budgets put attributes into the overflow column (schema.plan_schema decides which)
MODES = st.builds(Modes, delete=st.sampled_from(["hard", "soft"]), ttl=st.sampled_from(["hard", "soft", "ignore"]),
                  budget=st.one_of(st.none(), st.builds(_budget, st.integers(1, 12))))


@SETTINGS
@given(lines=st.lists(line(), max_size=14), again=st.lists(st.integers(0, 13), max_size=6),
       cut=st.integers(0, 20), modes=MODES, default_table=st.sampled_from([None, "Default"]))
def test_generated_records_plan_the_same(lines, again, cut, modes, default_table, monkeypatch):
    """Duplicates (the same line again) and late records (an older line after newer ones)
    included; two batches, so the second plans against the schema the first left."""
    lines = lines + [lines[i] for i in again if i < len(lines)]
    assert_same([lines[:cut], lines[cut:]], monkeypatch, modes, default_table)


def _valid_line(i: int, pk: str, ts: int, image: dict, op: str = "MODIFY") -> bytes:
    ddb = {"ApproximateCreationDateTime": ts, "Keys": {"pk": {"S": pk}}, "NewImage": image}
    if op == "REMOVE":
        ddb = {"ApproximateCreationDateTime": ts, "Keys": {"pk": {"S": pk}}, "OldImage": image}
    return orjson.dumps({"eventID": f"e{i}", "eventName": op, "tableName": "T", "dynamodb": ddb})


@SETTINGS
@given(images=st.lists(st.dictionaries(NAMES, VALUE, min_size=1, max_size=6), min_size=1, max_size=10),
       stamps=st.lists(st.sampled_from([1_700_000_000_000_000, 1_700_000_000_000_001]), min_size=10, max_size=10),
       ops=st.lists(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]), min_size=10, max_size=10), modes=MODES)
def test_values_render_the_same(images, stamps, ops, modes, monkeypatch):
    """Well-formed records of awkward values (mostly accepted natively): equal timestamps, keys met
    several times, soft and hard deletes."""
    lines = [_valid_line(i, "ab"[i % 2], stamps[i], img, ops[i]) for i, img in enumerate(images)]
    assert_same([lines], monkeypatch, modes)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=200), line().flatmap(lambda b: st.builds(
    lambda at, junk: b[:at] + junk + b[at + len(junk):], st.integers(0, len(b)), st.binary(min_size=1, max_size=3)))))
def test_hostile_bytes_never_crash_and_reject_alike(data, monkeypatch):
    """Fuzz on raw bytes: random bytes and valid records with bytes overwritten. The native parser
    must never crash the process, and reject exactly what the Python engine rejects, with its reason."""
    assert_same([[data]], monkeypatch)


# ---------------------------------------------------------------- real fixtures and simulator profiles


def _source_plans(which: str, uri: str, monkeypatch: pytest.MonkeyPatch, batch_size: int, table: str | None = None):
    monkeypatch.setenv(engine.ENV, which)
    source = FileSource(uri, default_table=table, batch_size=batch_size)
    state = SchemaState()
    out = []
    for sb in source.read({}):
        plan = build_plan(sb, state, NAMING, Modes(delete="soft", ttl="soft"))
        state.apply(plan.schema_changes)
        out.append(_plan_view(plan))
    return out


def test_real_fixture_files_plan_the_same(fixtures_dir, monkeypatch):
    files = [p for p in sorted(Path(fixtures_dir).iterdir()) if p.suffix in (".json", ".jsonl")]
    assert files
    for path in files:
        py = _source_plans("python", f"file://{path}", monkeypatch, 3, table="Fixture")
        native = _source_plans("native", f"file://{path}", monkeypatch, 3, table="Fixture")
        assert native == py, path.name


@pytest.mark.parametrize("profile", PROFILES)
def test_simulator_profiles_plan_the_same(profile, tmp_path, monkeypatch):
    simulate(tmp_path, changes=1500, profile=profile, seed=3, expected=False)
    uri = f"file://{tmp_path}/changes-*"
    py = _source_plans("python", uri, monkeypatch, 400)
    native = _source_plans("native", uri, monkeypatch, 400)
    assert len(py) == 4 and native == py


def test_native_engine_renders_the_simulated_profiles_itself(tmp_path, monkeypatch):
    """Not a fallback in disguise: on the simulator's records every table is rendered natively."""
    simulate(tmp_path, changes=600, profile="wide", seed=5, expected=False)
    monkeypatch.setenv(engine.ENV, "native")
    source = FileSource(f"file://{tmp_path}/changes-*", batch_size=10_000)
    (sb,) = list(source.read({}))
    assert all(type(c.raw) is bytes for c in sb.changes)
    by_table: dict[str, list] = {}
    for c in sb.changes:
        by_table.setdefault(c.table, []).append((c, None))
    for table, pairs in by_table.items():
        rows = engine.render_rows([p for p in pairs if p[0].op != "REMOVE"])
        assert rows is not None, table
        assert rows.count == len([p for p in pairs if p[0].op != "REMOVE"])


@SETTINGS
@given(lines=st.lists(st.one_of(line(), st.sampled_from([b"", b"   ", b"\t"])), max_size=12),
       again=st.lists(st.integers(0, 11), max_size=4), newline_at_end=st.booleans(), batch=st.integers(1, 8),
       gz=st.booleans())
def test_generated_files_plan_the_same(lines, again, newline_at_end, batch, gz, tmp_path_factory, monkeypatch):
    """Through the file source (the native engine decodes whole lines in bulk there): blank lines,
    a last line without its newline, several batches, gzip."""
    import gzip as gzip_

    lines = [x.replace(b"\n", b" ") for x in lines + [lines[i] for i in again if i < len(lines)]]
    data = b"\n".join(lines) + (b"\n" if newline_at_end else b"")
    folder = tmp_path_factory.mktemp("gen")
    path = folder / ("changes.jsonl.gz" if gz else "changes.jsonl")
    path.write_bytes(gzip_.compress(data) if gz else data)
    py = _source_plans("python", f"file://{path}", monkeypatch, batch)
    native = _source_plans("native", f"file://{path}", monkeypatch, batch)
    assert native == py


ITEM_LINE = st.one_of(
    st.builds(lambda keys, rest: orjson.dumps({"Item": {**rest, **keys}}),
              GOOD_KEYS, st.dictionaries(NAMES, VALUE, max_size=5)),
    st.builds(lambda item: orjson.dumps({"Item": item}), st.dictionaries(st.sampled_from(["pk", "sk", "x"]), VALUE)),
    st.builds(lambda b: b'{"Item":' + b + b"}", st.binary(max_size=30)),
    st.sampled_from([b'{"Item":{"pk":{"S":"a"}},"Item":{"pk":{"S":"b"}}}', b'{"Item":{"pk":{"S":"a"},"pk":{"S":"b"}}}',
                     b'{"Item":[]}', b'{"Item":{"pk":{"N":"007"}}}', b'{"Item":{"pk":"a"}}']),
)


@SETTINGS
@given(lines=st.lists(ITEM_LINE, max_size=10), key_names=st.sampled_from([["pk"], ["pk", "sk"], ["sk", "pk"]]))
def test_export_items_plan_the_same(lines, key_names, monkeypatch):
    """Full export lines (`{"Item": …}`): keys read natively, items rendered natively, or the
    Python code decides; identical changes, rejects and plans."""
    from dynashift.sources.export import Export, _FullDecoder

    views = []
    for which in ("python", "native"):
        monkeypatch.setenv(engine.ENV, which)
        decode = _FullDecoder(Export("id", "Books", False, 1_700_000_000_000_000, "0001", 0), key_names)
        sb = SourceBatch()
        decoded = []
        for i, raw in enumerate(lines):
            item = decode(raw, f"data.json.gz:{i}")
            if isinstance(item, Change):
                sb.changes.append(item)
                decoded.append(_change(item))
            else:
                sb.rejected.append(item)
                decoded.append((item.reason, item.raw, item.position))
        sb.records_read = len(lines)
        views.append((decoded, _plan_view(build_plan(sb, SchemaState(), NAMING, Modes()))))
    assert views[1] == views[0]


# ---------------------------------------------------------------- full exports through the export source

EXPORT_LINE = st.one_of(
    ITEM_LINE, ITEM_LINE, st.sampled_from([b"", b"  ", b"\t", b"\r"]),
    # valid lines the Python decoder parses whole (a member besides the item; spaces)
    st.builds(lambda keys, rest: orjson.dumps({"Item": {**rest, **keys}, "Extra": 1}),
              GOOD_KEYS, st.dictionaries(NAMES, VALUE, max_size=4)),
    st.builds(lambda keys, rest: json.dumps({"Item": {**keys, **rest}}, indent=1).encode().replace(b"\n", b" "),
              GOOD_KEYS, st.dictionaries(st.sampled_from(["a", "z", "m"]), VALUE, max_size=3)),
)


def _raw_export(folder: Path, at: datetime, files: list[list[bytes]], ends: list[bytes], members: bool,
                export_from: datetime | None = None) -> None:
    """An export with the real layout whose data files hold exactly these raw lines."""
    import gzip as gzip_

    stub = [[{"Item": {"pk": {"S": "stub"}}}] for _ in files]
    root = write_export(folder, table_arn="arn:aws:dynamodb:us-east-1:1:table/Books", export_time=at, files=stub,
                        export_from=export_from)
    for path, lines, end in zip(sorted((root / "data").iterdir(), key=lambda p: p.stat().st_mtime_ns), files, ends):
        data = end.join(lines) + (end if lines and end != b"" else b"")
        if members and len(data) > 4:  # several gzip members in one file, as gzip allows
            path.write_bytes(gzip_.compress(data[: len(data) // 2]) + gzip_.compress(data[len(data) // 2:]))
        else:
            path.write_bytes(gzip_.compress(data))


def _export_plans(which: str, folder: Path, key_names: list[str], batch: int, batch_bytes: int,
                  resume: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list:
    monkeypatch.setenv(engine.ENV, which)
    config = Config(target="duckdb:///unused.duckdb", load_batch_size=batch, batch_bytes=batch_bytes)
    source = ExportSource(f"export://{folder}?keys={','.join(key_names)}", config)
    files = [f.key for e in source.exports() for f in e.files]
    checkpoints = {files[0]: Checkpoint(source.uri, files[0], pos) for pos in resume.values()} if resume else {}
    state = SchemaState()
    out = []
    for sb in source.read(checkpoints):
        plan = build_plan(sb, state, NAMING, Modes(delete="soft", ttl="soft"))
        state.apply(plan.schema_changes)
        out.append((_plan_view(plan), [(files.index(c.shard), c.position, c.size) for c in plan.checkpoints]))
    return out


@SETTINGS
@given(files=st.lists(st.lists(EXPORT_LINE, max_size=8), min_size=1, max_size=3),
       ends=st.lists(st.sampled_from([b"\n", b"\r\n", b""]), min_size=3, max_size=3), members=st.booleans(),
       second=st.sampled_from([None, "full", "incremental"]), batch=st.integers(1, 7),
       batch_bytes=st.sampled_from([1024, 10**9]), resume=st.sampled_from([{}, {"at": "1"}, {"at": "3"}, {"at": "done"}]),
       key_names=st.sampled_from([["pk"], ["pk", "sk"], ["sk", "pk"]]), chunk=st.sampled_from([1, 2, 3, 16_384]))
def test_generated_exports_load_the_same(files, ends, members, second, batch, batch_bytes, resume, key_names, chunk,
                                         tmp_path_factory, monkeypatch):
    """Through the export source (the native engine reads, keys and renders whole batches there):
    bad lines, blank lines, CRLF, a last line without its newline, gzip members, keys met again in a
    later file or a later export, an incremental export after the full one, small batches, a load
    resumed from a checkpoint; batches read and rendered `chunk` lines at a time (a batch the
    chunks cannot give read again from its files)."""
    from dynashift.sources import export_native

    monkeypatch.setattr(export_native, "CHUNK", chunk)
    folder = tmp_path_factory.mktemp("export")
    at = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    _raw_export(folder, at, files, ends, members)
    if second == "full":
        _raw_export(folder, at + timedelta(seconds=5), files[::-1], ends, members)
    elif second == "incremental":
        rows = [orjson.dumps({"Metadata": {"WriteTimestampMicros": {"N": "1714565000000000"}},
                              "Keys": {"pk": {"S": pk}}, "NewImage": {"pk": {"S": pk}, "v": {"N": "1"}}}) for pk in "ab"]
        _raw_export(folder, at + timedelta(hours=1), [rows + [b"not json"]], ends, members, export_from=at)
    py = _export_plans("python", folder, key_names, batch, batch_bytes, resume, monkeypatch)
    native = _export_plans("native", folder, key_names, batch, batch_bytes, resume, monkeypatch)
    assert native == py


def test_native_engine_loads_exports_as_blocks(tmp_path, monkeypatch):
    """Not a fallback in disguise: a plain export's batches are planned from native blocks."""
    from dynashift.planning.blocks import BlockBatch

    items = [{"Item": {"pk": {"S": f"k{i % 7}"}, "sk": {"N": str(i)}, "m": {"M": {"b": {"N": "1"}, "a": {"SS": ["y", "x"]}}},
                       "l": {"L": [{"S": "x"}, {"NULL": True}]}}} for i in range(40)]
    write_export(tmp_path, table_arn="arn:aws:dynamodb:us-east-1:1:table/Books",
                 export_time=datetime(2024, 5, 1, tzinfo=timezone.utc), files=[items[:25], items[:5] + items[25:]])
    monkeypatch.setenv(engine.ENV, "native")
    source = ExportSource(f"export://{tmp_path}?keys=pk,sk", Config(target="duckdb:///x.duckdb", load_batch_size=30))
    batches = list(source.read({}))
    assert [type(sb) for sb in batches] == [BlockBatch, BlockBatch]
    plans = [build_plan(sb, SchemaState(), NAMING, Modes()) for sb in batches]
    assert [p.duplicates for p in plans] == [5, 0] and [p.stages[0].data.num_rows for p in plans] == [25, 15]


def test_an_export_batch_is_read_and_rendered_in_chunks(tmp_path, monkeypatch):
    """A batch's raw lines are never held whole: read and rendered CHUNK records at a time (a chunk
    may span two data files), its stage the same as one render of the whole batch; decoded by
    Python (`changes`), it is read again from its files (and the load's later batches keep their
    lines whole)."""
    from dynashift.planning.blocks import BlockBatch
    from dynashift.sources import export_native

    items = [{"Item": {"pk": {"S": f"k{i % 7}"}, "sk": {"N": str(i)}, f"a{i % 5}": {"M": {"b": {"N": "1"}}},
                       "l": {"L": [{"S": "x"}, {"NULL": True}]}}} for i in range(40)]
    write_export(tmp_path, table_arn="arn:aws:dynamodb:us-east-1:1:table/Books",
                 export_time=datetime(2024, 5, 1, tzinfo=timezone.utc), files=[items[:25], items[25:]])
    monkeypatch.setenv(engine.ENV, "native")
    config = Config(target="duckdb:///x.duckdb", load_batch_size=30)

    def load(chunk: int) -> tuple[list, list[int]]:
        monkeypatch.setattr(export_native, "CHUNK", chunk)
        held: list[int] = []
        render = export_native.NativeLoad._render
        monkeypatch.setattr(export_native.NativeLoad, "_render",
                            lambda self: (self.chunk is not None and held.append(len(self.chunk)), render(self))[1])
        batches = list(ExportSource(f"export://{tmp_path}?keys=pk,sk", config).read({}))
        assert [type(sb) for sb in batches] == [BlockBatch, BlockBatch]
        plans = [build_plan(sb, SchemaState(), NAMING, Modes()) for sb in batches]
        return [_plan_view(p) for p in plans], held

    whole, held = load(10**6)
    assert held == [30, 10]
    monkeypatch.setattr(export_native, "_again", lambda *a: pytest.fail("a chunked batch read again"))
    chunked, held = load(4)
    assert chunked == whole and held == [4] * 7 + [2, 4, 4, 2]
    monkeypatch.undo()
    monkeypatch.setenv(engine.ENV, "native")
    monkeypatch.setattr(export_native, "CHUNK", 4)
    again = export_native._again
    reads: list[int] = []
    monkeypatch.setattr(export_native, "_again", lambda *a: (reads.append(1), again(*a))[1])
    config = Config(target="duckdb:///x.duckdb", load_batch_size=12)
    native = [c for sb in ExportSource(f"export://{tmp_path}?keys=pk,sk", config).read({}) for c in sb.changes]
    assert reads == [1]  # the first batch is read again; the later ones, decoded by Python too, keep their lines
    monkeypatch.setenv(engine.ENV, "python")
    python = [c for sb in ExportSource(f"export://{tmp_path}?keys=pk,sk", config).read({}) for c in sb.changes]
    assert [(c.dist_key, c.new_image) for c in native] == [(c.dist_key, c.new_image) for c in python] and len(native) == 40


def _export_lines(raw: list[bytes], key_names: list[str], version: int = 1_700_000_000_000_000):
    """A batch of export lines held natively (as ExportReader hands them over), one file's tag.
    The native module itself, whichever engine DYNASHIFT_ENGINE makes the product run (CI's second
    pass forces the Python one: engine.native_engine() is then None)."""
    import io

    import dynashift_native as native
    lines = native.ExportLines()
    reader = native.ExportReader(io.BytesIO(b"\n".join(raw)), False, 0)
    try:
        reader.take(lines, lines.tag(key_names, version), 0, 0, 0, 10**6, 10**12)
    finally:
        reader.close()
    return lines


def _rendered_view(out: tuple | None):
    """render's answer with its buffers as bytes."""
    if out is None:
        return None
    count, offsets, data, versions, parts, *counts = out
    b = lambda x: None if x is None else bytes(memoryview(x))  # noqa: E731
    shares = [(rows, [(name, tags, b(o), b(d), b(v), nulls) for name, tags, o, d, v, nulls in cols])
              for rows, cols in parts]
    return count, b(offsets), b(data), b(versions), shares, counts


# items with keys not met before; the sort key sometimes missing or not a key's type (that line is
# then the Python decoder's)
PLAIN_VALUE = st.sampled_from([{"S": "v"}, {"N": "2"}, {"BOOL": True}, {"NULL": True}, {"L": [{"S": "x"}]},
                               {"M": {"b": {"N": "1"}, "a": {"SS": ["y", "x"]}}}])
UNIQUE_ITEMS = st.lists(st.tuples(st.dictionaries(NAMES, PLAIN_VALUE, max_size=4),
                                  st.sampled_from([{"N": "1"}, {"S": "x"}, {"B": "AA=="}, None, {"BOOL": True}])),
                        max_size=12).map(lambda xs: [orjson.dumps({"Item": {**rest, "pk": {"S": f"k{i}"},
                                                                            **({"sk": sk} if sk else {})}})
                                                     for i, (rest, sk) in enumerate(xs)])


@SETTINGS
@given(lines=st.one_of(UNIQUE_ITEMS, UNIQUE_ITEMS, st.lists(ITEM_LINE, max_size=10), st.lists(EXPORT_LINE, max_size=10)),
       key_names=st.sampled_from([["pk"], ["pk", "sk"], ["sk", "pk"]]), threads=st.integers(1, 3))
def test_export_scan_render_in_one_parse_equals_scan_then_render(lines, key_names, threads):
    """ExportLines.scan_render (keys and columns from one parse per line) answers exactly what
    scan, then render, answer for a batch with no line for the Python decoder; otherwise it
    declines (None) and those steps run."""
    one = _export_lines(lines, key_names).scan_render(threads)
    two = _export_lines(lines, key_names)
    pending = two.scan(threads)
    if one is None:
        return
    assert pending == []
    assert _rendered_view(one) == _rendered_view(two.render(threads))


def test_export_scan_render_takes_the_usual_batch_and_declines_a_repeated_key():
    """The one-parse path is taken for plain items with new keys (not a fallback in disguise), and
    declines a batch where a key comes again (render then picks the winner) or a line lacks a key."""
    items = [orjson.dumps({"Item": {"pk": {"S": f"k{i}"}, "sk": {"N": str(i)}, "v": {"M": {"b": {"N": "1"}}}}})
             for i in range(20)]
    out = _export_lines(items, ["pk", "sk"]).scan_render(2)
    assert out is not None and out[0] == 20
    assert _rendered_view(out) == _rendered_view(_scan_render_reference(items, ["pk", "sk"]))
    assert _export_lines(items + items[:1], ["pk", "sk"]).scan_render(2) is None
    # a line without its sort key, after one with it, is the Python decoder's
    assert _export_lines(items[:2] + [b'{"Item":{"pk":{"S":"k"}}}'], ["pk", "sk"]).scan_render(1) is None


def _scan_render_reference(raw: list[bytes], key_names: list[str]):
    lines = _export_lines(raw, key_names)
    assert lines.scan(2) == []
    return lines.render(2)


# ---------------------------------------------------------------- items that arrive as Python objects (boto3)

BOTO_VALUE = st.one_of(VALUE, VALUE, st.builds(lambda b: {"B": b}, st.binary(max_size=4)),
                       st.builds(lambda xs: {"BS": xs}, st.lists(st.binary(max_size=3), max_size=3)))


@SETTINGS
@given(images=st.lists(st.dictionaries(NAMES, BOTO_VALUE, max_size=5), min_size=1, max_size=8),
       ops=st.lists(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]), min_size=8, max_size=8),
       pks=st.lists(st.sampled_from(["a", "b", "c"]), min_size=8, max_size=8), modes=MODES)
def test_items_from_python_objects_plan_the_same(images, ops, pks, modes, monkeypatch):
    """Scan pages and DynamoDB Streams records arrive as dicts (boto3, binary as bytes): the native
    engine renders them from one orjson dump each (sources/native_items.py); the same plans and
    rejects, raw records included."""
    from dynashift.decode import decode_change
    from dynashift.sources.native_items import lazy_images

    views = []
    for which in ("python", "native"):
        monkeypatch.setenv(engine.ENV, which)
        lazy = lazy_images()
        changes = []
        for i, image in enumerate(images):
            ddb = {"Keys": {"pk": {"S": pks[i]}}, "NewImage": image, "ApproximateCreationDateTime": 1_700_000_000 + i % 2}
            if ops[i] == "REMOVE":
                ddb["OldImage"] = ddb.pop("NewImage")
            changes.append(lazy(decode_change({"eventName": ops[i], "dynamodb": ddb}, f"{i:05d}", default_table="T")))
        try:
            views.append(_plan_view(build_plan(SourceBatch(changes=changes), SchemaState(), NAMING, modes)))
        except BadRecordError as exc:
            views.append(("raised", exc.reason))
    assert views[1] == views[0]


def test_items_from_python_objects_render_natively(monkeypatch):
    """Not a fallback in disguise: a plain item, one holding binary (boto3's bytes, base64 as
    DynamoDB JSON carries it) and a hard delete are rendered natively, as the Python engine
    renders them (every Scan item and DynamoDB Streams record of a table with a binary attribute,
    and every batch with a delete, took the Python renderer whole before)."""
    from dynashift.decode import decode_change
    from dynashift.sources.native_items import lazy_images

    monkeypatch.setenv(engine.ENV, "native")
    lazy = lazy_images()
    plain = lazy(decode_change({"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": "a"}}, "NewImage": {
        "pk": {"S": "a"}, "m": {"M": {"z": {"N": "1"}, "a": {"SS": ["y", "x"]}}}}}}, "1", default_table="T"))
    binary = lazy(decode_change({"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": "b"}}, "NewImage": {
        "pk": {"S": "b"}, "b": {"B": b"\x00\xff"}, "bs": {"BS": [b"\x02", b"\x01"]},
        "m": {"M": {"x": {"B": b"\x01"}}}}}}, "2", default_table="T"))
    gone = lazy(decode_change({"eventName": "REMOVE", "dynamodb": {"Keys": {"pk": {"B": b"\x07"}}, "OldImage": {
        "pk": {"B": b"\x07"}, "v": {"S": "x"}}}}, "3", default_table="T"))
    assert plain.new_image is LAZY and plain.names == ["pk", "m"] and binary.new_image is LAZY
    assert gone.raw is not None and gone.old_image == {"pk": {"B": b"\x07"}, "v": {"S": "x"}}
    rows = engine.render_rows([(plain, None)])
    assert rows is not None and rows.columns["m"].to_pylist() == ['{"a":["x","y"],"z":1}']
    rows = engine.render_rows([(binary, None), (gone, None)])
    assert rows is not None
    assert {k: v.to_pylist() for k, v in rows.columns.items()} == {
        "pk": ["b", "Bw=="], "b": ["AP8=", None], "bs": ['["AQ==","Ag=="]', None], "m": ['{"x":"AQ=="}', None]}


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_export_file_fails_alike(damage, tmp_path, monkeypatch):
    """A truncated or corrupt gzip data file: each engine stops with the same one-line error
    naming the file (the reason in brackets is zlib's own words)."""
    from dynashift.errors import SourceError

    items = [{"Item": {"pk": {"S": f"k{i}"}, "v": {"S": "x" * 200}}} for i in range(3000)]
    root = write_export(tmp_path, table_arn="arn:aws:dynamodb:us-east-1:1:table/Books",
                        export_time=datetime(2024, 5, 1, tzinfo=timezone.utc), files=[items])
    (path,) = (root / "data").iterdir()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else data[:40] + b"\xff" * 64 + data[104:])
    errors = []
    for which in ("python", "native"):
        monkeypatch.setenv(engine.ENV, which)
        source = ExportSource(f"export://{tmp_path}?keys=pk", Config(target="duckdb:///x.duckdb", load_batch_size=100_000))
        with pytest.raises(SourceError) as exc:
            list(source.read({}))
        errors.append(str(exc.value).split(" (")[0])
    assert errors[0] == errors[1] and errors[0].endswith(f"/data/{path.name} is damaged")
