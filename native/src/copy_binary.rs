//! Arrow columns -> the rows of PostgreSQL's binary COPY format, without the GIL: what the
//! client sends instead of CSV, so that neither side writes or splits text (the server's CSV
//! split and the client's CSV writer were a fifth of a wide COPY's cost).
//! ref: https://www.postgresql.org/docs/current/sql-copy.html (Binary Format)
//!
//! Each row: an int16 field count, then per field an int32 length (-1 for NULL) and the value in
//! the type's binary representation, all big-endian. The header and trailer are written by the
//! caller (targets/pg_copy.py), once per COPY, around any number of chunks written here.
//! The Arrow buffers come from Python's buffer protocol, unchecked by anyone: every offset and
//! length is checked against its buffer before it is read, so hostile input is an error, never
//! a read out of bounds.

use crate::Buf;
use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::mem::MaybeUninit;

/// 2000-01-01 (PostgreSQL's epoch) in microseconds since 1970-01-01 (Arrow's).
const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// What is written for a timestamp that would otherwise read as PostgreSQL's infinity: finite and
/// out of range, so the server refuses it as it refuses any other out-of-range timestamp.
const OUT_OF_RANGE: i64 = i64::MIN + 1;

/// The Arrow layouts written, as pg_copy.py numbers them.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Null,      // every value NULL (Arrow's null type)
    Utf8,      // string: int32 offsets + data -> text
    LargeUtf8, // large_string: int64 offsets + data -> text
    Int64,     // int64 -> int8
    Micros,    // timestamp[us] (any zone: the values are UTC) -> timestamptz
    Bool,      // boolean (bit-packed) -> bool
}

impl Kind {
    fn from_code(code: u8) -> Result<Kind, String> {
        Ok(match code {
            0 => Kind::Null,
            1 => Kind::Utf8,
            2 => Kind::LargeUtf8,
            3 => Kind::Int64,
            4 => Kind::Micros,
            5 => Kind::Bool,
            _ => return Err(format!("unknown column kind {code}")),
        })
    }
}

/// One column, checked: every slot `offset..offset + rows` lies within its buffers.
struct Column<'a> {
    kind: Kind,
    offset: usize,
    validity: Option<&'a [u8]>,
    values: &'a [u8],
    data: &'a [u8],
}

fn bit(bits: &[u8], i: usize) -> bool {
    bits[i >> 3] & (1 << (i & 7)) != 0
}

impl<'a> Column<'a> {
    fn valid(&self, row: usize) -> bool {
        self.validity.map_or(true, |v| bit(v, self.offset + row))
    }

    /// The byte range of a string slot (only called for a valid slot of a checked column).
    fn span(&self, row: usize) -> (usize, usize) {
        let i = self.offset + row;
        if self.kind == Kind::Utf8 {
            (read_i32(self.values, i) as usize, read_i32(self.values, i + 1) as usize)
        } else {
            (read_i64(self.values, i) as usize, read_i64(self.values, i + 1) as usize)
        }
    }

    /// Checks the buffers against `rows` and returns the bytes its fields take in the output.
    fn check(&self, rows: usize) -> Result<usize, String> {
        let end = self.offset.checked_add(rows).ok_or("offset overflows")?;
        if let Some(v) = self.validity {
            if v.len() < end.div_ceil(8) {
                return Err("validity bitmap shorter than the column".into());
            }
        }
        let need = |width: usize, slots: usize| -> Result<(), String> {
            match width.checked_mul(slots) {
                Some(n) if n <= self.values.len() => Ok(()),
                _ => Err("values buffer shorter than the column".into()),
            }
        };
        match self.kind {
            Kind::Null => Ok(rows.saturating_mul(4)),
            Kind::Int64 | Kind::Micros => need(8, end).map(|_| 12 * rows),
            Kind::Bool => need(1, end.div_ceil(8)).map(|_| 5 * rows),
            Kind::Utf8 | Kind::LargeUtf8 => {
                need(if self.kind == Kind::Utf8 { 4 } else { 8 }, end.checked_add(1).ok_or("offset overflows")?)?;
                let mut bytes = 4 * rows;
                for row in 0..rows {
                    if !self.valid(row) {
                        continue;
                    }
                    let i = self.offset + row;
                    let (start, stop) = if self.kind == Kind::Utf8 {
                        (read_i32(self.values, i) as i64, read_i32(self.values, i + 1) as i64)
                    } else {
                        (read_i64(self.values, i), read_i64(self.values, i + 1))
                    };
                    if start < 0 || stop < start || stop as u64 > self.data.len() as u64 {
                        return Err(format!("string offsets out of bounds at row {row}"));
                    }
                    if stop - start > i32::MAX as i64 {
                        return Err(format!("a string longer than a COPY field at row {row}"));
                    }
                    bytes += (stop - start) as usize;
                }
                Ok(bytes)
            }
        }
    }

