//! Full loads: a DynamoDB export's lines, split into batches, keyed, de-duplicated and rendered
//! without the GIL (sources/export.py drives it; the Python reader is the reference).
//!
//! export_reader.rs decompresses each data file on a thread of its own and moves its lines into
//! an `ExportLines` batch, cutting where the Python reader cuts. `ExportLines.scan` reads each
//! line's keys (envelope::export_keys, in parallel); the lines it is not sure about go back to the
//! Python decoder, which rejects them or resolves them; then `render` keeps each key's newest item
//! (batching.Batch's rule) and renders the winners (rendering::render_rows, in parallel), or
//! defers the whole batch to the Python path.

use crate::export_reader::Block;
use crate::{envelope, fxhash, rendering, Buf};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Arc;

struct Line {
    block: u32,
    start: u32,
    end: u32,
    tag: u32,
    line_no: u64,
}

/// A file's part of a batch: its key attributes and the version of its items.
struct Tag {
    key_names: Vec<String>,
    version: i64,
}

/// One batch's full-export lines, from one or more data files, in source order.
#[pyclass(module = "dynashift_native")]
pub struct ExportLines {
    blocks: Vec<Block>,
    lines: Vec<Line>,
    tags: Vec<Tag>,
    keys: Vec<Option<String>>,              // each line's dist_key once scanned (None: rejected)
    replaced: HashMap<usize, Vec<u8>>,      // lines the Python decoder resolved: their record to render
}

impl ExportLines {
    pub(crate) fn push(&mut self, block: &Block, start: usize, end: usize, tag: u32, line_no: u64) {
        if !self.blocks.last().is_some_and(|b| Arc::ptr_eq(b, block)) {
            self.blocks.push(block.clone());
        }
        let b = (self.blocks.len() - 1) as u32;
        self.lines.push(Line { block: b, start: start as u32, end: end as u32, tag, line_no });
    }

    fn bytes(&self, i: usize) -> &[u8] {
        let l = &self.lines[i];
        &self.blocks[l.block as usize][l.start as usize..l.end as usize]
    }
}

/// `items` split in `parts` contiguous shares, each handled on its own thread.
fn parallel<T: Send, F: Fn(std::ops::Range<usize>) -> T + Sync>(items: usize, parts: usize, f: F) -> Vec<T> {
    let parts = parts.clamp(1, 16).min(items.max(1));
    let share = items.div_ceil(parts);
    let ranges: Vec<std::ops::Range<usize>> = (0..parts).map(|i| (i * share).min(items)..((i + 1) * share).min(items)).collect();
    if parts == 1 {
        return ranges.into_iter().map(&f).collect();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = ranges.into_iter().map(|r| s.spawn(|| f(r))).collect();
        handles.into_iter().map(|h| h.join().expect("a worker thread failed")).collect()
    })
}

#[pymethods]
impl ExportLines {
    #[new]
    fn new() -> Self {
        ExportLines { blocks: Vec::new(), lines: Vec::new(), tags: Vec::new(), keys: Vec::new(), replaced: HashMap::new() }
    }

    /// A data file's tag: its table's key attributes and its items' version.
    fn tag(&mut self, key_names: Vec<String>, version: i64) -> u32 {
        self.tags.push(Tag { key_names, version });
        (self.tags.len() - 1) as u32
    }

    fn __len__(&self) -> usize {
        self.lines.len()
    }

