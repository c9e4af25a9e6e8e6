//! The `Decoder` class: change-record lines -> `records.Change` objects.
//!
//! Bulk decoding runs in two phases so that the costly one needs no GIL: every line is parsed
//! and checked in Rust with the GIL released (so the commit of the previous batch, which runs on
//! another thread, keeps the second core), then the Python objects are made. Strings that repeat
//! on every record (table names, key names, type tags, ops) are made once per decoder.

use crate::envelope::{self, Envelope};
use crate::fxhash::{FxHashMap, StrSet};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use std::fmt::Write;

/// Decodes change-record lines; remembers each table's attribute names so that a change carries
/// its names only when one is new (as planning/lines.py's LineDecoder does).
#[pyclass(module = "dynashift_native")]
pub struct Decoder {
    pub(crate) default_table: Option<String>,
    pub(crate) names: Known,
    change: Option<PyObject>, // records.Change, for decode_lines
    lazy: Option<PyObject>,   // records.LAZY
    strings: FxHashMap<String, Py<PyString>>, // table and key names met, made once
}

/// A span of the text arena.
type Span = (usize, usize);

fn put(arena: &mut String, s: &str) -> Span {
    let start = arena.len();
    arena.push_str(s);
    (start, arena.len())
}

/// One decoded line, its texts in the arena (see decode_lines).
struct Compact {
    table: Span,
    op: u8,
    keys: (usize, usize), // its (name, tag, value) in key_parts
    version: Option<i64>,
    dist_key: Span,
    event_id: Span,
    ttl: bool,
    new_lazy: bool,
    old_lazy: bool,
    names: Option<Vec<String>>, // only when some name is new to the table
    body: (usize, usize),       // the record within its line (start, length)
}

