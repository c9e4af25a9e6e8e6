"""The native writer of PostgreSQL's binary COPY rows (native/src/copy_binary.rs): its bytes equal
a plain Python encoder's on any table (sliced, chunked, with nulls), and hostile Arrow buffers
(offsets past the data, short bitmaps, sliced arrays claiming more rows) are refused with an
error, never read out of bounds. PostgreSQL itself reads the bytes in integration/test_pg_copy.py."""

from __future__ import annotations

import struct
from datetime import datetime, timezone

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynashift.targets import pg_copy

native = pytest.importorskip("dynashift_native")
if getattr(native, "API", 0) < 6:
    pytest.skip("the installed native engine predates copy_rows", allow_module_level=True)

PG_EPOCH_US = 946_684_800_000_000


def reference_rows(table: pa.Table) -> bytes:
    """The binary COPY rows of `table`, encoded one value at a time (the format as documented)."""
    out = bytearray()
    columns = [c.to_pylist() for c in table.columns]
    for row in zip(*columns):
        out += struct.pack(">h", len(row))
        for field, value in zip(table.schema, row):
            out += _field(field.type, value)
    return bytes(out)


def _field(t: pa.DataType, value: object) -> bytes:
    if value is None:
        return struct.pack(">i", -1)
    if pa.types.is_boolean(t):
        return struct.pack(">i?", 1, value)
    if pa.types.is_timestamp(t):
        micros = (value - datetime(2000, 1, 1, tzinfo=timezone.utc)) // _US
        return struct.pack(">iq", 8, micros)
    if pa.types.is_integer(t):
        return struct.pack(">iq", 8, value)
    data = value.encode()
    return struct.pack(">i", len(data)) + data


_US = datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc) - datetime(2000, 1, 1, tzinfo=timezone.utc)


def native_rows(table: pa.Table) -> bytes:
    out = bytearray()
    for batch in table.to_batches():
        out += bytes(native.copy_rows(batch.num_rows, [pg_copy._column(a) for a in batch.columns]))
    return bytes(out)


texts = st.one_of(st.none(), st.text(), st.sampled_from(['', '"', ',', '\n', '\r\n', '\\', '\\N', 'NULL', 'a"b,c\nd', 'é€😀']))
ints = st.one_of(st.none(), st.integers(-2 ** 63, 2 ** 63 - 1))
# year 1 to 9999, both sides of 1970 and 2000
micros = st.one_of(st.none(), st.integers(-62_135_596_800_000_000, 253_402_300_799_999_999), st.sampled_from([0, PG_EPOCH_US, -1]))


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(0, 40))
    rows = st.lists(st.tuples(texts, texts, ints, ints, micros, st.one_of(st.none(), st.booleans())), min_size=n, max_size=n)
    values = list(zip(*draw(rows))) or [[]] * 6
    table = pa.table({
        "s": pa.array(values[0], pa.string()),
        "ls": pa.array(values[1], pa.large_string()),
        "i": pa.array(values[2], pa.int64()),
        "i32": pa.array([None if v is None else v % 2 ** 31 - 2 ** 30 for v in values[3]], pa.int32()),
        "t": pa.array(values[4], pa.timestamp("us", tz="UTC")),
        "b": pa.array(values[5], pa.bool_()),
        "nothing": pa.nulls(n),
    })
    cut = draw(st.integers(0, n))  # two chunks, each a slice of a bigger array
    start = draw(st.integers(0, cut))
    return pa.concat_tables([table.slice(0, cut), table.slice(cut)]).slice(start)


@settings(max_examples=300, deadline=None)
@given(tables())
def test_the_native_rows_equal_the_reference_encoders(table: pa.Table) -> None:
    assert native_rows(table) == reference_rows(table)


def test_a_timestamp_that_would_read_as_infinity_is_written_out_of_range() -> None:
    table = pa.table({"t": pa.array([-2 ** 63 + PG_EPOCH_US, 2 ** 63 - 1], pa.timestamp("us"))})
    out = native_rows(table)
    first = struct.unpack(">hiq", out[:14])[2]
    assert first == -2 ** 63 + 1  # -infinity would be -2**63: finite, so the server refuses it
    assert struct.unpack(">hiq", out[14:])[2] == 2 ** 63 - 1 - PG_EPOCH_US


def _strings(offsets: list[int], data: bytes, offset: int = 0, validity: bytes | None = None) -> list:
    return [(1, offset, validity, struct.pack(f"<{len(offsets)}i", *offsets), data)]


@pytest.mark.parametrize("rows, columns", [
    (1, _strings([0, 5], b"abc")),  # past the data
    (1, _strings([3, 1], b"abc")),  # backwards
    (1, _strings([-4, 1], b"abc")),  # negative
    (2, _strings([0, 1], b"abc")),  # more rows than offsets
    (1, _strings([0, 1], b"abc", offset=1)),  # sliced past its offsets
    (9, _strings([0] * 10, b"", validity=b"\xff")),  # a bitmap shorter than the rows
    (1, _strings([0, 1], b"a", offset=2 ** 64 - 1)),  # an offset that overflows
    (1, [(3, 0, None, b"\x00" * 7, None)]),  # an int64 short of 8 bytes
    (9, [(5, 0, None, b"\x00", None)]),  # a boolean bitmap short of a row
    (1, [(2, 0, None, struct.pack("<2q", 0, 2 ** 62), b"a")]),  # large_string past the data
    (1, [(9, 0, None, b"", None)]),  # an unknown kind
])
def test_hostile_buffers_are_refused(rows: int, columns: list) -> None:
    with pytest.raises(ValueError):
        native.copy_rows(rows, columns)


def test_a_non_buffer_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        native.copy_rows(1, [(3, 0, None, 12345, None)])


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 5), st.integers(0, 20), st.integers(0, 40), st.binary(max_size=40), st.binary(max_size=40),
       st.one_of(st.none(), st.binary(max_size=3)))
def test_random_buffers_never_crash(kind: int, offset: int, rows: int, values: bytes, data: bytes, validity: bytes | None) -> None:
    try:
        out = native.copy_rows(rows, [(kind, offset, validity, values, data)])
    except ValueError:
        return
    assert len(out) >= 6 * rows  # a field count and a length (at least) per row


@pytest.mark.parametrize("rows, columns", [(2 ** 62, [(0, 0, None, None, None)]), (2 ** 61, [])])
def test_rows_beyond_memory_are_an_error_not_an_abort(rows: int, columns: list) -> None:
    with pytest.raises(ValueError, match="do not fit"):
        native.copy_rows(rows, columns)


def test_a_table_of_nulls_is_written_in_bounded_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_copy, "CHUNK_BYTES", 4096)
    chunks = list(pg_copy._binary_chunks(native, pa.table({"a": pa.nulls(100_000), "b": pa.nulls(100_000)})))
    body = [bytes(c) for c in chunks[1:-1]]
    assert max(map(len, body)) <= 4096 and sum(map(len, body)) == 100_000 * 10