    /// Every line as (bytes, tag, line number): for the Python decoder when it takes the batch.
    fn raw<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for (i, l) in self.lines.iter().enumerate() {
            out.append((PyBytes::new(py, self.bytes(i)), l.tag, l.line_no))?;
        }
        Ok(out)
    }

    /// Read every line's keys (in `threads` threads, without the GIL). Returns the lines the
    /// Python decoder must judge, as (index, bytes, tag, line number), in source order.
    fn scan<'py>(&mut self, py: Python<'py>, threads: usize) -> PyResult<Bound<'py, PyList>> {
        let me = &*self;
        let found: Vec<Vec<Option<String>>> = py.allow_threads(|| {
            parallel(me.lines.len(), threads, |r| {
                r.map(|i| {
                    let tag = &me.tags[me.lines[i].tag as usize];
                    envelope::export_keys(me.bytes(i), &tag.key_names).ok().map(|(_, dk)| dk)
                })
                .collect()
            })
        });
        self.keys = found.into_iter().flatten().collect();
        let out = PyList::empty(py);
        for (i, k) in self.keys.iter().enumerate() {
            if k.is_none() {
                let l = &self.lines[i];
                out.append((i, PyBytes::new(py, self.bytes(i)), l.tag, l.line_no))?;
            }
        }
        Ok(out)
    }

    /// The Python decoder's answer for line `index`: its dist_key and the record to render
    /// (`{"dynamodb":{"NewImage":…}}`), or None when it rejected the line.
    #[pyo3(signature = (index, dist_key, record=None))]
    fn resolve(&mut self, index: usize, dist_key: Option<String>, record: Option<Vec<u8>>) -> PyResult<()> {
        if index >= self.keys.len() {
            return Err(PyValueError::new_err("no such line"));
        }
        self.keys[index] = dist_key;
        match record {
            Some(r) => {
                self.replaced.insert(index, r);
            }
            None => {
                self.replaced.remove(&index);
            }
        }
        Ok(())
    }

    /// Each key's newest item (batching.Batch: newer version wins, an equal one is a duplicate
    /// and the first stays), rendered into text columns in `threads` shares. Returns (rows,
    /// dist_key offsets, dist_key data, versions (int64), [(rows, columns)] per share, duplicates,
    /// stale, superseded), or None when the Python engine must render this batch.
    fn render<'py>(&self, py: Python<'py>, threads: usize) -> PyResult<Option<Bound<'py, PyTuple>>> {
        if self.keys.len() != self.lines.len() {
            return Err(PyValueError::new_err("render before scan"));
        }
        let (mut duplicates, mut stale, mut superseded) = (0usize, 0usize, 0usize);
        let mut slot: HashMap<&str, usize> = HashMap::with_capacity(self.lines.len());
        let mut winners: Vec<usize> = Vec::with_capacity(self.lines.len());
        for (i, k) in self.keys.iter().enumerate() {
            let Some(k) = k else { continue };
            let version = self.tags[self.lines[i].tag as usize].version;
            match slot.get(k.as_str()) {
                None => {
                    slot.insert(k.as_str(), winners.len());
                    winners.push(i);
                }
                Some(&s) => {
                    let current = self.tags[self.lines[winners[s]].tag as usize].version;
                    if version > current {
                        winners[s] = i;
                        superseded += 1;
                    } else if version == current {
                        duplicates += 1; // full exports: seq "" and no event id, so the first stays
                    } else {
                        stale += 1;
                    }
                }
            }
        }
        let me = self;
        let rendered: Vec<Option<rendering::Rendered>> = py.allow_threads(|| {
            parallel(winners.len(), threads, |r| {
                // one allocation for the share's records (growing it would copy and fault it in again)
                let size: usize = winners[r.clone()].iter().map(|&i| match me.replaced.get(&i) {
                    Some(record) => record.len(),
                    None => me.bytes(i).len() + 17,
                }).sum();
                let mut text: Vec<u8> = Vec::with_capacity(size);
                let mut spans: Vec<(usize, usize)> = Vec::with_capacity(r.len());
                for &i in &winners[r.clone()] {
                    let start = text.len();
                    match me.replaced.get(&i) {
                        Some(record) => text.extend_from_slice(record),
                        None => {
                            let line = me.bytes(i); // `{"Item":` … `}`, as export_keys checked
                            text.extend_from_slice(b"{\"dynamodb\":{\"NewImage\":");
                            text.extend_from_slice(&line[8..line.len() - 1]);
                            text.extend_from_slice(b"}}");
                        }
                    }
                    spans.push((start, text.len()));
                }
                let slices: Vec<&[u8]> = spans.iter().map(|&(a, b)| &text[a..b]).collect();
                rendering::render_rows(&slices, &vec![0u8; slices.len()]).ok()
            })
        });
        if rendered.iter().any(|r| r.is_none()) {
            return Ok(None);
        }
        let keys = winners.iter().map(|&i| self.keys[i].as_deref().unwrap_or_default());
        self.output(py, &winners, keys, rendered.into_iter().flatten().collect(), (duplicates, stale, superseded))
    }

    /// scan and render in one parse per line, for the usual batch: every line an item whose keys
    /// export_keys reads and no key met twice (so every line is a winner). Returns render's
    /// answer, or None when the batch needs scan, the Python decoder and render. `seen` (the
    /// batch's earlier chunks' keys) takes this chunk's keys, or declines it when one was met.
    #[pyo3(signature = (threads, seen=None))]
    fn scan_render<'py>(&self, py: Python<'py>, threads: usize, mut seen: Option<PyRefMut<'_, KeySet>>)
                        -> PyResult<Option<Bound<'py, PyTuple>>> {
        let Some(first) = self.tags.first() else { return Ok(None) };
        if !self.replaced.is_empty() || self.tags.iter().any(|t| t.key_names != first.key_names) {
            return Ok(None);
        }
        let me = self;
        let key_names = &first.key_names;
        let rendered: Vec<Option<(rendering::Rendered, Vec<String>)>> = py.allow_threads(|| {
            parallel(me.lines.len(), threads, |r| {
                let slices: Vec<&[u8]> = r.map(|i| me.bytes(i)).collect();
                rendering::render_items(&slices, key_names).ok()
            })
        });
        if rendered.iter().any(|r| r.is_none()) {
            return Ok(None);
        }
        let (shares, keys): (Vec<rendering::Rendered>, Vec<Vec<String>>) = rendered.into_iter().flatten().unzip();
        let keys: Vec<String> = keys.into_iter().flatten().collect();
        let mut here: HashSet<&str> = HashSet::with_capacity(keys.len());
        if !keys.iter().all(|k| here.insert(k.as_str())) {
            return Ok(None); // a key met twice: render decides which line wins
        }
        if let Some(seen) = seen.as_mut() {
            if !seen.add(&keys) {
                return Ok(None); // a key (or its hash) met in an earlier chunk of the batch
            }
        }
        let all: Vec<usize> = (0..self.lines.len()).collect();
        self.output(py, &all, keys.iter().map(|k| k.as_str()), shares, (0, 0, 0))
    }
}

