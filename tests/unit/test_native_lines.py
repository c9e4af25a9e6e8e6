"""The native line reader's fast paths agree with the Python engine (the reference).

`LineFile.take` with DYNASHIFT_DECODE_THREADS=2 decodes the lines already in its buffer together,
on two threads (each claims 32 lines at a time), then folds them into the batch in file order;
the JSON reader skips DynamoDB's typed values (`{"S":"..."}`, `{"NULL":true}`, `{"M":...}`) by
their bytes. So: files long enough for several groups and for both threads (groups under 128
lines are decoded on one), on one thread and on two, with lines the Python code must decide
anywhere among them and batches cut anywhere; and images whose typed values are damaged just
where the fast path looks (escaped quotes and brackets in strings, a value cut short, a missing
brace, control characters, almost-literals).
"""

from __future__ import annotations

import json

import dynashift_native  # noqa: F401  (these tests exercise the native module itself)
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynashift.planning import Modes, build_plan, engine
from dynashift.planning.blocks import BlockBatch
from dynashift.schema import SchemaState
from dynashift.simulate import simulate
from dynashift.sources.files import FileSource

from test_engine_equivalence import NAMING, SETTINGS, _plan_view, _source_plans, assert_same  # noqa: E402

BAD_LINES = [b"not json", b'{"eventName":"INSERT"}', b"{}", b'{"Records":[]}', b'{"dynamodb":{"Keys":{"pk":{"S":"a"}}',
             b'{"eventName":"MODIFY","tableName":"T","dynamodb":{"Keys":{"pk":{"S":"a"}},"NewImage":{"a":{"S":"\\x"}}}}']


@settings(max_examples=12, deadline=None, suppress_health_check=SETTINGS.suppress_health_check)
@given(bad=st.lists(st.tuples(st.integers(0, 1499), st.sampled_from(BAD_LINES)), max_size=6),
       batch=st.sampled_from([1, 31, 32, 33, 97, 400, 1499, 5000]), end_newline=st.booleans(),
       threads=st.sampled_from(["2", "1"]))
def test_long_files_with_lines_for_python_anywhere_plan_the_same(bad, batch, end_newline, threads, tmp_path_factory,
                                                                 monkeypatch):
    monkeypatch.setenv("DYNASHIFT_DECODE_THREADS", threads)  # read by each LineFile.take
    folder = tmp_path_factory.mktemp("long")
    simulate(folder, changes=1500, profile="wide", seed=7, expected=False)
    (path,) = sorted(folder.glob("changes-*"))
    lines = path.read_bytes().splitlines()
    for at, junk in sorted(bad, reverse=True):
        lines.insert(min(at, len(lines)), junk)
    path.write_bytes(b"\n".join(lines) + (b"\n" if end_newline else b""))
    py = _source_plans("python", f"file://{path}", monkeypatch, batch)
    native = _source_plans("native", f"file://{path}", monkeypatch, batch)
    assert native == py


TYPED = [  # (a value as it stands in an image, written out by hand: bytes the fast path reads)
    b'{"S":"plain"}', b'{"S":"quo\\"te}"}', b'{"S":"br}ace]\\\\"}', b'{"S":"\\u00e9\\ud83d\\ude00"}', b'{"S":""}',
    b'{"N":"12.50"}', b'{"B":"AAEC"}', b'{"NULL":true}', b'{"BOOL":true}', b'{"BOOL":false}',
    b'{"M":{"a":{"S":"x"},"b":{"NULL":true}}}', b'{"L":[{"S":"x"},{"N":"1"}]}', b'{"SS":["a","b"]}',
    b'{"NS":["1","2"]}', b'{"BS":["AA=="]}', b'{"M":{}}', b'{"L":[]}',
    # damaged: each must be decided as the Python engine decides it
    b'{"S":"x"', b'{"S":"x"]', b'{"S":"x"}}', b'{"S":"x" }', b'{"S":"x","N":"1"}', b'{"S":"a\x01b"}',
    b'{"S":"a\\qb"}', b'{"S":"\\ud800"}', b'{"S":x}', b'{"S":', b'{"S"', b'{"NULL":truex}', b'{"NULL":tru}',
    b'{"NULL":true ', b'{"BOOL":fals}', b'{"BOOL":false]', b'{"M":[]}', b'{"L":{}}', b'{"SS":{}}', b'{"M":{"a"}}',
    b'{"M":{"a":}}', b'{"L":[,]}', b'{"S":"x"}x', b'{"S":"x"}{"S":"y"}', b'{"N":1}', b'{"N":-0.5e3}', b'{"N":1e}',
    b'{"N":12345678901234567890}', b'{"M":{"a":{"S":"x"},"a":{"S":"y"}}}',
]


