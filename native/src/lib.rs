//! dynashift's native engine: the per-record hot path (envelope decoding, rendering winners into
//! Arrow string buffers) in Rust. The Python engine is the reference: whatever this one is not
//! sure about it defers to it (a record, or a table of a batch), so the two agree by construction
//! on every record this one accepts, and tests check it on generated and real records.

mod envelope;
mod json;
mod rendering;

use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::collections::{HashMap, HashSet};
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

/// Decodes change-record lines; remembers each table's attribute names so that a change carries
/// its names only when one is new (as fastpath.LineDecoder does).
#[pyclass(module = "dynashift_native")]
struct Decoder {
    default_table: Option<String>,
    names: HashMap<String, HashSet<String>>,
    change: Option<PyObject>, // records.Change, for decode_lines
    lazy: Option<PyObject>,   // records.LAZY
}

/// Python's bytes.strip(): ASCII whitespace at both ends.
fn strip(b: &[u8]) -> &[u8] {
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

impl Decoder {
    /// The record's attribute names when one is new to its table (schema evolution needs them).
    fn new_names<'py>(&mut self, py: Python<'py>, env: &envelope::Envelope) -> PyResult<Option<Bound<'py, PyList>>> {
        if !env.new_lazy {
            return Ok(None);
        }
        let known = match self.names.get_mut(&env.table) {
            Some(k) => k,
            None => self.names.entry(env.table.clone()).or_default(),
        };
        if env.names.iter().all(|n| known.contains(n.as_ref())) {
            return Ok(None);
        }
        known.extend(env.names.iter().map(|n| n.to_string()));
        Ok(Some(PyList::new(py, env.names.iter().map(|n| n.as_ref()))?))
    }
}

#[pymethods]
impl Decoder {
    #[new]
    #[pyo3(signature = (default_table=None, change=None, lazy=None))]
    fn new(default_table: Option<String>, change: Option<PyObject>, lazy: Option<PyObject>) -> Self {
        Decoder { default_table, names: HashMap::new(), change, lazy }
    }

    /// Lines of a file from `start`, each a whole line (ending in a newline) holding one plain
    /// change record, -> one Change each (seq `prefix` + 15-digit offset + separator + 000000).
    /// Stops at the first line the Python code must decode; returns (changes, the index it
    /// stopped at, the last version), so the caller decodes that line and calls again.
    fn decode_lines<'py>(&mut self, py: Python<'py>, lines: &Bound<'py, PyList>, start: usize, prefix: &str,
                         mut offset: u64, mut last_version: i64) -> PyResult<(Bound<'py, PyList>, usize, i64)> {
        let (Some(change), Some(lazy)) = (self.change.as_ref().map(|c| c.clone_ref(py)),
                                          self.lazy.as_ref().map(|c| c.clone_ref(py))) else {
            return Err(PyValueError::new_err("Decoder made without the Change class"));
        };
        let out = PyList::empty(py);
        let mut i = start;
        while i < lines.len() {
            let item = lines.get_item(i)?;
            let raw = item.downcast::<PyBytes>()?.as_bytes();
            if raw.last() != Some(&b'\n') {
                break;
            }
            let body = strip(raw);
            if body.is_empty() {
                break;
            }
            let Ok(env) = envelope::decode(body, self.default_table.as_deref()) else { break };
            let keys = PyDict::new(py);
            for (name, tag, v) in &env.keys {
                let inner = PyDict::new(py);
                inner.set_item(*tag, v)?;
                keys.set_item(name, inner)?;
            }
            let names = self.new_names(py, &env)?;
            let version = env.version.unwrap_or(last_version);
            last_version = version;
            let seq = format!("{prefix}{offset:015}\u{1f}000000");
            let none = py.None();
            let args = (
                env.table.as_str(),
                envelope::OPS[env.op as usize],
                keys,
                if env.new_lazy { lazy.clone_ref(py) } else { none.clone_ref(py) },
                version,
                seq,
                env.dist_key.as_str(),
                env.event_id.as_str(),
                env.ttl,
                PyBytes::new(py, body),
                if env.old_lazy { lazy.clone_ref(py) } else { none.clone_ref(py) },
                names,
            );
            out.append(change.call1(py, args)?)?;
            offset += raw.len() as u64;
            i += 1;
        }
        Ok((out, i, last_version))
    }

    /// The Python decoder reported these names for a table (a record it decoded): both decoders
    /// keep the same knowledge, so names are reported exactly when the Python engine alone would.
    fn learn(&mut self, table: String, names: Vec<String>) {
        self.names.entry(table).or_default().extend(names);
    }

    /// One line holding one plain change record -> (table, op, keys, version or None, dist_key,
    /// event_id, ttl, new_lazy, old_lazy, names or None); None when the Python engine must decide.
    fn decode<'py>(&mut self, py: Python<'py>, line: &[u8]) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let env = match envelope::decode(line, self.default_table.as_deref()) {
            Ok(env) => env,
            Err(_) => return Ok(None),
        };
        let keys = PyDict::new(py);
        for (name, tag, v) in &env.keys {
            let inner = PyDict::new(py);
            inner.set_item(*tag, v)?;
            keys.set_item(name, inner)?;
        }
        let names = self.new_names(py, &env)?;
        let t = (
            env.table,
            envelope::OPS[env.op as usize],
            keys,
            env.version,
            env.dist_key,
            env.event_id,
            env.ttl,
            env.new_lazy,
            env.old_lazy,
            names,
        )
            .into_pyobject(py)?;
        Ok(Some(t))
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
    let cols = PyList::empty(py);
    for c in out.columns {
        let tags: Vec<&str> = (0..rendering::TAGS.len()).filter(|i| c.tags & (1 << i) != 0).map(|i| rendering::TAGS[i]).collect();
        let validity = if c.nulls == 0 { None } else { Some(Buf { data: c.validity }) };
        cols.append((c.name, tags, Buf { data: c.offsets }, Buf { data: c.data }, validity, c.nulls))?;
    }
    Ok(Some((out.rows, cols).into_pyobject(py)?))
}

#[pymodule]
fn dynashift_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Buf>()?;
    m.add_class::<Decoder>()?;
    m.add_function(wrap_pyfunction!(render, m)?)?;
    m.add_function(wrap_pyfunction!(export_keys, m)?)?;
    Ok(())
}