impl ExportLines {
    /// render's answer for `winners` (line indexes), their dist_keys and their rendered shares.
    fn output<'a, 'py>(&self, py: Python<'py>, winners: &[usize], keys: impl Iterator<Item = &'a str>,
                       rendered: Vec<rendering::Rendered>, counts: (usize, usize, usize))
                       -> PyResult<Option<Bound<'py, PyTuple>>> {
        let (duplicates, stale, superseded) = counts;
        let mut offsets: Vec<u8> = Vec::with_capacity(4 * (winners.len() + 1));
        let mut data: Vec<u8> = Vec::new();
        let mut versions: Vec<u8> = Vec::with_capacity(8 * winners.len());
        offsets.extend_from_slice(&0i32.to_le_bytes());
        for (&i, key) in winners.iter().zip(keys) {
            data.extend_from_slice(key.as_bytes());
            if data.len() > i32::MAX as usize {
                return Ok(None);
            }
            offsets.extend_from_slice(&(data.len() as i32).to_le_bytes());
            versions.extend_from_slice(&self.tags[self.lines[i].tag as usize].version.to_le_bytes());
        }
        let parts = PyList::empty(py);
        for out in rendered {
            let cols = PyList::empty(py);
            for c in out.columns {
                let tags: Vec<&str> = (0..rendering::TAGS.len()).filter(|i| c.tags & (1 << i) != 0)
                    .map(|i| rendering::TAGS[i]).collect();
                let validity = if c.nulls == 0 { None } else { Some(Buf { data: c.validity }) };
                cols.append((c.name, tags, Buf { data: c.offsets }, Buf { data: c.data }, validity, c.nulls))?;
            }
            parts.append((out.rows, cols))?;
        }
        let t = (winners.len(), Buf { data: offsets }, Buf { data }, Buf { data: versions }, parts, duplicates, stale,
                 superseded);
        Ok(Some(t.into_pyobject(py)?))
    }
}

/// The keys of a batch's chunks rendered so far, as 64-bit hashes: a chunk whose key (or a key's
/// hash) is met again goes to the whole-batch path, which decides which line wins. Was an Arrow
/// count_distinct over the batch's keys when its chunks were joined (~2% of the main thread's
/// samples on the 1M export: a hash table of 65,536 strings built and grown per batch).
#[pyclass(module = "dynashift_native")]
#[derive(Default)]
pub struct KeySet {
    hashes: fxhash::FxHashSet<u64>, // (the keys SipHashed by `hasher` already: Fx only places them)
    hasher: RandomState,
}

#[pymethods]
impl KeySet {
    #[new]
    fn new() -> Self {
        KeySet::default()
    }

    fn __len__(&self) -> usize {
        self.hashes.len()
    }
}

impl KeySet {
    /// Every key added; false when one was there already (the set then holds some of them).
    fn add(&mut self, keys: &[String]) -> bool {
        self.hashes.reserve(keys.len());
        keys.iter().all(|k| self.hashes.insert(self.hasher.hash_one(k.as_bytes())))
    }
}
