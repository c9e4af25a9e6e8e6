//! One text-mode table's winners -> their rendered columns and their metadata columns, in one
//! call: what planning/engine.py's render_rows and planning/rows.py's meta_arrays do in Python,
//! without a Python loop over the winners. The rendering itself runs without the GIL.

use crate::rendering;
use crate::Buf;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

/// An Arrow string column being built (offsets, data, validity).
pub(crate) struct Strings {
    offsets: Vec<u8>,
    data: Vec<u8>,
    validity: Vec<u8>,
    nulls: usize,
    rows: usize,
}

impl Strings {
    pub(crate) fn new(rows: usize) -> Self {
        Self::sized(rows, rows * 16)
    }

    /// Room for `rows` rows of `bytes` bytes of text in all: the columns grow no more (a batch's
    /// seq and event_id columns outgrew 16 bytes a row, each doubling a copy into fresh pages).
    pub(crate) fn sized(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(4 * (rows + 1));
        offsets.extend_from_slice(&0i32.to_le_bytes());
        Strings { offsets, data: Vec::with_capacity(bytes), validity: Vec::with_capacity(rows / 8 + 1), nulls: 0, rows: 0 }
    }

    pub(crate) fn push(&mut self, text: Option<&[u8]>) {
        if self.rows % 8 == 0 {
            self.validity.push(0);
        }
        match text {
            Some(t) => {
                self.data.extend_from_slice(t);
                *self.validity.last_mut().unwrap() |= 1 << (self.rows % 8);
            }
            None => self.nulls += 1,
        }
        self.offsets.extend_from_slice(&(self.data.len() as i32).to_le_bytes());
        self.rows += 1;
    }

    /// Whether its data outgrows Arrow's 32-bit string offsets.
    pub(crate) fn too_long(&self) -> bool {
        self.data.len() > i32::MAX as usize
    }

    /// (offsets, data, validity or None, null_count) for pyarrow.Array.from_buffers.
    pub(crate) fn into_py<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let validity = if self.nulls == 0 { None } else { Some(Buf { data: self.validity }) };
        (Buf { data: self.offsets }, Buf { data: self.data }, validity, self.nulls).into_pyobject(py)
    }
}

/// An Arrow int64 column being built (values, validity).
pub(crate) struct Ints {
    values: Vec<u8>,
    validity: Vec<u8>,
    nulls: usize,
    rows: usize,
}

impl Ints {
    pub(crate) fn new(rows: usize) -> Self {
        Ints { values: Vec::with_capacity(8 * rows), validity: Vec::with_capacity(rows / 8 + 1), nulls: 0, rows: 0 }
    }

    pub(crate) fn push(&mut self, v: Option<i64>) {
        if self.rows % 8 == 0 {
            self.validity.push(0);
        }
        match v {
            Some(v) => {
                self.values.extend_from_slice(&v.to_le_bytes());
                *self.validity.last_mut().unwrap() |= 1 << (self.rows % 8);
            }
            None => {
                self.values.extend_from_slice(&0i64.to_le_bytes());
                self.nulls += 1;
            }
        }
        self.rows += 1;
    }

    pub(crate) fn into_py<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let validity = if self.nulls == 0 { None } else { Some(Buf { data: self.validity }) };
        (Buf { data: self.values }, validity, self.nulls).into_pyobject(py)
    }
}

fn text<'a>(s: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    Ok(s.downcast::<PyString>()?.to_str()?.as_bytes())
}

/// A str attribute, or None (as pyarrow makes None a null).
fn opt_text<'a>(s: &'a Bound<'_, PyAny>) -> PyResult<Option<&'a [u8]>> {
    if s.is_none() { Ok(None) } else { text(s).map(Some) }
}