    fn write(&self, row: usize, out: &mut Vec<u8>) {
        if !self.valid(row) {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            return;
        }
        let i = self.offset + row;
        match self.kind {
            Kind::Null => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Kind::Int64 => {
                out.extend_from_slice(&8i32.to_be_bytes());
                out.extend_from_slice(&read_i64(self.values, i).to_be_bytes());
            }
            Kind::Micros => {
                let pg = match read_i64(self.values, i).checked_sub(PG_EPOCH_US) {
                    Some(v) if v != i64::MIN && v != i64::MAX => v, // those two read as -infinity/infinity
                    _ => OUT_OF_RANGE,
                };
                out.extend_from_slice(&8i32.to_be_bytes());
                out.extend_from_slice(&pg.to_be_bytes());
            }
            Kind::Bool => {
                out.extend_from_slice(&1i32.to_be_bytes());
                out.push(bit(self.values, i) as u8);
            }
            Kind::Utf8 | Kind::LargeUtf8 => {
                let (start, stop) = self.span(row);
                out.extend_from_slice(&((stop - start) as i32).to_be_bytes());
                out.extend_from_slice(&self.data[start..stop]);
            }
        }
    }
}

fn read_i32(b: &[u8], i: usize) -> i32 {
    i32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap())
}

fn read_i64(b: &[u8], i: usize) -> i64 {
    i64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap())
}