def _record(op: str, pk: str, values: list[bytes], ts: int) -> bytes:
    image = b"{" + b",".join(b'"a%d":' % i + v for i, v in enumerate(values)) + b"}"
    which = b"OldImage" if op == "REMOVE" else b"NewImage"
    old = b',"OldImage":' + image if op == "MODIFY" else b""
    return (b'{"eventID":"e%d","eventName":"%s","tableName":"T","dynamodb":{"ApproximateCreationDateTime":%d,'
            b'"Keys":{"pk":{"S":"%s"}},"%s":%s%s}}' % (ts, op.encode(), ts, pk.encode(), which, image, old))


@SETTINGS
@given(records=st.lists(st.tuples(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]), st.sampled_from(["a", "b", "c"]),
                                  st.lists(st.sampled_from(TYPED), min_size=1, max_size=5)), min_size=1, max_size=8))
def test_typed_values_damaged_where_the_fast_path_looks_decode_the_same(records, monkeypatch):
    lines = [_record(op, pk, values, 1_700_000_000_000 + i) for i, (op, pk, values) in enumerate(records)]
    assert_same([lines], monkeypatch)


@SETTINGS
@given(records=st.lists(st.tuples(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]), st.sampled_from(["a", "b", "c"]),
                                  st.lists(st.sampled_from(TYPED), min_size=1, max_size=5)), min_size=1, max_size=8),
       batch=st.integers(1, 5))
def test_typed_values_damaged_where_the_fast_path_looks_read_the_same(records, batch, tmp_path_factory, monkeypatch):
    lines = [_record(op, pk, values, 1_700_000_000_000 + i) for i, (op, pk, values) in enumerate(records)]
    path = tmp_path_factory.mktemp("typed") / "changes.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert _source_plans("native", f"file://{path}", monkeypatch, batch) == \
        _source_plans("python", f"file://{path}", monkeypatch, batch)


@pytest.mark.parametrize("value", TYPED)
def test_each_typed_value_last_in_its_record_decodes_the_same(value, monkeypatch):
    """The value last in the record, so that the fast path's 8-byte look-ahead meets its end."""
    line = (b'{"eventName":"INSERT","tableName":"T","dynamodb":{"Keys":{"pk":{"S":"a"}},"NewImage":{"v":' + value
            + b"}}}")
    assert_same([[line, line[:-1]]], monkeypatch)


@SETTINGS
@given(changes=st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 3), st.integers(0, 300),
                                  st.sampled_from(["e1", "e2", ""])), min_size=1, max_size=14),
       batch=st.integers(1, 6))
def test_winners_replaced_by_longer_and_shorter_changes_read_the_same(changes, batch, tmp_path_factory, monkeypatch):
    """A key's winner is written over in place when the newer change's bytes fit, else moved to
    the batch's arena end; the next batch writes into the spent one's memory: same plans either
    way, with equal versions (duplicates by event id, stale changes) among them."""
    lines = []
    for pk, version, size, event in changes:
        image = b'{"pk":{"S":"%s"},"v":{"S":"%s"}}' % (pk.encode(), b"x" * size)
        lines.append(b'{"eventID":"%s","eventName":"MODIFY","tableName":"T","dynamodb":{"ApproximateCreationDateTime":'
                     b'%d,"Keys":{"pk":{"S":"%s"}},"NewImage":%s}}' % (event.encode(), 1_700_000_000_000 + version,
                                                                       pk.encode(), image))
    path = tmp_path_factory.mktemp("arena") / "changes.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert _source_plans("native", f"file://{path}", monkeypatch, batch) == \
        _source_plans("python", f"file://{path}", monkeypatch, batch)


@pytest.mark.parametrize("batch", [7, 200, 5000])
def test_batches_spanning_files_read_their_winners_back_from_each(batch, tmp_path, monkeypatch):
    """A native winner's image is read back from its file when the batch is rendered: a batch
    holding lines of two files reads each winner from its own."""
    simulate(tmp_path, changes=600, profile="bench", seed=5, expected=False)
    (path,) = sorted(tmp_path.glob("changes-*"))
    lines = path.read_bytes().splitlines(keepends=True)
    path.unlink()
    (tmp_path / "changes-0001.jsonl").write_bytes(b"".join(lines[:250]))
    (tmp_path / "changes-0002.jsonl").write_bytes(b"".join(lines[250:]))
    uri = f"file://{tmp_path}/changes-*"
    assert _source_plans("native", uri, monkeypatch, batch) == _source_plans("python", uri, monkeypatch, batch)
    monkeypatch.setenv("DYNASHIFT_ENGINE", "native")
    read = list(FileSource(uri, batch_size=batch).read({}))
    assert read and all(isinstance(b, BlockBatch) for b in read)  # rendered natively, not handed to Python