/// Python's bytes.strip(): ASCII whitespace at both ends.
pub(crate) fn strip(b: &[u8]) -> &[u8] {
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// Each table's attribute names met so far (they are never forgotten), and per table the name
/// lists of a few recent records, all known: most records repeat one of their table's few
/// recent lists of names in the same order, which a compare of short slices settles without
/// hashing each name (hashing them was 5% of the instructions of reading a file).
#[derive(Default)]
pub(crate) struct Known {
    sets: FxHashMap<String, Names>, // looked up for every record: Fx, not SipHash
    recent: Vec<Recent>,
}

/// A table's names met, and per name the last record that held it (`names_met`'s duplicate check).
#[derive(Default)]
struct Names {
    set: StrSet,
    stamps: Vec<u32>, // per name of `set`, in its order: the `now` of the last record holding it
    now: u32,
}

impl Names {
    fn insert(&mut self, n: &str) {
        if self.set.insert(n) {
            self.stamps.push(0);
        }
    }
}

/// A table's recent name lists (see `listed`), while they pay: tables whose records carry
/// varied subsets of attributes (the wide profile: ~1,700 lists in 20,000 records) seldom
/// repeat one, and there they are dropped after a trial.
struct Recent {
    table: String,
    lists: [Vec<u8>; RECENT],
    next: usize, // the list to replace next
    tries: u32,
    hits: u32,
}

/// Recent name lists kept per table; records tried before they are judged.
const RECENT: usize = 4;
const TRIAL: u32 = 256;

impl Recent {
    fn pays(&self) -> bool {
        self.tries < TRIAL || self.hits * 4 >= self.tries
    }
}

impl Known {
    pub(crate) fn extend(&mut self, table: String, names: Vec<String>) {
        let set = self.sets.entry(table).or_default();
        for n in &names {
            set.insert(n);
        }
    }
}

/// Whether `list` (each name's length, 4 bytes, then the name) holds exactly `names`, in order.
fn listed(list: &[u8], names: &[std::borrow::Cow<str>]) -> bool {
    let mut at = 0;
    for n in names {
        let n = n.as_bytes();
        let Some(len) = list.get(at..at + 4) else { return false };
        if u32::from_le_bytes(len.try_into().unwrap()) as usize != n.len() || list.get(at + 4..at + 4 + n.len()) != Some(n) {
            return false;
        }
        at += 4 + n.len();
    }
    at == list.len() && !list.is_empty()
}

/// Whether some of the record's attribute names are new to its table (learning them if so).
/// Its names were checked for duplicates when it was decoded (envelope::decode).
pub(crate) fn learn_names(names: &mut Known, env: &Envelope) -> bool {
    match names_met(names, env) {
        Ok(met) => learn_met(names, env, met),
        Err(_) => learn_met(names, env, Met { new: true, keep: None }), // (not met: checked distinct already)
    }
}

/// What `names_met` found of a record's names: some are new to its table; the recent list
/// (`Known::recent`'s index) to keep them in.
pub(crate) struct Met {
    new: bool,
    keep: Option<usize>,
}

/// A record's attribute names looked up in its table's (nothing learned yet: `learn_met`), and
/// checked to be distinct (Defer if not): each known one's last record is noted as it is found,
/// so that a duplicate costs no look-up of its own (a hash per name, ~5% of reading a wide file,
/// when decoding checked them apart). A record repeating a recent list is distinct as that list was.
pub(crate) fn names_met(names: &mut Known, env: &Envelope) -> crate::json::R<Met> {
    if !env.new_lazy {
        return Ok(Met { new: false, keep: None });
    }
    let t = match names.recent.iter().position(|r| r.table == env.table) {
        Some(t) => t,
        None => {
            names.recent.push(Recent { table: env.table.to_string(), lists: Default::default(), next: 0, tries: 0,
                                       hits: 0 });
            names.recent.len() - 1
        }
    };
    let recent = &mut names.recent[t];
    let pays = recent.pays();
    if pays {
        recent.tries = recent.tries.saturating_add(1);
        if recent.lists.iter().any(|l| listed(l, &env.names)) {
            recent.hits = recent.hits.saturating_add(1);
            return Ok(Met { new: false, keep: None }); // all known when they were kept
        }
    }
    let known = match names.sets.get_mut(env.table.as_ref()) {
        Some(k) => k,
        None => names.sets.entry(env.table.to_string()).or_default(),
    };
    known.now = known.now.wrapping_add(1);
    if known.now == 0 {
        known.stamps.iter_mut().for_each(|s| *s = 0);
        known.now = 1;
    }
    let mut new = false;
    for n in &env.names {
        match known.set.find_hashed(crate::fxhash::hash_bytes(n.as_bytes()), n.as_bytes()) {
            Some(k) => {
                if known.stamps[k] == known.now {
                    return Err(crate::json::Defer);
                }
                known.stamps[k] = known.now;
            }
            None => new = true,
        }
    }
    if new && crate::json::has_duplicates(&env.names) {
        return Err(crate::json::Defer); // (a new name twice)
    }
    Ok(Met { new, keep: pays.then_some(t) })
}

/// Learn what `names_met` found new of a record's names; whether any was.
pub(crate) fn learn_met(names: &mut Known, env: &Envelope, met: Met) -> bool {
    if met.new {
        let known = match names.sets.get_mut(env.table.as_ref()) {
            Some(k) => k,
            None => names.sets.entry(env.table.to_string()).or_default(),
        };
        for n in &env.names {
            known.insert(n);
        }
    }
    if let Some(t) = met.keep {
        let recent = &mut names.recent[t];
        let list = &mut recent.lists[recent.next];
        recent.next = (recent.next + 1) % RECENT;
        list.clear();
        for n in &env.names {
            list.extend_from_slice(&(n.len() as u32).to_le_bytes());
            list.extend_from_slice(n.as_bytes());
        }
    }
    met.new
}

impl Decoder {
    /// A Python str for a name that repeats (table, key attribute), made once.
    fn string<'py>(&mut self, py: Python<'py>, s: &str) -> Bound<'py, PyString> {
        if let Some(v) = self.strings.get(s) {
            return v.bind(py).clone();
        }
        let v = PyString::new(py, s);
        if self.strings.len() < 4096 {
            self.strings.insert(s.to_string(), v.clone().unbind());
        }
        v
    }

    fn keys<'py>(&mut self, py: Python<'py>, env: &Envelope) -> PyResult<Bound<'py, PyDict>> {
        let keys = PyDict::new(py);
        for (name, tag, v) in &env.keys {
            let inner = PyDict::new(py);
            inner.set_item(self.string(py, tag), v.as_ref())?;
            keys.set_item(self.string(py, name), inner)?;
        }
        Ok(keys)
    }
}

