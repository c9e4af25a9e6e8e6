"""COPY of an Arrow table into a PostgreSQL relation: in binary format, written by the native
engine, when it runs and knows every column's type; else in CSV, written by Arrow.

Binary spares both sides the text: the client writes no CSV and the server splits none (on a
wide batch the CSV split was a fifth of the server's COPY). Either format stores the same values:
tests/integration/test_pg_copy.py checks that the two give identical tables.
ref: https://www.postgresql.org/docs/current/sql-copy.html (Binary Format, CSV Format)
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv

from ..engine_choice import native_engine
from .quoting import quote

# ref: the binary format's 11-byte signature, then 32-bit flags (no OIDs) and a 32-bit header
# extension length (none); the trailer is a field count of -1.
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILER = b"\xff\xff"
CHUNK_BYTES = 8 << 20  # the Arrow bytes written per chunk: what the COPY holds in memory at once
CSV_ROWS = 16384

# Arrow type -> the layout native copy_rows writes (its Kind): text, int8, timestamptz, bool.
_NULL, _UTF8, _LARGE_UTF8, _INT64, _MICROS, _BOOL = range(6)


def copy_table(con: Any, relation: str, data: pa.Table, where: str = "") -> None:
    """COPY `data`'s rows into `relation` (quoted; its columns named as `data`'s) on the psycopg
    connection `con`, inside the caller's transaction and error mapping. In binary format each
    value must match its column's type exactly as PostgresTarget.column_type maps the Arrow type
    (text, bigint, timestamptz, boolean): the server reads binary values, it does not convert them.
    `where` (" WHERE ...", PostgreSQL 12+) leaves out the rows it does not hold for."""
    form = copy_format(data.schema)
    columns = ", ".join(quote(n) for n in data.column_names)
    with con.cursor().copy(f"COPY {relation} ({columns}) FROM STDIN (FORMAT {form}){where}") as copy:
        for chunk in _binary_chunks(native_engine(), data) if form == "binary" else _csv_chunks(data):
            copy.write(chunk)


def copy_format(schema: pa.Schema) -> str:
    """"binary" when the native engine runs and writes every column's type, else "csv"."""
    known = all(_kind(f.type) is not None for f in schema)
    return "binary" if known and native_engine() is not None else "csv"


def _binary_chunks(native: Any, data: pa.Table) -> Iterator[Any]:
    yield SIGNATURE
    # a row's bytes in the COPY: its Arrow bytes, a length per field and a field count (a column of
    # nulls has no Arrow bytes and still takes 4 bytes a row)
    row_bytes = data.nbytes // max(1, data.num_rows) + 4 * data.num_columns + 2
    rows = max(1, CHUNK_BYTES // row_bytes)
    for batch in data.to_batches(max_chunksize=rows):
        yield memoryview(native.copy_rows(batch.num_rows, [_column(a) for a in batch.columns]))
    yield TRAILER


def _csv_chunks(data: pa.Table) -> Iterator[bytes]:
    """Strings are always quoted and NULL is an empty field, which is exactly how PostgreSQL's
    CSV format tells '' from NULL."""
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    for batch in data.to_batches(max_chunksize=CSV_ROWS):
        sink = pa.BufferOutputStream()
        pacsv.write_csv(pa.Table.from_batches([batch]), sink, options)
        yield sink.getvalue().to_pybytes()


def _kind(t: pa.DataType) -> int | None:
    """The binary layout of an Arrow type, or None when binary COPY is not written for it."""
    if pa.types.is_string(t):
        return _UTF8
    if pa.types.is_large_string(t):
        return _LARGE_UTF8
    if pa.types.is_integer(t) and t != pa.uint64():  # narrower ones are widened to int64 first
        return _INT64
    if pa.types.is_timestamp(t) and t.unit == "us":
        return _MICROS
    if pa.types.is_boolean(t):
        return _BOOL
    if pa.types.is_null(t):
        return _NULL
    return None


def _column(array: pa.Array) -> tuple[int, int, Any, Any, Any]:
    """(kind, offset, validity, values, data): an array's Arrow buffers, as copy_rows reads them."""
    kind = _kind(array.type)
    if kind == _INT64 and array.type != pa.int64():
        array = array.cast(pa.int64())
    buffers = array.buffers() + [None, None]
    return kind, array.offset, buffers[0], buffers[1], buffers[2]


def may_contain(values: pa.ChunkedArray, pattern: bytes) -> bool:
    """False only when no value of `values` holds `pattern` (bytes), from one scan of each string
    chunk's data buffer (no copy): several times cheaper than matching value by value, which a
    True (the pattern somewhere in the buffer, maybe outside a sliced chunk's rows) leaves to do.
    Screening asks it of every staged column for what neither COPY format can carry (NUL)."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return True
    search = re.compile(re.escape(pattern)).search
    for chunk in values.chunks:
        data = chunk.buffers()[2]
        if data is not None and search(memoryview(data)):
            return True
    return False