/// `pairs`: the table's winners as planning pairs (change, values or None); `lazy` is
/// records.LAZY; `ops` the staged op codes (upsert, hard delete, soft delete, soft delete with
/// values); `soft_delete`/`soft_ttl` whether a REMOVE (a TTL one) is a soft delete; `soft`
/// whether the stage carries the values' version columns. Returns None when the Python code must
/// render this table (a change not read lazily, or a record the renderer leaves to it), else
/// (rows, columns as `render` returns them, meta) with meta = (dist_key, op, version, seq, event,
/// values_version or None, values_seq or None).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn render_winners<'py>(py: Python<'py>, pairs: &Bound<'py, PyList>, lazy: &Bound<'py, PyAny>,
                           ops: (String, String, String, String), soft_delete: bool, soft_ttl: bool, soft: bool)
                           -> PyResult<Option<Bound<'py, PyTuple>>> {
    let n = pairs.len();
    let names = ["op", "raw", "new_image", "old_image", "version", "seq", "dist_key", "event_id", "ttl", "change",
                 "which"]
        .map(|s| PyString::intern(py, s));
    let [a_op, a_raw, a_new, a_old, a_version, a_seq, a_dist, a_event, a_ttl, a_change, a_which] = names;
    let mut raws: Vec<Bound<'py, PyBytes>> = Vec::with_capacity(n);
    let mut which: Vec<u8> = Vec::with_capacity(n);
    let (mut dist, mut op, mut seq, mut event) = (Strings::new(n), Strings::new(n), Strings::new(n), Strings::new(n));
    let mut version = Ints::new(n);
    let (mut values_version, mut values_seq) = (Ints::new(if soft { n } else { 0 }), Strings::new(if soft { n } else { 0 }));
    for pair in pairs.iter() {
        let pair = pair.downcast::<PyTuple>()?;
        let change = pair.get_item(0)?;
        let values = pair.get_item(1)?;
        let remove = text(&change.getattr(&a_op)?)? == b"REMOVE";
        let (source, kind) = if !remove {
            (change.clone(), 0u8)
        } else if !values.is_none() {
            let w = values.getattr(&a_which)?;
            (values.getattr(&a_change)?, if text(&w)? == b"NewImage" { 0 } else { 1 })
        } else {
            (change.clone(), 2)
        };
        let raw = source.getattr(&a_raw)?;
        let Ok(raw) = raw.downcast_exact::<PyBytes>() else { return Ok(None) };
        if (kind == 0 && !source.getattr(&a_new)?.is(lazy)) || (kind == 1 && !source.getattr(&a_old)?.is(lazy)) {
            return Ok(None);
        }
        raws.push(raw.clone());
        which.push(kind);
        // the metadata columns, as rows.meta_arrays
        let code = if !remove {
            &ops.0
        } else {
            let is_soft = if change.getattr(&a_ttl)?.is_truthy()? { soft_ttl } else { soft_delete };
            if !is_soft {
                &ops.1
            } else if values.is_none() {
                &ops.2
            } else {
                &ops.3
            }
        };
        op.push(Some(code.as_bytes()));
        dist.push(opt_text(&change.getattr(&a_dist)?)?);
        version.push(Some(change.getattr(&a_version)?.extract::<i64>()?));
        seq.push(opt_text(&change.getattr(&a_seq)?)?);
        event.push(opt_text(&change.getattr(&a_event)?)?);
        if soft {
            if values.is_none() {
                values_version.push(None);
                values_seq.push(None);
            } else {
                let shown = values.getattr(&a_change)?;
                values_version.push(Some(shown.getattr(&a_version)?.extract::<i64>()?));
                values_seq.push(opt_text(&shown.getattr(&a_seq)?)?);
            }
        }
    }
    if [&dist, &op, &seq, &event, &values_seq].iter().any(|s| s.data.len() > i32::MAX as usize) {
        return Ok(None);
    }
    let lines: Vec<&[u8]> = raws.iter().map(|b| b.as_bytes()).collect();
    let out = py.allow_threads(|| rendering::render_rows(&lines, &which).ok());
    let Some(out) = out else { return Ok(None) };
    let cols = crate::columns_to_py(py, out.columns)?;
    let meta = (
        dist.into_py(py)?,
        op.into_py(py)?,
        version.into_py(py)?,
        seq.into_py(py)?,
        event.into_py(py)?,
        if soft { Some(values_version.into_py(py)?) } else { None },
        if soft { Some(values_seq.into_py(py)?) } else { None },
    );
    Ok(Some((out.rows, cols, meta).into_pyobject(py)?))
}