#[pymethods]
impl Decoder {
    #[new]
    #[pyo3(signature = (default_table=None, change=None, lazy=None))]
    fn new(default_table: Option<String>, change: Option<PyObject>, lazy: Option<PyObject>) -> Self {
        Decoder { default_table, names: Known::default(), change, lazy, strings: FxHashMap::default() }
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
        // the lines' bytes, borrowed: the list holds the (immutable) bytes objects for the call
        let mut raws: Vec<&[u8]> = Vec::with_capacity(lines.len().saturating_sub(start));
        let items: Vec<Bound<'py, PyAny>> = lines.iter().skip(start).collect();
        for item in &items {
            raws.push(item.downcast::<PyBytes>()?.as_bytes());
        }
        // phase 1, without the GIL: parse every line up to the first the Python code must decide.
        // Each envelope is copied into one text arena and dropped at once: holding hundreds of
        // envelopes (a dozen small allocations each) made glibc's malloc take its slow paths.
        let default_table = self.default_table.as_deref();
        let names = &mut self.names;
        let (decoded, arena, key_parts) = py.allow_threads(|| {
            let mut out: Vec<Compact> = Vec::with_capacity(raws.len());
            let mut arena = String::with_capacity(raws.len() * 96);
            let mut key_parts: Vec<(Span, &'static str, Span)> = Vec::with_capacity(raws.len() * 2);
            for raw in &raws {
                if raw.last() != Some(&b'\n') {
                    break;
                }
                let body = strip(raw);
                if body.is_empty() {
                    break;
                }
                let Ok(env) = envelope::decode(body, default_table) else { break };
                let new_names = learn_names(names, &env);
                let first_key = key_parts.len();
                for (name, tag, v) in &env.keys {
                    let name = put(&mut arena, name);
                    key_parts.push((name, tag, put(&mut arena, v)));
                }
                out.push(Compact {
                    table: put(&mut arena, &env.table),
                    op: env.op,
                    keys: (first_key, key_parts.len()),
                    version: env.version,
                    dist_key: put(&mut arena, &env.dist_key),
                    event_id: put(&mut arena, &env.event_id),
                    ttl: env.ttl,
                    new_lazy: env.new_lazy,
                    old_lazy: env.old_lazy,
                    names: new_names.then(|| env.names.iter().map(|n| n.to_string()).collect()),
                    body: (body.as_ptr() as usize - raw.as_ptr() as usize, body.len()),
                });
            }
            (out, arena, key_parts)
        });
        let text = |(a, b): Span| &arena[a..b];
        // phase 2: the Python objects
        let out = PyList::empty(py);
        let ops: Vec<Bound<'py, PyString>> = envelope::OPS.iter().map(|o| PyString::intern(py, o)).collect();
        let mut seq = String::with_capacity(prefix.len() + 24);
        for (i, line) in decoded.iter().enumerate() {
            let keys = PyDict::new(py);
            for &(name, tag, v) in &key_parts[line.keys.0..line.keys.1] {
                let inner = PyDict::new(py);
                inner.set_item(self.string(py, tag), text(v))?;
                keys.set_item(self.string(py, text(name)), inner)?;
            }
            let names = match &line.names {
                Some(n) => Some(PyList::new(py, n)?),
                None => None,
            };
            let version = line.version.unwrap_or(last_version);
            last_version = version;
            seq.clear();
            let _ = write!(seq, "{prefix}{offset:015}\u{1f}000000");
            let raw = raws[i];
            let args = PyTuple::new(py, [
                self.string(py, text(line.table)).into_any(),
                ops[line.op as usize].clone().into_any(),
                keys.into_any(),
                if line.new_lazy { lazy.bind(py).clone() } else { py.None().into_bound(py) },
                version.into_pyobject(py)?.into_any(),
                PyString::new(py, &seq).into_any(),
                PyString::new(py, text(line.dist_key)).into_any(),
                PyString::new(py, text(line.event_id)).into_any(),
                pyo3::types::PyBool::new(py, line.ttl).to_owned().into_any(),
                // the line itself when it is the record and its newline (no copy of ~2 KB per
                // record); rows.raw_record strips the newline from a rejected record's text
                if line.body.0 == 0 && line.body.1 + 1 == raw.len() {
                    items[i].clone()
                } else {
                    PyBytes::new(py, &raw[line.body.0..line.body.0 + line.body.1]).into_any()
                },
                if line.old_lazy { lazy.bind(py).clone() } else { py.None().into_bound(py) },
                match names { Some(n) => n.into_any(), None => py.None().into_bound(py) },
            ])?;
            out.append(change.call1(py, args)?)?;
            offset += raw.len() as u64;
        }
        Ok((out, start + decoded.len(), last_version))
    }

    /// The Python decoder reported these names for a table (a record it decoded): both decoders
    /// keep the same knowledge, so names are reported exactly when the Python engine alone would.
    fn learn(&mut self, table: String, names: Vec<String>) {
        self.names.extend(table, names);
    }

    /// One line holding one plain change record -> (table, op, keys, version or None, dist_key,
    /// event_id, ttl, new_lazy, old_lazy, names or None); None when the Python engine must decide.
    fn decode<'py>(&mut self, py: Python<'py>, line: &[u8]) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let env = match envelope::decode(line, self.default_table.as_deref()) {
            Ok(env) => env,
            Err(_) => return Ok(None),
        };
        let keys = self.keys(py, &env)?;
        let names = if learn_names(&mut self.names, &env) {
            Some(PyList::new(py, env.names.iter().map(|n| n.as_ref()))?)
        } else {
            None
        };
        let t = (
            self.string(py, &env.table),
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
