//! dynashift's native engine: the per-record hot path (envelope decoding, rendering winners into
//! Arrow string buffers) in Rust. The Python engine is the reference: whatever this one is not
//! sure about it defers to it (a record, or a table of a batch), so the two agree by construction
//! on every record this one accepts, and tests check it on generated and real records.

mod copy_binary;
mod decimal;
mod decoder;
mod envelope;
mod export;
mod export_reader;
mod fxhash;
mod json;
mod lines;
mod rendering;
mod typing;
mod winners;

use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::os::raw::c_int;

/// An immutable byte buffer owned by Rust, exposed through the buffer protocol so that
/// `pyarrow.py_buffer` wraps it without a copy.
#[pyclass(frozen, module = "dynashift_native")]
struct Buf {
    data: Vec<u8>,
}

#[pymethods]
impl Buf {
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let data = &slf.get().data;
        let ret = ffi::PyBuffer_FillInfo(view, slf.as_ptr(), data.as_ptr() as *mut _,
                                         data.len() as ffi::Py_ssize_t, 1, flags);
        if ret == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}

    fn __len__(&self) -> usize {
        self.data.len()
    }
}

/// A full export line -> (keys, dist_key), or None when the Python code must decide.
#[pyfunction]
fn export_keys<'py>(py: Python<'py>, line: &[u8], key_names: Vec<String>) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let Ok((keys, dk)) = envelope::export_keys(line, &key_names) else { return Ok(None) };
    let out = PyDict::new(py);
    for (name, tag, v) in &keys {
        let inner = PyDict::new(py);
        inner.set_item(*tag, v)?;
        out.set_item(name, inner)?;
    }
    Ok(Some((out, dk).into_pyobject(py)?))
}

struct Lines(Vec<(*const u8, usize)>);
// SAFETY: the bytes objects are immutable and kept alive by the caller's list for the call.
unsafe impl Send for Lines {}

/// Render the chosen image of each raw record (0 NewImage, 1 OldImage, 2 Keys) into one text
/// column per attribute, without the GIL. Returns (rows, [(name, tags, offsets, data, validity
/// or None, null_count)]) or None when the Python engine must render this table.
#[pyfunction]
fn render<'py>(py: Python<'py>, lines: &Bound<'py, PyList>, which: &[u8]) -> PyResult<Option<Bound<'py, PyTuple>>> {
    if lines.len() != which.len() {
        return Err(PyValueError::new_err("lines and which differ in length"));
    }
    let mut ptrs = Vec::with_capacity(lines.len());
    for item in lines.iter() {
        let b = item.downcast::<PyBytes>()?;
        let s = b.as_bytes();
        ptrs.push((s.as_ptr(), s.len()));
    }
    let ptrs = Lines(ptrs);
    let out = py.allow_threads(move || {
        let ptrs = ptrs;
        // SAFETY: see `Lines`.
        let slices: Vec<&[u8]> = ptrs.0.iter().map(|&(p, n)| unsafe { std::slice::from_raw_parts(p, n) }).collect();
        rendering::render_rows(&slices, which).ok()
    });
    let Some(out) = out else { return Ok(None) };
    let cols = columns_to_py(py, out.columns)?;
    Ok(Some((out.rows, cols).into_pyobject(py)?))
}

/// Rendered columns -> [(name, tags, offsets, data, validity or None, null_count)], each with
/// (row tags, ints, scales, plain offsets, plain data) after them when rendered typed (typing.rs).
fn columns_to_py(py: Python<'_>, columns: Vec<rendering::Column>) -> PyResult<Bound<'_, PyList>> {
    let cols = PyList::empty(py);
    for c in columns {
        let tags: Vec<&str> = (0..rendering::TAGS.len()).filter(|i| c.tags & (1 << i) != 0).map(|i| rendering::TAGS[i]).collect();
        let validity = if c.nulls == 0 { None } else { Some(Buf { data: c.validity }) };
        match c.typing {
            None => cols.append((c.name, tags, Buf { data: c.offsets }, Buf { data: c.data }, validity, c.nulls))?,
            Some(t) => {
                let bytes = |v: Vec<i8>| Buf { data: v.into_iter().map(|x| x as u8).collect() };
                let typing = (Buf { data: t.tags }, bytes(t.ints), bytes(t.scales), Buf { data: t.plain_offsets },
                              Buf { data: t.plain });
                cols.append((c.name, tags, Buf { data: c.offsets }, Buf { data: c.data }, validity, c.nulls, typing))?
            }
        }
    }
    Ok(cols)
}

#[pymodule]
fn dynashift_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    // The interface engine_choice.py speaks (its NATIVE_API): raise both when it changes, so a
    // build left from another version of dynashift is not used.
    m.add("API", 8)?;
    m.add_class::<Buf>()?;
    m.add_class::<decoder::Decoder>()?;
    m.add_function(wrap_pyfunction!(render, m)?)?;
    m.add_function(wrap_pyfunction!(winners::render_winners, m)?)?;
    m.add_function(wrap_pyfunction!(export_keys, m)?)?;
    m.add_function(wrap_pyfunction!(copy_binary::copy_rows, m)?)?;
    m.add_class::<export_reader::ExportReader>()?;
    m.add_class::<export_reader::BlockPool>()?;
    m.add_class::<export::KeySet>()?;
    m.add_class::<export::ExportLines>()?;
    m.add_class::<lines::LineFile>()?;
    m.add_class::<lines::LineBatch>()?;
    Ok(())
}