/// The rows of the columns in binary COPY format (no header, no trailer).
fn write_rows(rows: usize, columns: &[Column<'_>]) -> Result<Vec<u8>, String> {
    if columns.len() > i16::MAX as usize {
        return Err("more columns than a COPY row holds".into());
    }
    // Nothing bounds `rows` for a column of nulls (or no column): sizes are checked, and memory
    // that cannot be had is an error, never an abort.
    let mut size = rows.saturating_mul(2);
    for c in columns {
        size = size.saturating_add(c.check(rows)?);
    }
    let mut out = Vec::new();
    out.try_reserve_exact(size).map_err(|_| format!("{rows} rows of COPY do not fit in memory"))?;
    let count = (columns.len() as i16).to_be_bytes();
    for row in 0..rows {
        out.extend_from_slice(&count);
        for c in columns {
            c.write(row, &mut out);
        }
    }
    Ok(out)
}

/// A buffer held through the buffer protocol for the call (released, with the GIL, on drop).
struct View(Box<ffi::Py_buffer>);

impl View {
    fn get(obj: &Bound<'_, PyAny>) -> PyResult<View> {
        let mut raw = Box::new(MaybeUninit::<ffi::Py_buffer>::uninit());
        // SAFETY: PyObject_GetBuffer fills the struct or fails (then it is never read).
        unsafe {
            if ffi::PyObject_GetBuffer(obj.as_ptr(), raw.as_mut_ptr(), ffi::PyBUF_SIMPLE) == -1 {
                return Err(PyErr::fetch(obj.py()));
            }
            Ok(View(Box::from_raw(Box::into_raw(raw) as *mut ffi::Py_buffer)))
        }
    }

    fn bytes(&self) -> Raw {
        let n = if self.0.buf.is_null() { 0 } else { self.0.len as usize };
        Raw(self.0.buf as *const u8, n)
    }
}

impl Drop for View {
    fn drop(&mut self) {
        // SAFETY: the buffer was filled by PyObject_GetBuffer; views drop while the GIL is held.
        unsafe { ffi::PyBuffer_Release(&mut *self.0) }
    }
}

/// A held buffer's bytes, sent to the thread that runs without the GIL.
#[derive(Clone, Copy)]
struct Raw(*const u8, usize);
// SAFETY: the View it came from keeps the (immutable) buffer alive until after the call.
unsafe impl Send for Raw {}

impl Raw {
    fn slice<'a>(self) -> &'a [u8] {
        if self.1 == 0 {
            return &[];
        }
        // SAFETY: see `Raw`.
        unsafe { std::slice::from_raw_parts(self.0, self.1) }
    }
}

/// `rows` rows of `columns`, each (kind, offset, validity or None, values, data or None) with
/// Arrow's buffers (pyarrow.Array.buffers()), -> the rows in binary COPY format.
#[pyfunction]
pub(crate) fn copy_rows(py: Python<'_>, rows: usize, columns: &Bound<'_, PyList>) -> PyResult<Buf> {
    let mut views = Vec::new(); // kept until the rows are written
    let mut specs = Vec::with_capacity(columns.len());
    for item in columns.iter() {
        let (code, offset, validity, values, data): (u8, usize, Option<Bound<PyAny>>, Option<Bound<PyAny>>, Option<Bound<PyAny>>) =
            item.extract()?;
        let kind = Kind::from_code(code).map_err(PyValueError::new_err)?;
        let mut raw = |b: Option<Bound<PyAny>>| -> PyResult<Option<Raw>> {
            let Some(b) = b else { return Ok(None) };
            let v = View::get(&b)?;
            let r = v.bytes();
            views.push(v);
            Ok(Some(r))
        };
        let validity = raw(validity)?;
        let values = raw(values)?.unwrap_or(Raw(std::ptr::null(), 0));
        let data = raw(data)?.unwrap_or(Raw(std::ptr::null(), 0));
        specs.push((kind, offset, validity, values, data));
    }
    let out = py.allow_threads(move || {
        let columns: Vec<Column> = specs
            .iter()
            .map(|&(kind, offset, validity, values, data)| Column {
                kind, offset, validity: validity.map(Raw::slice), values: values.slice(), data: data.slice(),
            })
            .collect();
        write_rows(rows, &columns)
    });
    drop(views);
    out.map(|data| Buf { data }).map_err(PyValueError::new_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[Option<&str>]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (mut offsets, mut data, mut validity) = (0i32.to_le_bytes().to_vec(), Vec::new(), vec![0u8; values.len().div_ceil(8)]);
        for (i, v) in values.iter().enumerate() {
            if let Some(s) = v {
                data.extend_from_slice(s.as_bytes());
                validity[i / 8] |= 1 << (i % 8);
            }
            offsets.extend_from_slice(&(data.len() as i32).to_le_bytes());
        }
        (offsets, data, validity)
    }

    #[test]
    fn writes_text_null_int_timestamp_bool() {
        let (offsets, data, validity) = strings(&[Some("a\"b"), None]);
        let ints: Vec<u8> = [7i64, -1].iter().flat_map(|v| v.to_le_bytes()).collect();
        let times: Vec<u8> = [PG_EPOCH_US, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let bools = [0b01u8];
        let cols = [
            Column { kind: Kind::Utf8, offset: 0, validity: Some(&validity), values: &offsets, data: &data },
            Column { kind: Kind::Int64, offset: 0, validity: None, values: &ints, data: &[] },
            Column { kind: Kind::Micros, offset: 0, validity: None, values: &times, data: &[] },
            Column { kind: Kind::Bool, offset: 0, validity: None, values: &bools, data: &[] },
        ];
        let out = write_rows(2, &cols).unwrap();
        let mut want = Vec::new();
        want.extend_from_slice(&4i16.to_be_bytes());
        want.extend_from_slice(&3i32.to_be_bytes());
        want.extend_from_slice(b"a\"b");
        want.extend_from_slice(&8i32.to_be_bytes());
        want.extend_from_slice(&7i64.to_be_bytes());
        want.extend_from_slice(&8i32.to_be_bytes());
        want.extend_from_slice(&0i64.to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 1, 1]);
        want.extend_from_slice(&4i16.to_be_bytes());
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&8i32.to_be_bytes());
        want.extend_from_slice(&(-1i64).to_be_bytes());
        want.extend_from_slice(&8i32.to_be_bytes());
        want.extend_from_slice(&(-PG_EPOCH_US).to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 1, 0]);
        assert_eq!(out, want);
    }

    #[test]
    fn refuses_buffers_shorter_than_the_slots() {
        let (offsets, data, _) = strings(&[Some("abc")]);
        let bad = Column { kind: Kind::Utf8, offset: 0, validity: None, values: &offsets, data: &data[..2] };
        assert!(write_rows(1, &[bad]).is_err());
        let sliced = Column { kind: Kind::Utf8, offset: 1, validity: None, values: &offsets, data: &data };
        assert!(write_rows(1, &[sliced]).is_err());
        let ints = Column { kind: Kind::Int64, offset: usize::MAX, validity: None, values: &[0; 8], data: &[] };
        assert!(write_rows(1, &[ints]).is_err());
    }
}