def test_a_batch_whose_file_changed_before_rendering_goes_to_the_python_path(tmp_path):
    """Winners' images are read back from the file at render: a file cut short meanwhile cannot
    give them, and the batch takes the Python path (render answers None) rather than wrong bytes."""
    simulate(tmp_path, changes=50, profile="bench", seed=5, expected=False)
    (path,) = sorted(tmp_path.glob("changes-*"))
    reader, batch = dynashift_native.LineFile(str(path), 0), dynashift_native.LineBatch(False, None)
    decoder = dynashift_native.Decoder(None, None, None)
    kind, records, *_ = reader.take(batch, decoder, 0, 0, 0, 0, 0, 10_000, 1 << 40, "f\x1f")
    assert (kind, records) == (0, 50)
    assert batch.render(("upsert", "delete"), 1, 4096) is not None
    path.write_bytes(path.read_bytes()[:1000])
    assert batch.render(("upsert", "delete"), 1, 4096) is None


def test_a_batch_spanning_more_files_than_it_keeps_open_reads_the_same(tmp_path, monkeypatch):
    """A batch holds at most 64 files open to read its winners back; the winners of files beyond
    those keep copies of their images: same plans, still rendered natively."""
    simulate(tmp_path, changes=400, profile="bench", seed=9, expected=False)
    (path,) = sorted(tmp_path.glob("changes-*"))
    lines = path.read_bytes().splitlines(keepends=True)
    path.unlink()
    for i in range(0, len(lines), 5):  # 80 files
        (tmp_path / f"changes-{i:05d}.jsonl").write_bytes(b"".join(lines[i:i + 5]))
    uri = f"file://{tmp_path}/changes-*"
    assert _source_plans("native", uri, monkeypatch, 1000) == _source_plans("python", uri, monkeypatch, 1000)
    monkeypatch.setenv("DYNASHIFT_ENGINE", "native")
    read = list(FileSource(uri, batch_size=1000).read({}))
    assert len(read) == 1 and isinstance(read[0], BlockBatch)


def _with_names_twice(line: bytes, kind: str) -> bytes:
    """`line` with an attribute name twice in its NewImage: one its table knows (its image's first
    name again), or one new to it (twice)."""
    image = json.loads(line)["dynamodb"].get("NewImage")
    if not image:
        return line
    name = next(iter(image)) if kind == "known" else "zz_twice"
    extra = b'"%s":{"S":"again"},' % name.encode()
    if kind == "new":
        extra = b'"%s":{"S":"one"},' % name.encode() + extra
    return line.replace(b'"NewImage":{', b'"NewImage":{' + extra, 1)


@settings(max_examples=10, deadline=None, suppress_health_check=SETTINGS.suppress_health_check)
@given(twice=st.lists(st.tuples(st.integers(0, 299), st.sampled_from(["known", "new"])), min_size=1, max_size=5),
       batch=st.sampled_from([1, 7, 64, 5000]), threads=st.sampled_from(["1", "2"]))
def test_images_with_a_name_twice_plan_the_same(twice, batch, threads, tmp_path_factory, monkeypatch):
    """A NewImage holding a name twice is left to the Python code: its table's known name twice
    (found as the names are looked up), or a name new to the table twice, anywhere in a file
    whose other records carry the names already met or new ones."""
    monkeypatch.setenv("DYNASHIFT_DECODE_THREADS", threads)
    folder = tmp_path_factory.mktemp("twice")
    simulate(folder, changes=300, profile="wide", seed=11, expected=False)
    (path,) = sorted(folder.glob("changes-*"))
    lines = path.read_bytes().splitlines()
    for at, kind in twice:
        lines[at] = _with_names_twice(lines[at], kind)
    path.write_bytes(b"\n".join(lines) + b"\n")
    for modes in (Modes(delete="hard", ttl="hard"), Modes(delete="soft", ttl="soft")):  # rendered in Rust, or not
        assert _plans("native", path, monkeypatch, batch, modes) == _plans("python", path, monkeypatch, batch, modes)


def _plans(which: str, path, monkeypatch, batch: int, modes: Modes) -> list:
    """_source_plans with `modes` (hard deletes: the batches' blocks rendered in Rust are planned)."""
    monkeypatch.setenv(engine.ENV, which)
    state, out = SchemaState(), []
    for sb in FileSource(f"file://{path}", batch_size=batch).read({}):
        plan = build_plan(sb, state, NAMING, modes)
        state.apply(plan.schema_changes)
        out.append(_plan_view(plan))
    return out
